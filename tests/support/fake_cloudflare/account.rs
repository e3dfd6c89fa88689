//! Account-scoped endpoints of the fake: R2 buckets (CORS, custom domains), Worker scripts,
//! KV namespaces.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Bucket, Script, World, envelope, error, now, paged};

const LOCATIONS: &[&str] = &["apac", "eeur", "enam", "weur", "wnam", "oc"];
const CORS_METHODS: &[&str] = &["GET", "PUT", "POST", "DELETE", "HEAD"];

pub(super) fn handle_account(
    w: &mut World,
    method: &str,
    rest: &[&str],
    query: &BTreeMap<String, String>,
    content_type: &str,
    body: &[u8],
) -> Response {
    let json_body = || serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    match (method, rest) {
        ("GET", ["r2", "buckets"]) => {
            let all: Vec<Value> = w.buckets.iter().map(bucket_json).collect();
            envelope(StatusCode::OK, json!({ "buckets": all }))
        }
        ("POST", ["r2", "buckets"]) => create_bucket(w, &json_body()),
        (_, ["r2", "buckets", name, sub @ ..]) => {
            let Some(i) = w.buckets.iter().position(|b| b.name == *name) else {
                return error(StatusCode::NOT_FOUND, 10006, "The specified bucket does not exist.");
            };
            bucket_sub(w, i, method, sub, &json_body())
        }
        ("GET", ["workers", "scripts"]) => {
            let all = w
                .scripts
                .iter()
                .map(|s| {
                    json!({
                        "id": s.name, "etag": s.etag, "created_on": s.created_on, "modified_on": now(),
                        "handlers": ["fetch"], "usage_model": "standard",
                        "compatibility_date": s.metadata["compatibility_date"],
                    })
                })
                .collect::<Vec<_>>();
            envelope(StatusCode::OK, Value::Array(all))
        }
        ("PUT", ["workers", "scripts", name]) => upload_script(w, name, content_type, body),
        ("DELETE", ["workers", "scripts", name]) => {
            let Some(i) = w.scripts.iter().position(|s| s.name == *name) else {
                return error(StatusCode::NOT_FOUND, 10007, "workers.api.error.script_not_found");
            };
            w.scripts.remove(i);
            envelope(StatusCode::OK, Value::Null)
        }
        ("GET", ["storage", "kv", "namespaces"]) => {
            let all = w
                .kv_namespaces
                .iter()
                .map(|(id, title)| json!({ "id": id, "title": title, "supports_url_encoding": true }))
                .collect();
            paged(all, query)
        }
        _ => error(StatusCode::NOT_FOUND, 7000, "No route for that URI"),
    }
}

fn bucket_json(b: &Bucket) -> Value {
    json!({
        "name": b.name,
        "creation_date": b.creation_date,
        "location": b.location.to_ascii_uppercase(),
        "storage_class": "Standard",
    })
}

fn create_bucket(w: &mut World, body: &Value) -> Response {
    let Some(name) = body["name"].as_str() else {
        return error(
            StatusCode::BAD_REQUEST,
            10005,
            "The specified bucket name is not valid.",
        );
    };
    let valid = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !valid {
        return error(
            StatusCode::BAD_REQUEST,
            10005,
            "The specified bucket name is not valid.",
        );
    }
    let location = match body["locationHint"].as_str() {
        None => "enam".to_owned(),
        Some(l) if LOCATIONS.contains(&l.to_ascii_lowercase().as_str()) => l.to_ascii_lowercase(),
        Some(_) => return error(StatusCode::BAD_REQUEST, 10040, "The location hint is not valid."),
    };
    if w.bucket(name).is_some() {
        return error(
            StatusCode::CONFLICT,
            10004,
            "The bucket you tried to create already exists, and you own it.",
        );
    }
    let bucket = Bucket {
        name: name.to_owned(),
        location,
        creation_date: now(),
        cors: None,
        domains: Vec::new(),
    };
    let reply = bucket_json(&bucket);
    w.buckets.push(bucket);
    envelope(StatusCode::OK, reply)
}

fn bucket_sub(w: &mut World, i: usize, method: &str, sub: &[&str], body: &Value) -> Response {
    match (method, sub) {
        ("GET", []) => envelope(StatusCode::OK, bucket_json(&w.buckets[i])),
        ("DELETE", []) => {
            w.buckets.remove(i);
            envelope(StatusCode::OK, json!({}))
        }
        ("GET", ["cors"]) => match &w.buckets[i].cors {
            Some(rules) => envelope(StatusCode::OK, json!({ "rules": rules })),
            None => error(StatusCode::NOT_FOUND, 10059, "The CORS configuration does not exist."),
        },
        ("PUT", ["cors"]) => {
            let Some(rules) = body["rules"].as_array() else {
                return error(StatusCode::BAD_REQUEST, 10040, "rules must be an array");
            };
            for rule in rules {
                let origins = rule["allowed"]["origins"].as_array();
                let methods = rule["allowed"]["methods"].as_array();
                let ok = origins.is_some_and(|o| !o.is_empty() && o.iter().all(Value::is_string))
                    && methods.is_some_and(|m| m.iter().all(|v| v.as_str().is_some_and(|s| CORS_METHODS.contains(&s))))
                    && rule["allowed"]["headers"]
                        .as_array()
                        .is_none_or(|h| h.iter().all(Value::is_string))
                    && (rule.get("maxAgeSeconds").is_none() || rule["maxAgeSeconds"].is_u64());
                if !ok {
                    return error(StatusCode::BAD_REQUEST, 10040, "The CORS rule is not valid.");
                }
            }
            w.buckets[i].cors = Some(rules.clone());
            envelope(StatusCode::OK, json!({}))
        }
        ("DELETE", ["cors"]) => {
            w.buckets[i].cors = None;
            envelope(StatusCode::OK, json!({}))
        }
        ("GET", ["domains", "custom"]) => envelope(StatusCode::OK, json!({ "domains": w.buckets[i].domains })),
        ("POST", ["domains", "custom"]) => {
            let (Some(domain), Some(zone_id)) = (body["domain"].as_str(), body["zoneId"].as_str()) else {
                return error(StatusCode::BAD_REQUEST, 10040, "domain and zoneId are required");
            };
            let Some(zone) = w.zones.iter().find(|(id, _)| id == zone_id).map(|(_, n)| n.clone()) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    10087,
                    "The zone does not exist in this account.",
                );
            };
            if domain != zone && !domain.ends_with(&format!(".{zone}")) {
                return error(StatusCode::BAD_REQUEST, 10087, "The domain is not within the zone.");
            }
            if w.buckets
                .iter()
                .any(|b| b.domains.iter().any(|d| d["domain"] == domain))
            {
                return error(StatusCode::CONFLICT, 10083, "The custom domain is already in use.");
            }
            let enabled = body["enabled"].as_bool().unwrap_or(true);
            let entry = json!({
                "domain": domain, "enabled": enabled, "zoneId": zone_id, "zoneName": zone,
                "status": { "ownership": "active", "ssl": "active" },
                "minTLS": body["minTLS"].as_str().unwrap_or("1.0"),
            });
            w.buckets[i].domains.push(entry);
            envelope(StatusCode::OK, json!({ "domain": domain, "enabled": enabled }))
        }
        ("DELETE", ["domains", "custom", domain]) => {
            let before = w.buckets[i].domains.len();
            w.buckets[i].domains.retain(|d| d["domain"] != *domain);
            if w.buckets[i].domains.len() == before {
                return error(StatusCode::NOT_FOUND, 10085, "The custom domain does not exist.");
            }
            envelope(StatusCode::OK, json!({ "domain": domain }))
        }
        _ => error(StatusCode::NOT_FOUND, 7000, "No route for that URI"),
    }
}

fn upload_script(w: &mut World, name: &str, content_type: &str, body: &[u8]) -> Response {
    let bad = |msg: &str| error(StatusCode::BAD_REQUEST, 10021, msg);
    let Some(boundary) = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|rest| rest.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_owned())
    else {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            10001,
            "Content-Type must be multipart/form-data",
        );
    };
    let parts = multipart_parts(body, &boundary);
    let Some(metadata) = parts
        .get("metadata")
        .and_then(|m| serde_json::from_slice::<Value>(m).ok())
    else {
        return bad("Uploaded script is missing a valid metadata part.");
    };
    let Some(main) = metadata["main_module"].as_str() else {
        return bad("metadata.main_module is required for module workers.");
    };
    let Some(code) = parts.get(main) else {
        return bad("No such module: the main_module part is missing.");
    };
    for b in metadata["bindings"].as_array().into_iter().flatten() {
        let ok = match b["type"].as_str() {
            Some("r2_bucket") => b["bucket_name"].as_str().is_some_and(|n| w.bucket(n).is_some()),
            Some("kv_namespace") => b["namespace_id"]
                .as_str()
                .is_some_and(|id| w.kv_namespaces.iter().any(|(k, _)| k == id)),
            Some("plain_text") => b["text"].is_string(),
            _ => false,
        };
        if !ok || !b["name"].is_string() {
            return error(StatusCode::BAD_REQUEST, 10041, &format!("Invalid binding: {b}"));
        }
    }
    let etag = hex::encode(Sha256::digest(body));
    let modules = parts
        .iter()
        .filter(|(k, _)| k.as_str() != "metadata")
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    let _ = code;
    let created_on = w.script(name).map(|s| s.created_on.clone()).unwrap_or_else(now);
    let script = Script {
        name: name.to_owned(),
        etag: etag.clone(),
        metadata,
        modules,
        created_on: created_on.clone(),
    };
    w.scripts.retain(|s| s.name != name);
    w.scripts.push(script);
    envelope(
        StatusCode::OK,
        json!({ "id": name, "etag": etag, "created_on": created_on, "modified_on": now(), "handlers": ["fetch"] }),
    )
}

/// Part name → bytes of a `multipart/form-data` body.
fn multipart_parts(body: &[u8], boundary: &str) -> BTreeMap<String, Vec<u8>> {
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut out = BTreeMap::new();
    let positions: Vec<usize> = find_all(text, delimiter.as_bytes());
    for pair in positions.windows(2) {
        let part = &text[pair[0] + delimiter.len()..pair[1]];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let Some(split) = find_all(part, b"\r\n\r\n").first().copied() else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]).into_owned();
        let content = &part[split + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let name = head
            .split(';')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("name=\""))
            .and_then(|p| p.split('"').next());
        if let Some(name) = name {
            out.insert(name.to_owned(), content.to_vec());
        }
    }
    out
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return Vec::new();
    }
    (0..=haystack.len() - needle.len())
        .filter(|&i| &haystack[i..i + needle.len()] == needle)
        .collect()
}
