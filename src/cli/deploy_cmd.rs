//! `fleet build` and `fleet deploy`, and the lifecycle of a stage's containers on this
//! machine: `up`, `down`, `ps`, `logs`, `restart` ([`crate::application::local`],
//! [`crate::application::stage_ops`]).

use std::time::Duration;

use clap::Args;

use super::fleet_select::FleetSelect;
use super::stage_cmd::run_op;
use super::{Context, Exit, Output, exit};
use crate::application::deploy::DeployOptions;
use crate::application::deploy::lifecycle::render_ps;
use crate::application::deploy_history::Recorder;
use crate::application::image_build::BuildOptions;
use crate::application::local::{self, LocalDeploy, build_fleet, render_builds, render_outcomes};
use crate::application::report::WorkflowError;
use crate::application::stage::Down;
use crate::application::stage_ops::{LogsOptions, StageKind, StageOp};
use crate::console::StderrProgress;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The stage to deploy (e.g. live).
    pub stage: String,
    /// Only these services (repeatable).
    #[arg(short = 's', long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Use local images; do not pull.
    #[arg(long)]
    pub no_pull: bool,
    /// Recreate containers even when nothing changed.
    #[arg(long)]
    pub force_recreate: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    pub images: ImageArgs,
    /// Seconds to wait for each new container to become healthy.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub health_timeout: u64,
    /// Text, or JSON for scripts.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

/// Where built images live.
#[derive(Debug, Clone, Args, Default)]
pub struct ImageArgs {
    /// Registry prefix of built images, e.g. ghcr.io/acme.
    #[arg(long, env = "FLEET_IMAGE_REGISTRY")]
    pub image_registry: Option<String>,
    /// Tag of built images.
    #[arg(long, default_value = "latest")]
    pub tag: String,
}

impl ImageArgs {
    /// `up` with these images, pulled with `pull` (else only when missing).
    pub fn up(&self, pull: bool) -> StageOp {
        let (image_registry, tag) = (self.image_registry.clone(), self.tag.clone());
        StageOp::Up {
            pull,
            image_registry,
            tag,
        }
    }
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// The stage, e.g. live (default: local).
    #[arg(default_value = "local")]
    pub stage: String,
    /// Pull images even when present.
    #[arg(long)]
    pub pull: bool,
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// The stage, e.g. live (default: local).
    #[arg(default_value = "local")]
    pub stage: String,
    /// Remove the containers (and the network when nothing is left), not only stop them.
    #[arg(long)]
    pub remove: bool,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// One stage (default: all stages of the fleet).
    pub stage: Option<String>,
    /// Text, or JSON for scripts.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The stage, e.g. live (default: local).
    #[arg(default_value = "local")]
    pub stage: String,
    #[command(flatten)]
    pub logs: LogsFlags,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

/// Which logs: `fleet logs` and `fleet stage logs`.
#[derive(Debug, Args)]
pub struct LogsFlags {
    /// One service.
    #[arg(short = 's', long = "service")]
    pub service: Option<String>,
    /// Keep following.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Last N lines.
    #[arg(short = 'n', long = "tail", value_name = "N")]
    pub tail: Option<usize>,
}

impl LogsFlags {
    pub fn options(&self) -> LogsOptions {
        LogsOptions {
            service: self.service.clone(),
            follow: self.follow,
            tail: self.tail,
        }
    }
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// The stage, e.g. live (default: local).
    #[arg(default_value = "local")]
    pub stage: String,
    /// Only these services (repeatable).
    #[arg(short = 's', long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

pub fn run_up(cx: &Context, args: &UpArgs) -> Exit {
    on_this_machine(cx, &args.fleet, &args.stage, &args.images.up(args.pull))
}

pub fn run_down(cx: &Context, args: &DownArgs) -> Exit {
    let how = if args.remove { Down::Destroy } else { Down::Stop };
    on_this_machine(cx, &args.fleet, &args.stage, &StageOp::Down(how))
}

pub fn run_restart(cx: &Context, args: &RestartArgs) -> Exit {
    let op = StageOp::Restart {
        services: args.services.clone(),
    };
    on_this_machine(cx, &args.fleet, &args.stage, &op)
}

pub fn run_logs(cx: &Context, args: &LogsArgs) -> Exit {
    on_this_machine(cx, &args.fleet, &args.stage, &StageOp::Logs(args.logs.options()))
}

/// `op` on the stage's containers on this machine, whatever kind of stage it is (what a
/// server runs for `fleet stage …`).
fn on_this_machine(cx: &Context, sel: &FleetSelect, stage: &str, op: &StageOp) -> Exit {
    let kind = StageKind::Local(sel.select(cx.registry, Some(stage))?);
    run_op(cx, kind, stage, op, Output::Text, true)
}

/// Deploys the stage on this machine, recorded in its history.
pub fn run_deploy(cx: &Context, args: &DeployArgs) -> Exit {
    let fleet = args.fleet.select(cx.registry, Some(&args.stage))?;
    let env = |k: &str| std::env::var(k).ok();
    let request = LocalDeploy {
        stage: &args.stage,
        services: &args.services,
        image_registry: args.images.image_registry.clone(),
        tag: args.images.tag.clone(),
        options: DeployOptions {
            pull: !args.no_pull,
            force_recreate: args.force_recreate,
            health_timeout: Duration::from_secs(args.health_timeout),
            remove_orphans: args.services.is_empty(),
            ..DeployOptions::default()
        },
        confirm: !args.yes,
        history: Some(Recorder::for_stage(&fleet.project, &args.stage, &fleet.dir, &env)),
        rollback_to: None,
    };
    let mut progress = StderrProgress::new();
    let line = &mut |s: &str, l: &str| cx.console.service_line(s, l);
    let (reporter, docker, clock) = (cx.reporter(false), &cx.fx.docker, cx.fx.clock.as_ref());
    let report = local::deploy_stage(&reporter, docker, clock, &fleet, &request, &mut progress, line)?;
    drop(progress);
    let json = report.to_json(&fleet.project, &args.stage);
    cx.show(args.output, &json, |_| render_outcomes(&report.outcomes));
    report.error.map_or(Ok(exit::OK), |e| Err(WorkflowError::failed(e)))
}

pub fn run_ps(cx: &Context, args: &PsArgs) -> Exit {
    let fleet = args.fleet.select(cx.registry, None)?;
    local::engine_ready(&cx.fx.docker)?;
    let rows = local::ps(&cx.fx.docker, &fleet, args.stage.as_deref())?;
    cx.show(args.output, &rows, |rows| render_ps(rows, chrono::Utc::now()));
    Ok(exit::OK)
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The stage to build for (local: native platform, never pushed; others: linux/amd64).
    pub stage: String,
    /// Only these services (repeatable).
    #[arg(short = 's', long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Push after building (not for the local stage).
    #[arg(long)]
    pub push: bool,
    /// Image tag (default latest; `sha-<7>` is added when a git commit is known).
    #[arg(long)]
    pub tag: Option<String>,
    /// Registry prefix of the images, e.g. ghcr.io/acme.
    #[arg(long, env = "FLEET_IMAGE_REGISTRY")]
    pub image_registry: Option<String>,
    /// Target platform (default: native for local, linux/amd64 otherwise).
    #[arg(long)]
    pub platform: Option<String>,
    /// Build without cache (and rebuild even when inputs are unchanged).
    #[arg(long)]
    pub no_cache: bool,
    /// Text, or JSON for scripts.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

/// Builds (and pushes) the stage's images of the selected fleet.
pub fn run_build(cx: &Context, args: &BuildArgs) -> Exit {
    let fleet = args.fleet.select(cx.registry, Some(&args.stage))?;
    let request = BuildOptions {
        services: args.services.clone(),
        push: args.push,
        tag: args.tag.clone(),
        registry: args.image_registry.clone(),
        platform: args.platform.clone(),
        no_cache: args.no_cache,
        ..BuildOptions::default()
    };
    let line = &mut |service: &str, line: &str| cx.console.service_line(service, line);
    let docker = cx.fx.docker.clone();
    let outcomes = build_fleet(&cx.reporter(false), docker, &fleet, &args.stage, request, line)?;
    cx.show(args.output, &outcomes, |o| render_builds(o));
    Ok(exit::OK)
}
