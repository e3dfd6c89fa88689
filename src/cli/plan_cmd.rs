//! `fleet plan` (base commit → working tree), `fleet apply` (the infrastructure plan against
//! the live providers, applied under the state lock) and `fleet state show|unlock`.

use std::io::IsTerminal;

use clap::{Args, Subcommand, ValueEnum};

use super::fleet_select::FleetSelect;
use super::{ColorChoice, Context, Exit, OutputArgs, exit};
use crate::application::infra::{self, apply_fleets};
use crate::application::plan_change::plan_working_tree;
use crate::application::report::WorkflowError;
use crate::plan::{COMMENT_LIMIT, render_markdown, render_text};

/// `--output` of `fleet plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PlanOutput {
    #[default]
    Text,
    Json,
    /// GitHub markdown (a pull-request comment), at most 65,536 characters.
    Markdown,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Revision to compare the working tree with. Default: the merge base of HEAD and the
    /// default branch (origin/HEAD, else main, else master); none, or outside git: all is new.
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Only this stage's changes (and the fleet-wide infrastructure).
    #[arg(long, value_name = "STAGE")]
    pub stage: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: PlanOutput,
    /// Exit 0 when nothing changes, 2 when something does (1 on error).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// One fleet planned on its own (by default: the registry; outside any, the nearest fleet).
    #[command(flatten)]
    pub fleet: FleetSelect,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Show the recorded infrastructure state (.fleetflow/state.json beside the registry).
    Show(OutputArgs),
    /// Remove the state lock a dead run left behind.
    Unlock,
}

pub fn run_plan(cx: &Context, args: &PlanArgs) -> Exit {
    let chosen = args.fleet.chosen();
    let (base, stage) = (args.base.as_deref(), args.stage.as_deref());
    let planned = plan_working_tree(
        &cx.reporter(false),
        &cx.fx.clock,
        cx.registry,
        chosen.as_ref(),
        base,
        stage,
    );
    let plan = match planned {
        // Under --detailed-exitcode 2 means "changes": a usage error is a failure.
        Err(e @ WorkflowError::Usage(_)) if args.detailed_exitcode => {
            cx.console.finish(Err(e));
            return Ok(exit::FAILURE);
        }
        planned => planned?,
    };
    let console = cx.console;
    match args.output {
        PlanOutput::Text => {
            let paint = console.color() && (cx.color == ColorChoice::Always || std::io::stdout().is_terminal());
            console.print(&render_text(&plan, paint));
        }
        PlanOutput::Json => console.print_json(&plan),
        PlanOutput::Markdown => console.print(&render_markdown(&plan, COMMENT_LIMIT)),
    }
    let changed = args.detailed_exitcode && !plan.is_empty();
    Ok(if changed { exit::CHANGES } else { exit::OK })
}

pub fn run_state(cx: &Context, command: &StateCommand) -> Exit {
    let store = infra::state_store_near(cx.registry)?;
    match command {
        StateCommand::Show(args) => {
            let report = infra::StateReport::read(&store)?;
            cx.show(args.output, &report.to_json(), |_| report.render_text());
        }
        StateCommand::Unlock => cx.console.print(&infra::unlock_state(&store)?),
    }
    Ok(exit::OK)
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Only this stage's infrastructure (and the fleet-wide resources).
    #[arg(long, value_name = "STAGE")]
    pub stage: Option<String>,
    /// Apply without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

/// Exits 1 when a fleet's apply failed (each failure said).
pub fn run_apply(cx: &Context, args: &ApplyArgs) -> Exit {
    let (reporter, chosen) = (cx.reporter(args.yes), args.fleet.chosen());
    let results = apply_fleets(
        &reporter,
        &cx.fx.clock,
        cx.registry,
        chosen.as_ref(),
        args.stage.as_deref(),
    )?;
    let codes = results
        .into_iter()
        .map(|r| if r.is_err() { cx.console.finish(r) } else { exit::OK });
    Ok(codes.fold(exit::OK, |code, c| if c == exit::OK { code } else { c }))
}
