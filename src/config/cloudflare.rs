//! Cloudflare nodes of seed 002: `r2-bucket`, `worker`, `dns` with `record`s.

use serde::Serialize;

use super::cloud::{ValueOrRef, leaf_string};
use super::lower::{Ctx, Spanned, take};
use super::syntax::RawNode;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct R2Bucket {
    pub name: Spanned<String>,
    pub provider: Option<String>,
    pub location: Option<String>,
    pub cors: Option<Cors>,
    pub custom_domain: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cors {
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub max_age_seconds: Option<u32>,
}

pub fn lower_r2_bucket(ctx: &mut Ctx, node: &RawNode) -> Option<R2Bucket> {
    let name = ctx.name_arg(node, "r2-bucket");
    ctx.check_props(node, &[]);
    let (mut provider, mut location, mut cors, mut domain) = (None, None, None, None);
    for child in node.children() {
        match child.name.as_str() {
            "provider" => leaf_string(ctx, child, &mut provider),
            "location" => leaf_string(ctx, child, &mut location),
            "custom-domain" => leaf_string(ctx, child, &mut domain),
            "cors" => {
                let v = lower_cors(ctx, child);
                ctx.set_once(&mut cors, child, Some(v));
            }
            _ => ctx.unknown_node(child, "`r2-bucket`", &["provider", "location", "cors", "custom-domain"]),
        }
    }
    Some(R2Bucket {
        name: name?,
        provider: take(provider),
        location: take(location),
        cors: take(cors),
        custom_domain: take(domain),
    })
}

fn lower_cors(ctx: &mut Ctx, node: &RawNode) -> Cors {
    ctx.leaf_block(node);
    let mut cors = Cors::default();
    for child in node.children() {
        ctx.leaf(child, &[]);
        match child.name.as_str() {
            "allowed-origins" => cors.allowed_origins = ctx.strings(child).into_iter().map(|s| s.value).collect(),
            "allowed-methods" => cors.allowed_methods = ctx.strings(child).into_iter().map(|s| s.value).collect(),
            "allowed-headers" => cors.allowed_headers = ctx.strings(child).into_iter().map(|s| s.value).collect(),
            "max-age" => cors.max_age_seconds = ctx.one_integer(child, 0, 86_400).map(|n| n as u32),
            _ => ctx.unknown_node(
                child,
                "`cors`",
                &["allowed-origins", "allowed-methods", "allowed-headers", "max-age"],
            ),
        }
    }
    cors
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Worker {
    pub name: Spanned<String>,
    pub provider: Option<String>,
    pub source: Option<String>,
    pub routes: Vec<String>,
    pub bindings: Vec<WorkerBinding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum WorkerBinding {
    R2 { name: String, bucket: String },
    Kv { name: String, namespace: String },
    Var { name: String, value: String },
}

pub fn lower_worker(ctx: &mut Ctx, node: &RawNode) -> Option<Worker> {
    let name = ctx.name_arg(node, "worker");
    ctx.check_props(node, &[]);
    let (mut provider, mut source, mut routes, mut bindings) = (None, None, Vec::new(), Vec::new());
    for child in node.children() {
        match child.name.as_str() {
            "provider" => leaf_string(ctx, child, &mut provider),
            "source" => leaf_string(ctx, child, &mut source),
            "route" => {
                ctx.leaf(child, &[]);
                routes.extend(ctx.one_string(child).map(|s| s.value));
            }
            "bindings" => {
                ctx.leaf_block(child);
                for b in child.children() {
                    bindings.extend(lower_binding(ctx, b));
                }
            }
            _ => ctx.unknown_node(child, "`worker`", &["provider", "source", "route", "bindings"]),
        }
    }
    Some(Worker {
        name: name?,
        provider: take(provider),
        source: take(source),
        routes,
        bindings,
    })
}

fn lower_binding(ctx: &mut Ctx, node: &RawNode) -> Option<WorkerBinding> {
    let (prop, known): (&str, &[&str]) = match node.name.as_str() {
        "r2" => ("bucket", &["bucket"]),
        "kv" => ("namespace", &["namespace"]),
        "var" => ("value", &["value"]),
        _ => {
            ctx.unknown_node(node, "`bindings`", &["r2", "kv", "var"]);
            return None;
        }
    };
    ctx.leaf(node, known);
    let name = ctx.one_string(node)?.value;
    let target = ctx.required_prop_string(node, prop)?.value;
    Some(match node.name.as_str() {
        "r2" => WorkerBinding::R2 { name, bucket: target },
        "kv" => WorkerBinding::Kv {
            name,
            namespace: target,
        },
        _ => WorkerBinding::Var { name, value: target },
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsZone {
    pub zone: Spanned<String>,
    pub provider: Option<String>,
    pub records: Vec<DnsRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsRecord {
    pub name: Spanned<String>,
    pub record_type: String,
    pub value: ValueOrRef,
    pub proxied: bool,
    pub ttl: Option<u32>,
}

const RECORD_TYPES: &[&str] = &["A", "AAAA", "CNAME", "TXT", "MX"];

pub fn lower_dns(ctx: &mut Ctx, node: &RawNode) -> Option<DnsZone> {
    let zone = ctx.one_string(node);
    ctx.check_props(node, &[]);
    let (mut provider, mut records) = (None, Vec::new());
    for child in node.children() {
        match child.name.as_str() {
            "provider" => leaf_string(ctx, child, &mut provider),
            "record" => records.extend(lower_record(ctx, child)),
            _ => ctx.unknown_node(child, "`dns`", &["provider", "record"]),
        }
    }
    Some(DnsZone {
        zone: zone?,
        provider: take(provider),
        records,
    })
}

/// `record "api" type="A" value=… proxied=#true`, or the same as children.
fn lower_record(ctx: &mut Ctx, node: &RawNode) -> Option<DnsRecord> {
    ctx.check_props(node, &["type", "value", "proxied", "ttl"]);
    let name = ctx.one_string(node);
    let mut value = ctx.prop_string(node, "value").map(|s| (s.value, s.span));
    let mut proxied = ctx.prop_bool(node, "proxied").map(|b| (b, node.name_span.clone()));
    let mut ttl = ctx
        .prop_integer(node, "ttl", 1, 86_400)
        .map(|n| (n as u32, node.name_span.clone()));
    for child in node.children() {
        match child.name.as_str() {
            "value" => leaf_string(ctx, child, &mut value),
            "proxied" => {
                ctx.leaf(child, &[]);
                let v = ctx.one_bool(child);
                ctx.set_once(&mut proxied, child, v);
            }
            "ttl" => {
                ctx.leaf(child, &[]);
                let v = ctx.one_integer(child, 1, 86_400).map(|n| n as u32);
                ctx.set_once(&mut ttl, child, v);
            }
            _ => ctx.unknown_node(child, "`record`", &["value", "proxied", "ttl"]),
        }
    }
    let record_type = ctx.required_prop_string(node, "type");
    if let Some(t) = &record_type
        && !RECORD_TYPES.contains(&t.value.as_str())
    {
        ctx.push(
            ctx.diag(t.span.clone(), format!("unknown DNS record type {:?}", t.value))
                .with_help(format!("use one of: {}", RECORD_TYPES.join(", "))),
        );
    }
    if value.is_none() {
        ctx.push(
            ctx.diag(node.name_span.clone(), "`record` has no value")
                .with_help("add value=\"…\" or a `value \"…\"` child"),
        );
    }
    if let (Some((true, _)), Some((_, span))) = (&proxied, &ttl) {
        ctx.push(ctx.warning(
            span.clone(),
            "a proxied record's ttl is automatic: Cloudflare ignores `ttl` here",
        ));
    }
    Some(DnsRecord {
        name: name?,
        record_type: record_type?.value,
        value: ValueOrRef::parse(&take(value)?),
        proxied: take(proxied).unwrap_or(false),
        ttl: take(ttl),
    })
}
