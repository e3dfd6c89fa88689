//! `fleet migrate [PATH]`: a FleetFlow repository (one `.fleetflow/`, or several) becomes a
//! fleet registry. Each `.fleetflow/` is a fleet (named by its `project`, else its directory);
//! its `fleet.kdl` (or FleetFlow's older `flow.kdl`) is rewritten in the canonical form as
//! `fleet.kdl`; `fleet-registry.kdl` lists the fleets, and a stage's `server "name"` becomes a
//! route to that server. What it shows first: the diff of every file, and what could not be
//! carried over and why; nothing is written unless confirmed (or `--yes`).

mod line_diff;

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::report::{Reporter, WorkflowError};
use crate::config::diagnostic::{ConfigError, Severity};
use crate::config::load::{DirFiles, LoadError, REGISTRY_FILE, lower_fleet_at};
use crate::config::source::SourceFile;
use crate::config::{Diagnostics, FleetConfig};

/// One file the migration writes: its old text (none for a new file) and the new one.
#[derive(Debug, Clone, Serialize)]
pub struct FileWrite {
    pub path: PathBuf,
    #[serde(skip)]
    pub old: Option<String>,
    #[serde(skip)]
    pub new: String,
}

/// What a migration would do.
#[derive(Debug, Default, Serialize)]
pub struct Migration {
    /// (fleet name, its directory relative to the repository).
    pub fleets: Vec<(String, String)>,
    pub writes: Vec<FileWrite>,
    /// FleetFlow's `flow.kdl` files that became `fleet.kdl`.
    pub removes: Vec<PathBuf>,
    /// What could not be carried over, and why (`file:line:column: …`).
    pub not_carried: Vec<String>,
}

/// Directories never searched for `.fleetflow/`.
const SKIPPED: &[&str] = &["node_modules", "target", "vendor", "dist", "build"];

/// Works out the migration of the repository at `root` (nothing is written).
pub fn plan_migration(root: &Path) -> Result<Migration, WorkflowError> {
    if root.join(REGISTRY_FILE).exists() {
        return Err(WorkflowError::Usage(format!(
            "{} already has a {REGISTRY_FILE}: it is a fleetflow repository (use `fleet fmt` for the canonical form)",
            root.display()
        )));
    }
    let mut dirs = Vec::new();
    find_fleetflow_dirs(root, 0, &mut dirs);
    dirs.sort();
    if dirs.is_empty() {
        return Err(WorkflowError::Usage(format!(
            "no .fleetflow/ directory under {}: nothing to migrate",
            root.display()
        )));
    }
    let mut migration = Migration::default();
    let mut errors = Diagnostics::default();
    let mut routes = Vec::new();
    for dir in dirs {
        let Some((file, text)) = fleet_file(&dir, root, &mut migration) else {
            continue;
        };
        let mut diags = Diagnostics::default();
        let source = SourceFile::from_text(&file, &text);
        let display = file.strip_prefix(root).unwrap_or(&file).display().to_string();
        let name_in_dir = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let config = lower_fleet_at(&DirFiles { root: dir.clone() }, &name_in_dir, source, &mut diags);
        // What the fleet includes is part of it: not "left over".
        for included in config.iter().flat_map(|c| &c.included) {
            let path = dir.join(included);
            let shown = path.strip_prefix(root).unwrap_or(&path).display().to_string();
            migration
                .not_carried
                .retain(|line| !line.starts_with(&format!("{shown}: ")));
        }
        for d in diags.items.iter().filter(|d| d.severity == Severity::Warning) {
            let (at, name) = (d.location(), Path::new(&d.file.display_name));
            let shown = name.strip_prefix(root).unwrap_or(name).display();
            migration
                .not_carried
                .push(format!("{shown}:{}:{}: {d}", at.line, at.column));
        }
        if diags.has_errors() {
            errors.items.extend(diags.items);
            continue;
        }
        let fleet_dir = dir.parent().unwrap_or(root);
        let relative = fleet_dir.strip_prefix(root).unwrap_or(fleet_dir);
        let path = match relative.to_string_lossy().into_owned() {
            p if p.is_empty() => ".".to_owned(),
            p => p,
        };
        let name = unique_name(&fleet_name(config.as_ref(), fleet_dir, root), &migration.fleets);
        if let Some(config) = &config {
            for stage in &config.stages {
                routes.extend(
                    stage
                        .runs_on
                        .iter()
                        .map(|s| (name.clone(), stage.name.value.clone(), s.value.clone())),
                );
            }
        }
        let canonical =
            crate::config::format::format_text(&text).map_err(|e| WorkflowError::failed(format!("{display}: {e}")))?;
        let target = dir.join("fleet.kdl");
        if file != target {
            migration.removes.push(file.clone());
        }
        let old = (file == target).then(|| text.clone());
        if old.as_deref() != Some(canonical.as_str()) {
            migration.writes.push(FileWrite {
                path: target,
                old,
                new: canonical,
            });
        }
        migration.fleets.push((name, path));
    }
    if errors.has_errors() {
        return Err(WorkflowError::Load(LoadError::Config(ConfigError {
            diagnostics: errors,
        })));
    }
    let registry = registry_text(root, &migration.fleets, &routes, &mut migration.not_carried);
    migration.writes.insert(
        0,
        FileWrite {
            path: root.join(REGISTRY_FILE),
            old: None,
            new: registry,
        },
    );
    Ok(migration)
}

/// Shows the migration, asks, and writes it.
pub fn migrate(reporter: &dyn Reporter, root: &Path) -> Result<Migration, WorkflowError> {
    let migration = plan_migration(root)?;
    reporter.say(&render_migration(&migration, root));
    let question = format!(
        "Write {} file(s){}?",
        migration.writes.len(),
        match migration.removes.len() {
            0 => String::new(),
            n => format!(" and remove {n} flow.kdl"),
        }
    );
    reporter.confirm(&question)?;
    for write in &migration.writes {
        let dir = write.path.parent().unwrap_or(root);
        crate::state_store::replace_file(dir, &write.path, write.new.as_bytes(), None)
            .map_err(|(what, e)| WorkflowError::failed(format!("cannot {what} {}: {e}", write.path.display())))?;
    }
    for path in &migration.removes {
        std::fs::remove_file(path)
            .map_err(|e| WorkflowError::failed(format!("cannot remove {}: {e}", path.display())))?;
    }
    reporter.say(&format!(
        "Migrated {} fleet(s). Next: `fleet validate`, then `fleet plan`.\n",
        migration.fleets.len()
    ));
    Ok(migration)
}

/// The diffs, the removals and what was not carried over, as text.
pub fn render_migration(migration: &Migration, root: &Path) -> String {
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let mut out = String::new();
    for write in &migration.writes {
        let name = rel(&write.path);
        let old_label = if write.old.is_some() {
            format!("a/{name}")
        } else {
            "/dev/null".to_owned()
        };
        let old = write.old.as_deref().unwrap_or("");
        out.push_str(&line_diff::unified(
            &old_label,
            &format!("b/{name}"),
            old,
            &write.new,
            3,
        ));
    }
    for path in &migration.removes {
        out.push_str(&format!("removes {} (now fleet.kdl beside it)\n", rel(path)));
    }
    if !migration.not_carried.is_empty() {
        out.push_str("\nNot carried over:\n");
        for line in &migration.not_carried {
            out.push_str(&format!("  - {line}\n"));
        }
    }
    out
}

/// `.fleetflow/` directories under `dir` (hidden and build directories skipped).
fn find_fleetflow_dirs(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Links are not followed: a migration stays inside the repository.
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if name == ".fleetflow" {
            found.push(entry.path());
        } else if depth < 8 && !name.starts_with('.') && !SKIPPED.contains(&name.as_str()) {
            find_fleetflow_dirs(&entry.path(), depth + 1, found);
        }
    }
}

/// The fleet file of a `.fleetflow/` directory (`fleet.kdl`, else `flow.kdl`) and its text;
/// the directory's other `.kdl` files are listed as not carried over.
fn fleet_file(dir: &Path, root: &Path, migration: &mut Migration) -> Option<(PathBuf, String)> {
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let chosen = ["fleet.kdl", "flow.kdl"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file());
    let mut others: Vec<PathBuf> = (std::fs::read_dir(dir).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl") && Some(p) != chosen.as_ref())
        .collect();
    others.sort();
    for other in others {
        let why = if other.ends_with("flow.kdl") {
            "FleetFlow's older name, beside fleet.kdl, which FleetFlow reads instead"
        } else {
            "FleetFlow reads it only when named (`-f`)"
        };
        migration.not_carried.push(format!(
            "{}: {why}; not part of the fleet — to keep it, make it the fleet.kdl of a directory of its own \
             and run `fleet migrate` there",
            rel(&other)
        ));
    }
    let Some(file) = chosen else {
        migration
            .not_carried
            .push(format!("{}: no fleet.kdl or flow.kdl", rel(dir)));
        return None;
    };
    match std::fs::read_to_string(&file) {
        Ok(text) => Some((file, text)),
        Err(e) => {
            migration
                .not_carried
                .push(format!("{}: cannot read it: {e}", rel(&file)));
            None
        }
    }
}

/// A fleet's name: its `project`, else its directory's (the repository's for the top one),
/// made a valid name.
fn fleet_name(config: Option<&FleetConfig>, dir: &Path, root: &Path) -> String {
    let project = config.and_then(|c| c.project.as_ref()).map(|p| p.value.clone());
    let from_dir = || {
        let dir = if dir == root {
            std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf())
        } else {
            dir.to_path_buf()
        };
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    valid_name(&project.unwrap_or_else(from_dir))
}

/// `text` lowercased with what a name may not hold replaced by `-` (`fleet` when nothing is left).
fn valid_name(text: &str) -> String {
    let mut name: String = (text.to_lowercase().chars())
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(63)
        .collect();
    if name.is_empty() {
        name = "fleet".into();
    }
    name
}

/// `name`, or `name-2`, `name-3` … when an earlier fleet has it.
fn unique_name(name: &str, fleets: &[(String, String)]) -> String {
    let taken = |n: &str| fleets.iter().any(|(f, _)| f == n);
    (1..)
        .map(|i| if i == 1 { name.to_owned() } else { format!("{name}-{i}") })
        .find(|n| !taken(n))
        .unwrap_or_else(|| name.to_owned())
}

/// fleet-registry.kdl for the fleets, with a route (and a server to fill in) per stage that
/// names a server.
fn registry_text(
    root: &Path,
    fleets: &[(String, String)],
    routes: &[(String, String, String)],
    not_carried: &mut Vec<String>,
) -> String {
    let repo = fleet_name(None, root, root);
    let mut out = format!("// Written by `fleet migrate` from FleetFlow's .fleetflow/ files.\nregistry \"{repo}\"\n");
    for (name, path) in fleets {
        let path = path.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str(&format!("\nfleet \"{name}\" {{\n    path \"{path}\"\n}}\n"));
    }
    let mut servers: Vec<&str> = routes.iter().map(|(_, _, s)| s.as_str()).collect();
    servers.sort();
    servers.dedup();
    for server in &servers {
        out.push_str(&format!(
            "\n// FleetFlow's server `{server}`: fleetflow deploys to it over SSH once it has an address.\n\
             server \"{server}\" {{\n    deploy-path \"/opt/fleetflow\"\n}}\n"
        ));
        not_carried.push(format!(
            "server `{server}`: add `ssh-host` (its address) to it in {REGISTRY_FILE} to deploy there"
        ));
    }
    if !routes.is_empty() {
        out.push_str("\ndeployment {\n");
        for (fleet, stage, server) in routes {
            out.push_str(&format!(
                "    route fleet=\"{fleet}\" stage=\"{stage}\" server=\"{server}\"\n"
            ));
        }
        out.push_str("}\n");
    }
    out
}
