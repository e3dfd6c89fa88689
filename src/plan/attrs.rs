//! Resources as flat attribute lists (`image`, `env.API_TOKEN`, `disk.size`), the secret rule,
//! and which attributes a provider cannot change in place.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::snapshot::{CloudKind, Resource};
use crate::config::cloud::{ResourceRef, ValueOrRef};
use crate::config::cloudflare::WorkerBinding;
use crate::config::service::{EnvValue, Protocol, RestartPolicy};

/// Substrings (case-insensitive) of a variable name that make its value secret.
pub const SECRET_MARKERS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "KEY",
    "CREDENTIAL",
    "PRIVATE",
    "AUTH",
    "CERT",
];

/// Shown instead of a secret value.
pub const SENSITIVE: &str = "(sensitive value)";
/// Shown for a value only known once a resource exists (`server.creo-dev-01.ip`).
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// Whether a variable's value must never be shown: its name contains a [`SECRET_MARKERS`] entry.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_MARKERS.iter().any(|m| upper.contains(m))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AttrKind {
    Plain,
    Sensitive,
    Unknown,
}

/// One attribute's value as shown. A sensitive value keeps only a digest (to notice that it
/// changed); it renders, serializes and debug-prints as `(sensitive value)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Attr {
    text: String,
    kind: AttrKind,
}

impl Attr {
    /// Text shown as is (numbers, booleans, lists already formatted).
    pub fn plain(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            kind: AttrKind::Plain,
        }
    }

    /// A string, quoted and escaped (control characters cannot reach the terminal).
    pub fn quoted(text: &str) -> Self {
        Self::plain(format!("{text:?}"))
    }

    pub fn list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Self {
        let items: Vec<String> = items.into_iter().map(|s| format!("{:?}", s.as_ref())).collect();
        Self::plain(format!("[{}]", items.join(", ")))
    }

    pub fn sensitive(raw: &str) -> Self {
        Self {
            text: hex::encode(Sha256::digest(raw.as_bytes())),
            kind: AttrKind::Sensitive,
        }
    }

    /// A reference whose value is not known here; `fresh` when the plan creates or replaces
    /// the resource it names (so the value will change even where it was unknown before).
    pub fn unknown(reference: &ResourceRef, fresh: bool) -> Self {
        let prefix = if fresh { "fresh:" } else { "" };
        Self {
            text: format!("{prefix}{reference}"),
            kind: AttrKind::Unknown,
        }
    }

    pub fn is_unknown(&self) -> bool {
        self.kind == AttrKind::Unknown
    }

    pub fn is_sensitive(&self) -> bool {
        self.kind == AttrKind::Sensitive
    }

    /// What a plan shows.
    pub fn shown(&self) -> &str {
        match self.kind {
            AttrKind::Plain => &self.text,
            AttrKind::Sensitive => SENSITIVE,
            AttrKind::Unknown => KNOWN_AFTER_APPLY,
        }
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown())
    }
}

impl fmt::Debug for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown())
    }
}

impl Serialize for Attr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.shown())
    }
}

/// One attribute that a change creates, changes or removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttrChange {
    pub path: String,
    pub before: Option<Attr>,
    pub after: Option<Attr>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub forces_replacement: bool,
}

/// Attribute paths in display order.
pub(crate) type Attrs = Vec<(String, Attr)>;

/// Paths a provider cannot update in place (a change replaces the resource).
pub(crate) fn forces_replacement(kind: CloudKind, path: &str) -> bool {
    match kind {
        CloudKind::Server => matches!(path, "provider" | "disk.size" | "disk.os"),
        CloudKind::R2Bucket => matches!(path, "provider" | "location"),
        CloudKind::Worker => path == "provider",
        CloudKind::DnsRecord => matches!(path, "provider" | "type"),
        CloudKind::Scale => false,
    }
}

/// Compares two attribute lists: what changed (in `after`'s order, removals last) and how
/// many attributes stayed the same.
pub(crate) fn diff_attrs(before: &Attrs, after: &Attrs, forcing: impl Fn(&str) -> bool) -> (Vec<AttrChange>, usize) {
    let mut changes = Vec::new();
    let mut unchanged = 0;
    let find = |list: &'_ Attrs, path: &str| list.iter().find(|(p, _)| p == path).map(|(_, a)| a.clone());
    for (path, attr) in after {
        match find(before, path) {
            Some(old) if &old == attr => unchanged += 1,
            old => changes.push(AttrChange {
                forces_replacement: forcing(path),
                path: path.clone(),
                before: old,
                after: Some(attr.clone()),
            }),
        }
    }
    for (path, attr) in before {
        if find(after, path).is_none() {
            changes.push(AttrChange {
                forces_replacement: forcing(path),
                path: path.clone(),
                before: Some(attr.clone()),
                after: None,
            });
        }
    }
    (changes, unchanged)
}

struct Out(Attrs);

impl Out {
    fn put(&mut self, path: impl Into<String>, attr: Attr) {
        self.0.push((path.into(), attr));
    }

    fn text(&mut self, path: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.put(path, Attr::quoted(v));
        }
    }

    fn num(&mut self, path: &str, value: Option<impl fmt::Display>) {
        if let Some(v) = value {
            self.put(path, Attr::plain(v.to_string()));
        }
    }

    fn list<S: AsRef<str>>(&mut self, path: &str, items: &[S]) {
        if !items.is_empty() {
            self.put(path, Attr::list(items));
        }
    }

    /// A variable whose value is hidden when its name looks secret.
    fn var(&mut self, path: String, name: &str, value: &str) {
        let attr = if is_secret_name(name) {
            Attr::sensitive(value)
        } else {
            Attr::quoted(value)
        };
        self.put(path, attr);
    }
}

/// The attributes of a resource; `resolve` gives the value of a reference.
pub(crate) fn flatten(resource: &Resource, resolve: &dyn Fn(&ResourceRef) -> Attr) -> Attrs {
    let mut out = Out(Vec::new());
    match resource {
        Resource::Fleet { path, description } => {
            out.text("path", Some(path));
            out.text("description", description.as_deref());
        }
        Resource::Route { server } => out.text("server", Some(server)),
        Resource::DeployPolicy {
            permission,
            teams,
            users,
        } => {
            out.text("permission", permission.as_deref());
            out.list("teams", teams);
            out.list("users", users);
        }
        Resource::Server(s) => {
            out.text("provider", s.provider.as_deref());
            out.text("plan", s.plan.as_ref().map(ToString::to_string).as_deref());
            if let Some(disk) = &s.disk {
                out.num("disk.size", disk.size_gb);
                out.text("disk.os", disk.os.as_deref());
            }
            out.text("ssh-host", s.ssh_host.as_deref());
            out.text("ssh-user", Some(&s.ssh_user));
            out.num("ssh-port", Some(s.ssh_port));
            out.text("ssh-key", s.ssh_key.as_deref());
            out.text("ssh-host-key", s.ssh_host_key.as_deref());
            out.text("deploy-path", s.deploy_path.as_deref());
            out.list("deploy-services", &s.deploy_services);
        }
        Resource::Service(s) => service(&mut out, s),
        Resource::Scale(s) => {
            out.num("min", s.min);
            out.num("max", s.max);
            out.num("cpu-threshold", s.cpu_threshold);
            out.num("cooldown", s.cooldown_seconds);
        }
        Resource::R2Bucket(b) => {
            out.text("provider", b.provider.as_deref());
            out.text("location", b.location.as_deref());
            out.text("custom-domain", b.custom_domain.as_deref());
            if let Some(cors) = &b.cors {
                out.list("cors.allowed-origins", &cors.allowed_origins);
                out.list("cors.allowed-methods", &cors.allowed_methods);
                out.list("cors.allowed-headers", &cors.allowed_headers);
                out.num("cors.max-age", cors.max_age_seconds);
            }
        }
        Resource::Worker(w) => {
            out.text("provider", w.provider.as_deref());
            out.text("source", w.source.as_deref());
            out.list("routes", &w.routes);
            for b in &w.bindings {
                match b {
                    WorkerBinding::R2 { name, bucket } => {
                        out.put(format!("bindings.{name}"), Attr::plain(format!("r2 bucket={bucket:?}")))
                    }
                    WorkerBinding::Kv { name, namespace } => out.put(
                        format!("bindings.{name}"),
                        Attr::plain(format!("kv namespace={namespace:?}")),
                    ),
                    WorkerBinding::Var { name, value } => out.var(format!("bindings.{name}"), name, value),
                }
            }
        }
        Resource::DnsRecord(d) => {
            out.text("provider", d.provider.as_deref());
            out.text("type", Some(&d.record.record_type));
            let value = match &d.record.value {
                ValueOrRef::Literal(v) => Attr::quoted(v),
                ValueOrRef::Reference(r) => resolve(r),
            };
            out.put("value", value);
            out.num("proxied", Some(d.record.proxied));
            out.num("ttl", d.record.ttl);
        }
    }
    out.0
}

fn service(out: &mut Out, s: &crate::config::Service) {
    out.text("image", s.image.as_deref());
    if let Some(b) = &s.build {
        out.text("build.context", Some(&b.context));
        out.text("build.dockerfile", b.dockerfile.as_deref());
        out.text("build.target", b.target.as_deref());
        for (k, v) in &b.args {
            out.var(format!("build.args.{k}"), k, v);
        }
    }
    let ports: Vec<String> = s
        .ports
        .iter()
        .map(|p| {
            let ip = match p.host_ip.as_deref() {
                Some(ip) if ip.contains(':') => format!("[{ip}]:"),
                Some(ip) => format!("{ip}:"),
                None => String::new(),
            };
            let proto = match p.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            };
            format!("{ip}{}:{}/{proto}", p.host, p.container)
        })
        .collect();
    out.list("ports", &ports);
    out.list("volumes", &s.volumes);
    for (k, v) in &s.env {
        let path = format!("env.{k}");
        match v {
            EnvValue::Literal(text) => out.var(path, k, text),
            EnvValue::FromEnv(var) => out.put(path, Attr::sensitive(&format!("env:{var}"))),
        }
    }
    out.list("command", s.command.as_deref().unwrap_or(&[]));
    let restart = s.restart.map(|r| match r {
        RestartPolicy::No => "no",
        RestartPolicy::Always => "always",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::UnlessStopped => "unless-stopped",
    });
    out.text("restart", restart);
    let deps: Vec<&str> = s.depends_on.iter().map(|d| d.value.as_str()).collect();
    out.list("depends-on", &deps);
    if let Some(h) = &s.healthcheck {
        out.list("healthcheck.test", &h.test);
        out.num("healthcheck.interval", h.interval.map(duration));
        out.num("healthcheck.timeout", h.timeout.map(duration));
        out.num("healthcheck.retries", h.retries);
        out.num("healthcheck.start-period", h.start_period.map(duration));
    }
}

fn duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}
