//! Infrastructure nodes of seed 002: `providers`, `server`, `scale`, `r2-bucket`, `worker`, `dns`.
//! `server` is shared with the registry (FS-001: "same syntax as cloud.kdl's server").

use std::collections::BTreeMap;

use serde::Serialize;

use super::lower::{Ctx, Spanned, take};
use super::syntax::RawNode;

/// Kinds of resource a reference such as `server.creo-dev-01.ip` may name.
pub const RESOURCE_KINDS: &[&str] = &["server", "r2-bucket", "worker", "dns"];

/// A pointer to another resource's attribute, resolved when that resource exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceRef {
    pub kind: String,
    pub name: String,
    pub attribute: String,
}

impl std::fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.kind, self.name, self.attribute)
    }
}

/// A literal, or a reference kept as a reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueOrRef {
    Literal(String),
    Reference(ResourceRef),
}

impl ValueOrRef {
    /// `kind.name.attribute` with a known kind is a reference; anything else is literal.
    pub fn parse(text: &str) -> Self {
        let mut parts = text.splitn(2, '.');
        let (Some(kind), Some(rest)) = (parts.next(), parts.next()) else {
            return Self::Literal(text.to_owned());
        };
        match rest.rsplit_once('.') {
            Some((name, attribute))
                if RESOURCE_KINDS.contains(&kind)
                    && super::lower::is_valid_name(name)
                    && !attribute.is_empty()
                    && attribute
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-') =>
            {
                Self::Reference(ResourceRef {
                    kind: kind.to_owned(),
                    name: name.to_owned(),
                    attribute: attribute.to_owned(),
                })
            }
            _ => Self::Literal(text.to_owned()),
        }
    }
}

/// A setting given literally or read from an environment variable (`account-id env="CF_ACCOUNT_ID"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Setting {
    Value(String),
    Env(String),
}

/// Machine size: `plan "4core-8gb"` or `plan core=4 memory=8`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ServerPlan {
    Named(String),
    Spec { core: u32, memory_gb: u32 },
}

impl std::fmt::Display for ServerPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerPlan::Named(name) => f.write_str(name),
            ServerPlan::Spec { core, memory_gb } => write!(f, "{core}core-{memory_gb}gb"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disk {
    pub size_gb: Option<u32>,
    pub os: Option<String>,
}

/// A machine: where fleets run (registry) or a cloud server to create (fleet stage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Server {
    pub name: Spanned<String>,
    pub provider: Option<String>,
    pub plan: Option<ServerPlan>,
    pub disk: Option<Disk>,
    pub ssh_key: Option<String>,
    pub ssh_host: Option<String>,
    pub ssh_user: String,
    pub ssh_port: u16,
    /// Pinned host key (`ssh-ed25519 AAAA…`); without it, known_hosts decides.
    pub ssh_host_key: Option<String>,
    pub deploy_path: Option<String>,
    pub deploy_services: Vec<String>,
}

const SERVER_NODES: &[&str] = &[
    "provider",
    "plan",
    "disk",
    "disk-size",
    "os",
    "ssh-key",
    "ssh-host",
    "ssh-user",
    "ssh-port",
    "ssh-host-key",
    "deploy-path",
    "deploy-services",
];

pub fn lower_server(ctx: &mut Ctx, node: &RawNode) -> Option<Server> {
    let name = ctx.name_arg(node, "server");
    ctx.check_props(node, &[]);
    let (mut provider, mut plan, mut disk, mut ssh_key, mut ssh_host) = (None, None, None, None, None);
    let (mut ssh_user, mut ssh_port, mut host_key, mut deploy_path, mut services) = (None, None, None, None, None);
    // FleetFlow's spelling of the disk: `disk-size 40`, `os "debian"`.
    let (mut disk_size, mut os) = (None, None);
    for child in node.children() {
        match child.name.as_str() {
            "provider" => leaf_string(ctx, child, &mut provider),
            "plan" => {
                let v = lower_plan(ctx, child);
                ctx.set_once(&mut plan, child, v);
            }
            "disk" => {
                ctx.leaf(child, &["size", "os"]);
                ctx.no_args(child);
                let v = Disk {
                    size_gb: ctx.prop_integer(child, "size", 1, 65_536).map(|n| n as u32),
                    os: ctx.prop_string(child, "os").map(|s| s.value),
                };
                ctx.set_once(&mut disk, child, Some(v));
            }
            "disk-size" => {
                ctx.leaf(child, &[]);
                let v = ctx.one_integer(child, 1, 65_536).map(|n| n as u32);
                ctx.set_once(&mut disk_size, child, v);
            }
            "os" => leaf_string(ctx, child, &mut os),
            "ssh-key" => leaf_string(ctx, child, &mut ssh_key),
            "ssh-host" => leaf_string(ctx, child, &mut ssh_host),
            "ssh-user" => leaf_string(ctx, child, &mut ssh_user),
            "ssh-host-key" => leaf_string(ctx, child, &mut host_key),
            "ssh-port" => {
                ctx.leaf(child, &[]);
                let v = ctx.one_integer(child, 1, 65_535).map(|n| n as u16);
                ctx.set_once(&mut ssh_port, child, v);
            }
            "deploy-path" => leaf_string(ctx, child, &mut deploy_path),
            "deploy-services" => {
                ctx.leaf(child, &[]);
                let v = ctx.strings(child).into_iter().map(|s| s.value).collect();
                ctx.set_once(&mut services, child, Some(v));
            }
            _ if super::fleetflow_dialect::not_carried(ctx, "server", child) => {}
            _ => ctx.unknown_node(child, "`server`", SERVER_NODES),
        }
    }
    let fleetflow_disk = (disk_size.as_ref().map(|(_, at)| at)).or(os.as_ref().map(|(_, at)| at));
    if let Some(at) = fleetflow_disk.cloned() {
        match &disk {
            Some(_) => ctx.error(at, "the disk is given twice: as `disk …` and as `disk-size`/`os`"),
            None => {
                let v = Disk {
                    size_gb: take(disk_size),
                    os: take(os),
                };
                disk = Some((v, at));
            }
        }
    }
    let host_key = take(host_key);
    if let Some(key) = &host_key
        && !looks_like_public_key(key)
    {
        ctx.error(
            node.name_span.clone(),
            "`ssh-host-key` must be a public key such as \"ssh-ed25519 AAAA…\"",
        );
    }
    Some(Server {
        name: name?,
        provider: take(provider),
        plan: take(plan),
        disk: take(disk),
        ssh_key: take(ssh_key),
        ssh_host: take(ssh_host),
        ssh_user: take(ssh_user).unwrap_or_else(|| "root".to_owned()),
        ssh_port: take(ssh_port).unwrap_or(22),
        ssh_host_key: host_key,
        deploy_path: take(deploy_path),
        deploy_services: take(services).unwrap_or_default(),
    })
}

fn looks_like_public_key(key: &str) -> bool {
    let mut parts = key.split_whitespace();
    matches!((parts.next(), parts.next()), (Some(kind), Some(blob))
        if (kind.starts_with("ssh-") || kind.starts_with("ecdsa-")) && blob.len() > 16)
}

/// A single-string leaf node stored once.
pub fn leaf_string(ctx: &mut Ctx, node: &RawNode, slot: &mut Option<(String, super::source::Span)>) {
    ctx.leaf(node, &[]);
    let v = ctx.one_string(node).map(|s| s.value);
    ctx.set_once(slot, node, v);
}

fn lower_plan(ctx: &mut Ctx, node: &RawNode) -> Option<ServerPlan> {
    ctx.leaf(node, &["core", "memory"]);
    if node.args.is_empty() && !node.props.is_empty() {
        let core = ctx.prop_integer(node, "core", 1, 1024);
        let memory = ctx.prop_integer(node, "memory", 1, 65_536);
        if core.is_none() || memory.is_none() {
            ctx.error(
                node.name_span.clone(),
                "`plan` needs both core= and memory= (e.g. `plan core=4 memory=8`)",
            );
        }
        return Some(ServerPlan::Spec {
            core: core? as u32,
            memory_gb: memory? as u32,
        });
    }
    ctx.one_string(node).map(|s| ServerPlan::Named(s.value))
}

/// `account-id "…"` or `account-id env="VAR"`.
pub fn lower_setting(ctx: &mut Ctx, node: &RawNode) -> Option<Setting> {
    ctx.leaf(node, &["env"]);
    if let Some(var) = ctx.prop_string(node, "env") {
        ctx.no_args(node);
        return Some(Setting::Env(var.value));
    }
    ctx.one_string(node).map(|s| Setting::Value(s.value))
}

/// `providers { sakura-cloud { zone "tk1a" } cloudflare { account-id env="…" } }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Providers {
    pub sakura_cloud: Option<SakuraCloudProvider>,
    pub cloudflare: Option<CloudflareProvider>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SakuraCloudProvider {
    pub zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloudflareProvider {
    pub account_id: Option<Setting>,
}

pub fn lower_providers(ctx: &mut Ctx, node: &RawNode, providers: &mut Providers) {
    ctx.leaf_block(node);
    for child in node.children() {
        ctx.no_args(child);
        lower_provider(ctx, child, child.name.as_str(), child.name_span.clone(), providers);
    }
}

/// FleetFlow's `provider "sakura-cloud" { zone "tk1a" }` at the top of a fleet file.
pub fn lower_provider_node(ctx: &mut Ctx, node: &RawNode, providers: &mut Providers) {
    if let Some(name) = ctx.one_string(node) {
        lower_provider(ctx, node, &name.value, name.span.clone(), providers);
    }
}

/// One provider's settings (`node`'s children), named `name` at `at`.
fn lower_provider(ctx: &mut Ctx, child: &RawNode, name: &str, at: super::source::Span, providers: &mut Providers) {
    ctx.check_props(child, &[]);
    {
        match name {
            "sakura-cloud" => {
                let mut zone = None;
                for n in child.children() {
                    match n.name.as_str() {
                        "zone" => leaf_string(ctx, n, &mut zone),
                        _ => ctx.unknown_node(n, "`sakura-cloud`", &["zone"]),
                    }
                }
                providers.sakura_cloud = Some(SakuraCloudProvider { zone: take(zone) });
            }
            "cloudflare" => {
                let mut account = None;
                for n in child.children() {
                    match n.name.as_str() {
                        "account-id" => {
                            let v = lower_setting(ctx, n);
                            ctx.set_once(&mut account, n, v);
                        }
                        _ => ctx.unknown_node(n, "`cloudflare`", &["account-id"]),
                    }
                }
                providers.cloudflare = Some(CloudflareProvider {
                    account_id: take(account),
                });
            }
            other => ctx.push(
                ctx.diag(at, format!("unknown provider `{other}`"))
                    .with_help("the providers are `sakura-cloud` and `cloudflare`"),
            ),
        }
    }
}

/// Horizontal scaling (seed 002 marks it future: parsed and validated, not applied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scale {
    pub server: Spanned<String>,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub cpu_threshold: Option<u32>,
    pub cooldown_seconds: Option<u32>,
}

pub fn lower_scale(ctx: &mut Ctx, node: &RawNode) -> Option<Scale> {
    let server = ctx.name_arg(node, "server");
    ctx.check_props(node, &[]);
    let mut fields: BTreeMap<&str, Option<(u32, super::source::Span)>> = BTreeMap::new();
    for child in node.children() {
        let (key, max) = match child.name.as_str() {
            "min" => ("min", 1000),
            "max" => ("max", 1000),
            "cpu-threshold" => ("cpu-threshold", 100),
            "cooldown" => ("cooldown", 86_400),
            _ => {
                ctx.unknown_node(child, "`scale`", &["min", "max", "cpu-threshold", "cooldown"]);
                continue;
            }
        };
        ctx.leaf(child, &[]);
        let v = ctx.one_integer(child, 0, max).map(|n| n as u32);
        ctx.set_once(fields.entry(key).or_default(), child, v);
    }
    let mut get = |k: &str| fields.remove(k).flatten().map(|(v, _)| v);
    let scale = Scale {
        server: server?,
        min: get("min"),
        max: get("max"),
        cpu_threshold: get("cpu-threshold"),
        cooldown_seconds: get("cooldown"),
    };
    if let (Some(min), Some(max)) = (scale.min, scale.max)
        && min > max
    {
        ctx.error(
            node.name_span.clone(),
            format!("`scale` min ({min}) is greater than max ({max})"),
        );
    }
    Some(scale)
}
