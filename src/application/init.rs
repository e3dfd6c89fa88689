//! `fleet init`: a repository's first configuration — a commented registry, one fleet, and
//! the workflow that runs the Action — written only where nothing is, then what to do next.

use std::path::{Path, PathBuf};

use super::report::{Reporter, WorkflowError};

/// The workflow file `fleet init` writes: the repository's own example, so the two never differ.
pub const WORKFLOW: &str = include_str!("../../.github/workflows/examples/fleetflow.yml");
/// Where it goes.
pub const WORKFLOW_PATH: &str = ".github/workflows/fleetflow.yml";

/// One file `fleet init` writes, relative to the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitFile {
    pub path: PathBuf,
    pub text: String,
}

/// A name KDL and image references take as they are: lowercase letters, digits and `-`,
/// starting with a letter.
fn check_name(what: &str, name: &str) -> Result<(), WorkflowError> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(WorkflowError::Usage(format!(
            "{what} {name:?}: use lowercase letters, digits and `-`, starting with a letter"
        )))
    }
}

/// The registry's name from the repository's directory (`My Repo` → `my-repo`).
pub fn registry_name(dir: &Path) -> String {
    let raw = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
        .to_lowercase();
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-').to_owned();
    if name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name
    } else {
        format!("repo-{name}").trim_end_matches('-').to_owned()
    }
}

/// What `fleet init` writes for registry `registry` and fleet `fleet`.
pub fn init_files(registry: &str, fleet: &str) -> Vec<InitFile> {
    let registry_text = format!(
        r#"// What runs where: the fleets of this repository, the servers they deploy to, and which
// stage of which fleet deploys to which server. `fleet validate` checks it, `fleet registry
// list` shows it, and every pull request gets its plan (what would change).
registry "{registry}"

fleet "{fleet}" {{
    path "fleets/{fleet}"
    description "The {fleet} fleet"
}}

// A server, reached over SSH with strict host keys (its key must be in known_hosts; the
// workflow takes both from the secrets FLEET_SSH_KEY and FLEET_SSH_KNOWN_HOSTS).
// server "vps-01" {{
//     ssh-host "203.0.113.10"
//     ssh-user "deploy"
//     deploy-path "/opt/apps"
// }}

// Stage `live` of the fleet runs on vps-01; `auto-deploy` deploys it when a merge changes it,
// and a `/deploy {fleet} live` comment on a pull request deploys it by hand.
// deployment {{
//     route fleet="{fleet}" stage="live" server="vps-01" auto-deploy=#true
// }}
"#
    );
    let fleet_text = format!(
        r#"// What the fleet runs: its services, and the stages that run them.
project "{fleet}"

service "web" {{
    image "nginx:1.27"
    port host=8080 container=80
    restart "unless-stopped"
}}

// `fleet up local` runs it on this machine.
stage "local" {{
    service "web"
}}

// Deployed to the server the registry's route names (`fleet registry deploy {fleet}`).
stage "live" {{
    service "web"
}}
"#
    );
    vec![
        InitFile {
            path: "fleet-registry.kdl".into(),
            text: registry_text,
        },
        InitFile {
            path: PathBuf::from(format!("fleets/{fleet}/.fleetflow/fleet.kdl")),
            text: fleet_text,
        },
        InitFile {
            path: WORKFLOW_PATH.into(),
            text: WORKFLOW.to_owned(),
        },
    ]
}

/// Writes the first configuration into `root` (nothing when any of its files exists) and
/// says what was written and what to do next. Returns the files written.
pub fn init(reporter: &dyn Reporter, root: &Path, fleet: &str) -> Result<Vec<PathBuf>, WorkflowError> {
    check_name("fleet name", fleet)?;
    let files = init_files(&registry_name(root), fleet);
    let existing: Vec<String> = files
        .iter()
        .filter(|f| root.join(&f.path).exists())
        .map(|f| f.path.display().to_string())
        .collect();
    if !existing.is_empty() {
        return Err(WorkflowError::Usage(format!(
            "{} already exist{}; `fleet init` writes nothing over a file (remove {} or start in another directory)",
            existing.join(", "),
            if existing.len() == 1 { "s" } else { "" },
            if existing.len() == 1 { "it" } else { "them" },
        )));
    }
    let mut written = Vec::new();
    for file in &files {
        let path = root.join(&file.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| WorkflowError::failed(format!("cannot create {}: {e}", dir.display())))?;
        }
        std::fs::write(&path, &file.text)
            .map_err(|e| WorkflowError::failed(format!("cannot write {}: {e}", path.display())))?;
        reporter.say(&format!("wrote {}\n", file.path.display()));
        written.push(file.path.clone());
    }
    let steps = [
        ("fleet validate".to_owned(), "check the configuration"),
        (
            format!("fleet up local --fleet {fleet}"),
            "run the fleet on this machine",
        ),
        (
            "fleet plan --base none".to_owned(),
            "what the first pull request will show",
        ),
    ];
    let mut next = String::from("\nNext:\n");
    for (command, what) in steps {
        next.push_str(&format!("  {command:<34}{what}\n"));
    }
    next.push_str(
        "  Then add a server and a route to fleet-registry.kdl, store the secrets FLEET_SSH_KEY and\n  \
         FLEET_SSH_KNOWN_HOSTS in the repository, commit and open a pull request: the workflow\n  \
         posts the plan, and merging deploys.\n",
    );
    reporter.say(&next);
    Ok(written)
}
