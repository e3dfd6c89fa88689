//! `fleet plan` (base commit → working tree) and `fleet state show|unlock`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::fleet_select::{FleetSelect, select};
use super::{ColorChoice, Context, Exit, Output, exit};
use crate::application::infra;
use crate::application::plan_change::{PlanRequest, PlanScope, plan_registry};
use crate::application::report::WorkflowError;
use crate::application::workspace::registry_file;
use crate::config::load::split_path;
use crate::plan::{COMMENT_LIMIT, Plan, render_markdown, render_text};
use crate::state_store::StateStore;

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
    Show(StateShowArgs),
    /// Remove the state lock a dead run left behind.
    Unlock,
}

#[derive(Debug, Args)]
pub struct StateShowArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

pub fn run_plan(cx: &Context, args: &PlanArgs) -> Exit {
    let planned = plan(cx, args);
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
    Ok(if args.detailed_exitcode && !plan.is_empty() {
        2
    } else {
        exit::OK
    })
}

/// The working tree's configuration (its warnings shown) planned against the base.
fn plan(cx: &Context, args: &PlanArgs) -> Result<Plan, WorkflowError> {
    let chosen = args.fleet.fleet.is_some() || args.fleet.file.is_some();
    let registry = if chosen { None } else { Some(registry_file(cx.registry)) };
    let (registry_path, lone) = match registry {
        Some(Ok(path)) => (path, None),
        Some(Err(e)) if cx.registry.is_some() => return Err(e),
        // No registry here: the fleet around the current directory, if there is one.
        Some(Err(e)) => (PathBuf::new(), Some(select(&args.fleet, None).map_err(|_| e)?)),
        None => (PathBuf::new(), Some(select(&args.fleet, cx.registry)?)),
    };
    let state_dir = lone
        .as_ref()
        .map(|fleet| infra::state_dir(registry_file(cx.registry).ok().as_deref(), fleet));
    let scope = match (&lone, &state_dir) {
        (Some(fleet), Some(state_dir)) => PlanScope::Fleet {
            dir: &fleet.dir,
            name: &fleet.project,
            state_dir,
        },
        _ => PlanScope::Registry(&registry_path),
    };
    let request = PlanRequest {
        scope,
        base: args.base.as_deref(),
        stage: args.stage.as_deref(),
        live: true,
    };
    plan_registry(&cx.reporter(false), &cx.fx.clock, &request).map(|p| p.plan)
}

/// `.fleetflow/` beside the registry, else in the current directory.
fn state_store(registry_flag: Option<&Path>) -> Result<StateStore, WorkflowError> {
    let dir = match registry_file(registry_flag) {
        Ok(registry) => split_path(&registry).0,
        Err(_) if registry_flag.is_none() => std::env::current_dir()
            .map_err(|e| WorkflowError::Usage(format!("cannot read the current directory: {e}")))?,
        Err(e) => return Err(e),
    };
    Ok(StateStore::new(dir.join(".fleetflow")))
}

pub fn run_state(cx: &Context, command: &StateCommand) -> Exit {
    let store = state_store(cx.registry)?;
    match command {
        StateCommand::Show(args) => {
            let report = infra::StateReport::read(&store)?;
            cx.show(args.output, &report.to_json(), |_| report.render_text());
        }
        StateCommand::Unlock => cx.console.print(&infra::unlock_state(&store)?),
    }
    Ok(exit::OK)
}
