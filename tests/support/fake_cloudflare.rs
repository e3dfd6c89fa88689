//! A fake Cloudflare REST API v4 on 127.0.0.1 for provider tests: an in-memory account (zones,
//! DNS records, R2 buckets with CORS and custom domains, Worker scripts and routes, KV
//! namespaces) behind the vendor's paths, methods, JSON fields and `{"success", "errors",
//! "messages", "result"}` envelope (`result_info` on lists, paged by `page`/`per_page`).
//!
//! Every request needs `Authorization: Bearer <token>` (else 403 with code 10000
//! "Authentication error"). Tests can make the next N requests to a path fail
//! ([`FakeCloudflare::fail_next`]) and read every request back ([`World::requests`]).
//! It runs on its own Tokio runtime, so tests calling the blocking provider stay plain `#[test]`s.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[path = "percent.rs"]
mod percent;
use percent::percent_decode;
#[path = "fake_cloudflare/account.rs"]
mod account;
#[path = "fake_cloudflare/zone.rs"]
mod zone;

pub const TOKEN: &str = "cf-test-token-0123456789";
pub const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: String,
    /// When it arrived (to order it against another fake's requests).
    pub at: std::time::Instant,
}

#[derive(Debug, Clone)]
pub struct Script {
    pub name: String,
    pub etag: String,
    pub metadata: Value,
    /// Part name → content.
    pub modules: BTreeMap<String, String>,
    pub created_on: String,
}

#[derive(Debug, Clone)]
pub struct Bucket {
    pub name: String,
    pub location: String,
    pub creation_date: String,
    pub cors: Option<Vec<Value>>,
    /// `{"domain", "enabled", "zoneId", "zoneName", "status", "minTLS"}`.
    pub domains: Vec<Value>,
}

/// Scripted failures: the next `count` requests whose path contains `path` (and whose method
/// is `method`, if given) get `status`.
#[derive(Debug, Clone)]
pub struct Failure {
    pub method: Option<String>,
    pub path: String,
    pub status: u16,
    pub count: usize,
    pub retry_after: Option<u64>,
}

#[derive(Default)]
pub struct World {
    pub token: String,
    pub account: String,
    /// (id, name).
    pub zones: Vec<(String, String)>,
    /// Cloudflare's record objects (`id`, `zone_id`, `zone_name`, `name`, `type`, `content`,
    /// `proxied`, `ttl`, …).
    pub records: Vec<Value>,
    pub buckets: Vec<Bucket>,
    pub scripts: Vec<Script>,
    /// `{"id", "pattern", "script"}` with the zone id.
    pub routes: Vec<(String, Value)>,
    /// (id, title).
    pub kv_namespaces: Vec<(String, String)>,
    pub failures: Vec<Failure>,
    pub requests: Vec<Request>,
    next_id: u64,
}

impl World {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("{:032x}", 0xcf00_0000_u64 + self.next_id)
    }

    pub fn add_zone(&mut self, name: &str) -> String {
        let id = self.id();
        self.zones.push((id.clone(), name.to_owned()));
        id
    }

    pub fn add_kv_namespace(&mut self, title: &str) -> String {
        let id = self.id();
        self.kv_namespaces.push((id.clone(), title.to_owned()));
        id
    }

    /// Requests other than GET, as `METHOD path`.
    pub fn writes(&self) -> Vec<String> {
        self.requests
            .iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    pub fn record(&self, name: &str) -> Option<&Value> {
        self.records.iter().find(|r| r["name"] == name)
    }

    pub fn record_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.records.iter_mut().find(|r| r["name"] == name)
    }

    pub fn bucket(&self, name: &str) -> Option<&Bucket> {
        self.buckets.iter().find(|b| b.name == name)
    }

    pub fn script(&self, name: &str) -> Option<&Script> {
        self.scripts.iter().find(|s| s.name == name)
    }

    pub fn route_patterns(&self) -> Vec<(String, String)> {
        self.routes
            .iter()
            .map(|(_, r)| {
                (
                    r["pattern"].as_str().unwrap_or_default().to_owned(),
                    r["script"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

pub struct FakeCloudflare {
    pub addr: SocketAddr,
    pub world: Arc<Mutex<World>>,
    _rt: tokio::runtime::Runtime,
}

impl FakeCloudflare {
    /// Starts the fake with the given zones on a free port.
    pub fn start(zones: &[&str]) -> FakeCloudflare {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the fake");
        let mut world = World {
            token: TOKEN.into(),
            account: ACCOUNT.into(),
            ..World::default()
        };
        for z in zones {
            world.add_zone(z);
        }
        let world = Arc::new(Mutex::new(world));
        let app = Router::new().fallback(handle).with_state(Arc::clone(&world));
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        rt.spawn(async move { axum::serve(listener, app).await });
        FakeCloudflare { addr, world, _rt: rt }
    }

    pub fn url(&self) -> String {
        format!("http://{}/client/v4", self.addr)
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }

    /// The next `count` requests whose path contains `path` (any method when `method` is None)
    /// answer `status` (500, 429 with `Retry-After`, 403 …).
    pub fn fail_next(&self, method: Option<&str>, path: &str, status: u16, count: usize, retry_after: Option<u64>) {
        self.world().failures.push(Failure {
            method: method.map(str::to_owned),
            path: path.to_owned(),
            status,
            count,
            retry_after,
        });
    }
}

fn envelope(status: StatusCode, result: Value) -> Response {
    let body = json!({ "success": true, "errors": [], "messages": [], "result": result });
    (status, axum::Json(body)).into_response()
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "success": false,
        "errors": [{ "code": code, "message": message }],
        "messages": [],
        "result": null,
    });
    (status, axum::Json(body)).into_response()
}

/// A list answer, paged like the API.
fn paged(items: Vec<Value>, query: &BTreeMap<String, String>) -> Response {
    let per_page: usize = query
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .clamp(1, 1000);
    let page: usize = query.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let total = items.len();
    let result: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    let body = json!({
        "success": true, "errors": [], "messages": [],
        "result": result,
        "result_info": {
            "page": page, "per_page": per_page, "count": result.len(), "total_count": total,
            "total_pages": total.div_ceil(per_page).max(1),
        },
    });
    axum::Json(body).into_response()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn parse_query(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), percent_decode(v)))
                .collect()
        })
        .unwrap_or_default()
}

async fn handle(
    State(world): State<Arc<Mutex<World>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().strip_prefix("/client/v4").unwrap_or(uri.path()).to_owned();
    let query = parse_query(&uri);
    let mut w = world.lock().unwrap();
    w.requests.push(Request {
        method: method.to_string(),
        path: path.clone(),
        query: uri.query().unwrap_or_default().to_owned(),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: std::time::Instant::now(),
    });
    let failing = w
        .failures
        .iter_mut()
        .find(|f| f.count > 0 && path.contains(&f.path) && f.method.as_deref().is_none_or(|m| m == method.as_str()));
    if let Some(f) = failing {
        f.count -= 1;
        let (status, retry_after) = (f.status, f.retry_after);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = match status.as_u16() {
            429 => error(status, 971, "Please wait and consider throttling your request speed"),
            403 => error(status, 10000, "Authentication error"),
            _ => error(status, 10002, "An unknown error has occurred"),
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", secs.to_string().parse().expect("header"));
        }
        return response;
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(w.token.as_str()) {
        return error(StatusCode::FORBIDDEN, 10000, "Authentication error");
    }
    let parts: Vec<String> = path.trim_matches('/').split('/').map(percent_decode).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let json_body = || serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["zones"]) => {
            // The zones list documents per_page 5–50 (default 20).
            if let Some(n) = query.get("per_page").and_then(|v| v.parse::<usize>().ok())
                && !(5..=50).contains(&n)
            {
                return error(StatusCode::BAD_REQUEST, 1001, "per_page must be between 5 and 50");
            }
            let zones = w
                .zones
                .iter()
                .filter(|(_, n)| query.get("name").is_none_or(|q| q == n))
                .map(|(id, name)| json!({ "id": id, "name": name, "status": "active", "account": { "id": w.account } }))
                .collect();
            paged(zones, &query)
        }
        (_, ["zones", zone, rest @ ..]) => {
            let Some(zone_name) = w.zones.iter().find(|(id, _)| id == zone).map(|(_, n)| n.clone()) else {
                return error(
                    StatusCode::NOT_FOUND,
                    7003,
                    "Could not route to /zones, perhaps your object identifier is invalid?",
                );
            };
            let zone = (*zone).to_owned();
            zone::handle_zone(&mut w, method.as_str(), &zone, &zone_name, rest, &query, json_body())
        }
        (_, ["accounts", account, rest @ ..]) => {
            if *account != w.account {
                return error(StatusCode::FORBIDDEN, 9109, "Unauthorized to access requested resource");
            }
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            account::handle_account(&mut w, method.as_str(), rest, &query, &content_type, &body)
        }
        _ => error(StatusCode::NOT_FOUND, 7000, "No route for that URI"),
    }
}
