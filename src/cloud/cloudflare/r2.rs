//! R2 buckets: `GET|POST /accounts/{account_id}/r2/buckets`, `GET|DELETE …/buckets/{name}`,
//! CORS `GET|PUT|DELETE …/{name}/cors`, custom domains `GET|POST …/{name}/domains/custom` and
//! `DELETE …/domains/custom/{domain}`.
//!
//! State attributes: `name`, `location`, `custom-domain`, `cors.allowed-origins`,
//! `cors.allowed-methods`, `cors.allowed-headers`, `cors.max-age` (of the first CORS rule).

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};

use super::attrs::{list, number, text};
use super::client::{Body, seg, str_of};
use super::{CloudflareProvider, Wanted, resource};
use crate::cloud::ProviderError;
use crate::plan::state::StateResource;

const NEED: &str = "Workers R2 Storage:Edit on the account";

fn buckets(p: &CloudflareProvider) -> Result<String, ProviderError> {
    Ok(format!("/accounts/{}/r2/buckets", seg(p.account()?)))
}

/// Creates the bucket if missing, then sets its CORS rules and custom domain to the
/// attributes; a replace deletes it first (Cloudflare refuses while it holds objects).
pub(crate) fn apply(p: &CloudflareProvider, w: &Wanted, name: &str) -> Result<StateResource, ProviderError> {
    let (address, attrs, recorded) = (w.address, w.attrs, w.recorded);
    let base = buckets(p)?;
    let bucket_path = format!("{base}/{}", seg(name));
    if w.replace {
        p.api.delete(&bucket_path, NEED)?;
    }
    let bucket = match p.api.get_opt(&bucket_path, NEED)? {
        Some(b) => b,
        None => {
            let mut body = json!({ "name": name });
            if let Some(location) = text(attrs, "location") {
                body["locationHint"] = json!(location.to_ascii_lowercase());
            }
            p.api.send(Method::POST, &base, Body::Json(body), NEED)?
        }
    };

    // CORS: the configured rule, or none.
    let wanted = wanted_rules(attrs)?;
    let current = cors_rules(p, &bucket_path)?;
    let rules = if rule_keys(&wanted) == rule_keys(&current) {
        current
    } else {
        let path = format!("{bucket_path}/cors");
        if wanted.is_empty() {
            p.api.delete(&path, NEED)?;
        } else {
            p.api
                .send(Method::PUT, &path, Body::Json(json!({ "rules": wanted })), NEED)?;
        }
        wanted
    };

    // Custom domain: attach the configured one, detach the one recorded before if it changed.
    let domains_path = format!("{bucket_path}/domains/custom");
    let mut domains = custom_domains(p, &bucket_path)?;
    let wanted_domain = text(attrs, "custom-domain");
    let previous = recorded.and_then(|r| text(&r.attributes, "custom-domain"));
    if let Some(old) = previous
        && Some(old) != wanted_domain
        && domains.iter().any(|d| d == old)
    {
        p.api.delete(&format!("{domains_path}/{}", seg(old)), NEED)?;
        domains.retain(|d| d != old);
    }
    if let Some(domain) = wanted_domain
        && !domains.iter().any(|d| d == domain)
    {
        let (_, zone_id) = p.zone_of_host(domain)?;
        let body = json!({ "domain": domain, "zoneId": zone_id, "enabled": true });
        p.api.send(Method::POST, &domains_path, Body::Json(body), NEED)?;
        domains.push(domain.to_owned());
    }
    let shown = wanted_domain.map(str::to_owned).or_else(|| domains.first().cloned());
    Ok(state_of(address, name, &bucket, &rules, shown))
}

/// Deletes the bucket; gone already is fine.
pub(crate) fn delete(p: &CloudflareProvider, name: &str) -> Result<(), ProviderError> {
    p.api.delete(&format!("{}/{}", buckets(p)?, seg(name)), NEED)
}

/// The bucket as it is now, or `None` when it no longer exists.
pub(crate) fn read(
    p: &CloudflareProvider,
    name: &str,
    last: &StateResource,
) -> Result<Option<StateResource>, ProviderError> {
    let bucket_path = format!("{}/{}", buckets(p)?, seg(name));
    let Some(bucket) = p.api.get_opt(&bucket_path, NEED)? else {
        return Ok(None);
    };
    let rules = cors_rules(p, &bucket_path)?;
    let domains = custom_domains(p, &bucket_path)?;
    let recorded = text(&last.attributes, "custom-domain").map(str::to_owned);
    let shown = recorded
        .filter(|d| domains.contains(d))
        .or_else(|| domains.first().cloned());
    Ok(Some(state_of(&last.address, name, &bucket, &rules, shown)))
}

/// The CORS rule the attributes describe (none without `cors.allowed-origins`).
fn wanted_rules(attrs: &BTreeMap<String, String>) -> Result<Vec<Value>, ProviderError> {
    let origins = list(attrs, "cors.allowed-origins");
    if origins.is_empty() {
        return Ok(Vec::new());
    }
    let mut rule = json!({
        "allowed": {
            "origins": origins,
            "methods": list(attrs, "cors.allowed-methods"),
            "headers": list(attrs, "cors.allowed-headers"),
        }
    });
    if let Some(age) = number(attrs, "cors.max-age")? {
        rule["maxAgeSeconds"] = json!(age);
    }
    Ok(vec![rule])
}

/// What a CORS rule allows: (origins, methods, headers, max age).
type RuleKey = (Vec<String>, Vec<String>, Vec<String>, Option<u64>);

/// The rules' keys, to compare.
fn rule_keys(rules: &[Value]) -> Vec<RuleKey> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    rules
        .iter()
        .map(|r| {
            let a = &r["allowed"];
            (
                strings(&a["origins"]),
                strings(&a["methods"]),
                strings(&a["headers"]),
                r.get("maxAgeSeconds").and_then(Value::as_u64),
            )
        })
        .collect()
}

fn cors_rules(p: &CloudflareProvider, bucket_path: &str) -> Result<Vec<Value>, ProviderError> {
    let found = p.api.get_opt(&format!("{bucket_path}/cors"), NEED)?;
    Ok(found
        .and_then(|c| c.get("rules").and_then(Value::as_array).cloned())
        .unwrap_or_default())
}

fn custom_domains(p: &CloudflareProvider, bucket_path: &str) -> Result<Vec<String>, ProviderError> {
    let found = p.api.get_opt(&format!("{bucket_path}/domains/custom"), NEED)?;
    Ok(found
        .as_ref()
        .and_then(|d| d.get("domains").and_then(Value::as_array))
        .into_iter()
        .flatten()
        .filter_map(|d| str_of(d, "domain"))
        .map(str::to_owned)
        .collect())
}

fn state_of(address: &str, name: &str, bucket: &Value, rules: &[Value], domain: Option<String>) -> StateResource {
    let mut attributes = BTreeMap::from([("name".to_owned(), name.to_owned())]);
    if let Some(location) = str_of(bucket, "location") {
        attributes.insert("location".into(), location.to_ascii_lowercase());
    }
    if let Some(d) = domain {
        attributes.insert("custom-domain".into(), d);
    }
    if let Some((origins, methods, headers, age)) = rule_keys(rules).into_iter().next() {
        attributes.insert("cors.allowed-origins".into(), origins.join(","));
        attributes.insert("cors.allowed-methods".into(), methods.join(","));
        attributes.insert("cors.allowed-headers".into(), headers.join(","));
        if let Some(age) = age {
            attributes.insert("cors.max-age".into(), age.to_string());
        }
    }
    resource(address, format!("r2:{name}"), attributes, bucket.get("creation_date"))
}
