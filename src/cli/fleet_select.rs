//! Which fleet a fleet command acts on: `--fleet NAME` (through the registry), `--file PATH`,
//! or the nearest `.fleetflow/fleet.kdl`.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::application::local::{LocalFleet, fleet_at, fleet_of_registry, fleet_of_registry_with_stage};
use crate::application::report::WorkflowError;
use crate::config::discovery::{find_fleet_file, find_registry};
use crate::config::load::FLEET_FILE;

#[derive(Debug, Clone, Args, Default)]
pub struct FleetSelect {
    /// A fleet of the registry, by name.
    #[arg(long, value_name = "NAME")]
    pub fleet: Option<String>,
    /// A fleet.kdl, or a directory holding .fleetflow/fleet.kdl.
    #[arg(long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
}

/// The fleet `sel` names, else the nearest one; outside any fleet, for a command on `stage`,
/// the one fleet of the registry that has that stage.
pub fn select(sel: &FleetSelect, registry_flag: Option<&Path>) -> Result<LocalFleet, WorkflowError> {
    select_for(sel, registry_flag, None)
}

pub fn select_for(
    sel: &FleetSelect,
    registry_flag: Option<&Path>,
    stage: Option<&str>,
) -> Result<LocalFleet, WorkflowError> {
    let fleet_file = match (&sel.fleet, &sel.file) {
        (Some(_), Some(_)) => return Err(WorkflowError::Usage("give --fleet or --file, not both".into())),
        (None, Some(file)) if file.is_dir() => file.join(FLEET_FILE),
        (None, Some(file)) => file.clone(),
        (Some(name), None) => {
            let cwd = std::env::current_dir().map_err(|e| WorkflowError::Usage(e.to_string()))?;
            let env = std::env::var_os("FLEET_REGISTRY_PATH").map(PathBuf::from);
            let found =
                find_registry(registry_flag, env.as_deref(), &cwd).map_err(|e| WorkflowError::Usage(e.to_string()))?;
            return fleet_of_registry(found.path(), name);
        }
        (None, None) => {
            let cwd = std::env::current_dir().map_err(|e| WorkflowError::Usage(e.to_string()))?;
            match find_fleet_file(&cwd) {
                Some(file) => file,
                None => {
                    let env = std::env::var_os("FLEET_REGISTRY_PATH").map(PathBuf::from);
                    let registry = find_registry(registry_flag, env.as_deref(), &cwd).ok();
                    if let (Some(found), Some(stage)) = (registry, stage) {
                        return fleet_of_registry_with_stage(found.path(), stage);
                    }
                    return Err(WorkflowError::Usage(format!(
                        "no {FLEET_FILE} in {} or its parents; run inside a fleet, or pass --fleet NAME or --file PATH",
                        cwd.display()
                    )));
                }
            }
        }
    };
    fleet_at(&fleet_file)
}
