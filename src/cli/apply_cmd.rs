//! `fleet apply [--stage S] [--yes]`: the infrastructure plan against the live providers, then
//! applied under the state lock ([`crate::application::infra`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::fleet_select::{FleetSelect, select};
use super::{Console, exit};
use crate::application::infra::{self, CloudTarget};
use crate::application::local::LocalFleet;
use crate::clock::SystemClock;
use crate::config::discovery::find_registry;
use crate::config::load::split_path;
use crate::config::{DirFiles, LoadOptions, load_workspace};
use crate::console::ConsoleReporter;
use crate::plan::state::StateStore;

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

/// The registry file, when one is found (flag, FLEET_REGISTRY_PATH, then the directories up).
fn registry_path(flag: Option<&Path>) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    let env = std::env::var_os("FLEET_REGISTRY_PATH").map(PathBuf::from);
    let found = find_registry(flag, env.as_deref(), &cwd).ok()?;
    std::fs::canonicalize(found.path()).ok()
}

/// The state of one selected fleet: beside the registry that lists it (under its registry
/// name), else in the fleet's own `.fleetflow/` (under its project name).
pub(super) fn target_of(registry: Option<&Path>, fleet: LocalFleet) -> CloudTarget {
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
        Err(e) => Err(console.finish(Err(e))),
    }
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
    let reporter = ConsoleReporter { console, yes: args.yes };
    let mut code = exit::OK;
    for target in &targets {
        if args.stage.as_ref().is_some_and(|s| target.config.stage(s).is_none()) {
            continue;
        }
        let result = infra::apply_fleet(&reporter, Arc::new(SystemClock), target, args.stage.as_deref());
        if result.is_err() {
            code = console.finish(result);
        }
    }
    code
}
