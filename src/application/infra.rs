//! Applying a fleet's infrastructure plan (servers, DNS, …) against the live providers, under
//! the state lock; the state is written even when an apply fails half-way.

use std::path::Path;
use std::sync::Arc;

use super::local::LocalFleet;
use super::report::{Reporter, WorkflowError};
use super::workspace::{FleetChoice, registry_file, select_fleet};
use crate::clock::Clock;
use crate::cloud::ApplyReport;
use crate::cloud::infra::{self, Scope};
use crate::cloud::session::{Session, describe_report};
use crate::config::load::{load_registry_file, split_path};
use crate::config::{FleetConfig, LoadOptions};
use crate::plan::snapshot::Snapshot;
use crate::plan::state::{LockInfo, STATE_FILE, State};
use crate::plan::{Change, Plan, render_text};
use crate::state_store::StateStore;

/// A fleet whose infrastructure is applied, and where its state lives.
pub struct CloudTarget {
    /// The fleet's name in addresses (the registry's name, else the project).
    pub name: String,
    pub config: FleetConfig,
    pub store: StateStore,
}

/// The state of one fleet: beside the registry that lists it, `registry` (under its registry
/// name), else in the fleet's own `.fleetflow/` (under its project name).
pub fn cloud_target(registry: Option<&Path>, fleet: LocalFleet) -> CloudTarget {
    match registry_entry(registry, &fleet) {
        Some((name, root)) => CloudTarget {
            name,
            config: fleet.config,
            store: StateStore::new(root.join(".fleetflow")),
        },
        None => CloudTarget {
            name: fleet.project,
            store: StateStore::new(fleet.dir.join(".fleetflow")),
            config: fleet.config,
        },
    }
}

/// Where `fleet`'s infrastructure state lives (the directory holding `.fleetflow/state.json`):
/// the registry's root when the registry lists the fleet, else the fleet's own directory.
pub fn state_dir(registry: Option<&Path>, fleet: &LocalFleet) -> std::path::PathBuf {
    registry_entry(registry, fleet).map_or_else(|| fleet.dir.clone(), |(_, root)| root)
}

/// `fleet`'s name in the registry and the registry's root, when the registry lists it.
fn registry_entry(registry: Option<&Path>, fleet: &LocalFleet) -> Option<(String, std::path::PathBuf)> {
    let path = registry?;
    let ws = load_registry_file(path, LoadOptions { verify_fleets: false }).ok()?;
    let root = split_path(path).0;
    let dir = Some(fleet.dir.as_path());
    let entry = (ws.registry.fleets.iter()).find(|f| root.join(&f.path.value).canonicalize().ok().as_deref() == dir)?;
    Some((entry.name.value.clone(), root))
}

/// Every fleet of the registry at `registry`, its state beside the registry.
pub fn registry_targets(registry: &Path) -> Result<Vec<CloudTarget>, WorkflowError> {
    let root = split_path(registry).0;
    let ws = load_registry_file(registry, LoadOptions::default())?;
    Ok(ws
        .fleets
        .into_iter()
        .map(|(name, config)| CloudTarget {
            name,
            config,
            store: StateStore::new(root.join(".fleetflow")),
        })
        .collect())
}

/// Drift notes, the `scale` notice and unavailable providers.
pub fn report_notes(reporter: &dyn Reporter, session: &Session, config: &FleetConfig) {
    for note in &session.notes {
        reporter.note(&format!("drift: {note}"));
    }
    for name in &session.unavailable {
        reporter.note(&format!(
            "note: no `{name}` provider in this build: its recorded resources were not refreshed"
        ));
    }
    let scales = infra::scales(&Snapshot::from_fleet(&session.fleet, config), &session.scope);
    if !scales.is_empty() {
        reporter.note(&format!(
            "notice: scale is not supported yet: `scale` for {} is parsed and validated, not applied",
            scales.join(", ")
        ));
    }
}

/// The message for a failed apply: what failed, what was done, how to continue.
pub fn failure_message(report: &ApplyReport) -> String {
    let (address, error) = report.failed.clone().unwrap_or_default();
    format!(
        "apply failed at {address}: {error}. {} change(s) applied before it are recorded in the state, {} were not attempted; fix the cause and run again to continue",
        report.applied.len(),
        report.not_attempted.len()
    )
}

/// `fleet apply`: every fleet of the registry (`--registry`, else found from here), or the
/// `chosen` one (and outside a registry, the one around the current directory), each applied
/// on its own (only those with `stage` when given); one result per fleet applied.
pub fn apply_fleets(
    reporter: &dyn Reporter,
    clock: &Arc<dyn Clock>,
    registry_flag: Option<&Path>,
    chosen: Option<&FleetChoice>,
    stage: Option<&str>,
) -> Result<Vec<Result<(), WorkflowError>>, WorkflowError> {
    let found = registry_file(registry_flag).ok();
    let targets = match (found, chosen) {
        (Some(path), None) => registry_targets(&path)?,
        (found, chosen) => {
            let fleet = select_fleet(chosen.unwrap_or(&FleetChoice::default()), registry_flag, None)?;
            vec![cloud_target(found.as_deref(), fleet)]
        }
    };
    let has_stage = |t: &CloudTarget| stage.is_none_or(|s| t.config.stage(s).is_some());
    if let Some(stage) = stage
        && !targets.iter().any(has_stage)
    {
        return Err(WorkflowError::Usage(format!("no fleet defines stage `{stage}`")));
    }
    let applied = targets.iter().filter(|t| has_stage(t));
    Ok(applied
        .map(|t| apply_fleet(reporter, clock.clone(), t, stage))
        .collect())
}

/// Plans `target`'s infrastructure (one stage and the fleet-wide resources, or all of it),
/// shows the plan, asks, and applies it.
pub fn apply_fleet(
    reporter: &dyn Reporter,
    clock: Arc<dyn Clock>,
    target: &CloudTarget,
    stage: Option<&str>,
) -> Result<(), WorkflowError> {
    let scope = Scope {
        fleet: Some(target.name.clone()),
        stage: stage.map(str::to_owned),
    };
    let desired = infra::desired(&Snapshot::from_fleet(&target.name, &target.config), &scope);
    let recorded = target.store.load_if_exists().ok().flatten().unwrap_or_default();
    if desired.is_empty()
        && !recorded
            .resources
            .iter()
            .any(|r| infra::parse_address(&r.address).is_some_and(|a| scope.contains(&a)))
    {
        reporter.say(&format!("{}: no infrastructure declared.\n", target.name));
        return Ok(());
    }
    let mut session = Session::open_with(&target.store, "apply", scope, desired, &target.config, clock, None)
        .map_err(|e| WorkflowError::failed_with(&target.name, &*e))?;
    report_notes(reporter, &session, &target.config);
    let plan = session.plan();
    if plan.is_empty() {
        session.save().map_err(|e| WorkflowError::failed_with("", &*e))?;
        reporter.say(&format!("{}: No changes. Infrastructure is up to date.\n", target.name));
        return Ok(());
    }
    reporter.say(&render_text(&plan, false));
    reporter.confirm(&format!("Apply these changes to {}?", target.name))?;
    apply_selected(reporter, &mut session, &plan, &|_| true)
}

/// Applies the changes of `plan` that `select` picks and reports what happened; a failure
/// says what was done and how to continue.
pub fn apply_selected(
    reporter: &dyn Reporter,
    session: &mut Session,
    plan: &Plan,
    select: &dyn Fn(&Change) -> bool,
) -> Result<(), WorkflowError> {
    let report = session
        .apply(plan, select)
        .map_err(|e| WorkflowError::failed_with("", &*e))?;
    reporter.say(&describe_report(&report));
    if !report.ok() {
        return Err(WorkflowError::Failed(failure_message(&report)));
    }
    reporter.say(&format!(
        "Apply complete: {} change(s) applied.\n",
        report.applied.len()
    ));
    Ok(())
}

/// The recorded infrastructure state and its lock, as `fleet state show` shows them.
pub struct StateReport {
    path: std::path::PathBuf,
    exists: bool,
    state: State,
    lock: Option<LockInfo>,
}

impl StateReport {
    pub fn read(store: &StateStore) -> Result<Self, WorkflowError> {
        Ok(Self {
            path: store.state_path(),
            exists: store.exists(),
            state: store.load().map_err(WorkflowError::failed)?,
            lock: store.read_lock().map_err(WorkflowError::failed)?,
        })
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "path": self.path, "exists": self.exists, "state": self.state, "lock": self.lock })
    }

    pub fn render_text(&self) -> String {
        let (path, state) = (&self.path, &self.state);
        let mut out = if self.exists {
            let n = state.resources.len();
            let s = if n == 1 { "" } else { "s" };
            format!(
                "State: {} (version {}, {n} resource{s})\n",
                path.display(),
                state.version
            )
        } else {
            format!("No state recorded yet ({} does not exist).\n", path.display())
        };
        let width = state
            .resources
            .iter()
            .map(|r| r.address.chars().count())
            .max()
            .unwrap_or(0);
        for r in &state.resources {
            let mut line = format!("  {:<width$}", r.address);
            for (k, v) in [("provider", &r.provider), ("id", &r.id), ("created", &r.created_at)] {
                if let Some(v) = v {
                    line.push_str(&format!("  {k}={v:?}"));
                }
            }
            for (k, v) in &r.attributes {
                line.push_str(&format!("  {k}={v:?}"));
            }
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str(&match &self.lock {
            Some(l) => format!(
                "Lock: held by {} for `{}` since {} (remove a dead run's lock with `fleet state unlock`)\n",
                l.holder, l.operation, l.created_at
            ),
            None => format!("Lock: none ({STATE_FILE} can be written)\n"),
        });
        out
    }
}

/// Removes the state lock a dead run left behind; says whose it was.
pub fn unlock_state(store: &StateStore) -> Result<String, WorkflowError> {
    Ok(match store.unlock().map_err(WorkflowError::failed)? {
        Some(l) => format!(
            "Removed the state lock held by {} for `{}` since {}.\n",
            l.holder, l.operation, l.created_at
        ),
        None => "The state is not locked.\n".to_owned(),
    })
}

/// The recorded state: `.fleetflow/` beside the registry, else in the current directory.
pub fn state_store_near(registry_flag: Option<&Path>) -> Result<StateStore, WorkflowError> {
    let dir = match registry_file(registry_flag) {
        Ok(registry) => split_path(&registry).0,
        Err(_) if registry_flag.is_none() => std::env::current_dir()
            .map_err(|e| WorkflowError::Usage(format!("cannot read the current directory: {e}")))?,
        Err(e) => return Err(e),
    };
    Ok(StateStore::new(dir.join(".fleetflow")))
}
