//! The service spellings of FleetFlow's own `.fleetflow/*.kdl` files (chronista-club/fleetflow),
//! read beside the seeds' form into the same [`Service`](super::service::Service):
//! `version "16"` (the image is `image:version`, the service's name when no image is given),
//! `image=`/`version=`/`command=`/`restart=` on the service node, `ports { port 8080 80 }`,
//! `port … host_ip="…"`, `environment { }`, `volumes { volume "./data" "/data" read_only=#true }`,
//! `depends_on`, and the build given on the service itself (`dockerfile`, `context`, `target`,
//! `build_args { }`); `variables { }` in the file and in a stage, filling `{{ KEY }}` in a
//! service's texts.

use std::collections::BTreeMap;

use super::lower::{Ctx, Spanned};
use super::service::{EnvValue, Service};
use super::source::Span;
use super::syntax::{RawNode, RawValue};

/// The properties a service node may carry in FleetFlow's spelling.
pub const SERVICE_PROPS: &[&str] = &[
    "image",
    "version",
    "command",
    "restart",
    "type",
    "service_type",
    "registry",
];

/// FleetFlow's nodes fleetflow reads but does not act on, by where they are, and why not:
/// each is a warning (the file still validates; `fleet migrate` lists them).
const NOT_CARRIED: &[(&str, &str, &str)] = &[
    (
        "service",
        "wait_for",
        "services start in `depends_on` order and a `healthcheck` gates readiness",
    ),
    ("service", "readiness", "a `healthcheck` says when a service is ready"),
    ("service", "image_tag", "built images are tagged `latest` and `sha-<7>`"),
    ("service", "registry", "built images go to `--image-registry`"),
    ("service", "type", "every service is a container"),
    ("service", "service_type", "every service is a container"),
    (
        "service",
        "deploy",
        "the routes of fleet-registry.kdl say where a stage runs",
    ),
    (
        "service",
        "variables",
        "FleetFlow does not read it inside a service either: `variables` belong to the stage or the file",
    ),
    ("server", "tags", "servers are found by their name"),
    (
        "stage",
        "registry",
        "built images go to `--image-registry` (the App's, or `fleet build`'s)",
    ),
    ("stage", "backend", "stages run on docker"),
    (
        "fleet",
        "registry",
        "built images go to `--image-registry` (the App's, or `fleet build`'s)",
    ),
    (
        "server",
        "startup-script",
        "a server is set up over SSH when a fleet deploys to it",
    ),
    ("server", "dns", "DNS records are `dns` blocks of the stage or the file"),
];

/// Warns about FleetFlow's `node` in `parent` when fleetflow does not act on it; false when it
/// is not one of those.
pub fn not_carried(ctx: &mut Ctx, parent: &str, node: &RawNode) -> bool {
    let Some((_, name, why)) = NOT_CARRIED.iter().find(|(p, n, _)| *p == parent && *n == node.name) else {
        return false;
    };
    let warning = ctx.warning(
        node.name_span.clone(),
        format!("FleetFlow's `{name}` is read but not used: {why}"),
    );
    ctx.push(warning);
    true
}

/// The same for FleetFlow's properties of a service node (`type="static"`, `registry="…"`).
pub fn props_not_carried(ctx: &mut Ctx, node: &RawNode) {
    for key in ["type", "service_type", "registry"] {
        if let Some(v) = ctx.prop_string(node, key) {
            let why = NOT_CARRIED
                .iter()
                .find(|(_, n, _)| *n == key)
                .map_or("", |(_, _, w)| *w);
            let span = ctx.key_span(key, &v.span);
            ctx.push(ctx.warning(span, format!("FleetFlow's `{key}` is read but not used: {why}")));
        }
    }
}

/// A command written as one string (`command "npm run start"`, FleetFlow's form) as its words,
/// the way a shell splits them: quotes group (`echo 'Hello World'` is two words), a backslash
/// escapes the next character outside single quotes. An unclosed quote is an error.
pub fn command_words(ctx: &mut Ctx, text: &Spanned<String>) -> Option<Vec<String>> {
    let (mut words, mut word, mut quote, mut in_word) = (Vec::new(), String::new(), None, false);
    let mut chars = text.value.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, '\'' | '"') => (quote, in_word) = (Some(c), true),
            (Some(q), c) if c == q => quote = None,
            (None | Some('"'), '\\') => {
                word.extend(chars.next());
                in_word = true;
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        ctx.error(text.span.clone(), "the command has a quote that is not closed");
        return None;
    }
    if in_word {
        words.push(word);
    }
    (!words.is_empty()).then_some(words)
}

/// A property of the service node (`key="…"`), converted by `convert`, into `slot` — unless a
/// child set it already (then said once).
pub fn prop_into<T>(
    ctx: &mut Ctx,
    node: &RawNode,
    key: &str,
    slot: &mut Option<(T, Span)>,
    convert: impl FnOnce(&mut Ctx, &Spanned<String>) -> Option<T>,
) {
    let Some(value) = ctx.prop_string(node, key) else {
        return;
    };
    let converted = convert(ctx, &value);
    if slot.is_some() {
        ctx.error(
            value.span,
            format!("`{key}` is given twice (as a property and a child)"),
        );
        return;
    }
    *slot = converted.map(|v| (v, value.span));
}

/// `image:version`, where the image defaults to the service's `name`; `None` without a version.
pub fn versioned_image(
    ctx: &mut Ctx,
    name: &str,
    image: Option<&(String, Span)>,
    version: Option<(String, Span)>,
) -> Option<String> {
    let (version, span) = version?;
    let base = image.map_or(name, |(i, _)| i.as_str());
    let last = base.rsplit('/').next().unwrap_or(base);
    if last.contains(':') || last.contains('@') {
        ctx.error(
            span,
            format!("`version` {version:?} and an image that has its own tag ({base:?}): give one"),
        );
        return None;
    }
    Some(format!("{base}:{version}"))
}

/// An image reference without its tag or digest (`ghcr.io:443/acme/db:16` → `ghcr.io:443/acme/db`).
pub fn untagged(image: &str) -> &str {
    let image = image.split_once('@').map_or(image, |(name, _)| name);
    let last = image.rfind('/').map_or(0, |i| i + 1);
    match image[last..].rfind(':') {
        Some(colon) => &image[..last + colon],
        None => image,
    }
}

/// A block of one kind of node: `ports { port … }`, `volumes { volume … }`.
pub fn block_of<'n>(ctx: &mut Ctx, node: &'n RawNode, child: &str) -> Vec<&'n RawNode> {
    ctx.leaf_block(node);
    let mut found = Vec::new();
    for c in node.children() {
        if c.name == child {
            found.push(c);
        } else {
            ctx.unknown_node(c, &format!("`{}`", node.name), &[child]);
        }
    }
    found
}

/// A volume: `"source:/target[:ro]"` (one argument), or FleetFlow's `"source" "/target"` with
/// `read_only=#true`; as the one text docker takes.
pub fn volume_text(ctx: &mut Ctx, node: &RawNode) -> Option<Spanned<String>> {
    ctx.leaf(node, &["read_only"]);
    let text = |ctx: &mut Ctx, v: &RawValue| ctx.string(v, "`volume`");
    match node.args.as_slice() {
        [_] => {
            if let Some(ro) = node.prop("read_only") {
                ctx.error(ro.span.clone(), "`read_only` goes with `volume \"source\" \"/target\"`");
            }
            ctx.one_string(node)
        }
        [source, target] => {
            let (source, target) = (text(ctx, source)?, text(ctx, target)?);
            let ro = if ctx.prop_bool(node, "read_only") == Some(true) {
                ":ro"
            } else {
                ""
            };
            Some(Spanned::new(
                format!("{}:{}{ro}", source.value, target.value),
                source.span,
            ))
        }
        _ => {
            ctx.error(
                node.name_span.clone(),
                "`volume` takes \"source:/target\", or \"source\" \"/target\"",
            );
            None
        }
    }
}

/// The build given on the service itself: `dockerfile`, `context`, `target`, `build_args`.
#[derive(Default)]
pub struct FlatBuild {
    pub context: Option<(String, Span)>,
    pub dockerfile: Option<(String, Span)>,
    pub target: Option<(String, Span)>,
    pub args: BTreeMap<String, String>,
    /// Where it was first given (for "not both" with a `build` block).
    pub at: Option<Span>,
}

impl FlatBuild {
    /// Notes that one of its nodes was given at `span`.
    pub fn seen(&mut self, span: &Span) {
        self.at.get_or_insert_with(|| span.clone());
    }
}

/// `variables { KEY "value" }` into `into` (a later one wins).
pub fn lower_variables(ctx: &mut Ctx, node: &RawNode, into: &mut BTreeMap<String, String>) {
    ctx.leaf_block(node);
    for var in node.children() {
        ctx.leaf(var, &[]);
        if let Some(v) = ctx.one_string(var) {
            into.insert(var.name.clone(), v.value);
        }
    }
}

/// `text` with each `{{ KEY }}` (KEY a name: letters, digits, `_`) replaced by its variable;
/// the names it lacks, in `missing`.
fn fill(text: &str, vars: &BTreeMap<String, String>, missing: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else { break };
        out.push_str(&rest[..open]);
        let key = rest[open + 2..open + close].trim();
        let name_like = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match vars.get(key) {
            Some(value) if name_like => out.push_str(value),
            // Not a variable's name (`{{.Name}}`, a Go template for docker): left as written.
            _ if !name_like => out.push_str(&rest[open..open + close + 2]),
            _ => {
                missing.push(key.to_owned());
                out.push_str(&rest[open..open + close + 2]);
            }
        }
        rest = &rest[open + close + 2..];
    }
    out + rest
}

/// Fills the `{{ KEY }}` templates of a service's texts (image, command, volumes, environment
/// and build values) from `vars`, then checks what was filled as written values are checked
/// (build paths inside the fleet, the volume's shape); says each variable it lacks at the
/// service's name. A file that declares no variables uses no templates: `{{ … }}` stays text.
pub fn fill_templates(ctx: &mut Ctx, service: &mut Service, stage: &str, vars: &BTreeMap<String, String>) {
    if vars.is_empty() {
        return;
    }
    let mut missing = Vec::new();
    let mut filled = Vec::new();
    let mut one = |what: &'static str, text: &mut String| {
        let new = fill(text, vars, &mut missing);
        if new != *text {
            filled.push((what, new.clone()));
            *text = new;
        }
    };
    service.image.iter_mut().for_each(|t| one("image", t));
    service.command.iter_mut().flatten().for_each(|t| one("command", t));
    service.volumes.iter_mut().for_each(|t| one("volume", t));
    for value in service.env.values_mut() {
        if let EnvValue::Literal(text) = value {
            one("env", text);
        }
    }
    if let Some(build) = &mut service.build {
        one("build context", &mut build.context);
        build.dockerfile.iter_mut().for_each(|t| one("dockerfile", t));
        build.target.iter_mut().for_each(|t| one("target", t));
        build.args.values_mut().for_each(|t| one("build arg", t));
    }
    let at = service.name.span.clone();
    for (what, value) in filled {
        match what {
            "build context" | "dockerfile" => super::service::check_inside_fleet(ctx, what, &value, at.clone()),
            "volume" => {
                super::service::check_volume(ctx, &Spanned::new(value, at.clone()));
            }
            _ => {}
        }
    }
    missing.sort();
    missing.dedup();
    for key in missing {
        ctx.push(
            ctx.diag(
                at.clone(),
                format!(
                    "service `{}` uses `{{{{ {key} }}}}`, and stage `{stage}` has no variable `{key}`",
                    service.name.value
                ),
            )
            .with_help(format!(
                "add `variables {{ {key} \"…\" }}` to the file or to stage `{stage}`"
            )),
        );
    }
}
