//! A fleet on this machine's Docker engine: build its images, deploy a stage (stop → replace →
//! start in dependency order, health-gated, with rollback), and the lifecycle around it
//! (down, restart, ps, status).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::deploy::desired::unknown_service;
use super::deploy::engine::{DeployReport, Outcome};
use super::deploy::history::HistoryEntry;
use super::deploy::lifecycle::{self, PsRow};
use super::deploy::progress::Progress;
use super::deploy::project_name;
use super::deploy::{DeployOptions, DesiredService, ServiceAction, Target, deploy, desired_services};
use super::deploy_history::{Ran, Recorder, record, use_images_of};
use super::image_build::credentials::login_for_push;
use super::image_build::{BuildOptions, BuildOutcome, plan_builds, run_builds, source_url};
use super::report::{Reporter, WorkflowError};
use crate::clock::Clock;
use crate::config::load::{fleet_file_path, load_fleet_file};
use crate::config::{DirFiles, FleetConfig, LoadOptions, Stage, load_workspace};
use crate::docker::{Builder, Docker, DockerCli};

/// How long a container gets to stop before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A loaded fleet and where it lives.
pub struct LocalFleet {
    pub config: FleetConfig,
    /// The directory holding `.fleetflow/`.
    pub dir: PathBuf,
    pub project: String,
}

impl LocalFleet {
    /// The stage `name`, or a usage error that lists the fleet's stages.
    pub fn stage(&self, name: &str) -> Result<&Stage, WorkflowError> {
        self.config.stage(name).ok_or_else(|| {
            let known: Vec<&str> = self.config.stages.iter().map(|s| s.name.value.as_str()).collect();
            WorkflowError::Usage(format!(
                "fleet `{}` has no stage `{name}`; its stages are: {}",
                self.project,
                if known.is_empty() {
                    "(none)".to_owned()
                } else {
                    known.join(", ")
                }
            ))
        })
    }
}

/// The fleet `name` of the registry at `registry` (fleet-registry.kdl), loaded.
pub fn fleet_of_registry(registry: &Path, name: &str) -> Result<LocalFleet, WorkflowError> {
    let (root, ws) = registry_workspace(registry)?;
    let entry = ws.registry.fleet(name).ok_or_else(|| {
        let known: Vec<&str> = ws.registry.fleets.iter().map(|f| f.name.value.as_str()).collect();
        WorkflowError::Usage(format!(
            "the registry has no fleet `{name}`; its fleets are: {}",
            known.join(", ")
        ))
    })?;
    fleet_at(&root.join(fleet_file_path("", &entry.path.value)))
}

/// The one fleet of the registry that has stage `stage` (run at the registry's root without
/// `--fleet`); when several have it, a usage error names them.
pub fn fleet_of_registry_with_stage(registry: &Path, stage: &str) -> Result<LocalFleet, WorkflowError> {
    let (_, ws) = registry_workspace(registry)?;
    let with: Vec<&str> = ws
        .fleets
        .iter()
        .filter(|(_, f)| f.stage(stage).is_some())
        .map(|(name, _)| name.as_str())
        .collect();
    match with[..] {
        [one] => fleet_of_registry(registry, one),
        [] => Err(WorkflowError::Usage(format!(
            "no fleet of {} has a stage `{stage}`; its fleets are: {}",
            registry.display(),
            ws.fleets.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
        ))),
        _ => Err(WorkflowError::Usage(format!(
            "fleets {} all have a stage `{stage}`: pass --fleet NAME",
            with.join(", ")
        ))),
    }
}

/// The registry file's directory and the workspace it describes.
fn registry_workspace(registry: &Path) -> Result<(PathBuf, crate::config::Workspace), WorkflowError> {
    let root = registry.parent().map(Path::to_path_buf).unwrap_or_default();
    let file = registry
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ws = load_workspace(&DirFiles { root: root.clone() }, &file, LoadOptions::default())?;
    Ok((root, ws))
}

/// The fleet whose fleet.kdl is `fleet_file`, loaded.
pub fn fleet_at(fleet_file: &Path) -> Result<LocalFleet, WorkflowError> {
    if !fleet_file.is_file() {
        return Err(WorkflowError::Usage(format!("{} does not exist", fleet_file.display())));
    }
    let loaded = load_fleet_file(fleet_file)?;
    let dir = fleet_file
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = dir.canonicalize().unwrap_or(dir);
    let project = project_name(&loaded.fleet, &dir).map_err(|e| WorkflowError::Usage(e.to_string()))?;
    Ok(LocalFleet {
        config: loaded.fleet,
        dir,
        project,
    })
}

/// Builds (and pushes) the images of `stage` from the fleet's directory as `request` asks,
/// labelled with the directory's git commit and origin and the time; push credentials come
/// from the environment.
pub fn build_fleet(
    reporter: &dyn Reporter,
    docker: DockerCli,
    fleet: &LocalFleet,
    stage: &str,
    request: BuildOptions,
    line: &mut dyn FnMut(&str, &str),
) -> Result<Vec<BuildOutcome>, WorkflowError> {
    fleet.stage(stage)?;
    engine_ready(&docker)?;
    let git = |args: &[&str]| crate::git::git_line(&fleet.dir, args);
    let env = |k: &str| std::env::var(k).ok();
    let options = BuildOptions {
        commit: git(&["rev-parse", "HEAD"]),
        // Changed, staged or untracked files under the fleet's directory.
        dirty: git(&["status", "--porcelain", "--", "."]).is_some(),
        source_url: source_url(&env, git(&["remote", "get-url", "origin"]).as_deref()),
        created: crate::clock::timestamp_now(),
        ..request
    };
    build_images(reporter, docker, fleet, stage, &options, &env, line)
}

/// Whether the Docker engine answers (its error says why not).
pub fn engine_ready(docker: &dyn Docker) -> Result<(), WorkflowError> {
    docker.server_version().map(drop).map_err(WorkflowError::failed)
}

/// Builds (and, with `options.push`, pushes) the images of `stage`; each build's output goes
/// to `line` by service. Registries that need a token are logged in to first (`env` gives it).
pub fn build_images(
    reporter: &dyn Reporter,
    docker: DockerCli,
    fleet: &LocalFleet,
    stage: &str,
    options: &BuildOptions,
    env: &dyn Fn(&str) -> Option<String>,
    line: &mut dyn FnMut(&str, &str),
) -> Result<Vec<BuildOutcome>, WorkflowError> {
    let stage_config = fleet.stage(stage)?;
    if options.push && stage == "local" {
        reporter.note("note: the local stage is never pushed; building only");
    }
    let buildx = stage != "local" && docker.buildx_available();
    let plans = plan_builds(&fleet.project, stage_config, &fleet.dir, options, buildx)
        .map_err(|e| WorkflowError::Usage(e.to_string()))?;
    if stage != "local" && !buildx {
        reporter
            .note("note: docker buildx is not available; using `docker build --platform` and `docker push` instead");
    }
    // The login's DOCKER_CONFIG directory lives as long as the builds.
    let (docker, _config) = if options.push {
        login_for_push(docker, &plans, env).map_err(WorkflowError::failed)?
    } else {
        (docker, None)
    };
    run_builds(&docker, &plans, line).map_err(|e| WorkflowError::failed(format!("{e}; nothing was deployed")))
}

/// One line per service of a build: what was done and the image names.
pub fn render_builds(outcomes: &[BuildOutcome]) -> String {
    let mut out = String::new();
    for o in outcomes {
        let what = match (o.built, o.pushed) {
            (true, true) => "built and pushed",
            (true, false) => "built",
            (false, true) => "unchanged, pushed",
            (false, false) => "unchanged",
        };
        out.push_str(&format!("{}: {what}: {}\n", o.service, o.images.join(", ")));
    }
    out
}

/// Before a local deploy: builds the local images that do not exist yet.
pub fn build_missing_local_images(
    docker: &dyn Docker,
    fleet: &LocalFleet,
    stage: &Stage,
    desired: &[DesiredService],
    line: &mut dyn FnMut(&str, &str),
) -> Result<(), WorkflowError> {
    let mut missing = Vec::new();
    for d in desired.iter().filter(|d| d.built_locally) {
        if docker
            .inspect_image(&d.spec.image)
            .map_err(WorkflowError::failed)?
            .is_none()
        {
            missing.push(d.service.clone());
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let options = BuildOptions {
        services: missing,
        created: chrono::Utc::now().to_rfc3339(),
        ..BuildOptions::default()
    };
    let mut plans = plan_builds(&fleet.project, stage, &fleet.dir, &options, false).map_err(WorkflowError::failed)?;
    // Deploys run what they built under the name they run (tag of the desired image).
    for plan in &mut plans {
        if let Some(d) = desired.iter().find(|d| d.service == plan.service) {
            plan.request.tags = vec![d.spec.image.clone()];
            plan.request.platform = None;
            plan.builder = Builder::Classic;
        }
    }
    run_builds(docker, &plans, line).map_err(|e| WorkflowError::failed(format!("{e}; nothing was deployed")))?;
    Ok(())
}

/// What a local deploy is asked to do.
pub struct LocalDeploy<'a> {
    pub stage: &'a str,
    /// Only these services (empty: all).
    pub services: &'a [String],
    pub image_registry: Option<String>,
    pub tag: String,
    pub options: DeployOptions,
    /// Ask the reporter before changing anything.
    pub confirm: bool,
    /// Record the deploy in this history (and keep its images for a rollback).
    pub history: Option<Recorder>,
    /// Run the images of this earlier deploy instead of the configured ones (a rollback).
    pub rollback_to: Option<HistoryEntry>,
}

impl<'a> LocalDeploy<'a> {
    /// `fleet up`: every service, pulled only when missing (or with `pull`), no question.
    pub fn up(stage: &'a str, pull: bool, image_registry: Option<String>, tag: String) -> Self {
        Self {
            stage,
            services: &[],
            image_registry,
            tag,
            options: DeployOptions {
                pull,
                ..DeployOptions::default()
            },
            confirm: false,
            history: None,
            rollback_to: None,
        }
    }
}

/// Deploys a stage on the local engine: its desired services, the local images built when
/// missing, then the engine's steps (reported to `progress`). The report holds every
/// service's outcome, also when the deploy failed.
pub fn deploy_stage(
    reporter: &dyn Reporter,
    docker: &dyn Docker,
    clock: &dyn Clock,
    fleet: &LocalFleet,
    request: &LocalDeploy,
    progress: &mut dyn Progress,
    build_line: &mut dyn FnMut(&str, &str),
) -> Result<DeployReport, WorkflowError> {
    let stage = fleet.stage(request.stage)?;
    let target = Target {
        project: fleet.project.clone(),
        stage,
        fleet_dir: fleet.dir.clone(),
        image_registry: request.image_registry.clone(),
        tag: request.tag.clone(),
    };
    let mut desired = desired_services(&target, request.services, &|k| std::env::var(k).ok())
        .map_err(|e| WorkflowError::Usage(e.to_string()))?;
    if let Some(earlier) = &request.rollback_to {
        use_images_of(docker, &mut desired, earlier)?;
    }
    if request.confirm {
        let what = match &request.rollback_to {
            Some(earlier) => format!("Roll {}:{} back to {}?", fleet.project, request.stage, earlier.label()),
            None => format!(
                "Deploy {} service(s) of {}:{}?",
                desired.len(),
                fleet.project,
                request.stage
            ),
        };
        reporter.confirm(&what)?;
    }
    // No separate engine check: the first call below fails with the same one-line message.
    build_missing_local_images(docker, fleet, stage, &desired, build_line)?;
    let (started, began) = (chrono::Utc::now(), clock.now());
    let report = deploy(
        docker,
        clock,
        &fleet.project,
        request.stage,
        &desired,
        &request.options,
        progress,
    );
    // A deploy that stopped before it touched a container (no daemon, a failed pull) is no
    // deploy to go back to or from: its error is said once, and not recorded.
    let touched = report.error.is_none() || report.outcomes.iter().any(|o| o.action != ServiceAction::NotAttempted);
    if let Some(recorder) = request.history.as_ref().filter(|_| touched) {
        let ran = Ran {
            project: &fleet.project,
            stage: request.stage,
            desired: &desired,
            started,
            seconds: clock.now().saturating_duration_since(began).as_secs_f64(),
            error: report.error.as_ref().map(ToString::to_string),
            rollback_to: request.rollback_to.as_ref(),
        };
        record(reporter, docker, recorder, &ran);
    }
    Ok(report)
}

/// The final table of a deploy: what happened to each service.
pub fn render_outcomes(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let w = outcomes.iter().map(|o| o.service.len()).max().unwrap_or(7).max(7);
    out.push_str(&format!("{:<w$}  {:<13}  DETAIL\n", "SERVICE", "ACTION"));
    for o in outcomes {
        let action = serde_json::to_value(o.action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        out.push_str(format!("{:<w$}  {action:<13}  {}", o.service, o.detail).trim_end());
        out.push('\n');
    }
    let changed = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o.action,
                ServiceAction::Created | ServiceAction::Recreated | ServiceAction::Started | ServiceAction::Removed
            )
        })
        .count();
    out.push_str(&format!(
        "{changed} changed, {} unchanged\n",
        outcomes.iter().filter(|o| o.action == ServiceAction::Unchanged).count()
    ));
    out
}

fn list_or_nothing(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}

/// The order services stop in: waves, each of services nothing still running depends on —
/// dependents first, what they depend on last; a wave stops at once.
pub fn stop_waves(services: &[crate::config::Service]) -> Vec<Vec<String>> {
    // Depth of a service: 0 when nothing depends on it, else one more than its deepest dependent.
    let mut depth: std::collections::BTreeMap<&str, usize> =
        services.iter().map(|s| (s.name.value.as_str(), 0)).collect();
    // A cycle is refused by validation; the bound keeps a bad input from looping.
    for _ in 0..services.len() {
        let mut changed = false;
        for s in services {
            let mine = depth[s.name.value.as_str()];
            for dep in &s.depends_on {
                if let Some(d) = depth.get_mut(dep.value.as_str())
                    && *d < mine + 1
                {
                    *d = mine + 1;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let deepest = depth.values().copied().max().unwrap_or(0);
    (0..=deepest)
        .map(|level| {
            depth
                .iter()
                .filter(|(_, d)| **d == level)
                .map(|(name, _)| (*name).to_owned())
                .collect()
        })
        .collect()
}

/// Stops (or, with `remove`, removes) the stage's containers, dependents first and independent
/// ones at once, each as it is done; says what it touched.
pub fn down(
    reporter: &dyn Reporter,
    docker: &dyn Docker,
    fleet: &LocalFleet,
    stage: &str,
    remove: bool,
) -> Result<(), WorkflowError> {
    let waves = stop_waves(&fleet.stage(stage)?.services);
    let verb = if remove { "removed" } else { "stopped" };
    let started = std::time::Instant::now();
    let progress = |service: &str| {
        reporter.note(&format!("{service}: {verb} ({:.1} s)", started.elapsed().as_secs_f64()));
    };
    let touched = lifecycle::down(docker, &fleet.project, stage, &waves, remove, STOP_TIMEOUT, &progress)
        .map_err(WorkflowError::failed)?;
    reporter.say(&format!(
        "{}:{stage}: {verb} {}\n",
        fleet.project,
        list_or_nothing(&touched)
    ));
    Ok(())
}

/// Restarts the stage's containers (only `services`, when given).
pub fn restart(
    reporter: &dyn Reporter,
    docker: &dyn Docker,
    fleet: &LocalFleet,
    stage: &str,
    services: &[String],
) -> Result<(), WorkflowError> {
    known_services(fleet, stage, services)?;
    let touched =
        lifecycle::restart(docker, &fleet.project, stage, services, STOP_TIMEOUT).map_err(WorkflowError::failed)?;
    reporter.say(&format!(
        "{}:{stage}: restarted {}\n",
        fleet.project,
        list_or_nothing(&touched)
    ));
    Ok(())
}

/// The stage exists and runs each of `services`; else a usage error that lists what it runs
/// (and the closest name).
fn known_services(fleet: &LocalFleet, stage: &str, services: &[impl AsRef<str>]) -> Result<(), WorkflowError> {
    match unknown_service(fleet.stage(stage)?, services) {
        None => Ok(()),
        Some(unknown) => Err(WorkflowError::Usage(unknown.to_string())),
    }
}

/// Streams the stage's logs (one service's, when given) to `line` by service; `follow`: until
/// interrupted.
pub fn logs(
    docker: &dyn Docker,
    fleet: &LocalFleet,
    stage: &str,
    service: Option<&str>,
    follow: bool,
    tail: Option<usize>,
    line: &mut dyn FnMut(&str, &str),
) -> Result<(), WorkflowError> {
    known_services(fleet, stage, service.as_slice())?;
    lifecycle::logs(docker, &fleet.project, stage, service, follow, tail, line).map_err(WorkflowError::failed)
}

/// The fleet's containers (one stage, or all).
pub fn ps(docker: &dyn Docker, fleet: &LocalFleet, stage: Option<&str>) -> Result<Vec<PsRow>, WorkflowError> {
    if let Some(s) = stage {
        fleet.stage(s)?;
    }
    lifecycle::ps(docker, &fleet.project, stage).map_err(WorkflowError::failed)
}

/// A local stage as `fleet stage status` shows it (seed 004's Services part).
#[derive(Serialize)]
pub struct LocalStatus {
    pub stage: String,
    /// `running`, `partial` or `stopped`.
    pub status: &'static str,
    pub services: Vec<PsRow>,
    #[serde(skip)]
    declared: Vec<String>,
}

/// The stage's status from its containers.
pub fn status(docker: &dyn Docker, fleet: &LocalFleet, stage: &str) -> Result<LocalStatus, WorkflowError> {
    let declared: Vec<String> = fleet
        .stage(stage)?
        .services
        .iter()
        .map(|s| s.name.value.clone())
        .collect();
    let rows = lifecycle::ps(docker, &fleet.project, Some(stage)).map_err(WorkflowError::failed)?;
    let running = rows.iter().filter(|r| r.status.starts_with("running")).count();
    let status = match running {
        0 => "stopped",
        n if n == declared.len() => "running",
        _ => "partial",
    };
    Ok(LocalStatus {
        stage: stage.to_owned(),
        status,
        services: rows,
        declared,
    })
}

impl LocalStatus {
    /// In seed 004's layout.
    pub fn render_text(&self) -> String {
        let mut out = format!("Stage: {}\nStatus: {}\n\nServices:\n", self.stage, self.status);
        for name in &self.declared {
            let line = match self.services.iter().find(|r| &r.service == name) {
                Some(r) if r.status.starts_with("running") => format!("  ✓ {name:<12} {}", r.status),
                Some(r) => format!("  ✗ {name:<12} {}", r.status),
                None => format!("  ✗ {name:<12} not created"),
            };
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}
