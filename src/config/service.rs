//! `service "name" { … }`: what runs in a container.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::cloud::leaf_string;
use super::fleetflow_dialect::{self as ff, FlatBuild};
use super::lower::{Ctx, Spanned, did_you_mean, take};
use super::source::Span;
use super::syntax::{RawNode, Scalar};

/// A service as written. Fields are optional so a stage can override a shared definition
/// field by field; a resolved stage service has `image` or `build`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub name: Spanned<String>,
    pub image: Option<String>,
    pub build: Option<Build>,
    pub ports: Vec<Port>,
    pub volumes: Vec<String>,
    pub env: BTreeMap<String, EnvValue>,
    pub command: Option<Vec<String>>,
    pub restart: Option<RestartPolicy>,
    pub depends_on: Vec<Spanned<String>>,
    pub healthcheck: Option<Healthcheck>,
}

impl Service {
    /// `overlay` on top of `self`: fields the overlay sets win; env is merged key by key.
    pub fn overridden_by(&self, overlay: &Service) -> Service {
        let mut env = self.env.clone();
        env.extend(overlay.env.clone());
        Service {
            name: overlay.name.clone(),
            image: overlay.image.clone().or_else(|| self.image.clone()),
            build: overlay.build.clone().or_else(|| self.build.clone()),
            ports: if overlay.ports.is_empty() {
                self.ports.clone()
            } else {
                overlay.ports.clone()
            },
            volumes: if overlay.volumes.is_empty() {
                self.volumes.clone()
            } else {
                overlay.volumes.clone()
            },
            env,
            command: overlay.command.clone().or_else(|| self.command.clone()),
            restart: overlay.restart.or(self.restart),
            depends_on: if overlay.depends_on.is_empty() {
                self.depends_on.clone()
            } else {
                overlay.depends_on.clone()
            },
            healthcheck: overlay.healthcheck.clone().or_else(|| self.healthcheck.clone()),
        }
    }

    /// Whether anything besides the name was written (a bare `service "x"` is a reference).
    pub fn is_reference(node: &RawNode) -> bool {
        node.children.is_none() && node.props.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Build {
    pub context: String,
    pub dockerfile: Option<String>,
    pub target: Option<String>,
    pub args: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    pub host: u16,
    pub container: u16,
    pub protocol: Protocol,
    pub host_ip: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvValue {
    Literal(String),
    /// Read from the deploying environment at deploy time (`TOKEN env="HOST_TOKEN"`).
    FromEnv(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    No,
    Always,
    OnFailure,
    UnlessStopped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub start_period: Option<Duration>,
}

const SERVICE_NODES: &[&str] = &[
    "image",
    "build",
    "port",
    "volume",
    "env",
    "command",
    "restart",
    "depends-on",
    "healthcheck",
    // FleetFlow's spellings (see fleetflow_dialect.rs)
    "version",
    "ports",
    "environment",
    "volumes",
    "depends_on",
    "dockerfile",
    "context",
    "target",
    "build_args",
];

pub fn lower_service(ctx: &mut Ctx, node: &RawNode) -> Option<Service> {
    let name = ctx.name_arg(node, "service");
    ctx.check_props(node, ff::SERVICE_PROPS);
    let (mut image, mut build, mut command, mut restart, mut health) = (None, None, None, None, None);
    let (mut ports, mut volumes, mut env, mut depends_on) = (Vec::new(), Vec::new(), BTreeMap::new(), Vec::new());
    let (mut version, mut flat) = (None, FlatBuild::default());
    for child in node.children() {
        match child.name.as_str() {
            "image" => leaf_string(ctx, child, &mut image),
            "version" => leaf_string(ctx, child, &mut version),
            "ports" => ports.extend(
                ff::block_of(ctx, child, "port")
                    .into_iter()
                    .filter_map(|p| lower_port(ctx, p)),
            ),
            "volumes" => {
                for v in ff::block_of(ctx, child, "volume") {
                    volumes.extend(
                        ff::volume_text(ctx, v)
                            .filter(|v| check_volume(ctx, v))
                            .map(|v| v.value),
                    );
                }
            }
            "dockerfile" | "context" | "target" => {
                flat.seen(&child.name_span);
                let slot = match child.name.as_str() {
                    "dockerfile" => &mut flat.dockerfile,
                    "context" => &mut flat.context,
                    _ => &mut flat.target,
                };
                leaf_string(ctx, child, slot);
            }
            "build_args" => {
                flat.seen(&child.name_span);
                lower_build_args(ctx, child, &mut flat.args);
            }
            "build" => {
                let v = lower_build(ctx, child);
                ctx.set_once(&mut build, child, v);
            }
            "port" => ports.extend(lower_port(ctx, child)),
            "volume" => volumes.extend(
                ff::volume_text(ctx, child)
                    .filter(|v| check_volume(ctx, v))
                    .map(|v| v.value),
            ),
            "env" | "environment" => lower_env(ctx, child, &mut env),
            "command" => {
                ctx.leaf(child, &[]);
                let strings = ctx.strings(child);
                // One string is a command line (FleetFlow's form); several are the argv.
                let argv = match strings.as_slice() {
                    [line] => ff::command_words(ctx, line),
                    _ => Some(strings.into_iter().map(|s| s.value).collect::<Vec<_>>()).filter(|a| !a.is_empty()),
                };
                ctx.set_once(&mut command, child, argv);
            }
            "restart" => {
                ctx.leaf(child, &[]);
                let v = ctx.one_string(child).and_then(|s| parse_restart(ctx, &s));
                ctx.set_once(&mut restart, child, v);
            }
            "depends-on" | "depends_on" => {
                ctx.leaf(child, &[]);
                depends_on.extend(ctx.strings(child));
            }
            "healthcheck" => {
                let v = lower_healthcheck(ctx, child);
                ctx.set_once(&mut health, child, v);
            }
            _ if ff::not_carried(ctx, "service", child) => {}
            _ => ctx.unknown_node(child, "`service`", SERVICE_NODES),
        }
    }
    ff::props_not_carried(ctx, node);
    let text = |_: &mut Ctx, v: &Spanned<String>| Some(v.value.clone());
    ff::prop_into(ctx, node, "image", &mut image, text);
    ff::prop_into(ctx, node, "version", &mut version, text);
    ff::prop_into(ctx, node, "command", &mut command, ff::command_words);
    ff::prop_into(ctx, node, "restart", &mut restart, |ctx, policy| {
        parse_restart(ctx, policy)
    });
    if let Some(at) = flat.at.clone() {
        match &build {
            Some(_) => ctx.error(
                at,
                "the build is given twice: as `build { … }` and on the service (`dockerfile`, `context`, …)",
            ),
            None => {
                build = Some((
                    checked_build(ctx, flat.context, flat.dockerfile, flat.target, flat.args),
                    at,
                ))
            }
        }
    }
    let name_text = name.as_ref().map_or("", |n| n.value.as_str());
    let image = ff::versioned_image(ctx, name_text, image.as_ref(), version).or_else(|| take(image));
    Some(Service {
        name: name?,
        image,
        build: take(build),
        ports,
        volumes,
        env,
        command: take(command),
        restart: take(restart),
        depends_on,
        healthcheck: take(health),
    })
}

fn lower_build(ctx: &mut Ctx, node: &RawNode) -> Option<Build> {
    ctx.check_props(node, &[]);
    if node.children.is_none() {
        return ctx.one_string(node).map(|context| {
            check_inside_fleet(ctx, "build context", &context.value, context.span.clone());
            Build {
                context: context.value,
                dockerfile: None,
                target: None,
                args: BTreeMap::new(),
            }
        });
    }
    ctx.no_args(node);
    let (mut context, mut dockerfile, mut target, mut args) = (None, None, None, BTreeMap::new());
    for child in node.children() {
        match child.name.as_str() {
            "context" => leaf_string(ctx, child, &mut context),
            "dockerfile" => leaf_string(ctx, child, &mut dockerfile),
            "target" => leaf_string(ctx, child, &mut target),
            "args" => lower_build_args(ctx, child, &mut args),
            _ => ctx.unknown_node(child, "`build`", &["context", "dockerfile", "target", "args"]),
        }
    }
    Some(checked_build(ctx, context, dockerfile, target, args))
}

/// `args { KEY "value" }` (FleetFlow: `build_args { … }`).
fn lower_build_args(ctx: &mut Ctx, node: &RawNode, args: &mut BTreeMap<String, String>) {
    ctx.leaf_block(node);
    for arg in node.children() {
        ctx.leaf(arg, &[]);
        if let Some(v) = ctx
            .one_arg(arg, "\"…\"")
            .and_then(|v| scalar_text(ctx, v, "a build arg"))
        {
            args.insert(arg.name.clone(), v);
        }
    }
}

/// The build, its context and Dockerfile checked to stay inside the fleet.
fn checked_build(
    ctx: &mut Ctx,
    context: Option<(String, Span)>,
    dockerfile: Option<(String, Span)>,
    target: Option<(String, Span)>,
    args: BTreeMap<String, String>,
) -> Build {
    if let Some((path, span)) = &context {
        check_inside_fleet(ctx, "build context", path, span.clone());
    }
    if let Some((path, span)) = &dockerfile {
        // Relative to the context: absolute on its own, or climbing out from there.
        let base = context.as_ref().map_or(".", |(c, _)| c.as_str());
        let joined = format!("{base}/{path}");
        let shown = if inside_problem(path) == Some("is absolute") {
            path
        } else {
            &joined
        };
        check_inside_fleet(ctx, "dockerfile", shown, span.clone());
    }
    Build {
        context: take(context).unwrap_or_else(|| ".".to_owned()),
        dockerfile: take(dockerfile),
        target: take(target),
        args,
    }
}

/// Build contexts and Dockerfiles are read on the machine that builds (the App's host, for a
/// pull request's `/deploy`): they stay inside the fleet's directory, as `path` stays inside
/// the registry's. Checked again, after resolving symbolic links, where the build runs.
pub(super) fn check_inside_fleet(ctx: &mut Ctx, what: &str, path: &str, span: super::source::Span) {
    if let Some(problem) = inside_problem(path) {
        ctx.push(
            ctx.diag(span, format!("{what} {path:?} {problem}"))
                .with_help("build contexts and Dockerfiles are relative to the fleet's directory and stay inside it"),
        );
    }
}

/// Why a path relative to a fleet's directory may not be used (absolute, or climbing out of
/// it with `..`), if it may not.
pub fn inside_problem(path: &str) -> Option<&'static str> {
    if path.starts_with('/') || path.starts_with('\\') || path.get(1..2) == Some(":") {
        return Some("is absolute");
    }
    if path.contains('\0') {
        return Some("contains a NUL byte");
    }
    let mut depth = 0usize;
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return Some("leaves the fleet's directory (`..`)"),
            },
            _ => depth += 1,
        }
    }
    None
}

/// Strings, numbers and booleans all become text (env values, build args).
fn scalar_text(ctx: &mut Ctx, value: &super::syntax::RawValue, what: &str) -> Option<String> {
    match &value.value {
        Scalar::String(s) => Some(s.clone()),
        Scalar::Integer(i) => Some(i.to_string()),
        Scalar::Float(f) => Some(f.to_string()),
        Scalar::Bool(b) => Some(b.to_string()),
        Scalar::Null => {
            ctx.error(value.span.clone(), format!("{what} cannot be null"));
            None
        }
    }
}

fn lower_port(ctx: &mut Ctx, node: &RawNode) -> Option<Port> {
    ctx.leaf(node, &["host", "container", "protocol", "host-ip", "host_ip"]);
    let port = |ctx: &mut Ctx, v: &super::syntax::RawValue| ctx.integer(v, "a port", 1, 65_535).map(|n| n as u16);
    let (host, container) = match node.args.as_slice() {
        [] => {
            let container = ctx.prop_integer(node, "container", 1, 65_535).map(|n| n as u16);
            let host = ctx.prop_integer(node, "host", 1, 65_535).map(|n| n as u16);
            if container.is_none() && node.prop("container").is_none() {
                ctx.push(
                    ctx.diag(node.name_span.clone(), "`port` needs a port number")
                        .with_help("write `port 8000` or `port host=8080 container=80`"),
                );
            }
            (host.or(container), container)
        }
        [one] => {
            let p = port(ctx, one);
            (p, p)
        }
        [host, container] => (port(ctx, host), port(ctx, container)),
        [_, _, extra, ..] => {
            ctx.error(
                extra.span.clone(),
                "`port` takes at most two numbers: host and container",
            );
            return None;
        }
    };
    let protocol = match ctx.prop_string(node, "protocol") {
        None => Protocol::Tcp,
        Some(p) if p.value == "tcp" => Protocol::Tcp,
        Some(p) if p.value == "udp" => Protocol::Udp,
        Some(p) => {
            ctx.error(
                p.span.clone(),
                format!("`protocol` must be \"tcp\" or \"udp\", found {:?}", p.value),
            );
            return None;
        }
    };
    let host_ip = ctx
        .prop_string(node, "host-ip")
        .or_else(|| ctx.prop_string(node, "host_ip"));
    if let Some(ip) = &host_ip
        && ip.value.parse::<std::net::IpAddr>().is_err()
    {
        ctx.error(
            ip.span.clone(),
            format!("`host-ip` must be an IP address, found {:?}", ip.value),
        );
    }
    Some(Port {
        host: host?,
        container: container?,
        protocol,
        host_ip: host_ip.map(|s| s.value),
    })
}

pub(super) fn check_volume(ctx: &mut Ctx, volume: &Spanned<String>) -> bool {
    let parts: Vec<&str> = volume.value.split(':').collect();
    let ok = match parts.as_slice() {
        [source, target] | [source, target, "ro" | "rw"] => !source.is_empty() && target.starts_with('/'),
        _ => false,
    };
    if !ok {
        ctx.push(
            ctx.diag(volume.span.clone(), format!("invalid volume {:?}", volume.value))
                .with_help("write \"name:/path/in/container\" or \"./host/dir:/path[:ro]\""),
        );
    }
    ok
}

fn lower_env(ctx: &mut Ctx, node: &RawNode, env: &mut BTreeMap<String, EnvValue>) {
    ctx.no_args(node);
    for prop in &node.props {
        if check_env_name(ctx, &prop.key, &prop.value.span)
            && let Some(v) = scalar_text(ctx, &prop.value, "an env value")
        {
            env.insert(prop.key.clone(), EnvValue::Literal(v));
        }
    }
    for var in node.children() {
        if !check_env_name(ctx, &var.name, &var.name_span) {
            continue;
        }
        ctx.leaf(var, &["env"]);
        let value = if let Some(from) = ctx.prop_string(var, "env") {
            ctx.no_args(var);
            Some(EnvValue::FromEnv(from.value))
        } else {
            ctx.one_arg(var, "\"value\" (or env=\"HOST_VAR\")")
                .and_then(|v| scalar_text(ctx, v, "an env value"))
                .map(EnvValue::Literal)
        };
        if let Some(value) = value
            && env.insert(var.name.clone(), value).is_some()
        {
            ctx.error(var.name_span.clone(), format!("env `{}` is set twice", var.name));
        }
    }
}

fn check_env_name(ctx: &mut Ctx, name: &str, span: &Span) -> bool {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        ctx.error(
            span.clone(),
            format!("invalid environment variable name {name:?} (letters, digits and _)"),
        );
    }
    ok
}

const RESTART_POLICIES: [&str; 4] = ["no", "always", "on-failure", "unless-stopped"];

fn parse_restart(ctx: &mut Ctx, value: &Spanned<String>) -> Option<RestartPolicy> {
    match value.value.as_str() {
        "no" => Some(RestartPolicy::No),
        "always" => Some(RestartPolicy::Always),
        "on-failure" => Some(RestartPolicy::OnFailure),
        "unless-stopped" => Some(RestartPolicy::UnlessStopped),
        other => {
            let mut d = ctx.diag(
                value.span.clone(),
                format!(
                    "`restart` must be one of {}; found {other:?}",
                    RESTART_POLICIES.join(", ")
                ),
            );
            if let Some(s) = did_you_mean(other, RESTART_POLICIES) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            ctx.push(d);
            None
        }
    }
}

fn lower_healthcheck(ctx: &mut Ctx, node: &RawNode) -> Option<Healthcheck> {
    ctx.leaf_block(node);
    let mut test = None;
    let mut durations: [Option<(Duration, Span)>; 3] = [None, None, None];
    let mut retries = None;
    for child in node.children() {
        let slot = match child.name.as_str() {
            "test" => {
                ctx.leaf(child, &[]);
                let v: Vec<String> = ctx.strings(child).into_iter().map(|s| s.value).collect();
                ctx.set_once(&mut test, child, (!v.is_empty()).then_some(v));
                continue;
            }
            "retries" => {
                ctx.leaf(child, &[]);
                let v = ctx.one_integer(child, 0, 1000).map(|n| n as u32);
                ctx.set_once(&mut retries, child, v);
                continue;
            }
            "interval" => 0,
            "timeout" => 1,
            "start-period" => 2,
            _ => {
                ctx.unknown_node(
                    child,
                    "`healthcheck`",
                    &["test", "interval", "timeout", "retries", "start-period"],
                );
                continue;
            }
        };
        ctx.leaf(child, &[]);
        let v = ctx.one_arg(child, "\"5s\"").and_then(|v| parse_duration(ctx, v));
        ctx.set_once(&mut durations[slot], child, v);
    }
    let Some((test, _)) = test else {
        ctx.push(
            ctx.diag(node.name_span.clone(), "`healthcheck` has no `test`")
                .with_help("add e.g. `test \"wget\" \"-q\" \"-O-\" \"http://127.0.0.1/\"`"),
        );
        return None;
    };
    let [interval, timeout, start_period] = durations;
    Some(Healthcheck {
        test,
        interval: take(interval),
        timeout: take(timeout),
        retries: take(retries),
        start_period: take(start_period),
    })
}

/// `"500ms"`, `"5s"`, `"2m"`, `"1h"`, or a number of seconds.
pub fn parse_duration(ctx: &mut Ctx, value: &super::syntax::RawValue) -> Option<Duration> {
    let parsed = match &value.value {
        Scalar::Integer(n) if *n >= 0 => Some(Duration::from_secs(*n as u64)),
        Scalar::String(s) => duration_from_text(s),
        _ => None,
    };
    if parsed.is_none() {
        ctx.push(
            ctx.diag(value.span.clone(), "invalid duration")
                .with_help("write a number with a unit: \"500ms\", \"5s\", \"2m\", \"1h\""),
        );
    }
    parsed
}

fn duration_from_text(text: &str) -> Option<Duration> {
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" | "" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}
