//! The attribute vocabulary of Cloudflare actions and state resources, and the resource
//! identity an address names.
//!
//! Values are plain text (no quotes): numbers and booleans as written (`300`, `true`), lists
//! comma-joined (`GET,PUT`; a JSON array such as `["GET", "PUT"]` is read too), worker
//! bindings as `r2:BUCKET`, `kv:NAMESPACE`, `var:VALUE`.

use std::collections::BTreeMap;

use crate::cloud::ProviderError;
use crate::config::cloud::ValueOrRef;
use crate::config::cloudflare::WorkerBinding;
use crate::plan::Resource;

pub const PROVIDER: &str = "cloudflare";

/// What an address names at Cloudflare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `fleet[:stage]/dns-record.ZONE/NAME`: `name` as written (`api`, `@`).
    Dns {
        zone: String,
        name: String,
    },
    Bucket {
        name: String,
    },
    Worker {
        name: String,
    },
}

impl Target {
    /// The identity of a plan address (`creo:dev/dns-record.example.com/api`); `None` when the
    /// address is not a Cloudflare kind. Duplicate names (`api#2`) lose their suffix.
    pub(crate) fn of(address: &str) -> Option<Target> {
        let (_, local) = address.split_once('/')?;
        let (kind, name) = local.split_once('.')?;
        let strip = |n: &str| n.rsplit_once('#').map_or(n, |(base, _)| base).to_owned();
        match kind {
            "dns-record" => {
                let (zone, record) = name.split_once('/')?;
                Some(Target::Dns {
                    zone: zone.to_owned(),
                    name: strip(record),
                })
            }
            "r2-bucket" => Some(Target::Bucket { name: strip(name) }),
            "worker" => Some(Target::Worker { name: strip(name) }),
            _ => None,
        }
    }

    pub(crate) fn parse(address: &str) -> Result<Target, ProviderError> {
        Target::of(address).ok_or_else(|| {
            ProviderError::Permanent(format!(
                "{address} is not a Cloudflare resource (dns-record, r2-bucket or worker)"
            ))
        })
    }
}

/// The fully qualified name of record `name` in `zone` (`@` is the apex).
pub fn fqdn(zone: &str, name: &str) -> String {
    let name = name.trim_end_matches('.');
    if name == "@" || name.is_empty() || name == zone {
        zone.to_owned()
    } else if name.ends_with(&format!(".{zone}")) {
        name.to_owned()
    } else {
        format!("{name}.{zone}")
    }
}

/// Whether Cloudflare manages `resource`: R2 buckets, workers, and DNS records of zones whose
/// provider is `cloudflare` (or not given).
pub fn manages(resource: &Resource) -> bool {
    let ours = |p: &Option<String>| p.as_deref().is_none_or(|p| p == PROVIDER);
    match resource {
        Resource::R2Bucket(b) => ours(&b.provider),
        Resource::Worker(w) => ours(&w.provider),
        Resource::DnsRecord(d) => ours(&d.provider),
        _ => false,
    }
}

/// The attributes of an action that creates or updates `resource`, in this module's
/// vocabulary; `None` for a resource Cloudflare does not manage. A DNS value that refers to
/// another resource stays as the reference text (`server.creo-dev-01.ip`) for
/// [`crate::plan::references::resolve`].
pub fn desired_attributes(resource: &Resource) -> Option<BTreeMap<String, String>> {
    if !manages(resource) {
        return None;
    }
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        out.insert(k.to_owned(), v);
    };
    match resource {
        Resource::DnsRecord(d) => {
            let r = &d.record;
            put("type", r.record_type.clone());
            put(
                "value",
                match &r.value {
                    ValueOrRef::Literal(v) => v.clone(),
                    ValueOrRef::Reference(rf) => rf.to_string(),
                },
            );
            put("proxied", r.proxied.to_string());
            // Cloudflare keeps a proxied record's ttl automatic (1), whatever is declared.
            match r.ttl {
                _ if r.proxied => put("ttl", "1".to_owned()),
                Some(ttl) => put("ttl", ttl.to_string()),
                None => {}
            }
        }
        Resource::R2Bucket(b) => {
            if let Some(l) = &b.location {
                put("location", l.to_ascii_lowercase());
            }
            if let Some(d) = &b.custom_domain {
                put("custom-domain", d.clone());
            }
            if let Some(c) = &b.cors {
                put("cors.allowed-origins", c.allowed_origins.join(","));
                put("cors.allowed-methods", c.allowed_methods.join(","));
                put("cors.allowed-headers", c.allowed_headers.join(","));
                if let Some(m) = c.max_age_seconds {
                    put("cors.max-age", m.to_string());
                }
            }
        }
        Resource::Worker(w) => {
            if let Some(s) = &w.source {
                put("source", s.clone());
            }
            put("routes", w.routes.join(","));
            for b in &w.bindings {
                let (name, value) = match b {
                    WorkerBinding::R2 { name, bucket } => (name, format!("r2:{bucket}")),
                    WorkerBinding::Kv { name, namespace } => (name, format!("kv:{namespace}")),
                    WorkerBinding::Var { name, value } => (name, format!("var:{value}")),
                };
                put(&format!("bindings.{name}"), value);
            }
        }
        _ => return None,
    }
    Some(out)
}

/// A list attribute: comma-joined, or a JSON array of strings.
pub(crate) fn list(attrs: &BTreeMap<String, String>, key: &str) -> Vec<String> {
    let Some(text) = attrs.get(key).map(|t| t.trim()) else {
        return Vec::new();
    };
    if text.starts_with('[')
        && let Ok(items) = serde_json::from_str::<Vec<String>>(text)
    {
        return items;
    }
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A text attribute, without the quotes a plan's rendering would add.
pub(crate) fn text<'a>(attrs: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    let v = attrs.get(key)?.as_str();
    Some(
        v.strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .filter(|s| !s.contains('"'))
            .unwrap_or(v),
    )
}

pub(crate) fn flag(attrs: &BTreeMap<String, String>, key: &str) -> Result<Option<bool>, ProviderError> {
    match text(attrs, key) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ProviderError::Permanent(format!(
            "attribute `{key}` must be true or false, not {other:?}"
        ))),
    }
}

pub(crate) fn number(attrs: &BTreeMap<String, String>, key: &str) -> Result<Option<u64>, ProviderError> {
    text(attrs, key)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| ProviderError::Permanent(format!("attribute `{key}` must be a number, not {v:?}")))
        })
        .transpose()
}

pub(crate) fn required<'a>(
    attrs: &'a BTreeMap<String, String>,
    key: &str,
    what: &str,
) -> Result<&'a str, ProviderError> {
    text(attrs, key).ok_or_else(|| ProviderError::Permanent(format!("{what} has no `{key}` attribute")))
}
