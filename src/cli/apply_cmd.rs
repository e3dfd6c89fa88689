//! `fleet apply [--stage S] [--yes]`: the infrastructure plan against the live providers, then
//! applied under the state lock (the state is written even when an apply fails half-way).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::fleet_select::{FleetSelect, SelectError, SelectedFleet, select};
use super::validate_cmd::split_path;
use super::{Console, exit};
use crate::clock::SystemClock;
use crate::cloud::ApplyReport;
use crate::cloud::infra::{self, Scope};
use crate::cloud::session::{Session, describe_report};
use crate::config::discovery::find_registry;
use crate::config::{DirFiles, FleetConfig, LoadOptions, load_workspace};
use crate::plan::snapshot::Snapshot;
use crate::plan::state::StateStore;
use crate::plan::{Plan, render_text};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Only this stage's infrastructure (and the fleet-wide resources).
    #[arg(long, short = 's', value_name = "STAGE")]
    pub stage: Option<String>,
    /// Apply without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

/// A fleet whose infrastructure is applied, and where its state lives.
pub(super) struct CloudTarget {
    /// The fleet's name in addresses (the registry's name, else the project).
    pub name: String,
    pub config: FleetConfig,
    pub store: StateStore,
}

/// The registry file, when one is found (flag, FLEET_REGISTRY_PATH, then the directories up).
fn registry_path(flag: Option<&Path>) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    let env = std::env::var_os("FLEET_REGISTRY_PATH").map(PathBuf::from);
    let found = find_registry(flag, env.as_deref(), &cwd).ok()?;
    std::fs::canonicalize(found.path()).ok()
}

/// The state of one selected fleet: beside the registry that lists it (under its registry
/// name), else in the fleet's own `.fleetflow/` (under its project name).
pub(super) fn target_of(registry: Option<&Path>, fleet: SelectedFleet) -> CloudTarget {
    if let Some(path) = registry_path(registry) {
        let (root, file) = split_path(&path);
        if let Ok(ws) = load_workspace(
            &DirFiles { root: root.clone() },
            &file,
            LoadOptions { verify_fleets: false },
        ) && let Some(entry) = ws
            .registry
            .fleets
            .iter()
            .find(|f| root.join(&f.path.value).canonicalize().ok().as_deref() == Some(fleet.dir.as_path()))
        {
            return CloudTarget {
                name: entry.name.value.clone(),
                config: fleet.config,
                store: StateStore::new(root.join(".fleetflow")),
            };
        }
    }
    CloudTarget {
        name: fleet.project,
        store: StateStore::new(fleet.dir.join(".fleetflow")),
        config: fleet.config,
    }
}

/// `--fleet`/`--file`, or outside a registry: that fleet; else every fleet of the registry.
fn targets(console: &Console, registry: Option<&Path>, sel: &FleetSelect) -> Result<Vec<CloudTarget>, u8> {
    let registry_file = registry_path(registry);
    if sel.fleet.is_none()
        && sel.file.is_none()
        && let Some(path) = registry_file
    {
        let (root, file) = split_path(&path);
        let ws = load_workspace(&DirFiles { root: root.clone() }, &file, LoadOptions::default())
            .map_err(|e| console.report_load_error(&e))?;
        return Ok(ws
            .fleets
            .into_iter()
            .map(|(name, config)| CloudTarget {
                name,
                config,
                store: StateStore::new(root.join(".fleetflow")),
            })
            .collect());
    }
    match select(sel, registry) {
        Ok(f) => Ok(vec![target_of(registry, f)]),
        Err(SelectError::Usage(m)) => {
            console.error(&m);
            Err(exit::USAGE)
        }
        Err(SelectError::Load(e)) => Err(console.report_load_error(&e)),
    }
}

/// Asks on a terminal unless `yes`; without one, refuses (exit 2) naming the flag.
pub(super) fn confirm(console: &Console, yes: bool, question: &str) -> Result<(), u8> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        console.error(&format!(
            "{question} — refusing without confirmation: no terminal to ask on. Add --yes to proceed"
        ));
        return Err(exit::USAGE);
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        console.error("cancelled; nothing was changed");
        Err(exit::FAILURE)
    }
}

/// Drift notes, the `scale` notice and unavailable providers, to stderr.
pub(super) fn print_notes(session: &Session, config: &FleetConfig) {
    for note in &session.notes {
        eprintln!("drift: {note}");
    }
    for name in &session.unavailable {
        eprintln!("note: no `{name}` provider in this build: its recorded resources were not refreshed");
    }
    let scales = infra::scales(&Snapshot::from_fleet(&session.fleet, config), &session.scope);
    if !scales.is_empty() {
        eprintln!(
            "notice: scale is not supported yet: `scale` for {} is parsed and validated, not applied",
            scales.join(", ")
        );
    }
}

/// The message for a failed apply: what failed, what was done, how to continue.
pub(super) fn failure_message(report: &ApplyReport) -> String {
    let (address, error) = report.failed.clone().unwrap_or_default();
    format!(
        "apply failed at {address}: {error}. {} change(s) applied before it are recorded in the state, {} were not attempted; fix the cause and run again to continue",
        report.applied.len(),
        report.not_attempted.len()
    )
}

pub fn run(console: &Console, registry: Option<&Path>, args: &ApplyArgs) -> u8 {
    let targets = match targets(console, registry, &args.fleet) {
        Ok(t) => t,
        Err(code) => return code,
    };
    if let Some(stage) = &args.stage
        && !targets.iter().any(|t| t.config.stage(stage).is_some())
    {
        console.error(&format!("no fleet defines stage `{stage}`"));
        return exit::USAGE;
    }
    let mut code = exit::OK;
    for target in &targets {
        if args.stage.as_ref().is_some_and(|s| target.config.stage(s).is_none()) {
            continue;
        }
        let result = apply_one(console, target, args);
        if result != exit::OK {
            code = result;
        }
    }
    code
}

fn apply_one(console: &Console, target: &CloudTarget, args: &ApplyArgs) -> u8 {
    let scope = Scope {
        fleet: Some(target.name.clone()),
        stage: args.stage.clone(),
    };
    let desired = infra::desired(&Snapshot::from_fleet(&target.name, &target.config), &scope);
    let recorded = target.store.load_if_exists().ok().flatten().unwrap_or_default();
    if desired.is_empty()
        && !recorded
            .resources
            .iter()
            .any(|r| infra::parse_address(&r.address).is_some_and(|a| scope.contains(&a)))
    {
        console.print(&format!("{}: no infrastructure declared.\n", target.name));
        return exit::OK;
    }
    let clock = Arc::new(SystemClock);
    let mut session = match Session::open_with(&target.store, "apply", scope, desired, &target.config, clock, None) {
        Ok(s) => s,
        Err(e) => {
            console.error(&format!("{}: {e:#}", target.name));
            return exit::FAILURE;
        }
    };
    print_notes(&session, &target.config);
    let plan = session.plan();
    if plan.is_empty() {
        if let Err(e) = session.save() {
            console.error(&format!("{e:#}"));
            return exit::FAILURE;
        }
        console.print(&format!("{}: No changes. Infrastructure is up to date.\n", target.name));
        return exit::OK;
    }
    console.print(&render_text(&plan, false));
    if let Err(code) = confirm(console, args.yes, &format!("Apply these changes to {}?", target.name)) {
        return code;
    }
    apply_and_report(console, &mut session, &plan, &|_| true)
}

/// Applies the selected changes, prints what happened; exit 1 (with the way on) on failure.
pub(super) fn apply_and_report(
    console: &Console,
    session: &mut Session,
    plan: &Plan,
    select: &dyn Fn(&crate::plan::Change) -> bool,
) -> u8 {
    match session.apply(plan, select) {
        Ok(report) => {
            console.print(&describe_report(&report));
            if report.ok() {
                console.print(&format!(
                    "Apply complete: {} change(s) applied.\n",
                    report.applied.len()
                ));
                exit::OK
            } else {
                console.error(&failure_message(&report));
                exit::FAILURE
            }
        }
        Err(e) => {
            console.error(&format!("{e:#}"));
            exit::FAILURE
        }
    }
}
