//! Workers: module upload `PUT /accounts/{account_id}/workers/scripts/{name}` (multipart with a
//! `metadata` part), `GET …/workers/scripts`, `DELETE …/scripts/{name}`; routes
//! `GET|POST /zones/{zone_id}/workers/routes`, `DELETE …/routes/{id}`; KV namespaces by title
//! `GET /accounts/{account_id}/storage/kv/namespaces`.
//!
//! The script is the `source` file, or the entry module of the `source` directory (`index.js`,
//! `index.mjs`, `worker.js`, `src/index.js`, `dist/index.js`, …), relative to the settings'
//! `source_dir`; it is uploaded as is (TypeScript must be bundled first). The API does not
//! give the content back, so state records its SHA-256 and the upload is skipped when that,
//! the entry module and the bindings are unchanged and the script exists.
//!
//! State attributes: `name`, `source`, `main-module`, `content-sha256`, `etag`, `routes`
//! (patterns) and `route-ids` (`ZONE_ID/ROUTE_ID`, same order), `bindings.NAME` (`r2:BUCKET`,
//! `kv:NAMESPACE`, `var-sha256:DIGEST`: a variable's value is never written to state).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::attrs::{list, required, text};
use super::client::{Body, multipart, seg, str_of};
use super::{CloudflareProvider, Wanted, resource};
use crate::cloud::ProviderError;
use crate::plan::state::StateResource;

const NEED: &str = "Workers Scripts:Edit on the account";
/// Used when the attributes name no `compatibility-date`.
pub const DEFAULT_COMPATIBILITY_DATE: &str = "2024-09-23";
const ENTRY_FILES: &[&str] = &[
    "index.js",
    "index.mjs",
    "worker.js",
    "worker.mjs",
    "src/index.js",
    "src/index.mjs",
    "dist/index.js",
    "dist/index.mjs",
    "dist/worker.js",
];

fn route_need(zone: &str) -> String {
    format!("Workers Routes:Edit on zone {zone}")
}

/// Uploads the script when it changed, then makes its routes the configured ones.
pub(crate) fn apply(p: &CloudflareProvider, w: &Wanted, name: &str) -> Result<StateResource, ProviderError> {
    let (address, attrs, recorded) = (w.address, w.attrs, w.recorded);
    let account = p.account()?;
    let source = required(attrs, "source", &format!("worker {address}"))?;
    let (module, code) = read_source(&p.source_dir, source)?;
    let digest = hex::encode(Sha256::digest(&code));
    let (bindings, binding_attrs) = bindings(p, account, attrs)?;
    let date = text(attrs, "compatibility-date").unwrap_or(DEFAULT_COMPATIBILITY_DATE);

    let mut attributes = BTreeMap::from([
        ("name".to_owned(), name.to_owned()),
        ("source".to_owned(), source.to_owned()),
        ("main-module".to_owned(), module.clone()),
        ("content-sha256".to_owned(), digest),
        ("compatibility-date".to_owned(), date.to_owned()),
    ]);
    attributes.extend(binding_attrs);
    let existing = script(p, account, name)?;
    let unchanged = recorded.is_some_and(|r| {
        let same = |k: &str| r.attributes.get(k) == attributes.get(k);
        let keys = |m: &BTreeMap<String, String>| -> Vec<String> {
            m.keys().filter(|k| k.starts_with("bindings.")).cloned().collect()
        };
        ["main-module", "content-sha256", "compatibility-date"]
            .iter()
            .all(|k| same(k))
            && keys(&r.attributes) == keys(&attributes)
            && keys(&attributes).iter().all(|k| same(k))
    });
    let script = match existing {
        Some(s) if unchanged => s,
        _ => {
            let metadata = json!({
                "main_module": module,
                "bindings": bindings,
                "compatibility_date": date,
            });
            let meta = metadata.to_string();
            let body = multipart(&[
                ("metadata", None, "application/json", meta.as_bytes()),
                (&module, Some(&module), "application/javascript+module", &code),
            ]);
            let path = format!("/accounts/{}/workers/scripts/{}", seg(account), seg(name));
            p.api.send(Method::PUT, &path, body, NEED)?
        }
    };
    if let Some(etag) = str_of(&script, "etag") {
        attributes.insert("etag".into(), etag.to_owned());
    }

    // Routes: keep ours, add the missing, remove the recorded ones no longer wanted.
    let wanted = list(attrs, "routes");
    let mut zone_routes: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut ids = Vec::new();
    for pattern in &wanted {
        let host = pattern.split('/').next().unwrap_or(pattern);
        let (zone, zone_id) = p.zone_of_host(host)?;
        let routes_path = format!("/zones/{}/workers/routes", seg(&zone_id));
        if !zone_routes.contains_key(&zone_id) {
            let found = p.api.list(&routes_path, None, &route_need(&zone))?;
            zone_routes.insert(zone_id.clone(), found);
        }
        let existing = zone_routes[&zone_id]
            .iter()
            .find(|r| str_of(r, "pattern") == Some(pattern))
            .cloned();
        let route = match existing {
            Some(r) if str_of(&r, "script") == Some(name) => r,
            Some(r) => {
                let other = str_of(&r, "script").unwrap_or("(none)");
                return Err(ProviderError::Permanent(format!(
                    "route {pattern} already sends requests to worker {other:?}; \
                     remove it there (or from the other fleet) before giving it to {name:?}"
                )));
            }
            None => {
                let body = json!({ "pattern": pattern, "script": name });
                p.api
                    .send(Method::POST, &routes_path, Body::Json(body), &route_need(&zone))?
            }
        };
        let id = str_of(&route, "id").unwrap_or_default();
        ids.push(format!("{zone_id}/{id}"));
    }
    if let Some(r) = recorded {
        for (pattern, id) in recorded_routes(r) {
            if !wanted.contains(&pattern) && !ids.contains(&id) {
                delete_route(p, &id)?;
            }
        }
    }
    attributes.insert("routes".into(), wanted.join(","));
    attributes.insert("route-ids".into(), ids.join(","));
    Ok(resource(
        address,
        format!("worker:{name}"),
        attributes,
        script.get("created_on"),
    ))
}

/// Deletes the recorded routes, then the script; gone already is fine.
pub(crate) fn delete(
    p: &CloudflareProvider,
    name: &str,
    recorded: Option<&StateResource>,
) -> Result<(), ProviderError> {
    let account = p.account()?;
    for (_, id) in recorded.map(recorded_routes).unwrap_or_default() {
        delete_route(p, &id)?;
    }
    p.api.delete(
        &format!("/accounts/{}/workers/scripts/{}", seg(account), seg(name)),
        NEED,
    )
}

/// The script as it is now (its routes in the zones recorded before), or `None` when gone.
pub(crate) fn read(
    p: &CloudflareProvider,
    name: &str,
    last: &StateResource,
) -> Result<Option<StateResource>, ProviderError> {
    let account = p.account()?;
    let Some(script) = script(p, account, name)? else {
        return Ok(None);
    };
    let mut attributes = last.attributes.clone();
    if let Some(etag) = str_of(&script, "etag") {
        attributes.insert("etag".into(), etag.to_owned());
    }
    let mut zones: Vec<String> = recorded_routes(last)
        .into_iter()
        .filter_map(|(_, id)| id.split_once('/').map(|(z, _)| z.to_owned()))
        .collect();
    zones.sort();
    zones.dedup();
    let (mut patterns, mut ids) = (Vec::new(), Vec::new());
    for zone_id in zones {
        let path = format!("/zones/{}/workers/routes", seg(&zone_id));
        for r in p.api.list(&path, None, &route_need(&zone_id))? {
            if str_of(&r, "script") == Some(name) {
                patterns.push(str_of(&r, "pattern").unwrap_or_default().to_owned());
                ids.push(format!("{zone_id}/{}", str_of(&r, "id").unwrap_or_default()));
            }
        }
    }
    attributes.insert("routes".into(), patterns.join(","));
    attributes.insert("route-ids".into(), ids.join(","));
    Ok(Some(resource(
        &last.address,
        format!("worker:{name}"),
        attributes,
        script.get("created_on"),
    )))
}

/// The script's entry in the account's list, if it exists.
fn script(p: &CloudflareProvider, account: &str, name: &str) -> Result<Option<Value>, ProviderError> {
    let path = format!("/accounts/{}/workers/scripts", seg(account));
    p.api.find(&path, "id", name, NEED)
}

/// (pattern, `ZONE_ID/ROUTE_ID`) pairs recorded in state.
fn recorded_routes(r: &StateResource) -> Vec<(String, String)> {
    let patterns = list(&r.attributes, "routes");
    let ids = list(&r.attributes, "route-ids");
    patterns.into_iter().zip(ids).collect()
}

fn delete_route(p: &CloudflareProvider, id: &str) -> Result<(), ProviderError> {
    let Some((zone_id, route)) = id.split_once('/') else {
        return Ok(());
    };
    let path = format!("/zones/{}/workers/routes/{}", seg(zone_id), seg(route));
    p.api.delete(&path, &route_need(zone_id))
}

/// The metadata bindings and their state attributes.
fn bindings(
    p: &CloudflareProvider,
    account: &str,
    attrs: &BTreeMap<String, String>,
) -> Result<(Vec<Value>, BTreeMap<String, String>), ProviderError> {
    let (mut out, mut recorded) = (Vec::new(), BTreeMap::new());
    for (key, value) in attrs {
        let Some(name) = key.strip_prefix("bindings.") else {
            continue;
        };
        let bad = || {
            ProviderError::Permanent(format!(
                "binding {name} = {value:?}: expected r2:BUCKET, kv:NAMESPACE or var:VALUE"
            ))
        };
        let (kind, target) = value.split_once(':').ok_or_else(bad)?;
        let (binding, shown) = match kind {
            "r2" => (
                json!({ "type": "r2_bucket", "name": name, "bucket_name": target }),
                value.clone(),
            ),
            "kv" => {
                let id = kv_namespace(p, account, target)?;
                (
                    json!({ "type": "kv_namespace", "name": name, "namespace_id": id }),
                    value.clone(),
                )
            }
            "var" => (
                json!({ "type": "plain_text", "name": name, "text": target }),
                format!("var-sha256:{}", hex::encode(Sha256::digest(target.as_bytes()))),
            ),
            _ => return Err(bad()),
        };
        out.push(binding);
        recorded.insert(key.clone(), shown);
    }
    Ok((out, recorded))
}

/// A KV namespace id: given as one (32 hex digits), or found by title.
fn kv_namespace(p: &CloudflareProvider, account: &str, namespace: &str) -> Result<String, ProviderError> {
    if namespace.len() == 32 && namespace.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(namespace.to_owned());
    }
    let path = format!("/accounts/{}/storage/kv/namespaces", seg(account));
    let found = p
        .api
        .find(&path, "title", namespace, "Workers KV Storage:Read on the account")?;
    found
        .as_ref()
        .and_then(|n| str_of(n, "id"))
        .map(str::to_owned)
        .ok_or_else(|| {
            ProviderError::Permanent(format!(
                "no KV namespace titled {namespace:?} in the account: create it \
                 (`wrangler kv namespace create {namespace}`) or give its id"
            ))
        })
}

/// The entry module's name and bytes.
fn read_source(dir: &Path, source: &str) -> Result<(String, Vec<u8>), ProviderError> {
    let path = dir.join(source);
    let file: PathBuf = if path.is_dir() {
        ENTRY_FILES
            .iter()
            .map(|f| path.join(f))
            .find(|f| f.is_file())
            .ok_or_else(|| {
                ProviderError::Permanent(format!(
                    "worker source {} has no entry module (one of {}); bundle TypeScript first",
                    path.display(),
                    ENTRY_FILES.join(", ")
                ))
            })?
    } else {
        path.clone()
    };
    let module = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("index.js")
        .to_owned();
    if !(module.ends_with(".js") || module.ends_with(".mjs")) {
        return Err(ProviderError::Permanent(format!(
            "worker source {} is not a JavaScript module (.js, .mjs); bundle it first",
            file.display()
        )));
    }
    let code = std::fs::read(&file)
        .map_err(|e| ProviderError::Permanent(format!("cannot read worker source {}: {e}", file.display())))?;
    Ok((module, code))
}
