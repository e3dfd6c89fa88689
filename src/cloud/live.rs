//! The live resources as declared ones: what the providers report (refreshed into the state)
//! read back into the configuration's resource types, so the plan engine compares the live
//! infrastructure with the declared one and drift shows as a change.
//!
//! Every provisioned kind maps what its provider reports: servers (Sakura Cloud: plan, disk),
//! DNS records (Cloudflare: value, type, proxied, TTL), R2 buckets (location, custom domain,
//! CORS) and workers (routes). What a provider does not report stays as declared, except a
//! bucket's custom domain and CORS rule: the refreshed state holds them whenever they are set,
//! so their absence is a removal.

use std::collections::BTreeSet;

use super::infra::{Scope, parse_address};
use crate::config::cloud::{Disk, Server, ServerPlan, ValueOrRef};
use crate::config::cloudflare::{Cors, DnsRecord, R2Bucket, Worker};
use crate::config::lower::Spanned;
use crate::plan::snapshot::{Address, CloudKind, DnsEntry, Resource, Snapshot};
use crate::plan::state::{State, StateResource};

/// The resources `state` records in `desired`'s scope as they are: declared ones with the
/// attributes a provider reports replaced by the live values; undeclared ones rebuilt from the
/// state, so the plan destroys them.
pub fn live_base(desired: &Snapshot, state: &State, scope: &Scope) -> Snapshot {
    let mut base = Snapshot::default();
    for r in &state.resources {
        let Some(address) = parse_address(&r.address).filter(|a| scope.contains(a)) else {
            continue;
        };
        let Address::Cloud { kind, name, .. } = &address else {
            continue;
        };
        let resource = match desired.resources.get(&address) {
            Some(d) => observed(d.clone(), r),
            None => rebuilt(*kind, name, r),
        };
        base.resources.insert(address, resource);
    }
    base
}

/// `resource` (declared) with what `live` reports of it.
pub fn observed(resource: Resource, live: &StateResource) -> Resource {
    match resource {
        Resource::Server(s) => Resource::Server(observed_server(s, live)),
        Resource::DnsRecord(d) => Resource::DnsRecord(observed_dns(d, live)),
        Resource::R2Bucket(b) => Resource::R2Bucket(observed_bucket(b, live)),
        Resource::Worker(w) => Resource::Worker(observed_worker(w, live)),
        other => other,
    }
}

fn observed_server(mut s: Server, live: &StateResource) -> Server {
    let get = |k: &str| live.attributes.get(k);
    if let (Some(core), Some(memory)) = (
        get("core").and_then(|v| v.parse().ok()),
        get("memory").and_then(|v| v.parse().ok()),
    ) {
        let same = matches!(&s.plan, Some(p) if plan_numbers(p) == Some((core, memory)));
        if !same {
            s.plan = Some(ServerPlan::Spec {
                core,
                memory_gb: memory,
            });
        }
    }
    if let Some(size) = get("disk-size").and_then(|v| v.parse().ok()) {
        let disk = s.disk.get_or_insert(Disk {
            size_gb: None,
            os: None,
        });
        disk.size_gb = Some(size);
        if let Some(os) = get("os") {
            disk.os = Some(os.clone());
        }
    }
    s
}

/// The record's live content, type, proxying and TTL (Cloudflare's state attributes `value`,
/// `type`, `proxied`, `ttl`). A value that is a reference becomes the live content: the plan
/// engine renders both sides, so it is a change only when the content differs from what the
/// reference resolves to now.
fn observed_dns(mut d: DnsEntry, live: &StateResource) -> DnsEntry {
    let get = |k: &str| live.attributes.get(k);
    if let Some(value) = get("value") {
        let same = matches!(&d.record.value, ValueOrRef::Literal(v) if v == value);
        if !same {
            d.record.value = ValueOrRef::Literal(value.clone());
        }
    }
    if let Some(t) = get("type").filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case(&d.record.record_type)) {
        d.record.record_type = t.clone();
    }
    if let Some(proxied) = get("proxied") {
        d.record.proxied = proxied == "true";
    }
    if let Some(ttl) = get("ttl").and_then(|v| v.parse::<u32>().ok()) {
        // 1 is Cloudflare's "automatic", what an unset `ttl` asks for.
        d.record.ttl = match (d.record.ttl, ttl) {
            (None, 1) => None,
            (_, t) => Some(t),
        };
    }
    d
}

fn observed_bucket(mut b: R2Bucket, live: &StateResource) -> R2Bucket {
    let get = |k: &str| live.attributes.get(k);
    if let Some(location) = get("location")
        && b.location.as_ref().is_some_and(|l| !l.eq_ignore_ascii_case(location))
    {
        b.location = Some(location.clone());
    }
    b.custom_domain = get("custom-domain").cloned();
    if get("cors.allowed-origins").is_none() {
        b.cors = None;
    }
    if let Some(cors) = &mut b.cors {
        let same_set = |declared: &Vec<String>, key: &str| match get(key) {
            Some(live) => set_of(declared) == set_of(&split(live)),
            None => true,
        };
        for (list, key) in [
            (&mut cors.allowed_origins, "cors.allowed-origins"),
            (&mut cors.allowed_methods, "cors.allowed-methods"),
            (&mut cors.allowed_headers, "cors.allowed-headers"),
        ] {
            if !same_set(list, key)
                && let Some(live) = get(key)
            {
                *list = split(live);
            }
        }
        if let Some(age) = get("cors.max-age").and_then(|v| v.parse().ok()) {
            cors.max_age_seconds = Some(age);
        }
    }
    b
}

fn observed_worker(mut w: Worker, live: &StateResource) -> Worker {
    if let Some(routes) = live.attributes.get("routes")
        && set_of(&w.routes) != set_of(&split(routes))
    {
        w.routes = split(routes);
    }
    w
}

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn set_of(list: &[String]) -> BTreeSet<&str> {
    list.iter().map(String::as_str).collect()
}

/// `plan core=4 memory=8` or `plan "4core-8gb"` as numbers.
pub fn plan_numbers(plan: &ServerPlan) -> Option<(u32, u32)> {
    match plan {
        ServerPlan::Spec { core, memory_gb } => Some((*core, *memory_gb)),
        ServerPlan::Named(name) => {
            let lower = name.to_ascii_lowercase();
            let (core, memory) = lower.split_once("core-")?;
            Some((core.parse().ok()?, memory.strip_suffix("gb")?.parse().ok()?))
        }
    }
}

/// A recorded resource no longer declared, rebuilt from what the state knows (to be destroyed).
fn rebuilt(kind: CloudKind, name: &str, r: &StateResource) -> Resource {
    let get = |k: &str| r.attributes.get(k).cloned();
    let spanned = |v: &str| Spanned::new(v.to_owned(), 0..0);
    match kind {
        CloudKind::Server => Resource::Server(Server {
            name: spanned(name),
            provider: r.provider.clone(),
            plan: match (
                get("core").and_then(|v| v.parse().ok()),
                get("memory").and_then(|v| v.parse().ok()),
            ) {
                (Some(core), Some(memory_gb)) => Some(ServerPlan::Spec { core, memory_gb }),
                _ => None,
            },
            disk: Some(Disk {
                size_gb: get("disk-size").and_then(|v| v.parse().ok()),
                os: get("os"),
            }),
            ssh_key: None,
            ssh_host: None,
            ssh_user: "root".into(),
            ssh_port: 22,
            ssh_host_key: None,
            deploy_path: None,
            deploy_services: Vec::new(),
        }),
        CloudKind::DnsRecord => Resource::DnsRecord(DnsEntry {
            provider: r.provider.clone(),
            record: DnsRecord {
                name: spanned(name.rsplit('/').next().unwrap_or(name)),
                record_type: get("type").unwrap_or_else(|| "A".into()),
                value: ValueOrRef::Literal(get("value").unwrap_or_default()),
                proxied: get("proxied").is_some_and(|v| v == "true"),
                ttl: get("ttl").and_then(|v| v.parse().ok()).filter(|t| *t != 1),
            },
        }),
        CloudKind::R2Bucket => Resource::R2Bucket(R2Bucket {
            name: spanned(name),
            provider: r.provider.clone(),
            location: get("location"),
            cors: get("cors.allowed-origins").map(|origins| Cors {
                allowed_origins: split(&origins),
                allowed_methods: get("cors.allowed-methods").map(|m| split(&m)).unwrap_or_default(),
                allowed_headers: get("cors.allowed-headers").map(|h| split(&h)).unwrap_or_default(),
                max_age_seconds: get("cors.max-age").and_then(|v| v.parse().ok()),
            }),
            custom_domain: get("custom-domain"),
        }),
        CloudKind::Worker | CloudKind::Scale => Resource::Worker(Worker {
            name: spanned(name),
            provider: r.provider.clone(),
            source: get("source"),
            routes: get("routes").map(|r| split(&r)).unwrap_or_default(),
            bindings: Vec::new(),
        }),
    }
}
