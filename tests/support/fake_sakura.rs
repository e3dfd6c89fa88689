//! A fake Sakura Cloud REST API 1.1 on 127.0.0.1 that keeps state: servers, disks, power,
//! server plans and public archives, with the vendor's shapes — objects wrapped
//! (`{"Server":{…}}`), lists as `{"Total","From","Count","Servers":[…]}`, search conditions as
//! JSON in the query string, errors as `{"is_fatal","serial","status","error_code","error_msg"}`
//! — behind HTTP Basic auth. Tests choose the IP a created server gets (127.0.0.1: the loopback
//! sshd plays the server), make the next requests fail (500, 429 with Retry-After, 403), and
//! change servers behind the tool's back.
//!
//! Runs on its own thread and runtime, so plain `#[test]`s and the `fleet` binary can use it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub const TOKEN: &str = "fake-token";
pub const SECRET: &str = "fake-secret-do-not-print";
pub const ZONE: &str = "tk1a";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeServer {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub cpu: u64,
    pub memory_mb: u64,
    pub plan_id: String,
    pub up: bool,
    pub ip: String,
    pub disks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeDisk {
    pub id: String,
    pub name: String,
    pub size_mb: u64,
    pub archive: String,
    pub server: Option<String>,
    pub ssh_key: Option<String>,
    pub host_name: Option<String>,
}

/// Makes matching requests fail: `skip` matching requests pass first, then `count` fail.
#[derive(Debug, Clone, Default)]
pub struct Failure {
    pub method: Option<&'static str>,
    /// Matches the API path (after the zone's base), e.g. `/server` or `/disk`.
    pub path_prefix: Option<&'static str>,
    pub skip: usize,
    pub count: usize,
    pub status: u16,
    pub retry_after: Option<u64>,
}

impl Failure {
    /// `count` `POST`s to paths starting with `path_prefix` answered with `status`.
    pub fn post(path_prefix: &'static str, status: u16, count: usize) -> Failure {
        Failure {
            method: Some("POST"),
            path_prefix: Some(path_prefix),
            count,
            status,
            ..Failure::default()
        }
    }
}

#[derive(Default)]
pub struct World {
    pub servers: BTreeMap<String, FakeServer>,
    pub disks: BTreeMap<String, FakeDisk>,
    /// The IP the next created server gets.
    pub next_ip: String,
    pub failures: Vec<Failure>,
    /// `METHOD /path` of every authenticated request.
    pub calls: Vec<String>,
    /// When each of `calls` arrived (to order them against another fake's requests).
    pub call_times: Vec<std::time::Instant>,
    pub unauthorized: usize,
    next_id: u64,
}

pub struct FakeSakura {
    pub world: Arc<Mutex<World>>,
    pub port: u16,
}

/// A server plan as `GET /product/server` lists it.
struct Plan {
    id: u64,
    cpu: u64,
    memory_mb: u64,
    generation: u64,
    commitment: &'static str,
    confidential: bool,
}

const fn plan(id: u64, cpu: u64, memory_mb: u64, generation: u64, commitment: &'static str) -> Plan {
    Plan {
        id,
        cpu,
        memory_mb,
        generation,
        commitment,
        confidential: false,
    }
}

/// The traps of a real zone first: for 2 cores / 4 GB an older generation, a dedicated-CPU plan
/// and a confidential VM are listed before the plan the SDK picks (standard, generation 200).
const PLANS: &[Plan] = &[
    plan(100001001, 1, 1024, 200, "standard"),
    plan(2002004, 2, 4096, 100, "standard"),
    plan(200002004, 2, 4096, 200, "dedicatedcpu"),
    Plan {
        confidential: true,
        ..plan(300002004, 2, 4096, 200, "standard")
    },
    plan(100002004, 2, 4096, 200, "standard"),
    plan(100004004, 4, 4096, 200, "standard"),
    plan(100004008, 4, 8192, 200, "standard"),
];

/// Public archives with their tags, a cloud-init image of Ubuntu 24.04 listed first (its name
/// holds the plain one's).
const ARCHIVES: &[(&str, &str, &[&str])] = &[
    (
        "113000000100",
        "Ubuntu Server 24.04.1 LTS 64bit (cloudimg)",
        &[
            "@size-extendable",
            "cloud-init",
            "distro-ubuntu",
            "distro-ver-24.04.1",
            "os-linux",
        ],
    ),
    (
        "113000000101",
        "Ubuntu Server 24.04.1 LTS 64bit",
        &[
            "current-stable",
            "distro-ubuntu",
            "distro-ver-24.04.1",
            "os-linux",
            "ubuntu-24.04-latest",
        ],
    ),
    (
        "113000000102",
        "Ubuntu Server 22.04.5 LTS 64bit",
        &["distro-ubuntu", "distro-ver-22.04.5", "os-linux", "ubuntu-22.04-latest"],
    ),
    (
        "113000000103",
        "Debian GNU/Linux 12.8 64bit",
        &[
            "current-stable",
            "debian-12-latest",
            "distro-debian",
            "distro-ver-12.8",
            "os-linux",
        ],
    ),
];

impl FakeSakura {
    pub fn start() -> FakeSakura {
        let world = Arc::new(Mutex::new(World {
            next_ip: "127.0.0.1".into(),
            next_id: 113_100_000_001,
            ..World::default()
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = Arc::clone(&world);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                tx.send(listener.local_addr().expect("addr").port()).expect("send");
                let app = Router::new().fallback(handle).with_state(shared);
                let _ = axum::serve(listener, app).await;
            });
        });
        let port = rx.recv().expect("fake sakura port");
        FakeSakura { world, port }
    }

    /// What FLEET_SAKURA_API_URL should be (`{zone}` is filled in by the tool).
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/cloud/zone/{{zone}}/api/cloud/1.1", self.port)
    }

    /// Environment for the `fleet` binary: endpoint and credentials.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("FLEET_SAKURA_API_URL".into(), self.api_url()),
            ("SAKURACLOUD_ACCESS_TOKEN".into(), TOKEN.into()),
            ("SAKURACLOUD_ACCESS_TOKEN_SECRET".into(), SECRET.into()),
        ]
    }

    pub fn fail(&self, failure: Failure) {
        self.world.lock().unwrap().failures.push(failure);
    }

    pub fn servers(&self) -> Vec<FakeServer> {
        self.world.lock().unwrap().servers.values().cloned().collect()
    }

    pub fn server_named(&self, name: &str) -> Option<FakeServer> {
        self.servers().into_iter().find(|s| s.name == name)
    }

    pub fn disks(&self) -> Vec<FakeDisk> {
        self.world.lock().unwrap().disks.values().cloned().collect()
    }

    pub fn calls(&self) -> Vec<String> {
        self.world.lock().unwrap().calls.clone()
    }

    /// `calls` with the time each arrived.
    pub fn timed_calls(&self) -> Vec<(std::time::Instant, String)> {
        let w = self.world.lock().unwrap();
        w.call_times.iter().copied().zip(w.calls.iter().cloned()).collect()
    }

    /// Changes a server behind the tool's back.
    pub fn mutate(&self, name: &str, change: impl FnOnce(&mut FakeServer)) {
        let mut w = self.world.lock().unwrap();
        if let Some(s) = w.servers.values_mut().find(|s| s.name == name) {
            change(s);
        }
    }

    /// Deletes a server (and its disks) behind the tool's back.
    pub fn delete_behind_back(&self, name: &str) {
        let mut w = self.world.lock().unwrap();
        let ids: Vec<String> = w
            .servers
            .values()
            .filter(|s| s.name == name)
            .map(|s| s.id.clone())
            .collect();
        for id in ids {
            if let Some(s) = w.servers.remove(&id) {
                for d in s.disks {
                    w.disks.remove(&d);
                }
            }
        }
    }
}

type Shared = Arc<Mutex<World>>;

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({
        "is_fatal": true,
        "serial": "0123456789abcdef0123456789abcdef",
        "status": format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("")),
        "error_code": code,
        "error_msg": message,
    });
    (status, axum::Json(body)).into_response()
}

fn ok(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn authorized(headers: &HeaderMap) -> bool {
    use base64_engine::encode;
    let expected = format!("Basic {}", encode(format!("{TOKEN}:{SECRET}").as_bytes()));
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

/// A tiny base64 encoder (standard alphabet, padded), to check the Basic header.
mod base64_engine {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(input: &[u8]) -> String {
        let mut out = String::new();
        for chunk in input.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

fn server_json(s: &FakeServer, disks: &BTreeMap<String, FakeDisk>) -> Value {
    json!({
        "ID": s.id,
        "Name": s.name,
        "Description": s.description,
        "Tags": s.tags,
        "Availability": "available",
        "CreatedAt": "2026-11-25T10:00:00+09:00",
        "ServerPlan": {"ID": s.plan_id, "Name": format!("プラン/{}Core-{}GB", s.cpu, s.memory_mb / 1024), "CPU": s.cpu, "MemoryMB": s.memory_mb},
        "Instance": {"Status": if s.up { "up" } else { "down" }, "StatusChangedAt": "2026-11-25T10:00:00+09:00"},
        "Interfaces": [{"ID": format!("{}9", s.id), "IPAddress": s.ip, "MACAddress": "9C:A3:BA:00:00:01", "Switch": {"Scope": "shared"}}],
        "Disks": s.disks.iter().filter_map(|d| disks.get(d)).map(|d| json!({
            "ID": d.id, "Name": d.name, "SizeMB": d.size_mb, "Availability": "available", "Connection": "virtio", "Plan": {"ID": 4}
        })).collect::<Vec<_>>(),
        "Zone": {"ID": 21001, "Name": ZONE},
    })
}

fn disk_json(d: &FakeDisk) -> Value {
    json!({
        "ID": d.id, "Name": d.name, "SizeMB": d.size_mb, "Availability": "available",
        "Plan": {"ID": 4}, "SourceArchive": {"ID": d.archive},
        "Server": d.server.as_ref().map(|s| json!({"ID": s})),
    })
}

fn list(key: &str, items: Vec<Value>) -> Value {
    json!({"Total": items.len(), "From": 0, "Count": items.len(), key: items, "is_ok": true})
}

async fn handle(State(world): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let prefix = format!("/cloud/zone/{ZONE}/api/cloud/1.1");
    let Some(path) = uri.path().strip_prefix(&prefix).map(str::to_owned) else {
        return error(StatusCode::NOT_FOUND, "not_found", "unknown zone or API path");
    };
    let mut w = world.lock().unwrap();
    if !authorized(&headers) {
        w.unauthorized += 1;
        return error(StatusCode::UNAUTHORIZED, "unauthorized", "認証に失敗しました");
    }
    w.calls.push(format!("{method} {path}"));
    w.call_times.push(std::time::Instant::now());
    for f in w.failures.iter_mut() {
        let matches = f.method.is_none_or(|m| m == method.as_str())
            && f.path_prefix.is_none_or(|p| path.starts_with(p))
            && (f.skip > 0 || f.count > 0);
        if !matches {
            continue;
        }
        if f.skip > 0 {
            f.skip -= 1;
            break;
        }
        f.count -= 1;
        let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (code, msg) = match f.status {
            403 => ("forbidden", "この操作を行う権限がありません (permission denied)"),
            429 => ("too_many_requests", "リクエストが多すぎます"),
            503 => ("service_unavailable", "サービスが一時的に利用できません"),
            _ => ("internal_server_error", "内部エラーが発生しました"),
        };
        let mut response = error(status, code, msg);
        if let Some(s) = f.retry_after {
            response
                .headers_mut()
                .insert("retry-after", s.to_string().parse().expect("header"));
        }
        return response;
    }
    let query: Value = uri
        .query()
        .map(percent_decode)
        .and_then(|q| serde_json::from_str(&q).ok())
        .unwrap_or(Value::Null);
    let filter = query.get("Filter").cloned().unwrap_or(Value::Null);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let w = &mut *w;
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["server"]) => {
            let name = filter.get("Name").and_then(Value::as_str);
            let tags: Vec<&str> = filter
                .get("Tags.Name")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let items = w
                .servers
                .values()
                .filter(|s| name.is_none_or(|n| s.name.contains(n)))
                .filter(|s| tags.iter().all(|t| s.tags.iter().any(|x| x == t)))
                .map(|s| server_json(s, &w.disks))
                .collect();
            ok(StatusCode::OK, list("Servers", items))
        }
        ("POST", ["server"]) => {
            let s = body.get("Server").cloned().unwrap_or(Value::Null);
            let Some(name) = s.get("Name").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
                return error(StatusCode::BAD_REQUEST, "bad_request", "Server.Name is required");
            };
            let plan_id = s
                .get("ServerPlan")
                .and_then(|p| p.get("ID"))
                .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
                .unwrap_or_default();
            let Some(&Plan {
                cpu, memory_mb: mem, ..
            }) = PLANS.iter().find(|p| p.id.to_string() == plan_id)
            else {
                return error(StatusCode::BAD_REQUEST, "bad_request", "ServerPlan.ID is invalid");
            };
            if s.get("ConnectedSwitches").and_then(Value::as_array).is_none() {
                return error(StatusCode::BAD_REQUEST, "bad_request", "ConnectedSwitches is required");
            }
            w.next_id += 1;
            let server = FakeServer {
                id: w.next_id.to_string(),
                name: name.to_owned(),
                description: s
                    .get("Description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                tags: s
                    .get("Tags")
                    .and_then(Value::as_array)
                    .map(|t| t.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default(),
                cpu,
                memory_mb: mem,
                plan_id,
                up: false,
                ip: w.next_ip.clone(),
                disks: Vec::new(),
            };
            let out = server_json(&server, &w.disks);
            w.servers.insert(server.id.clone(), server);
            ok(
                StatusCode::CREATED,
                json!({"Server": out, "Success": true, "is_ok": true}),
            )
        }
        ("GET", ["server", id]) => match w.servers.get(*id) {
            Some(s) => ok(
                StatusCode::OK,
                json!({"Server": server_json(s, &w.disks), "is_ok": true}),
            ),
            None => error(StatusCode::NOT_FOUND, "not_found", "対象が見つかりません"),
        },
        ("DELETE", ["server", id]) => {
            let Some(s) = w.servers.get(*id).cloned() else {
                return error(StatusCode::NOT_FOUND, "not_found", "対象が見つかりません");
            };
            if s.up {
                return error(StatusCode::CONFLICT, "still_running", "サーバが起動中です");
            }
            let with: Vec<String> = body
                .get("WithDisk")
                .and_then(Value::as_array)
                .map(|d| d.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            for d in &s.disks {
                if with.contains(d) {
                    w.disks.remove(d);
                } else if let Some(disk) = w.disks.get_mut(d) {
                    disk.server = None;
                }
            }
            w.servers.remove(*id);
            ok(
                StatusCode::OK,
                json!({"Server": server_json(&s, &w.disks), "Success": true, "is_ok": true}),
            )
        }
        ("GET", ["server", id, "power"]) => match w.servers.get(*id) {
            // Its answer is not documented beyond `is_ok`: the state is the server's
            // `Instance.Status` (GET /server/{id}), as the SDKs read it.
            Some(_) => ok(StatusCode::OK, json!({"is_ok": true})),
            None => error(StatusCode::NOT_FOUND, "not_found", "対象が見つかりません"),
        },
        (m @ ("PUT" | "DELETE"), ["server", id, "power"]) => match w.servers.get_mut(*id) {
            Some(s) if m == "PUT" && s.disks.is_empty() => {
                error(StatusCode::CONFLICT, "no_disk", "ディスクが接続されていません")
            }
            Some(s) => {
                s.up = m == "PUT";
                ok(StatusCode::OK, json!({"Success": true, "is_ok": true}))
            }
            None => error(StatusCode::NOT_FOUND, "not_found", "対象が見つかりません"),
        },
        ("PUT", ["server", id, "plan"]) => {
            let Some(mut s) = w.servers.get(*id).cloned() else {
                return error(StatusCode::NOT_FOUND, "not_found", "対象が見つかりません");
            };
            if s.up {
                return error(StatusCode::CONFLICT, "still_running", "サーバが起動中です");
            }
            let cpu = body.get("CPU").and_then(Value::as_u64).unwrap_or(0);
            let mem = body.get("MemoryMB").and_then(Value::as_u64).unwrap_or(0);
            let Some(&Plan { id: plan, .. }) = PLANS
                .iter()
                .find(|p| p.cpu == cpu && p.memory_mb == mem && p.commitment == "standard" && !p.confidential)
            else {
                return error(StatusCode::BAD_REQUEST, "bad_request", "プランが見つかりません");
            };
            w.servers.remove(*id);
            w.next_id += 1;
            s.id = w.next_id.to_string();
            s.cpu = cpu;
            s.memory_mb = mem;
            s.plan_id = plan.to_string();
            for d in &s.disks {
                if let Some(disk) = w.disks.get_mut(d) {
                    disk.server = Some(s.id.clone());
                }
            }
            let out = server_json(&s, &w.disks);
            w.servers.insert(s.id.clone(), s);
            ok(StatusCode::OK, json!({"Server": out, "Success": true, "is_ok": true}))
        }
        ("GET", ["product", "server"]) => {
            let number = |k: &str| filter.get(k).and_then(Value::as_u64);
            let commitment = filter.get("Commitment").and_then(Value::as_str);
            let mut plans: Vec<&Plan> = PLANS
                .iter()
                .filter(|p| {
                    number("CPU").is_none_or(|x| x == p.cpu) && number("MemoryMB").is_none_or(|x| x == p.memory_mb)
                })
                .filter(|p| commitment.is_none_or(|c| c == p.commitment))
                .filter(|p| number("ConfidentialVM").is_none_or(|x| (x == 1) == p.confidential))
                .collect();
            let sort = query.get("Sort").and_then(Value::as_array);
            if sort.is_some_and(|keys| keys.iter().any(|k| k.as_str() == Some("-Generation"))) {
                plans.sort_by_key(|p| std::cmp::Reverse(p.generation));
            }
            let items = plans
                .into_iter()
                .map(|p| {
                    json!({
                        "ID": p.id.to_string(), "Name": format!("プラン/{}Core-{}GB", p.cpu, p.memory_mb / 1024),
                        "CPU": p.cpu, "MemoryMB": p.memory_mb, "Generation": p.generation,
                        "Commitment": p.commitment, "ConfidentialVM": p.confidential, "Availability": "available",
                    })
                })
                .collect();
            ok(StatusCode::OK, list("ServerPlans", items))
        }
        ("GET", ["archive"]) => {
            // Name: a partial match, case-insensitive; Tags.Name: every tag (AND).
            let name = filter.get("Name").and_then(Value::as_str).map(str::to_lowercase);
            let tags: Vec<&str> = (filter.get("Tags.Name").and_then(Value::as_array))
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let items = ARCHIVES
                .iter()
                .filter(|(_, n, _)| name.as_ref().is_none_or(|x| n.to_lowercase().contains(x)))
                .filter(|(_, _, have)| tags.iter().all(|t| have.contains(t)))
                .map(|(id, n, t)| json!({"ID": id, "Name": n, "Tags": t, "Scope": "shared", "Availability": "available", "SizeMB": 20480}))
                .collect();
            ok(StatusCode::OK, list("Archives", items))
        }
        ("POST", ["disk"]) => {
            let d = body.get("Disk").cloned().unwrap_or(Value::Null);
            let str_id = |v: Option<&Value>| {
                v.and_then(|x| x.get("ID"))
                    .map(|x| x.as_str().map(str::to_owned).unwrap_or_else(|| x.to_string()))
            };
            let archive = str_id(d.get("SourceArchive")).unwrap_or_default();
            if !ARCHIVES.iter().any(|(id, _, _)| *id == archive) {
                return error(StatusCode::BAD_REQUEST, "bad_request", "SourceArchive.ID is invalid");
            }
            let server = str_id(d.get("Server"));
            if server.as_ref().is_some_and(|s| !w.servers.contains_key(s)) {
                return error(StatusCode::BAD_REQUEST, "bad_request", "Server.ID is invalid");
            }
            let Some(size) = d.get("SizeMB").and_then(Value::as_u64) else {
                return error(StatusCode::BAD_REQUEST, "bad_request", "SizeMB is required");
            };
            w.next_id += 1;
            let disk = FakeDisk {
                id: w.next_id.to_string(),
                name: d.get("Name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                size_mb: size,
                archive,
                server: server.clone(),
                ssh_key: None,
                host_name: None,
            };
            if let Some(s) = server.and_then(|s| w.servers.get_mut(&s)) {
                s.disks.push(disk.id.clone());
            }
            let out = disk_json(&disk);
            w.disks.insert(disk.id.clone(), disk);
            ok(
                StatusCode::ACCEPTED,
                json!({"Disk": out, "Success": true, "is_ok": true}),
            )
        }
        ("GET", ["disk", id]) => match w.disks.get(*id) {
            Some(d) => ok(StatusCode::OK, json!({"Disk": disk_json(d), "is_ok": true})),
            None => error(StatusCode::NOT_FOUND, "not_found", "対象が見つかりません"),
        },
        ("PUT", ["disk", id, "config"]) => match w.disks.get_mut(*id) {
            Some(d) => {
                d.ssh_key = body
                    .get("SSHKey")
                    .and_then(|k| k.get("PublicKey"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                d.host_name = body.get("HostName").and_then(Value::as_str).map(str::to_owned);
                ok(StatusCode::OK, json!({"Success": true, "is_ok": true}))
            }
            None => error(StatusCode::NOT_FOUND, "not_found", "対象が見つかりません"),
        },
        _ => error(StatusCode::NOT_FOUND, "not_found", "unknown API path"),
    }
}
