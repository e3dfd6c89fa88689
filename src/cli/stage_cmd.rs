//! `fleet stage up|down|status|logs|ps <stage>`: the stage as the unit, whatever
//! kind it is ([`crate::application::stage_ops`]).

use std::time::Duration;

use clap::{Args, Subcommand};

use super::deploy_cmd::{ImageArgs, LogsFlags};
use super::fleet_select::FleetSelect;
use super::{Context, Exit, Output, exit};
use crate::application::deploy::DeployOptions;
use crate::application::deploy::history::HistoryError;
use crate::application::deploy::remote::LocalBinary;
use crate::application::report::WorkflowError;
use crate::application::stage::Down;
use crate::application::stage_ops::{StageEffects, StageKind, StageOp, run_stage, stage_kind};
use crate::console::StderrProgress;

#[derive(Debug, Subcommand)]
pub enum StageCommand {
    /// Start the stage (local: containers; remote: infrastructure + containers).
    Up(StageUpArgs),
    /// Stop the stage.
    Down(StageDownArgs),
    /// Show the stage's state.
    Status(StageArgs),
    /// Show logs.
    Logs(StageLogsArgs),
    /// List containers.
    Ps(StageArgs),
}

#[derive(Debug, Args)]
pub struct StageArgs {
    /// The stage, e.g. live.
    pub stage: String,
    /// Text, or JSON for scripts.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

#[derive(Debug, Args)]
pub struct StageUpArgs {
    /// The stage, e.g. live.
    pub stage: String,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Pull images even when present.
    #[arg(long)]
    pub pull: bool,
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

#[derive(Debug, Args)]
pub struct StageDownArgs {
    /// The stage, e.g. live.
    pub stage: String,
    /// Also power the servers off (remote stages).
    #[arg(long)]
    pub suspend: bool,
    /// Delete the servers (remote), or remove the containers (local).
    #[arg(long)]
    pub destroy: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

#[derive(Debug, Args)]
pub struct StageLogsArgs {
    /// The stage, e.g. live.
    pub stage: String,
    #[command(flatten)]
    pub logs: LogsFlags,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

impl StageCommand {
    /// The stage, the fleet, the operation, how to show a view, and whether `--yes` was given.
    fn parts(&self) -> Result<(&str, &FleetSelect, StageOp, Output, bool), WorkflowError> {
        Ok(match self {
            Self::Up(a) => (&a.stage, &a.fleet, a.images.up(a.pull), Output::Text, a.yes),
            Self::Down(a) => {
                let how = Down::from_flags(a.suspend, a.destroy)?;
                (&a.stage, &a.fleet, StageOp::Down(how), Output::Text, a.yes)
            }
            Self::Status(a) => (&a.stage, &a.fleet, StageOp::Status, a.output, false),
            Self::Ps(a) => (&a.stage, &a.fleet, StageOp::Ps, a.output, false),
            Self::Logs(a) => (&a.stage, &a.fleet, StageOp::Logs(a.logs.options()), Output::Text, false),
        })
    }
}

pub fn run(cx: &Context, command: &StageCommand) -> Exit {
    let (stage, sel, op, output, yes) = command.parts()?;
    run_where_it_runs(cx, sel, stage, &op, output, yes)
}

/// `op` on `stage` wherever the stage runs (this machine, routed servers, cloud servers).
fn run_where_it_runs(cx: &Context, sel: &FleetSelect, stage: &str, op: &StageOp, output: Output, yes: bool) -> Exit {
    let fleet = sel.select(cx.registry, Some(stage))?;
    let kind = stage_kind(cx.registry, sel.fleet.as_deref(), fleet, stage)?;
    run_op(cx, kind, stage, op, output, yes)
}

/// `[FLEET] STAGE`: a fleet of the registry by name, then the stage (or the stage alone).
#[derive(Debug, Args)]
pub struct FleetAndStage {
    /// The stage (`live`), or the fleet's registry name and then the stage (`web live`).
    #[arg(value_name = "FLEET|STAGE")]
    pub first: String,
    /// The stage, after a fleet's name.
    #[arg(value_name = "STAGE")]
    pub stage: Option<String>,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

impl FleetAndStage {
    fn parts(&self) -> Result<(FleetSelect, &str), WorkflowError> {
        match &self.stage {
            None => Ok((self.fleet.clone(), &self.first)),
            Some(_) if self.fleet.fleet.is_some() || self.fleet.file.is_some() => Err(WorkflowError::Usage(
                "give the fleet as an argument or with --fleet/--file, not both".into(),
            )),
            Some(stage) => Ok((
                FleetSelect {
                    fleet: Some(self.first.clone()),
                    file: None,
                },
                stage,
            )),
        }
    }
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: FleetAndStage,
    /// The deploy to go back to: `previous` (the last one with other images), a commit, or a history id.
    #[arg(long, default_value = "previous", value_name = "COMMIT")]
    pub to: String,
    /// Seconds to wait for each container to become healthy.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub health_timeout: u64,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub target: FleetAndStage,
    /// Text, or JSON for scripts.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `fleet rollback`: the images of an earlier deploy, run again where the stage runs.
pub fn run_rollback(cx: &Context, args: &RollbackArgs) -> Exit {
    let (sel, stage) = args.target.parts()?;
    let op = StageOp::Rollback {
        to: args
            .to
            .parse()
            .map_err(|e: HistoryError| WorkflowError::Usage(e.to_string()))?,
        options: DeployOptions {
            pull: false,
            health_timeout: Duration::from_secs(args.health_timeout),
            ..DeployOptions::default()
        },
    };
    run_where_it_runs(cx, &sel, stage, &op, Output::Text, args.yes)
}

/// `fleet history`: the deploys recorded where the stage runs.
pub fn run_history(cx: &Context, args: &HistoryArgs) -> Exit {
    let (sel, stage) = args.target.parts()?;
    run_where_it_runs(cx, &sel, stage, &StageOp::History, args.output, false)
}

/// Runs `op` on `stage` of `kind`: a view shown as `output` asks, logs on stdout (prefixed with
/// their service unless one is asked for), builds and progress on stderr; `yes` answers
/// questions.
pub(super) fn run_op(cx: &Context, kind: StageKind, stage: &str, op: &StageOp, output: Output, yes: bool) -> Exit {
    let exe = cx.fx.fleet_binary()?;
    let reporter = cx.reporter(yes);
    let binary = LocalBinary::this_build(&exe);
    let effects = StageEffects::of(&reporter, cx.fx, &binary);
    let mut progress = StderrProgress::new();
    let logs = match op {
        StageOp::Logs(o) => Some(o.service.is_none()),
        _ => None,
    };
    let console = cx.console;
    let line = &mut |service: &str, line: &str| match logs {
        Some(true) => console.print(&format!("{service} | {line}\n")),
        Some(false) => console.print(&format!("{line}\n")),
        None => console.service_line(service, line),
    };
    let shown = run_stage(&effects, kind, stage, op, &mut progress, line)?;
    drop(progress);
    if let Some(view) = shown {
        cx.show(output, &view.json, |_| view.text.clone());
    }
    Ok(exit::OK)
}
