//! DNS records: `GET /zones?name=`, `GET|POST /zones/{zone_id}/dns_records`,
//! `GET|PATCH|DELETE /zones/{zone_id}/dns_records/{id}`.
//!
//! State attributes: `zone`, `zone-id`, `record-id`, `name` (fully qualified), `type`,
//! `value` (the record's content), `proxied`, `ttl` (1 is automatic; a proxied record's ttl is
//! always automatic — Cloudflare stores 1 whatever is sent — so a declared one is not compared).

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};

use super::attrs::{flag, fqdn, number, required, text};
use super::client::{Body, seg, str_of};
use super::{CloudflareProvider, Wanted, resource};
use crate::cloud::ProviderError;
use crate::plan::state::StateResource;

fn need(zone: &str) -> String {
    format!("DNS:Edit on zone {zone}")
}

/// Creates or updates the record so it matches the attributes; a replace deletes the recorded
/// one first.
pub(crate) fn apply(
    p: &CloudflareProvider,
    w: &Wanted,
    zone: &str,
    name: &str,
) -> Result<StateResource, ProviderError> {
    let (address, attrs, recorded) = (w.address, w.attrs, w.recorded);
    let what = format!("DNS record {address}");
    let record_type = required(attrs, "type", &what)?.to_ascii_uppercase();
    let content = required(attrs, "value", &what)?;
    let proxied = flag(attrs, "proxied")?.unwrap_or(false);
    let ttl = if proxied { None } else { number(attrs, "ttl")? };
    let zone_id = p.zone_id(zone)?;
    let fqdn = fqdn(zone, name);
    let need = need(zone);
    let records = format!("/zones/{}/dns_records", seg(&zone_id));
    let existing = if w.replace {
        if let Some(id) = recorded_id(recorded, &zone_id) {
            p.api.delete(&format!("{records}/{}", seg(&id)), &need)?;
        }
        None
    } else {
        find(p, &zone_id, &fqdn, &record_type, recorded, &need)?
    };
    let body = json!({
        "type": record_type,
        "name": fqdn,
        "content": content,
        "proxied": proxied,
        "ttl": ttl.unwrap_or(1),
    });
    let record = match existing {
        Some(r) if matches(&r, content, proxied, ttl) => r,
        Some(r) => {
            let id = str_of(&r, "id").unwrap_or_default();
            let path = format!("{records}/{}", seg(id));
            p.api.send(Method::PATCH, &path, Body::Json(body), &need)?
        }
        None => p.api.send(Method::POST, &records, Body::Json(body), &need)?,
    };
    state_of(address, zone, &zone_id, &record)
}

/// Deletes the record (recorded id, else looked up by name and type); gone already is fine.
pub(crate) fn delete(
    p: &CloudflareProvider,
    zone: &str,
    name: &str,
    attrs: &BTreeMap<String, String>,
    recorded: Option<&StateResource>,
) -> Result<(), ProviderError> {
    let zone_id = p.zone_id(zone)?;
    let need = need(zone);
    let id = match recorded_id(recorded, &zone_id) {
        Some(id) => Some(id),
        None => {
            let record_type = text(attrs, "type")
                .or_else(|| recorded.and_then(|r| text(&r.attributes, "type")))
                .unwrap_or("A")
                .to_ascii_uppercase();
            find(p, &zone_id, &fqdn(zone, name), &record_type, None, &need)?
                .and_then(|r| str_of(&r, "id").map(str::to_owned))
        }
    };
    match id {
        Some(id) => p
            .api
            .delete(&format!("/zones/{}/dns_records/{}", seg(&zone_id), seg(&id)), &need),
        None => Ok(()),
    }
}

/// The record as it is now, or `None` when it no longer exists.
pub(crate) fn read(
    p: &CloudflareProvider,
    zone: &str,
    name: &str,
    last: &StateResource,
) -> Result<Option<StateResource>, ProviderError> {
    let zone_id = p.zone_id(zone)?;
    let record_type = text(&last.attributes, "type").unwrap_or("A").to_ascii_uppercase();
    let found = find(p, &zone_id, &fqdn(zone, name), &record_type, Some(last), &need(zone))?;
    found.map(|r| state_of(&last.address, zone, &zone_id, &r)).transpose()
}

fn recorded_id(recorded: Option<&StateResource>, zone_id: &str) -> Option<String> {
    let r = recorded?;
    (r.attributes.get("zone-id").map(String::as_str) == Some(zone_id))
        .then(|| r.attributes.get("record-id").cloned())
        .flatten()
}

/// The record by its recorded id, else the first of its name and type.
fn find(
    p: &CloudflareProvider,
    zone_id: &str,
    fqdn: &str,
    record_type: &str,
    recorded: Option<&StateResource>,
    need: &str,
) -> Result<Option<Value>, ProviderError> {
    if let Some(id) = recorded_id(recorded, zone_id) {
        let path = format!("/zones/{}/dns_records/{}", seg(zone_id), seg(&id));
        if let Some(r) = p.api.get_opt(&path, need)?
            && str_of(&r, "name") == Some(fqdn)
        {
            return Ok(Some(r));
        }
    }
    let path = format!(
        "/zones/{}/dns_records?name={}&type={}",
        seg(zone_id),
        seg(fqdn),
        seg(record_type)
    );
    let found = p.api.list(&path, None, need)?;
    Ok(found
        .into_iter()
        .find(|r| str_of(r, "name") == Some(fqdn) && str_of(r, "type") == Some(record_type)))
}

fn matches(record: &Value, content: &str, proxied: bool, ttl: Option<u64>) -> bool {
    str_of(record, "content") == Some(content)
        && record.get("proxied").and_then(Value::as_bool).unwrap_or(false) == proxied
        && ttl.is_none_or(|t| record.get("ttl").and_then(Value::as_u64) == Some(t))
}

fn state_of(address: &str, zone: &str, zone_id: &str, record: &Value) -> Result<StateResource, ProviderError> {
    let get = |k: &str| str_of(record, k).unwrap_or_default().to_owned();
    let id = get("id");
    if id.is_empty() {
        return Err(ProviderError::Permanent(format!(
            "the API answered for {address} without a record id"
        )));
    }
    let attributes = BTreeMap::from([
        ("zone".to_owned(), zone.to_owned()),
        ("zone-id".to_owned(), zone_id.to_owned()),
        ("record-id".to_owned(), id.clone()),
        ("name".to_owned(), get("name")),
        ("type".to_owned(), get("type")),
        ("value".to_owned(), get("content")),
        (
            "proxied".to_owned(),
            record
                .get("proxied")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
        ),
        (
            "ttl".to_owned(),
            record.get("ttl").and_then(Value::as_u64).unwrap_or(1).to_string(),
        ),
    ]);
    Ok(resource(
        address,
        format!("dns:{zone_id}/{id}"),
        attributes,
        record.get("created_on"),
    ))
}
