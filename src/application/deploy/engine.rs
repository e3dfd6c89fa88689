//! `fleet deploy`: bring a stage's containers to the desired state, health-gated, with rollback.
//!
//! Per service, in dependency order: unchanged (same config hash and image digest, running) →
//! left alone; otherwise the old container is renamed aside and stopped (freeing its ports),
//! the new one is created, started and must become healthy. The old containers are removed only
//! when every service is healthy; if one fails, every service replaced in this run gets its old
//! container back (same image digest, same config) and the deploy fails.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::desired::{DesiredService, network_name};
use super::health::{HealthError, wait_healthy};
use super::progress::Progress;
use crate::clock::Clock;
use crate::docker::{Container, Docker, DockerError, labels};

#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub pull: bool,
    pub force_recreate: bool,
    pub health_timeout: Duration,
    pub stop_timeout: Duration,
    /// Remove containers of services no longer in the stage (only when deploying the whole stage).
    pub remove_orphans: bool,
}

impl Default for DeployOptions {
    fn default() -> Self {
        Self {
            pull: true,
            force_recreate: false,
            health_timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(10),
            remove_orphans: true,
        }
    }
}

/// What happened to one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceAction {
    Unchanged,
    Started,
    Created,
    Recreated,
    Removed,
    RolledBack,
    Failed,
    NotAttempted,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub service: String,
    pub action: ServiceAction,
    pub container: Option<String>,
    pub detail: String,
}

/// The result of a deploy: what each service did, and the error that stopped it, if any.
#[derive(Debug, serde::Serialize)]
pub struct DeployReport {
    pub outcomes: Vec<Outcome>,
    #[serde(skip)]
    pub error: Option<DeployError>,
}

impl DeployReport {
    pub fn changed(&self) -> bool {
        self.outcomes.iter().any(|o| o.action != ServiceAction::Unchanged)
    }

    /// `fleet deploy --output json`: how the deploy of `project`'s `stage` ended, per service.
    pub fn to_json(&self, project: &str, stage: &str) -> serde_json::Value {
        serde_json::json!({
            "project": project,
            "stage": stage,
            "ok": self.error.is_none(),
            "error": self.error.as_ref().map(ToString::to_string),
            "services": self.outcomes,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(
        "image {image} for `{service}` is not on this machine: run `fleet build` first, or deploy without --no-pull"
    )]
    ImageMissing { service: String, image: String },
    #[error("`{service}` did not become healthy: {reason}. Rolled back: {rolled_back}")]
    Unhealthy {
        service: String,
        reason: String,
        rolled_back: String,
    },
    #[error("`{service}` failed to start: {source}. Rolled back: {rolled_back}")]
    StartFailed {
        service: String,
        #[source]
        source: DockerError,
        rolled_back: String,
    },
    /// The engine failed while `service` was being replaced (its old container set aside).
    #[error("replacing `{service}` failed: {source}. Rolled back: {rolled_back}")]
    ReplaceFailed {
        service: String,
        #[source]
        source: DockerError,
        rolled_back: String,
    },
}

impl DeployError {
    /// The service that failed, when the deploy had started changing containers: everything
    /// this run replaced before it was rolled back.
    fn rolled_back_at(&self) -> Option<&str> {
        match self {
            DeployError::Unhealthy { service, .. }
            | DeployError::StartFailed { service, .. }
            | DeployError::ReplaceFailed { service, .. } => Some(service),
            DeployError::Docker(_) | DeployError::ImageMissing { .. } => None,
        }
    }
}

/// A replaced service: its new container, and the old one set aside for rollback.
struct Replaced {
    service: String,
    new_id: Option<String>,
    previous: Option<Container>,
    original_name: String,
}

pub fn deploy(
    docker: &dyn Docker,
    clock: &dyn Clock,
    project: &str,
    stage: &str,
    desired: &[DesiredService],
    options: &DeployOptions,
    progress: &mut dyn Progress,
) -> DeployReport {
    let mut outcomes: Vec<Outcome> = Vec::new();
    match run(docker, clock, project, stage, desired, options, progress, &mut outcomes) {
        Ok(()) => DeployReport { outcomes, error: None },
        Err(e) => {
            if let Some(failed) = e.rolled_back_at() {
                // What this run replaced has its old container back (or is gone, when new).
                for o in &mut outcomes {
                    if matches!(o.action, ServiceAction::Created | ServiceAction::Recreated) {
                        o.action = ServiceAction::RolledBack;
                        o.detail = "rolled back".into();
                    }
                }
                outcomes.push(Outcome {
                    service: failed.to_owned(),
                    action: ServiceAction::Failed,
                    container: None,
                    detail: e.to_string(),
                });
            }
            for d in desired {
                if !outcomes.iter().any(|o| o.service == d.service) {
                    outcomes.push(Outcome {
                        service: d.service.clone(),
                        action: ServiceAction::NotAttempted,
                        container: None,
                        detail: String::new(),
                    });
                }
            }
            DeployReport {
                outcomes,
                error: Some(e),
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    docker: &dyn Docker,
    clock: &dyn Clock,
    project: &str,
    stage: &str,
    desired: &[DesiredService],
    options: &DeployOptions,
    progress: &mut dyn Progress,
    outcomes: &mut Vec<Outcome>,
) -> Result<(), DeployError> {
    // (The caller has checked the engine answers; the first call below fails clearly if not.)
    // Images first: a failed pull changes nothing.
    let image_ids = resolve_images(docker, desired, options, progress)?;
    // The network is made (if missing) just before the first container is created: a no-change
    // deploy asks the engine for nothing more than the images and the containers.
    let mut network_ready = false;
    let existing: HashMap<String, Container> = docker
        .list_containers(&[(labels::PROJECT, project), (labels::STAGE, stage)])?
        .into_iter()
        .filter_map(|c| c.label(labels::SERVICE).map(str::to_owned).map(|s| (s, c)))
        .filter(|(_, c)| !c.name.ends_with(PREVIOUS_SUFFIX))
        .collect();
    let mut replaced: Vec<Replaced> = Vec::new();
    let undo = Undo { docker, clock, options };
    for (d, image_id) in desired.iter().zip(&image_ids) {
        let current = existing.get(&d.service);
        let same = current
            .is_some_and(|c| c.label(labels::CONFIG_HASH) == Some(d.config_hash.as_str()) && c.image_id == *image_id);
        if same && !options.force_recreate {
            let c = current.expect("checked above");
            if c.running {
                outcomes.push(outcome(d, ServiceAction::Unchanged, Some(c), "up to date"));
                continue;
            }
            progress.service(&d.service, "starting");
            if let Err(e) = docker.start(&c.id) {
                return Err(start_failed(&undo, &d.service, e, &mut replaced));
            }
            if let Err(e) = wait_healthy(docker, clock, &c.id, options.health_timeout) {
                return Err(unhealthy(&undo, &d.service, e, &mut replaced));
            }
            outcomes.push(outcome(d, ServiceAction::Started, Some(c), "started"));
            continue;
        }
        progress.service(&d.service, if current.is_some() { "recreating" } else { "creating" });
        let mut entry = Replaced {
            service: d.service.clone(),
            new_id: None,
            previous: None,
            original_name: d.spec.name.clone(),
        };
        if let Some(c) = current {
            // Renamed aside first: until then nothing of this service has changed.
            if let Err(e) = rename_aside(docker, c) {
                return Err(replace_failed(&undo, &d.service, e, &mut replaced));
            }
            entry.previous = Some(c.clone());
            if c.running
                && let Err(e) = docker.stop(&c.id, options.stop_timeout)
            {
                replaced.push(entry);
                return Err(replace_failed(&undo, &d.service, e, &mut replaced));
            }
        }
        if !network_ready {
            let net_labels = BTreeMap::from([
                (labels::PROJECT.to_owned(), project.to_owned()),
                (labels::STAGE.to_owned(), stage.to_owned()),
            ]);
            if let Err(e) = docker.ensure_network(&network_name(project, stage), &net_labels) {
                replaced.push(entry);
                return Err(replace_failed(&undo, &d.service, e, &mut replaced));
            }
            network_ready = true;
        }
        let mut spec = d.spec.clone();
        spec.labels.insert(labels::IMAGE_DIGEST.to_owned(), image_id.clone());
        let created = docker.create(&spec);
        entry.new_id = created.as_ref().ok().cloned();
        replaced.push(entry);
        let started = created.and_then(|id| docker.start(&id).map(|()| id));
        let new_id = match started {
            Ok(id) => id,
            Err(e) => return Err(start_failed(&undo, &d.service, e, &mut replaced)),
        };
        progress.service(&d.service, "waiting for health");
        if let Err(e) = wait_healthy(docker, clock, &new_id, options.health_timeout) {
            return Err(unhealthy(&undo, &d.service, e, &mut replaced));
        }
        let action = if current.is_some() {
            ServiceAction::Recreated
        } else {
            ServiceAction::Created
        };
        outcomes.push(Outcome {
            service: d.service.clone(),
            action,
            container: Some(d.spec.name.clone()),
            detail: short(image_id),
        });
        progress.service(&d.service, "healthy");
    }
    // Every service is healthy: the old containers can go.
    for r in &replaced {
        if let Some(prev) = &r.previous {
            docker.remove(&prev.id)?;
        }
    }
    if options.remove_orphans {
        for (service, c) in &existing {
            if !desired.iter().any(|d| &d.service == service) {
                progress.service(service, "removing (no longer in the stage)");
                docker.remove(&c.id)?;
                outcomes.push(Outcome {
                    service: service.clone(),
                    action: ServiceAction::Removed,
                    container: Some(c.name.clone()),
                    detail: "no longer in the stage".into(),
                });
            }
        }
    }
    Ok(())
}

/// Suffix of a container set aside during a replacement.
pub const PREVIOUS_SUFFIX: &str = "-previous";

/// Renames the running version of a service `<name>-previous`, out of the new one's way.
fn rename_aside(docker: &dyn Docker, c: &Container) -> Result<(), DockerError> {
    let aside = format!("{}{PREVIOUS_SUFFIX}", c.name);
    // A leftover from an interrupted deploy would block the rename.
    if let Ok(stale) = docker.inspect_container(&aside) {
        docker.remove(&stale.id)?;
    }
    docker.rename(&c.id, &aside)
}

/// The image id each desired service will run: inspects every distinct image once (in
/// parallel), pulls what must be pulled (always on deploy, only what is missing on up; never what
/// this machine builds), then re-inspects what was pulled.
fn resolve_images(
    docker: &dyn Docker,
    desired: &[DesiredService],
    options: &DeployOptions,
    progress: &mut dyn Progress,
) -> Result<Vec<String>, DeployError> {
    let mut images: Vec<&str> = desired.iter().map(|d| d.spec.image.as_str()).collect();
    images.sort_unstable();
    images.dedup();
    let mut ids: HashMap<&str, Option<String>> = inspect_all(docker, &images)?;
    let pullable = |image: &str| desired.iter().any(|d| d.spec.image == image && !d.built_locally);
    let to_pull: Vec<&str> = images
        .iter()
        .copied()
        .filter(|i| pullable(i) && (options.pull || ids.get(i).is_none_or(Option::is_none)))
        .collect();
    for d in desired.iter().filter(|d| to_pull.contains(&d.spec.image.as_str())) {
        progress.service(&d.service, &format!("pulling {}", d.spec.image));
    }
    let pulled: Vec<Result<(), DockerError>> = std::thread::scope(|s| {
        let handles: Vec<_> = to_pull.iter().map(|i| s.spawn(|| docker.pull(i))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or(Ok(()))).collect()
    });
    for r in pulled {
        r?;
    }
    ids.extend(inspect_all(docker, &to_pull)?);
    desired
        .iter()
        .map(|d| match ids.get(d.spec.image.as_str()).cloned().flatten() {
            Some(id) => Ok(id),
            None => Err(DeployError::ImageMissing {
                service: d.service.clone(),
                image: d.spec.image.clone(),
            }),
        })
        .collect()
}

fn inspect_all<'a>(docker: &dyn Docker, images: &[&'a str]) -> Result<HashMap<&'a str, Option<String>>, DockerError> {
    std::thread::scope(|s| {
        let handles: Vec<_> = images
            .iter()
            .map(|&i| s.spawn(move || docker.inspect_image(i).map(|info| (i, info.map(|x| x.id)))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Ok(("", None))))
            .collect()
    })
}

fn outcome(d: &DesiredService, action: ServiceAction, c: Option<&Container>, detail: &str) -> Outcome {
    Outcome {
        service: d.service.clone(),
        action,
        container: c.map(|c| c.name.clone()),
        detail: detail.into(),
    }
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// What a rollback needs.
struct Undo<'a> {
    docker: &'a dyn Docker,
    clock: &'a dyn Clock,
    options: &'a DeployOptions,
}

fn start_failed(undo: &Undo, service: &str, source: DockerError, replaced: &mut Vec<Replaced>) -> DeployError {
    DeployError::StartFailed {
        service: service.into(),
        source,
        rolled_back: roll_back(undo, replaced),
    }
}

fn replace_failed(undo: &Undo, service: &str, source: DockerError, replaced: &mut Vec<Replaced>) -> DeployError {
    DeployError::ReplaceFailed {
        service: service.into(),
        source,
        rolled_back: roll_back(undo, replaced),
    }
}

fn unhealthy(undo: &Undo, service: &str, error: HealthError, replaced: &mut Vec<Replaced>) -> DeployError {
    DeployError::Unhealthy {
        service: service.into(),
        reason: error.to_string(),
        rolled_back: roll_back(undo, replaced),
    }
}

/// Puts back every container replaced in this run, newest first. Returns a summary.
fn roll_back(undo: &Undo, replaced: &mut Vec<Replaced>) -> String {
    let docker = undo.docker;
    let mut done = Vec::new();
    while let Some(r) = replaced.pop() {
        if let Some(id) = &r.new_id {
            let _ = docker.remove(id);
        }
        let Some(prev) = r.previous else {
            done.push(format!("{} removed (it did not exist before)", r.service));
            continue;
        };
        let restored = docker
            .rename(&prev.id, &r.original_name)
            .and_then(|()| if prev.running { docker.start(&prev.id) } else { Ok(()) });
        let healthy = restored.is_ok()
            && (!prev.running || wait_healthy(docker, undo.clock, &prev.id, undo.options.health_timeout).is_ok());
        done.push(match (restored, healthy) {
            (Ok(()), true) => format!("{} back on {}", r.service, short(&prev.image_id)),
            (Ok(()), false) => format!("{} restored on {} but not healthy", r.service, short(&prev.image_id)),
            (Err(e), _) => format!("{} could not be restored ({e})", r.service),
        });
    }
    if done.is_empty() {
        "nothing to roll back".into()
    } else {
        done.join("; ")
    }
}
