//! Which fleet a fleet command acts on: `--fleet NAME` (through the registry), `--file PATH`,
//! or the nearest `.fleetflow/fleet.kdl`.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::application::local::LocalFleet;
use crate::application::report::WorkflowError;
use crate::application::workspace::{FleetChoice, select_fleet};

#[derive(Debug, Clone, Args, Default)]
pub struct FleetSelect {
    /// A fleet of the registry, by name.
    #[arg(long, value_name = "NAME")]
    pub fleet: Option<String>,
    /// A fleet.kdl, or a directory holding .fleetflow/fleet.kdl.
    #[arg(long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
}

impl FleetSelect {
    /// The fleet chosen with --fleet or --file, if any.
    pub fn chosen(&self) -> Option<FleetChoice> {
        (self.fleet.is_some() || self.file.is_some()).then(|| FleetChoice {
            fleet: self.fleet.clone(),
            file: self.file.clone(),
        })
    }

    /// The fleet this names, else the nearest one; outside any fleet, for a command on
    /// `stage`, the one fleet of the registry that has that stage.
    pub fn select(&self, registry_flag: Option<&Path>, stage: Option<&str>) -> Result<LocalFleet, WorkflowError> {
        select_fleet(&self.chosen().unwrap_or_default(), registry_flag, stage)
    }
}
