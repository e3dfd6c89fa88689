//! Which fleet a fleet command acts on: `--fleet NAME` (through the registry), `--file PATH`,
//! or the nearest `.fleetflow/fleet.kdl`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::validate_cmd::split_path;
use crate::config::discovery::{find_fleet_file, find_registry};
use crate::config::load::{FLEET_FILE, fleet_file_path, load_fleet_file};
use crate::config::{DirFiles, FleetConfig, LoadError, LoadOptions, Stage, load_workspace};
use crate::deploy::project_name;

#[derive(Debug, Clone, Args, Default)]
pub struct FleetSelect {
    /// A fleet of the registry, by name.
    #[arg(long, value_name = "NAME")]
    pub fleet: Option<String>,
    /// A fleet.kdl, or a directory holding .fleetflow/fleet.kdl.
    #[arg(long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
}

/// A loaded fleet and where it lives.
pub struct SelectedFleet {
    pub config: FleetConfig,
    /// The directory holding `.fleetflow/`.
    pub dir: PathBuf,
    pub project: String,
}

impl SelectedFleet {
    pub fn stage(&self, name: &str) -> Result<&Stage, String> {
        self.config.stage(name).ok_or_else(|| {
            let known: Vec<&str> = self.config.stages.iter().map(|s| s.name.value.as_str()).collect();
            format!(
                "fleet `{}` has no stage `{name}`; its stages are: {}",
                self.project,
                if known.is_empty() {
                    "(none)".to_owned()
                } else {
                    known.join(", ")
                }
            )
        })
    }
}

/// Why no fleet could be selected: a message (usage), or invalid configuration.
pub enum SelectError {
    Usage(String),
    Load(LoadError),
}

impl From<LoadError> for SelectError {
    fn from(e: LoadError) -> Self {
        SelectError::Load(e)
    }
}

pub fn select(sel: &FleetSelect, registry_flag: Option<&Path>) -> Result<SelectedFleet, SelectError> {
    let fleet_file = match (&sel.fleet, &sel.file) {
        (Some(_), Some(_)) => return Err(SelectError::Usage("give --fleet or --file, not both".into())),
        (None, Some(file)) if file.is_dir() => file.join(FLEET_FILE),
        (None, Some(file)) => file.clone(),
        (Some(name), None) => fleet_from_registry(name, registry_flag)?,
        (None, None) => {
            let cwd = std::env::current_dir().map_err(|e| SelectError::Usage(e.to_string()))?;
            find_fleet_file(&cwd).ok_or_else(|| {
                SelectError::Usage(format!(
                    "no {FLEET_FILE} in {} or its parents; run inside a fleet, or pass --fleet NAME or --file PATH",
                    cwd.display()
                ))
            })?
        }
    };
    if !fleet_file.is_file() {
        return Err(SelectError::Usage(format!("{} does not exist", fleet_file.display())));
    }
    let loaded = load_fleet_file(&fleet_file)?;
    let dir = fleet_file
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = dir.canonicalize().unwrap_or(dir);
    let project = project_name(&loaded.fleet, &dir).map_err(|e| SelectError::Usage(e.to_string()))?;
    Ok(SelectedFleet {
        config: loaded.fleet,
        dir,
        project,
    })
}

fn fleet_from_registry(name: &str, registry_flag: Option<&Path>) -> Result<PathBuf, SelectError> {
    let cwd = std::env::current_dir().map_err(|e| SelectError::Usage(e.to_string()))?;
    let env = std::env::var_os("FLEET_REGISTRY_PATH").map(PathBuf::from);
    let found = find_registry(registry_flag, env.as_deref(), &cwd).map_err(|e| SelectError::Usage(e.to_string()))?;
    let (root, file) = split_path(found.path());
    let ws = load_workspace(&DirFiles { root: root.clone() }, &file, LoadOptions::default())?;
    let entry = ws.registry.fleet(name).ok_or_else(|| {
        let known: Vec<&str> = ws.registry.fleets.iter().map(|f| f.name.value.as_str()).collect();
        SelectError::Usage(format!(
            "the registry has no fleet `{name}`; its fleets are: {}",
            known.join(", ")
        ))
    })?;
    Ok(root.join(fleet_file_path("", &entry.path.value)))
}
