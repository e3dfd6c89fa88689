//! `fleet-registry.kdl` (FS-001…FS-003): fleets, servers and the routes between them.

use std::sync::Arc;

use serde::Serialize;

use super::cloud::{Server, leaf_string, lower_server};
use super::fleet::report_duplicates;
use super::lower::{Ctx, Spanned, take};
use super::source::{SourceFile, Span};
use super::syntax::{RawDocument, RawNode};

#[derive(Debug, Clone, Serialize)]
pub struct Registry {
    #[serde(skip)]
    pub file: Arc<SourceFile>,
    pub name: Spanned<String>,
    pub fleets: Vec<FleetEntry>,
    pub servers: Vec<Server>,
    pub routes: Vec<Route>,
    /// Who may `/deploy` to a stage (default: write permission on the repository).
    pub deploy_policies: Vec<DeployPolicy>,
    /// Where the App builds images (`builds "github-actions" workflow="…"`; default: on its
    /// own host).
    #[serde(skip_serializing_if = "ImageBuilds::is_app")]
    pub builds: ImageBuilds,
}

/// Where the App's deploys build their images.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "on", rename_all = "kebab-case")]
pub enum ImageBuilds {
    /// On the App's host, pushed with its operator's registry credentials.
    #[default]
    App,
    /// On GitHub's runners: the App dispatches `workflow` (a file in `.github/workflows/`,
    /// run from the default branch), which builds and pushes with the workflow's token.
    GithubActions { workflow: String },
}

impl ImageBuilds {
    pub fn is_app(&self) -> bool {
        *self == ImageBuilds::App
    }
}

impl Registry {
    pub fn fleet(&self, name: &str) -> Option<&FleetEntry> {
        self.fleets.iter().find(|f| f.name.value == name)
    }

    pub fn server(&self, name: &str) -> Option<&Server> {
        self.servers.iter().find(|s| s.name.value == name)
    }

    pub fn routes_of<'a>(&'a self, fleet: &'a str) -> impl Iterator<Item = &'a Route> + 'a {
        self.routes.iter().filter(move |r| r.fleet.value == fleet)
    }
}

/// FS-002: a fleet and where its `.fleetflow/fleet.kdl` lives, relative to the registry.
#[derive(Debug, Clone, Serialize)]
pub struct FleetEntry {
    pub name: Spanned<String>,
    pub path: Spanned<String>,
    pub description: Option<String>,
}

/// FS-003: fleet + stage → server.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub fleet: Spanned<String>,
    pub stage: Spanned<String>,
    pub server: Spanned<String>,
    /// Deploy on a push to the default branch when the fleet changed (off by default).
    pub auto_deploy: bool,
    #[serde(skip)]
    pub span: Span,
}

/// A repository permission level, lowest first (GitHub's collaborator permission).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl Permission {
    pub fn parse(text: &str) -> Option<Permission> {
        Some(match text {
            "none" => Permission::None,
            "read" | "pull" => Permission::Read,
            "triage" => Permission::Triage,
            "write" | "push" => Permission::Write,
            "maintain" => Permission::Maintain,
            "admin" => Permission::Admin,
            _ => return None,
        })
    }

    /// The name GitHub and the registry use (`admin`, `write`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::None => "none",
            Permission::Read => "read",
            Permission::Triage => "triage",
            Permission::Write => "write",
            Permission::Maintain => "maintain",
            Permission::Admin => "admin",
        }
    }
}

/// `deploy-policy "live" { permission "admin"; teams "acme/sre"; users "alice" }`: a `/deploy`
/// to the stage needs at least `permission`, or membership of one of `teams`, or being one of
/// `users`. Stages without a policy need write permission.
#[derive(Debug, Clone, Serialize)]
pub struct DeployPolicy {
    pub stage: Spanned<String>,
    pub permission: Option<Permission>,
    pub teams: Vec<String>,
    pub users: Vec<String>,
}

const REGISTRY_NODES: &[&str] = &["registry", "fleet", "server", "deployment", "deploy-policy", "builds"];

/// Stage 2 for a registry file. `None` only when the registry has no usable name (FS-001).
pub fn lower_registry(ctx: &mut Ctx, doc: &RawDocument) -> Option<Registry> {
    if ctx.reject_empty("a registry", "registry \"<name>\"") {
        return None;
    }
    let mut name = None;
    let mut fleets = Vec::new();
    let mut servers = Vec::new();
    let mut routes = Vec::new();
    let mut deploy_policies = Vec::new();
    let mut builds = None;
    for node in &doc.nodes {
        match node.name.as_str() {
            "registry" => {
                ctx.leaf(node, &[]);
                let v = ctx.one_string(node);
                if let Some(v) = &v
                    && v.value.trim().is_empty()
                {
                    ctx.error(v.span.clone(), "the registry name is empty");
                }
                ctx.set_once(&mut name, node, v);
            }
            "fleet" => fleets.extend(lower_fleet_entry(ctx, node)),
            "server" => servers.extend(lower_server(ctx, node)),
            "deployment" => {
                ctx.leaf_block(node);
                for child in node.children() {
                    match child.name.as_str() {
                        "route" => routes.extend(lower_route(ctx, child)),
                        _ => ctx.unknown_node(child, "`deployment`", &["route"]),
                    }
                }
            }
            "deploy-policy" => deploy_policies.extend(lower_deploy_policy(ctx, node)),
            "builds" => {
                let v = lower_builds(ctx, node);
                ctx.set_once(&mut builds, node, v);
            }
            _ => ctx.unknown_node(node, "a registry file", REGISTRY_NODES),
        }
    }
    report_duplicates(ctx, "fleet", fleets.iter().map(|f: &FleetEntry| &f.name));
    report_duplicates(ctx, "server", servers.iter().map(|s| &s.name));
    report_duplicates(
        ctx,
        "deploy-policy",
        deploy_policies.iter().map(|p: &DeployPolicy| &p.stage),
    );
    let Some(name) = take(name) else {
        ctx.push(
            ctx.diag(0..0, "FS-001: the registry has no `registry` node")
                .with_help("add `registry \"<name>\"` at the top of the file"),
        );
        return None;
    };
    Some(Registry {
        file: Arc::clone(ctx.file),
        name,
        fleets,
        servers,
        routes,
        deploy_policies,
        builds: take(builds).unwrap_or_default(),
    })
}

/// `builds "app"` or `builds "github-actions" workflow="fleet-build.yml"`.
fn lower_builds(ctx: &mut Ctx, node: &RawNode) -> Option<ImageBuilds> {
    ctx.leaf(node, &["workflow"]);
    let on = ctx.one_string(node)?;
    let workflow = ctx.prop_string(node, "workflow");
    match (on.value.as_str(), workflow) {
        ("app", None) => Some(ImageBuilds::App),
        ("app", Some(w)) => {
            ctx.error(w.span, "`workflow` is for `builds \"github-actions\"`");
            None
        }
        ("github-actions", Some(w)) => {
            let file = w.value.as_str();
            let ok = (file.ends_with(".yml") || file.ends_with(".yaml"))
                && !file.contains(['/', '\\', '?', '#', '%'])
                && !file.starts_with('.');
            if !ok {
                ctx.push(
                    ctx.diag(w.span.clone(), format!("workflow {file:?} is not a workflow file name"))
                        .with_help("name a file of `.github/workflows/`, e.g. `workflow=\"fleet-build.yml\"`"),
                );
                return None;
            }
            Some(ImageBuilds::GithubActions { workflow: w.value })
        }
        ("github-actions", None) => {
            ctx.push(
                ctx.diag(on.span, "`builds \"github-actions\"` needs the workflow to dispatch")
                    .with_help("add `workflow=\"fleet-build.yml\"` (a file of `.github/workflows/`)"),
            );
            None
        }
        (other, _) => {
            ctx.push(
                ctx.diag(on.span.clone(), format!("unknown build place {other:?}"))
                    .with_help("use `builds \"app\"` (the App's host, the default) or `builds \"github-actions\" workflow=\"…\"`"),
            );
            None
        }
    }
}

fn lower_fleet_entry(ctx: &mut Ctx, node: &RawNode) -> Option<FleetEntry> {
    let name = ctx.name_arg(node, "fleet");
    ctx.check_props(node, &[]);
    let (mut path, mut description) = (None, None);
    for child in node.children() {
        match child.name.as_str() {
            "path" => {
                ctx.leaf(child, &[]);
                let v = ctx.one_string(child);
                if let Some(p) = &v {
                    check_relative_path(ctx, p);
                }
                ctx.set_once(&mut path, child, v);
            }
            "description" => leaf_string(ctx, child, &mut description),
            _ => ctx.unknown_node(child, "`fleet`", &["path", "description"]),
        }
    }
    let name = name?;
    let Some(path) = take(path) else {
        ctx.push(
            ctx.diag(node.name_span.clone(), format!("fleet `{}` has no `path`", name.value))
                .with_help("add `path \"fleets/<name>\"` (relative to the registry file)"),
        );
        return None;
    };
    Some(FleetEntry {
        name,
        path,
        description: take(description),
    })
}

/// Fleet paths stay inside the registry's directory: relative, no `..`.
fn check_relative_path(ctx: &mut Ctx, path: &Spanned<String>) {
    let p = path.value.as_str();
    if let Some(problem) = fleet_path_problem(p) {
        ctx.push(
            ctx.diag(path.span.clone(), format!("fleet path {p:?} {problem}"))
                .with_help("fleet paths are relative to fleet-registry.kdl and stay inside its directory"),
        );
    }
}

/// Why a fleet path may not be used (absolute, `..`, empty), if it may not.
pub fn fleet_path_problem(p: &str) -> Option<&'static str> {
    if p.is_empty() {
        Some("is empty")
    } else if p.starts_with('/') || p.starts_with('\\') || p.get(1..2) == Some(":") {
        Some("is absolute")
    } else if p.split(['/', '\\']).any(|c| c == "..") {
        Some("leaves the registry's directory (`..`)")
    } else if p.contains('\0') {
        Some("contains a NUL byte")
    } else {
        None
    }
}

fn lower_deploy_policy(ctx: &mut Ctx, node: &RawNode) -> Option<DeployPolicy> {
    let stage = ctx.name_arg(node, "stage");
    ctx.check_props(node, &[]);
    let (mut permission, mut teams, mut users) = (None, Vec::new(), Vec::new());
    for child in node.children() {
        ctx.leaf(child, &[]);
        match child.name.as_str() {
            "permission" => {
                let v = ctx.one_string(child).and_then(|p| match Permission::parse(&p.value) {
                    Some(level) => Some(level),
                    None => {
                        ctx.push(
                            ctx.diag(p.span.clone(), format!("unknown permission {:?}", p.value))
                                .with_help("use one of: read, triage, write, maintain, admin"),
                        );
                        None
                    }
                });
                ctx.set_once(&mut permission, child, v);
            }
            "teams" => teams.extend(ctx.strings(child).into_iter().map(|s| s.value)),
            "users" => users.extend(ctx.strings(child).into_iter().map(|s| s.value)),
            _ => ctx.unknown_node(child, "`deploy-policy`", &["permission", "teams", "users"]),
        }
    }
    Some(DeployPolicy {
        stage: stage?,
        permission: take(permission),
        teams,
        users,
    })
}

fn lower_route(ctx: &mut Ctx, node: &RawNode) -> Option<Route> {
    ctx.leaf(node, &["fleet", "stage", "server", "auto-deploy"]);
    ctx.no_args(node);
    let fleet = ctx.required_prop_string(node, "fleet");
    let stage = ctx.required_prop_string(node, "stage");
    let server = ctx.required_prop_string(node, "server");
    for (kind, v) in [("fleet", &fleet), ("stage", &stage), ("server", &server)] {
        if let Some(v) = v {
            ctx.check_name(kind, v);
        }
    }
    Some(Route {
        fleet: fleet?,
        stage: stage?,
        server: server?,
        auto_deploy: ctx.prop_bool(node, "auto-deploy").unwrap_or(false),
        span: node.name_span.clone(),
    })
}
