//! `fleet stage up|down|status|logs|ps <stage>`: the stage as the unit, whatever
//! kind it is ([`crate::application::stage_ops`]).

use clap::{Args, Subcommand};

use super::deploy_cmd::{ImageArgs, LogsFlags};
use super::fleet_select::{FleetSelect, select_for};
use super::{Context, Exit, Output, exit};
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
            Self::Up(a) => {
                let (image_registry, tag) = (a.images.image_registry.clone(), a.images.tag.clone());
                let op = StageOp::Up {
                    pull: a.pull,
                    image_registry,
                    tag,
                };
                (&a.stage, &a.fleet, op, Output::Text, a.yes)
            }
            Self::Down(a) => {
                let how = match (a.suspend, a.destroy) {
                    (true, true) => return Err(WorkflowError::Usage("give --suspend or --destroy, not both".into())),
                    (true, false) => Down::Suspend,
                    (false, true) => Down::Destroy,
                    (false, false) => Down::Stop,
                };
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
    let kind = stage_kind(
        cx.registry,
        sel.fleet.as_deref(),
        select_for(sel, cx.registry, Some(stage))?,
        stage,
    )?;
    run_op(cx, kind, stage, &op, output, yes)
}

/// Runs `op` on `stage` of `kind`: a view shown as `output` asks, logs on stdout (prefixed with
/// their service unless one is asked for), builds and progress on stderr; `yes` answers
/// questions.
pub(super) fn run_op(cx: &Context, kind: StageKind, stage: &str, op: &StageOp, output: Output, yes: bool) -> Exit {
    let exe = cx.fx.fleet_binary()?;
    let reporter = cx.reporter(yes);
    let effects = StageEffects {
        reporter: &reporter,
        docker: &cx.fx.docker,
        ssh: cx.fx.ssh.as_ref(),
        clock: cx.fx.clock.clone(),
        binary: &LocalBinary::this_build(&exe),
    };
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
