//! Config → the containers a stage should have (pure: no engine, no clock).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::order::dependency_order;
use crate::config::service::EnvValue;
use crate::config::{FleetConfig, Service, Stage};
use crate::docker::{ContainerSpec, labels};
use crate::images::service_image;

/// Where and how a stage is deployed.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub project: String,
    pub stage: &'a Stage,
    /// The fleet's directory (holds `.fleetflow/`); relative volume paths start here.
    pub fleet_dir: PathBuf,
    /// Registry prefix for built images (`ghcr.io/owner`), if any.
    pub image_registry: Option<String>,
    pub tag: String,
}

/// One service as it should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredService {
    pub service: String,
    pub spec: ContainerSpec,
    /// Hash of everything that, when changed, requires a new container.
    pub config_hash: String,
    /// Built on this machine and never pulled: a built service of the `local` stage, or of any
    /// stage when no image registry is configured.
    pub built_locally: bool,
}

/// A problem turning config into containers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DesiredError {
    #[error("stage `{stage}` has no service `{service}`{hint}; its services are: {known}")]
    UnknownService {
        stage: String,
        service: String,
        /// ` (did you mean `db`?)`, or empty.
        hint: String,
        known: String,
    },
    #[error(
        "service `{service}`: env `{key}` reads ${var}, which is not set; export it (or set it in the deploy environment)"
    )]
    MissingEnv { service: String, key: String, var: String },
    #[error("dependency cycle: {0}")]
    Cycle(String),
    #[error("cannot name the project: add `project \"name\"` to {0}")]
    NoProject(String),
}

/// The first of `wanted` that `stage` has no service of, as the error that says so.
pub fn unknown_service(stage: &Stage, wanted: &[impl AsRef<str>]) -> Option<DesiredError> {
    let names: Vec<&str> = stage.services.iter().map(|s| s.name.value.as_str()).collect();
    let service = wanted.iter().map(AsRef::as_ref).find(|w| !names.contains(w))?;
    Some(DesiredError::UnknownService {
        stage: stage.name.value.clone(),
        service: service.to_owned(),
        hint: crate::config::lower::did_you_mean(service, names.iter().copied())
            .map(|m| format!(" (did you mean `{m}`?)"))
            .unwrap_or_default(),
        known: names.join(", "),
    })
}

/// The project name: `project` in fleet.kdl, else the fleet directory's name.
pub fn project_name(fleet: &FleetConfig, fleet_dir: &Path) -> Result<String, DesiredError> {
    if let Some(p) = &fleet.project {
        return Ok(p.value.clone());
    }
    let dir = fleet_dir.canonicalize().unwrap_or_else(|_| fleet_dir.to_path_buf());
    dir.file_name()
        .and_then(|n| n.to_str())
        .filter(|n| crate::config::lower::is_valid_name(n))
        .map(str::to_owned)
        .ok_or_else(|| DesiredError::NoProject(fleet.file.display_name.clone()))
}

pub fn container_name(project: &str, stage: &str, service: &str) -> String {
    format!("{project}-{stage}-{service}")
}

/// One network per project and stage: services find each other by name (`db`), so two stages
/// of a project on one engine must not share a network (`db` would answer from both).
pub fn network_name(project: &str, stage: &str) -> String {
    format!("{project}-{stage}")
}

/// The stage's services in start order (dependencies first), limited to `only` when given.
/// `env` reads the deploying environment for `env="VAR"` values.
pub fn desired_services(
    target: &Target,
    only: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<DesiredService>, DesiredError> {
    let stage = target.stage;
    if let Some(unknown) = unknown_service(stage, only) {
        return Err(unknown);
    }
    let order = dependency_order(&stage.services).map_err(|c| DesiredError::Cycle(c.join(" → ")))?;
    order
        .into_iter()
        .filter(|name| only.is_empty() || only.iter().any(|o| o == name))
        .filter_map(|name| stage.services.iter().find(|s| s.name.value == name))
        .map(|service| desired_service(target, service, env))
        .collect()
}

fn desired_service(
    target: &Target,
    service: &Service,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<DesiredService, DesiredError> {
    let stage = &target.stage.name.value;
    let name = &service.name.value;
    let mut resolved_env = BTreeMap::new();
    for (key, value) in &service.env {
        let v = match value {
            EnvValue::Literal(v) => v.clone(),
            EnvValue::FromEnv(var) => env(var).ok_or_else(|| DesiredError::MissingEnv {
                service: name.clone(),
                key: key.clone(),
                var: var.clone(),
            })?,
        };
        resolved_env.insert(key.clone(), v);
    }
    let mut spec = ContainerSpec {
        name: container_name(&target.project, stage, name),
        image: service_image(
            &target.project,
            target.stage,
            service,
            target.image_registry.as_deref(),
            &target.tag,
        ),
        network: network_name(&target.project, stage),
        alias: name.clone(),
        labels: BTreeMap::from([
            (labels::PROJECT.to_owned(), target.project.clone()),
            (labels::STAGE.to_owned(), stage.clone()),
            (labels::SERVICE.to_owned(), name.clone()),
        ]),
        env: resolved_env,
        ports: service.ports.clone(),
        volumes: service
            .volumes
            .iter()
            .map(|v| resolve_volume(&target.project, &target.fleet_dir, v))
            .collect(),
        command: service.command.clone(),
        restart: service.restart,
        healthcheck: service.healthcheck.clone(),
    };
    let config_hash = hash_spec(&spec);
    spec.labels.insert(labels::CONFIG_HASH.to_owned(), config_hash.clone());
    spec.labels
        .insert(labels::VERSION.to_owned(), env!("CARGO_PKG_VERSION").to_owned());
    Ok(DesiredService {
        service: name.clone(),
        spec,
        config_hash,
        built_locally: service.image.is_none()
            && service.build.is_some()
            && (target.stage.name.value == "local" || target.image_registry.is_none()),
    })
}

/// Named volumes belong to the project (`data:/x` → `{project}-data:/x`); relative host
/// paths start at the fleet directory.
fn resolve_volume(project: &str, fleet_dir: &Path, volume: &str) -> String {
    let (source, rest) = volume.split_once(':').unwrap_or((volume, ""));
    let source = if source.starts_with("./") || source.starts_with("../") || source == "." {
        fleet_dir.join(source).display().to_string()
    } else if source.starts_with('/') || source.starts_with('~') {
        source.to_owned()
    } else {
        format!("{project}-{source}")
    };
    format!("{source}:{rest}")
}

/// sha256 of the spec's JSON (image digest and version labels are not part of it).
fn hash_spec(spec: &ContainerSpec) -> String {
    let json = serde_json::to_vec(spec).unwrap_or_default();
    let digest = Sha256::digest(&json);
    hex::encode(&digest[..12])
}
