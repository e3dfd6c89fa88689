//! `fleet stage up|down|status|ps|logs <stage>` (seed 004) for every kind of stage, in one
//! place: a local stage runs on this machine's Docker ([`super::local`]), a stage the registry
//! routes to servers runs `fleet` on them over SSH ([`super::routes`]), a stage with cloud
//! servers goes through its infrastructure ([`super::stage`], [`super::stage_status`]).

use crate::application::effects::Effects;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::deploy::DeployOptions;
use super::deploy::history::{RollbackTo, rollback_args};
use super::deploy::lifecycle::render_ps;
use super::deploy::progress::Progress;
use super::deploy::remote::LocalBinary;
use super::deploy_history::Recorder;
use super::infra::{CloudTarget, cloud_target};
use super::local::{self, LocalDeploy, LocalFleet};
use super::report::{Reporter, WorkflowError};
use super::rollback::{LocalRollback, history, rollback_stage, routed_history};
use super::routes::{RoutedStage, routed_stage, run_routed};
use super::stage::{self, Down, StageUp};
use super::stage_status;
use super::workspace::{load_registry, registry_file};
use crate::clock::Clock;
use crate::config::LoadOptions;
use crate::docker::Docker;
use crate::ssh::Connector;

/// Which logs `logs` shows.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    /// One service (else every service, each line prefixed with its name).
    pub service: Option<String>,
    /// Keep following.
    pub follow: bool,
    /// The last N lines.
    pub tail: Option<usize>,
}

/// What is done to the stage.
#[derive(Debug, Clone)]
pub enum StageOp {
    /// Start it; `pull`: pull images even when present. A local stage's built images are
    /// named with `image_registry` and `tag`.
    Up {
        pull: bool,
        image_registry: Option<String>,
        tag: String,
    },
    /// Stop it; [`Down::Suspend`] and [`Down::Destroy`] also act on its servers.
    Down(Down),
    Status,
    Ps,
    Logs(LogsOptions),
    /// Restart its containers (only these services, when any).
    Restart {
        services: Vec<String>,
    },
    /// Run the images of an earlier deploy again (`previous`, a commit or a history id).
    Rollback {
        to: RollbackTo,
        options: DeployOptions,
    },
    /// The deploys recorded where the stage runs.
    History,
}

impl StageOp {
    /// The `fleet …` command line a server runs for this operation on `stage`.
    pub fn fleet_args(&self, stage: &str) -> Vec<String> {
        let mut argv: Vec<String> = match self {
            Self::Up { .. } => vec!["up".into()],
            Self::Down(_) => vec!["down".into()],
            Self::Status => vec!["stage".into(), "status".into()],
            Self::Ps => vec!["ps".into()],
            Self::Logs(_) => vec!["logs".into()],
            Self::Restart { .. } => vec!["restart".into()],
            Self::Rollback { to, options } => return rollback_args(stage, to, options.health_timeout),
            Self::History => vec!["history".into()],
        };
        argv.push(stage.to_owned());
        match self {
            Self::Up { pull: true, .. } => argv.push("--pull".into()),
            Self::Logs(o) => {
                if let Some(s) = &o.service {
                    argv.extend(["--service".into(), s.clone()]);
                }
                if let Some(n) = o.tail {
                    argv.extend(["--tail".into(), n.to_string()]);
                }
                if o.follow {
                    argv.push("--follow".into());
                }
            }
            Self::Restart { services } => {
                for s in services {
                    argv.extend(["--service".into(), s.clone()]);
                }
            }
            _ => {}
        }
        argv
    }
}

/// Where a stage runs.
pub enum StageKind {
    /// On this machine's Docker.
    Local(LocalFleet),
    /// On the servers the registry routes it to.
    Routed(RoutedStage),
    /// On the cloud servers the fleet declares for it; `fleet_dir` holds `.fleetflow/`.
    Cloud { target: CloudTarget, fleet_dir: PathBuf },
}

/// The kind of `fleet`'s `stage` (which must exist): routed when a registry (`registry` flag,
/// else found) routes it to servers, cloud when it is not local, else local. `name` is the
/// fleet's registry name when it was selected by name.
pub fn stage_kind(
    registry: Option<&Path>,
    name: Option<&str>,
    fleet: LocalFleet,
    stage: &str,
) -> Result<StageKind, WorkflowError> {
    let is_local = fleet.stage(stage)?.is_local();
    let found = registry_file(registry).ok();
    let routed = found.as_ref().and_then(|file| {
        let (ws, root) = load_registry(Some(file), LoadOptions { verify_fleets: false }).ok()?;
        routed_stage(&ws, &root, name, &fleet.dir, stage)
    });
    Ok(match routed {
        Some(routed) => StageKind::Routed(routed),
        None if is_local => StageKind::Local(fleet),
        None => {
            let fleet_dir = fleet.dir.clone();
            let target = cloud_target(found.as_deref(), fleet);
            StageKind::Cloud { target, fleet_dir }
        }
    })
}

/// What a stage operation runs with, built once by the front door.
pub struct StageEffects<'a> {
    pub reporter: &'a dyn Reporter,
    pub docker: &'a dyn Docker,
    pub ssh: &'a dyn Connector,
    pub clock: Arc<dyn Clock>,
    pub binary: &'a LocalBinary<'a>,
}

impl<'a> StageEffects<'a> {
    /// The front door's effects, with its reporter and the binary servers get.
    pub fn of(reporter: &'a dyn Reporter, fx: &'a Effects, binary: &'a LocalBinary<'a>) -> Self {
        Self {
            reporter,
            docker: &fx.docker,
            ssh: fx.ssh.as_ref(),
            clock: fx.clock.clone(),
            binary,
        }
    }
}

/// What a status or ps shows: text for a person, JSON for scripts.
pub struct StageView {
    pub text: String,
    pub json: Value,
}

fn view(text: String, json: impl serde::Serialize) -> Option<StageView> {
    let json = serde_json::to_value(json).unwrap_or(Value::Null);
    Some(StageView { text, json })
}

/// Carries out `op` on `stage` of `kind`; a status or a local ps is returned as a view, logs
/// of a local stage (and its builds) go to `line` (service, line), a local deploy's steps to
/// `progress`, what servers print to the reporter.
pub fn run_stage(
    fx: &StageEffects,
    kind: StageKind,
    stage: &str,
    op: &StageOp,
    progress: &mut dyn Progress,
    line: &mut dyn FnMut(&str, &str),
) -> Result<Option<StageView>, WorkflowError> {
    let usage = |text: &str| Err(WorkflowError::Usage(text.to_owned()));
    match kind {
        StageKind::Local(fleet) => {
            if matches!(op, StageOp::Down(Down::Suspend)) {
                return usage(
                    "--suspend powers servers off; a local stage has none (use --destroy to remove containers)",
                );
            }
            local::engine_ready(fx.docker)?;
            run_local(fx, &fleet, stage, op, progress, line)
        }
        StageKind::Routed(routed) if matches!(op, StageOp::History) => {
            let (text, json) = routed_history(fx.ssh, &routed, stage)?;
            Ok(view(text, json))
        }
        StageKind::Routed(routed) => {
            if matches!(op, StageOp::Down(Down::Suspend | Down::Destroy)) {
                return usage(
                    "--suspend and --destroy manage cloud servers a fleet declares; this stage is routed to a registry server, so `fleet stage down` (without them) stops its containers there",
                );
            }
            let deploy = matches!(op, StageOp::Up { .. } | StageOp::Rollback { .. });
            let argv = op.fleet_args(stage);
            run_routed(fx.reporter, fx.ssh, fx.binary, routed, &argv, deploy).map(|()| None)
        }
        StageKind::Cloud { target, fleet_dir } => run_cloud(fx, &target, &fleet_dir, stage, op),
    }
}

fn run_local(
    fx: &StageEffects,
    fleet: &LocalFleet,
    stage: &str,
    op: &StageOp,
    progress: &mut dyn Progress,
    line: &mut dyn FnMut(&str, &str),
) -> Result<Option<StageView>, WorkflowError> {
    match op {
        StageOp::Up {
            pull,
            image_registry,
            tag,
        } => {
            let request = LocalDeploy::up(stage, *pull, image_registry.clone(), tag.clone());
            let clock = fx.clock.as_ref();
            let report = local::deploy_stage(fx.reporter, fx.docker, clock, fleet, &request, progress, line)?;
            fx.reporter.say(&local::render_outcomes(&report.outcomes));
            report.error.map_or(Ok(None), |e| Err(WorkflowError::failed(e)))
        }
        StageOp::Down(how) => {
            let destroy = *how == Down::Destroy;
            if destroy {
                fx.reporter
                    .confirm(&format!("Remove the containers of stage `{stage}`?"))?;
            }
            local::down(fx.reporter, fx.docker, fleet, stage, destroy).map(|()| None)
        }
        StageOp::Status => {
            let status = local::status(fx.docker, fleet, stage)?;
            Ok(view(status.render_text(), &status))
        }
        StageOp::Ps => {
            let rows = local::ps(fx.docker, fleet, Some(stage))?;
            Ok(view(render_ps(&rows, chrono::Utc::now()), &rows))
        }
        StageOp::Logs(o) => {
            let service = o.service.as_deref();
            local::logs(fx.docker, fleet, stage, service, o.follow, o.tail, line).map(|()| None)
        }
        StageOp::Restart { services } => local::restart(fx.reporter, fx.docker, fleet, stage, services).map(|()| None),
        StageOp::Rollback { to, options } => {
            let request = LocalRollback {
                stage,
                to,
                options: options.clone(),
                confirm: true,
                history: this_machines_history(fleet, stage),
            };
            let report = rollback_stage(fx.reporter, fx.docker, fx.clock.as_ref(), fleet, &request, progress)?;
            fx.reporter.say(&local::render_outcomes(&report.outcomes));
            report.error.map_or(Ok(None), |e| Err(WorkflowError::failed(e)))
        }
        StageOp::History => {
            let (text, json) = history(fx.reporter, fleet, stage, &this_machines_history(fleet, stage))?;
            Ok(view(text, json))
        }
    }
}

/// The history of `fleet`'s `stage` where this process runs (its environment says where).
fn this_machines_history(fleet: &LocalFleet, stage: &str) -> Recorder {
    Recorder::for_stage(&fleet.project, stage, &fleet.dir, &|k| std::env::var(k).ok())
}

fn run_cloud(
    fx: &StageEffects,
    target: &CloudTarget,
    fleet_dir: &Path,
    stage: &str,
    op: &StageOp,
) -> Result<Option<StageView>, WorkflowError> {
    let clock = Arc::clone(&fx.clock);
    match op {
        StageOp::Up { pull, .. } => {
            let request = StageUp {
                stage,
                pull: *pull,
                fleet_dir,
            };
            stage::up(fx.reporter, fx.ssh, fx.binary, clock, target, &request).map(|()| None)
        }
        StageOp::Down(how) => stage::down(fx.reporter, fx.ssh, clock, target, stage, *how).map(|()| None),
        StageOp::Status => {
            let status = stage_status::status(fx.reporter, fx.ssh, clock, target, stage)?;
            Ok(view(status.render_text(), status.to_json()))
        }
        StageOp::Ps | StageOp::Logs(_) | StageOp::Restart { .. } | StageOp::Rollback { .. } | StageOp::History => {
            let argv = op.fleet_args(stage);
            stage::run_on_servers(fx.reporter, fx.ssh, clock, target, stage, &argv).map(|()| None)
        }
    }
}
