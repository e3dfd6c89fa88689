//! Where the configuration is: the registry a command works on (a flag, FLEET_REGISTRY_PATH,
//! else the nearest directory up that has one), loaded with every fleet it references; and
//! the registry as `fleet registry list` shows it.

use std::path::{Path, PathBuf};

use super::local::{LocalFleet, fleet_at, fleet_of_registry, fleet_of_registry_with_stage};
use super::report::WorkflowError;
use crate::config::discovery::{find_fleet_file, find_registry};
use crate::config::load::{FLEET_FILE, load_registry_file, split_path};
use crate::config::{LoadOptions, Registry, Workspace};

/// The registry file: `flag`, else FLEET_REGISTRY_PATH, else the nearest fleet-registry.kdl
/// from the current directory up; canonical.
pub fn registry_file(flag: Option<&Path>) -> Result<PathBuf, WorkflowError> {
    let cwd =
        std::env::current_dir().map_err(|e| WorkflowError::Usage(format!("cannot read the current directory: {e}")))?;
    let env = std::env::var_os("FLEET_REGISTRY_PATH").map(PathBuf::from);
    let found = find_registry(flag, env.as_deref(), &cwd).map_err(|e| WorkflowError::Usage(e.to_string()))?;
    std::fs::canonicalize(found.path())
        .map_err(|e| WorkflowError::Usage(format!("cannot read {}: {e}", found.path().display())))
}

/// The registry found as [`registry_file`] finds it, loaded, with its directory.
pub fn load_registry(flag: Option<&Path>, options: LoadOptions) -> Result<(Workspace, PathBuf), WorkflowError> {
    let path = registry_file(flag)?;
    let workspace = load_registry_file(&path, options)?;
    Ok((workspace, split_path(&path).0))
}

/// The FS-005 layout of `fleet registry list`.
pub fn render_list(registry: &Registry) -> String {
    let fleets: Vec<[&str; 3]> = registry
        .fleets
        .iter()
        .map(|f| {
            [
                f.name.value.as_str(),
                f.path.value.as_str(),
                f.description.as_deref().unwrap_or(""),
            ]
        })
        .collect();
    let plans: Vec<String> = registry
        .servers
        .iter()
        .map(|s| s.plan.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string))
        .collect();
    let servers: Vec<[&str; 3]> = registry
        .servers
        .iter()
        .zip(&plans)
        .map(|(s, plan)| {
            [
                s.name.value.as_str(),
                s.provider.as_deref().unwrap_or("-"),
                plan.as_str(),
            ]
        })
        .collect();
    // Names line up across both tables, as in the spec's example.
    let name_w = width(fleets.iter().chain(&servers).map(|r| r[0]), 10);
    let mut out = format!("Fleet Registry: {}\n", registry.name.value);
    table(&mut out, "Fleets", &fleets, name_w);
    table(&mut out, "Servers", &servers, name_w);
    if !registry.routes.is_empty() {
        let keys: Vec<String> = registry
            .routes
            .iter()
            .map(|r| format!("{}:{}", r.fleet.value, r.stage.value))
            .collect();
        let key_w = width(keys.iter().map(String::as_str), 15);
        out.push_str("\nRoutes:\n");
        for (key, r) in keys.iter().zip(&registry.routes) {
            out.push_str(&format!("  {key:<key_w$} → {}\n", r.server.value));
        }
    }
    out
}

/// A titled three-column table; the middle column is at least 18 wide.
fn table(out: &mut String, title: &str, rows: &[[&str; 3]], name_w: usize) {
    if rows.is_empty() {
        return;
    }
    let middle_w = width(rows.iter().map(|r| r[1]), 18);
    out.push_str(&format!("\n{title}:\n"));
    for [name, middle, last] in rows {
        let line = format!("  {name:<name_w$} {middle:<middle_w$} {last}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// Display width: the longest entry (in characters), at least `minimum`.
fn width<'a>(cells: impl Iterator<Item = &'a str>, minimum: usize) -> usize {
    cells.map(|c| c.chars().count()).max().unwrap_or(0).max(minimum)
}

/// Which fleet a command names: one of the registry by name, or a fleet.kdl (or a directory
/// holding .fleetflow/fleet.kdl); neither: the nearest one.
#[derive(Debug, Clone, Default)]
pub struct FleetChoice {
    pub fleet: Option<String>,
    pub file: Option<PathBuf>,
}

/// The fleet `sel` names (`--fleet NAME` through the registry, `--file PATH`), else the
/// nearest `.fleetflow/fleet.kdl`; outside any fleet, for a command on `stage`,
/// the one fleet of the registry that has that stage.
pub fn select_fleet(
    sel: &FleetChoice,
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
