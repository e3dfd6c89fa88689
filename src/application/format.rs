//! `fleet fmt`: configuration files in their canonical form ([`crate::config::format`]):
//! rewritten in place, or with `check` only said.

use std::path::{Path, PathBuf};

use super::report::WorkflowError;
use super::workspace::registry_file;
use crate::config::LoadOptions;
use crate::config::discovery::find_fleet_file;
use crate::config::format::format_text;
use crate::config::load::{load_registry_file, split_path};
use crate::state_store::replace_file;

/// One file, and whether its text is (or was) not in the canonical form.
#[derive(Debug, serde::Serialize)]
pub struct Formatted {
    pub path: PathBuf,
    pub changed: bool,
}

/// The files `path` names (a file; a directory: its registry and fleets, or its
/// `.fleetflow/`); without one the registry found from here and its fleets' files, else the
/// nearest fleet's.
pub fn config_files(path: Option<&Path>, registry_flag: Option<&Path>) -> Result<Vec<PathBuf>, WorkflowError> {
    if let Some(path) = path.filter(|p| p.is_file()) {
        return Ok(vec![path.to_path_buf()]);
    }
    let registry = match path {
        Some(dir) => Some(dir.join(crate::config::load::REGISTRY_FILE)).filter(|r| r.is_file()),
        None => registry_file(registry_flag).ok(),
    };
    let Some(registry) = registry else {
        let here = match path {
            Some(dir) => dir.to_path_buf(),
            None => std::env::current_dir().map_err(|e| WorkflowError::Usage(e.to_string()))?,
        };
        let fleet = find_fleet_file(&here).ok_or_else(|| {
            WorkflowError::Usage(format!(
                "no fleet-registry.kdl or .fleetflow/ at or above {}",
                here.display()
            ))
        })?;
        return Ok(fleet.parent().map(kdl_files_in).unwrap_or_default());
    };
    let ws = load_registry_file(&registry, LoadOptions { verify_fleets: false })?;
    let root = split_path(&registry).0;
    let mut files = vec![registry.clone()];
    for entry in &ws.registry.fleets {
        files.extend(kdl_files_in(&root.join(&entry.path.value).join(".fleetflow")));
    }
    Ok(files)
}

/// Every `*.kdl` in `dir` (a fleet's `.fleetflow/`), sorted.
fn kdl_files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        // Links are not followed: a checkout's link could point anywhere on this machine.
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_file()))
        .collect();
    files.sort();
    files
}

/// Formats each file: rewritten when it changes, unless `check`.
pub fn format_files(files: &[PathBuf], check: bool) -> Result<Vec<Formatted>, WorkflowError> {
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| WorkflowError::failed(format!("cannot read {}: {e}", path.display())))?;
        let formatted = format_text(&text).map_err(|e| WorkflowError::failed(format!("{}: {e}", path.display())))?;
        let changed = formatted != text;
        if changed && !check {
            replace(path, &formatted)
                .map_err(|e| WorkflowError::failed(format!("cannot write {}: {e}", path.display())))?;
        }
        out.push(Formatted {
            path: path.clone(),
            changed,
        });
    }
    Ok(out)
}

/// A line per file that is (`check`: would be) rewritten.
pub fn render_formatted(all: &[Formatted], check: bool) -> String {
    let verb = if check { "not formatted" } else { "formatted" };
    let changed = all.iter().filter(|f| f.changed);
    changed.map(|f| format!("{verb}: {}\n", f.path.display())).collect()
}

/// `text` over `path`, whole or not at all, with `path`'s permissions.
fn replace(path: &Path, text: &str) -> std::io::Result<()> {
    let permissions = std::fs::metadata(path)?.permissions();
    let dir = path.parent().unwrap_or(Path::new("."));
    replace_file(dir, path, text.as_bytes(), Some(permissions)).map_err(|(_, e)| e)
}
