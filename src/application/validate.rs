//! Validating configuration: a registry and every fleet it references, or one fleet file; the
//! target is found as every command finds it.

use std::path::{Path, PathBuf};

use super::report::WorkflowError;
use crate::config::discovery::{DiscoveryError, find_fleet_file, find_registry};
use crate::config::load::{FLEET_FILE, REGISTRY_FILE, load_fleet_file, load_registry_file};
use crate::config::{Diagnostics, FleetConfig, LoadError, LoadOptions};

/// What is being validated.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Registry(PathBuf),
    Fleet(PathBuf),
}

/// A valid configuration: one summary line per file checked, and its warnings.
pub struct Validated {
    pub checked: Vec<String>,
    pub warnings: Diagnostics,
}

/// Validates `target` (`options.verify_fleets`: each fleet's file must exist).
pub fn validate(target: &Target, options: LoadOptions) -> Result<Validated, LoadError> {
    match target {
        Target::Registry(path) => validate_registry(path, options),
        Target::Fleet(path) => load_fleet_file(path).map(|f| Validated {
            checked: vec![fleet_summary(&path.display().to_string(), &f.fleet)],
            warnings: f.warnings,
        }),
    }
}

/// `fleet validate --output json`: valid with what was checked and its warnings, or not with
/// the diagnostics (or the error, when the files could not be read).
pub fn validated_json(result: &Result<Validated, LoadError>) -> serde_json::Value {
    match result {
        Ok(v) => json_report(true, &v.checked, &v.warnings),
        Err(LoadError::Config(crate::config::ConfigError { diagnostics })) => json_report(false, &[], diagnostics),
        Err(e) => serde_json::json!({ "valid": false, "error": e.to_string() }),
    }
}

/// `--output json` of a validation.
fn json_report(valid: bool, checked: &[String], diagnostics: &Diagnostics) -> serde_json::Value {
    serde_json::json!({
        "valid": valid,
        "checked": checked,
        "diagnostics": diagnostics.items.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
    })
}

fn validate_registry(path: &Path, options: LoadOptions) -> Result<Validated, LoadError> {
    let workspace = load_registry_file(path, options)?;
    let r = &workspace.registry;
    let mut lines = vec![format!(
        "{} — registry \"{}\": {} fleet{}, {} server{}, {} route{}",
        r.file.display_name,
        r.name.value,
        r.fleets.len(),
        plural(r.fleets.len()),
        r.servers.len(),
        plural(r.servers.len()),
        r.routes.len(),
        plural(r.routes.len()),
    )];
    lines.extend(
        workspace
            .fleets
            .values()
            .map(|f| fleet_summary(&f.file.display_name, f)),
    );
    Ok(Validated {
        checked: lines,
        warnings: workspace.warnings,
    })
}

fn fleet_summary(shown: &str, fleet: &FleetConfig) -> String {
    let stages: Vec<&str> = fleet.stages.iter().map(|s| s.name.value.as_str()).collect();
    let services: usize = fleet.services.len() + fleet.service_groups.iter().map(|g| g.services.len()).sum::<usize>();
    format!(
        "{shown} — {}stages: {}; {services} service{}",
        fleet
            .project
            .as_ref()
            .map(|p| format!("project \"{}\", ", p.value))
            .unwrap_or_default(),
        if stages.is_empty() {
            "(none)".to_owned()
        } else {
            stages.join(", ")
        },
        plural(services)
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// PATH (file or directory), else `--registry`/discovery, else the nearest fleet.kdl.
pub fn resolve_target(path: Option<&Path>, registry_flag: Option<&Path>) -> Result<Target, WorkflowError> {
    resolve(path, registry_flag).map_err(WorkflowError::Usage)
}

fn resolve(path: Option<&Path>, registry_flag: Option<&Path>) -> Result<Target, String> {
    if let Some(path) = path {
        if path.is_dir() {
            if path.join(REGISTRY_FILE).is_file() {
                return Ok(Target::Registry(path.join(REGISTRY_FILE)));
            }
            if path.join(FLEET_FILE).is_file() {
                return Ok(Target::Fleet(path.join(FLEET_FILE)));
            }
            return Err(format!(
                "{} holds neither {REGISTRY_FILE} nor {FLEET_FILE}",
                path.display()
            ));
        }
        if !path.is_file() {
            return Err(format!("{} does not exist", path.display()));
        }
        return Ok(if looks_like_registry(path) {
            Target::Registry(path.into())
        } else {
            Target::Fleet(path.into())
        });
    }
    let cwd = std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let env = std::env::var_os("FLEET_REGISTRY_PATH").map(PathBuf::from);
    match find_registry(registry_flag, env.as_deref(), &cwd) {
        Ok(found) => Ok(Target::Registry(found.path().to_path_buf())),
        Err(not_found @ DiscoveryError::NotFound { .. }) => find_fleet_file(&cwd)
            .map(Target::Fleet)
            .ok_or_else(|| format!("{not_found}; no {FLEET_FILE} was found either")),
        Err(e) => Err(e.to_string()),
    }
}

/// A file is a registry when it is named so, or declares `registry`, `fleet` or `deployment`
/// at the top level; anything else is read as a fleet file.
fn looks_like_registry(path: &Path) -> bool {
    match path.file_name().and_then(|n| n.to_str()) {
        Some(REGISTRY_FILE) => return true,
        Some("fleet.kdl") => return false,
        _ => {}
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    text.lines().map(|l| l.trim_start_matches('\u{feff}')).any(|line| {
        let word = line.split(|c: char| c.is_whitespace() || c == '{').next().unwrap_or("");
        !line.starts_with(char::is_whitespace) && matches!(word, "registry" | "fleet" | "deployment")
    })
}
