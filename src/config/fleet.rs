//! A fleet's `.fleetflow/fleet.kdl`: project, services, service groups, stages, infrastructure.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use super::cloud::{Providers, Scale, Server, lower_providers, lower_scale, lower_server};
use super::cloudflare::{DnsZone, R2Bucket, Worker, lower_dns, lower_r2_bucket, lower_worker};
use super::fleetflow_dialect as ff;
use super::lower::{Ctx, Spanned, did_you_mean};
use super::service::{Service, lower_service};
use super::source::SourceFile;
use super::syntax::{RawDocument, RawNode, RawValue, Scalar};

/// Cloud resources declared at the top level or in a stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Infrastructure {
    pub servers: Vec<Server>,
    pub scales: Vec<Scale>,
    pub r2_buckets: Vec<R2Bucket>,
    pub workers: Vec<Worker>,
    pub dns: Vec<DnsZone>,
}

impl Infrastructure {
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty() && self.r2_buckets.is_empty() && self.workers.is_empty() && self.dns.is_empty()
    }

    /// Handles an infrastructure node; false when `node` is something else.
    fn lower_node(&mut self, ctx: &mut Ctx, node: &RawNode) -> bool {
        match node.name.as_str() {
            "server" => self.servers.extend(lower_server(ctx, node)),
            "scale" => self.scales.extend(lower_scale(ctx, node)),
            "r2-bucket" => self.r2_buckets.extend(lower_r2_bucket(ctx, node)),
            "worker" => self.workers.extend(lower_worker(ctx, node)),
            "dns" => self.dns.extend(lower_dns(ctx, node)),
            _ => return false,
        }
        true
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceGroup {
    pub name: Spanned<String>,
    pub services: Vec<Service>,
}

/// An environment: which services run and on what infrastructure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub name: Spanned<String>,
    /// Resolved: shared definitions with this stage's overrides applied.
    pub services: Vec<Service>,
    pub infrastructure: Infrastructure,
    pub variables: BTreeMap<String, String>,
    /// FleetFlow's `server "name"` in a stage: the file's server it runs on (a reference, not a
    /// definition; `fleet migrate` turns it into a route).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runs_on: Vec<Spanned<String>>,
}

impl Stage {
    /// Seed 004: a stage without servers is local (containers only).
    pub fn is_local(&self) -> bool {
        self.infrastructure.servers.is_empty()
    }
}

/// A validated fleet configuration.
#[derive(Debug, Clone, Serialize)]
pub struct FleetConfig {
    #[serde(skip)]
    pub file: Arc<SourceFile>,
    pub project: Option<Spanned<String>>,
    pub providers: Providers,
    pub services: Vec<Service>,
    pub service_groups: Vec<ServiceGroup>,
    pub stages: Vec<Stage>,
    pub infrastructure: Infrastructure,
    /// The files its `include`s read, as the loader named them (beside `file`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub included: Vec<String>,
}

impl FleetConfig {
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name.value == name)
    }
}

const FLEET_NODES: &[&str] = &[
    "project",
    "providers",
    "service",
    "service-group",
    "stage",
    "server",
    "scale",
    "r2-bucket",
    "worker",
    "dns",
    "variables",
];
const STAGE_NODES: &[&str] = &["service", "server", "scale", "r2-bucket", "worker", "dns", "variables"];

/// Stage 2 for a fleet file. Diagnostics go to `ctx`; the model is returned even when some
/// parts were invalid, so callers can keep checking (the caller decides from the diagnostics).
pub fn lower_fleet(ctx: &mut Ctx, doc: &RawDocument) -> FleetConfig {
    ctx.reject_empty("a fleet file", "project \"<name>\"");
    let mut project = None;
    let mut providers = Providers::default();
    let mut services = Vec::new();
    let mut groups = Vec::new();
    let mut stage_nodes = Vec::new();
    let mut infrastructure = Infrastructure::default();
    let mut variables = BTreeMap::new();
    for node in &doc.nodes {
        match node.name.as_str() {
            "project" => {
                ctx.leaf(node, &[]);
                let v = ctx.name_arg(node, "project");
                ctx.set_once(&mut project, node, v);
            }
            "providers" => lower_providers(ctx, node, &mut providers),
            "provider" => super::cloud::lower_provider_node(ctx, node, &mut providers),
            "service" => {
                if let Some(service) = lower_service(ctx, node) {
                    merge_declaration(ctx, node, &mut services, service);
                }
            }
            "service-group" => {
                let name = ctx.name_arg(node, "service-group");
                ctx.check_props(node, &[]);
                let mut members = Vec::new();
                for child in node.children() {
                    match child.name.as_str() {
                        "service" => members.extend(lower_service(ctx, child)),
                        _ => ctx.unknown_node(child, "`service-group`", &["service"]),
                    }
                }
                if let Some(name) = name {
                    groups.push(ServiceGroup {
                        name,
                        services: members,
                    });
                }
            }
            "stage" => stage_nodes.push(node),
            "variables" => ff::lower_variables(ctx, node, &mut variables),
            "include" => ctx.push(
                ctx.diag(
                    node.name_span.clone(),
                    "`include` is read in a fleet's fleet.kdl only, one level deep",
                )
                .with_help("include this file's files from fleet.kdl, or move what they declare here"),
            ),
            _ if infrastructure.lower_node(ctx, node) => {}
            _ if ff::not_carried(ctx, "fleet", node) => {}
            _ => ctx.unknown_node(node, "a fleet file", FLEET_NODES),
        }
    }
    report_duplicates(ctx, "service-group", groups.iter().map(|g| &g.name));
    for group in &groups {
        report_duplicates(ctx, "service", group.services.iter().map(|s| &s.name));
        check_dependencies(ctx, &group.services, None);
    }
    let stages: Vec<Stage> = stage_nodes
        .iter()
        .filter_map(|n| lower_stage(ctx, n, &services, &groups, &variables, &infrastructure.servers))
        .collect();
    report_duplicates(ctx, "stage", stages.iter().map(|s| &s.name));
    if stages.is_empty() {
        check_dependencies(ctx, &services, None);
    }
    let all_servers = infrastructure
        .servers
        .iter()
        .chain(stages.iter().flat_map(|s| &s.infrastructure.servers));
    report_duplicates(ctx, "server", all_servers.map(|s| &s.name));
    check_infrastructure_refs(ctx, &infrastructure, &stages, &groups);
    FleetConfig {
        file: Arc::clone(ctx.file),
        project: project.map(|(p, _)| p),
        providers,
        services,
        service_groups: groups,
        stages,
        infrastructure,
        included: Vec::new(),
    }
}

fn lower_stage(
    ctx: &mut Ctx,
    node: &RawNode,
    shared: &[Service],
    groups: &[ServiceGroup],
    fleet_variables: &BTreeMap<String, String>,
    file_servers: &[super::cloud::Server],
) -> Option<Stage> {
    let name = ctx.name_arg(node, "stage");
    ctx.check_props(node, &[]);
    let mut infrastructure = Infrastructure::default();
    // The file's variables, the stage's own winning.
    let mut variables = fleet_variables.clone();
    let mut selected: Vec<Service> = Vec::new();
    let mut explicit = false;
    let mut runs_on = Vec::new();
    for child in node.children() {
        match child.name.as_str() {
            "server" if is_reference(child, file_servers) => {
                runs_on.extend(ctx.one_string(child));
            }
            "service" => {
                explicit = true;
                selected.extend(stage_service(ctx, child, shared, groups));
            }
            "variables" => ff::lower_variables(ctx, child, &mut variables),
            _ if infrastructure.lower_node(ctx, child) => {}
            _ if ff::not_carried(ctx, "stage", child) => {}
            _ => ctx.unknown_node(child, "`stage`", STAGE_NODES),
        }
    }
    for server in &infrastructure.servers {
        for group_name in &server.deploy_services {
            if let Some(group) = groups.iter().find(|g| &g.name.value == group_name) {
                explicit = true;
                for s in &group.services {
                    if !selected.iter().any(|x| x.name.value == s.name.value) {
                        selected.push(s.clone());
                    }
                }
            }
        }
    }
    if !explicit {
        selected = shared.to_vec();
    }
    report_duplicates(ctx, "service", selected.iter().map(|s| &s.name));
    let stage_name = name.as_ref().map(|n| n.value.as_str()).unwrap_or_default();
    for service in &mut selected {
        ff::fill_templates(ctx, service, stage_name, &variables);
    }
    for service in &mut selected {
        if service.image.is_none() && service.build.is_none() {
            // FleetFlow would run `<name>:latest` from whatever registry answers: too easy a
            // way to run a stranger's image, so it is said, not guessed.
            ctx.push(
                ctx.diag(
                    service.name.span.clone(),
                    format!("service `{}` has neither `image` nor `build`", service.name.value),
                )
                .with_help(format!(
                    "FleetFlow would run `{}:latest`; say so with `version \"latest\"`, or give `image \"registry/name:tag\"` or `build \"./path\"`",
                    service.name.value
                )),
            );
        }
    }
    check_dependencies(ctx, &selected, Some((stage_name, shared)));
    Some(Stage {
        name: name?,
        services: selected,
        infrastructure,
        variables,
        runs_on,
    })
}

/// `service "x"` in a stage: a reference to a shared definition, or a definition/override.
fn stage_service(ctx: &mut Ctx, node: &RawNode, shared: &[Service], groups: &[ServiceGroup]) -> Option<Service> {
    let service = lower_service(ctx, node)?;
    let known = shared.iter().chain(groups.iter().flat_map(|g| &g.services));
    let base = known.clone().find(|s| s.name.value == service.name.value);
    match (base, Service::is_reference(node)) {
        (Some(base), true) => Some(Service {
            name: service.name,
            ..base.clone()
        }),
        (Some(base), false) => Some(base.overridden_by(&retagged(node, base, service))),
        (None, false) => Some(service),
        (None, true) => {
            let names: Vec<&str> = known.map(|s| s.name.value.as_str()).collect();
            let mut d = ctx.diag(
                service.name.span.clone(),
                format!("unknown service `{}`", service.name.value),
            );
            d = match did_you_mean(&service.name.value, names.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`? (or give it a block to define it here)")),
                None => d.with_help("define it at the top level, or give it a `{ image … }` block here"),
            };
            ctx.push(d);
            None
        }
    }
}

/// Reports a name defined more than once, pointing at the first definition.
pub fn report_duplicates<'a>(ctx: &mut Ctx, kind: &str, names: impl Iterator<Item = &'a Spanned<String>>) {
    let mut seen: BTreeMap<&str, &Spanned<String>> = BTreeMap::new();
    for name in names {
        if let Some(first) = seen.get(name.value.as_str()) {
            let d = ctx
                .diag(name.span.clone(), format!("{kind} `{}` is defined twice", name.value))
                .with_related(first.span.clone(), "first defined here");
            ctx.push(d);
        } else {
            seen.insert(&name.value, name);
        }
    }
}

/// `depends-on` must name services of the same set, without cycles. For a stage's set, `stage`
/// is its name and the services the fleet defines: a dependency defined but left out of the
/// stage is said so.
fn check_dependencies(ctx: &mut Ctx, services: &[Service], stage: Option<(&str, &[Service])>) {
    let names: BTreeSet<&str> = services.iter().map(|s| s.name.value.as_str()).collect();
    for service in services {
        for dep in &service.depends_on {
            let defined_elsewhere = stage.filter(|(_, defined)| defined.iter().any(|s| s.name.value == dep.value));
            if let Some((stage, _)) = defined_elsewhere
                && !names.contains(dep.value.as_str())
            {
                let d = ctx
                    .diag(
                        dep.span.clone(),
                        format!(
                            "stage `{stage}` runs `{}`, which depends on `{}`, but `{}` is not in the stage",
                            service.name.value, dep.value, dep.value
                        ),
                    )
                    .with_help(format!("add `service \"{}\"` to stage `{stage}`", dep.value));
                ctx.push(d);
            } else if !names.contains(dep.value.as_str()) {
                let mut d = ctx.diag(
                    dep.span.clone(),
                    format!("`{}` depends on unknown service `{}`", service.name.value, dep.value),
                );
                if let Some(s) = did_you_mean(&dep.value, names.iter().copied()) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                ctx.push(d);
            } else if dep.value == service.name.value {
                ctx.error(
                    dep.span.clone(),
                    format!("service `{}` depends on itself", service.name.value),
                );
            }
        }
    }
    if let Err(cycle) = crate::config::order::dependency_order(services) {
        let first = services.iter().find(|s| s.name.value == cycle[0]);
        let span = first.map_or(0..0, |s| s.name.span.clone());
        ctx.push(
            ctx.diag(span, format!("dependency cycle: {}", cycle.join(" → ")))
                .with_help("remove one of these `depends-on` entries"),
        );
    }
}

/// Warnings for references that may be satisfied elsewhere (a seed example shows `scale`
/// and `deploy-services` alone in a file), errors for DNS references that cannot resolve.
fn check_infrastructure_refs(ctx: &mut Ctx, top: &Infrastructure, stages: &[Stage], groups: &[ServiceGroup]) {
    let scopes = std::iter::once(top).chain(stages.iter().map(|s| &s.infrastructure));
    let all_servers: BTreeSet<&str> = std::iter::once(top)
        .chain(stages.iter().map(|s| &s.infrastructure))
        .flat_map(|i| i.servers.iter().map(|s| s.name.value.as_str()))
        .collect();
    for infra in scopes {
        for scale in &infra.scales {
            if !all_servers.contains(scale.server.value.as_str()) {
                ctx.push(ctx.warning(
                    scale.server.span.clone(),
                    format!(
                        "`scale` names server `{}`, which this file does not define",
                        scale.server.value
                    ),
                ));
            }
        }
        for server in &infra.servers {
            for group in &server.deploy_services {
                if !groups.iter().any(|g| &g.name.value == group) {
                    ctx.push(ctx.warning(
                        server.name.span.clone(),
                        format!("`deploy-services \"{group}\"` names no service-group in this file"),
                    ));
                }
            }
        }
        for zone in &infra.dns {
            for record in &zone.records {
                if let super::cloud::ValueOrRef::Reference(r) = &record.value
                    && r.kind == "server"
                    && !all_servers.contains(r.name.as_str())
                {
                    ctx.error(
                        record.name.span.clone(),
                        format!("record `{}` refers to unknown server `{}`", record.name.value, r.name),
                    );
                }
            }
        }
    }
}

/// `server "name"` with nothing else, naming a server of the file: a stage's reference.
fn is_reference(node: &RawNode, file_servers: &[super::cloud::Server]) -> bool {
    let named = |name: &str| file_servers.iter().any(|s| s.name.value == name);
    node.children().is_empty()
        && node.props.is_empty()
        && matches!(node.args.as_slice(), [RawValue { value: Scalar::String(name), .. }] if named(name))
}

/// A stage's override that gives only `version` re-tags the shared service's image
/// (`image "postgres"`, then `version "16"` in a stage → `postgres:16`), not `<name>:16`.
fn retagged(node: &RawNode, base: &Service, mut service: Service) -> Service {
    let gives = |key: &str| node.children().iter().any(|c| c.name == key) || node.prop(key).is_some();
    if gives("version")
        && !gives("image")
        && let (Some(shared), Some(own)) = (&base.image, &service.image)
        && let Some((_, version)) = own.rsplit_once(':')
    {
        service.image = Some(format!("{}:{version}", ff::untagged(shared)));
    }
    service
}

/// FleetFlow's rule for a service declared again at the top level: it merges into the first
/// declaration, its own settings winning (said as a warning, pointing at both).
fn merge_declaration(ctx: &mut Ctx, node: &RawNode, services: &mut Vec<Service>, service: Service) {
    let Some(first) = services.iter_mut().find(|s| s.name.value == service.name.value) else {
        services.push(service);
        return;
    };
    let said = ctx
        .warning(
            service.name.span.clone(),
            format!(
                "service `{}` is declared again: merged into its first declaration, this one's settings winning",
                service.name.value
            ),
        )
        .with_related(first.name.span.clone(), "first declared here");
    ctx.push(said);
    let name = first.name.clone();
    *first = Service {
        name,
        ..first.overridden_by(&retagged(node, first, service))
    };
}
