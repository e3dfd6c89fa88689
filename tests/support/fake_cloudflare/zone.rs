//! Zone-scoped endpoints of the fake: DNS records and Worker routes.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{World, envelope, error, now, paged};

/// A refusal: status, Cloudflare error code, message.
type Refused = (StatusCode, u32, &'static str);

const RECORD_TYPES: &[&str] = &["A", "AAAA", "CNAME", "TXT", "MX"];

pub(super) fn handle_zone(
    w: &mut World,
    method: &str,
    zone_id: &str,
    zone_name: &str,
    rest: &[&str],
    query: &BTreeMap<String, String>,
    body: Value,
) -> Response {
    match (method, rest) {
        ("GET", ["dns_records"]) => {
            let found = w
                .records
                .iter()
                .filter(|r| r["zone_id"] == zone_id)
                .filter(|r| query.get("name").is_none_or(|n| r["name"] == n.as_str()))
                .filter(|r| query.get("type").is_none_or(|t| r["type"] == t.as_str()))
                .cloned()
                .collect();
            paged(found, query)
        }
        ("POST", ["dns_records"]) => {
            let record = match validate(w, zone_id, zone_name, None, &body) {
                Ok(r) => r,
                Err((status, code, msg)) => return error(status, code, msg),
            };
            let id = w.id();
            let mut record = record;
            record["id"] = json!(id);
            record["created_on"] = json!(now());
            w.records.push(record.clone());
            envelope(StatusCode::OK, record)
        }
        (_, ["dns_records", id]) => {
            let Some(i) = w.records.iter().position(|r| r["id"] == *id && r["zone_id"] == zone_id) else {
                return error(StatusCode::NOT_FOUND, 81044, "Record does not exist.");
            };
            match method {
                "GET" => envelope(StatusCode::OK, w.records[i].clone()),
                "DELETE" => {
                    w.records.remove(i);
                    envelope(StatusCode::OK, json!({ "id": id }))
                }
                "PATCH" | "PUT" => {
                    let mut merged = if method == "PATCH" {
                        w.records[i].clone()
                    } else {
                        json!({})
                    };
                    if let Some(fields) = body.as_object() {
                        for (k, v) in fields {
                            merged[k] = v.clone();
                        }
                    }
                    let record = match validate(w, zone_id, zone_name, Some(id), &merged) {
                        Ok(r) => r,
                        Err((status, code, msg)) => return error(status, code, msg),
                    };
                    let old = w.records[i].clone();
                    let r = &mut w.records[i];
                    *r = record;
                    r["id"] = old["id"].clone();
                    r["created_on"] = old["created_on"].clone();
                    envelope(StatusCode::OK, r.clone())
                }
                _ => error(StatusCode::METHOD_NOT_ALLOWED, 10405, "Method not allowed"),
            }
        }
        ("GET", ["workers", "routes"]) => {
            let routes = w
                .routes
                .iter()
                .filter(|(z, _)| z == zone_id)
                .map(|(_, r)| r.clone())
                .collect::<Vec<_>>();
            // Routes are not paged by the API: one list.
            envelope(StatusCode::OK, Value::Array(routes))
        }
        ("POST", ["workers", "routes"]) => {
            let (pattern, script) = match route_fields(w, zone_name, &body) {
                Ok(v) => v,
                Err((status, code, msg)) => return error(status, code, msg),
            };
            if w.routes.iter().any(|(_, r)| r["pattern"] == pattern.as_str()) {
                return error(
                    StatusCode::CONFLICT,
                    10020,
                    "A route with the same pattern already exists.",
                );
            }
            let id = w.id();
            let route = json!({ "id": id, "pattern": pattern, "script": script });
            w.routes.push((zone_id.to_owned(), route.clone()));
            envelope(StatusCode::OK, route)
        }
        (_, ["workers", "routes", id]) => {
            let Some(i) = w.routes.iter().position(|(z, r)| z == zone_id && r["id"] == *id) else {
                return error(StatusCode::NOT_FOUND, 10005, "Route not found");
            };
            match method {
                "GET" => envelope(StatusCode::OK, w.routes[i].1.clone()),
                "DELETE" => {
                    w.routes.remove(i);
                    envelope(StatusCode::OK, json!({ "id": id }))
                }
                "PUT" => {
                    let (pattern, script) = match route_fields(w, zone_name, &body) {
                        Ok(v) => v,
                        Err((status, code, msg)) => return error(status, code, msg),
                    };
                    let route = json!({ "id": id, "pattern": pattern, "script": script });
                    w.routes[i].1 = route.clone();
                    envelope(StatusCode::OK, route)
                }
                _ => error(StatusCode::METHOD_NOT_ALLOWED, 10405, "Method not allowed"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, 7000, "No route for that URI"),
    }
}

/// A record as the API stores it, or its 400 error envelope.
fn validate(w: &World, zone_id: &str, zone_name: &str, id: Option<&str>, body: &Value) -> Result<Value, Refused> {
    let bad = |code, msg: &'static str| Err((StatusCode::BAD_REQUEST, code, msg));
    let (Some(kind), Some(name), Some(content)) =
        (body["type"].as_str(), body["name"].as_str(), body["content"].as_str())
    else {
        return bad(9000, "DNS record type, name and content are required.");
    };
    if !RECORD_TYPES.contains(&kind) {
        return bad(9020, "Invalid DNS record type.");
    }
    let name = if name == zone_name || name.ends_with(&format!(".{zone_name}")) {
        name.to_owned()
    } else if name == "@" {
        zone_name.to_owned()
    } else {
        format!("{name}.{zone_name}")
    };
    if kind == "A" && content.parse::<std::net::Ipv4Addr>().is_err() {
        return bad(9005, "Content for A record is invalid. Must be a valid IPv4 address");
    }
    let proxied = match &body["proxied"] {
        Value::Null => false,
        Value::Bool(b) => *b,
        _ => return bad(9003, "Invalid 'proxied' value, must be a boolean"),
    };
    if proxied && !matches!(kind, "A" | "AAAA" | "CNAME") {
        return bad(9004, "This record type cannot be proxied.");
    }
    let ttl = match &body["ttl"] {
        Value::Null => 1,
        v => match v.as_u64() {
            Some(t) if t == 1 || (60..=86_400).contains(&t) => t,
            _ => {
                return bad(
                    9021,
                    "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.",
                );
            }
        },
    };
    let others = w
        .records
        .iter()
        .filter(|r| r["zone_id"] == zone_id && r["name"] == name.as_str() && id.is_none_or(|i| r["id"] != i));
    for other in others {
        if other["type"] == kind && other["content"] == content {
            return bad(81058, "An identical record already exists.");
        }
        if kind == "CNAME" || other["type"] == "CNAME" {
            return bad(81053, "An A, AAAA, or CNAME record with that host already exists.");
        }
    }
    Ok(json!({
        "zone_id": zone_id,
        "zone_name": zone_name,
        "name": name,
        "type": kind,
        "content": content,
        "proxiable": matches!(kind, "A" | "AAAA" | "CNAME"),
        "proxied": proxied,
        "ttl": if proxied { 1 } else { ttl },
        "locked": false,
        "meta": { "auto_added": false },
        "comment": null,
        "tags": [],
        "modified_on": now(),
    }))
}

fn route_fields(w: &World, zone_name: &str, body: &Value) -> Result<(String, String), Refused> {
    let (Some(pattern), Some(script)) = (body["pattern"].as_str(), body["script"].as_str()) else {
        return Err((StatusCode::BAD_REQUEST, 10021, "pattern and script are required"));
    };
    let host = pattern.split('/').next().unwrap_or_default().trim_start_matches("*.");
    if host != zone_name && !host.ends_with(&format!(".{zone_name}")) {
        return Err((StatusCode::BAD_REQUEST, 10022, "Route pattern must be within the zone."));
    }
    if w.script(script).is_none() {
        return Err((StatusCode::BAD_REQUEST, 10007, "workers.api.error.script_not_found"));
    }
    Ok((pattern.to_owned(), script.to_owned()))
}
