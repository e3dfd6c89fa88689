//! The Action's deploys (a push to the default branch, workflow_dispatch, `command: deploy`):
//! the same release as the App's deploy job ([`crate::deploy::release`]) — build and push the
//! stage's images from the checkout, then deploy them over SSH — one fleet+stage at a time.

use std::path::Path;

use super::registry_remote_cmd::summarize;
use super::{Console, exit};
use crate::action::input;
use crate::deploy::release::{Phase, ReleaseRequest, release};

/// What one fleet+stage release ended with, for the `deployed` and `images` outputs.
pub(super) struct Released {
    pub fleet: String,
    pub stage: String,
    /// Built, pushed and deployed to its route (a fleet+stage has one server, FS-003).
    pub ok: bool,
    pub images: Vec<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Releases each fleet+stage of `pairs` from the workspace holding `registry`.
pub(super) fn release_all(
    console: &Console,
    registry: &Path,
    pairs: &[(String, String)],
    image_registry: Option<String>,
) -> (u8, Vec<Released>) {
    let root = registry.parent().unwrap_or(Path::new(".")).to_path_buf();
    let registry_file = registry
        .file_name()
        .map_or_else(|| "fleet-registry.kdl".to_owned(), |f| f.to_string_lossy().into_owned());
    let commit = env("GITHUB_SHA")
        .or_else(|| crate::plan::git_files::git_line(&root, &["rev-parse", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let fleet_binary = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            console.error(&format!("cannot find this fleet binary to install it on servers: {e}"));
            return (exit::FAILURE, Vec::new());
        }
    };
    let actor = env("GITHUB_ACTOR").unwrap_or_else(|| "github-actions".into());
    let mut credentials_env = vec![("GITHUB_ACTOR".to_owned(), actor.clone())];
    if let Some(token) = input("github-token").or_else(|| env("GHCR_TOKEN")) {
        credentials_env.push(("GHCR_TOKEN".into(), token));
    }
    let source_url = match (env("GITHUB_SERVER_URL"), env("GITHUB_REPOSITORY")) {
        (Some(server), Some(repo)) => Some(format!("{server}/{repo}")),
        _ => None,
    };
    let mut all = Vec::new();
    for (fleet, stage) in pairs {
        let request = ReleaseRequest {
            root: root.clone(),
            registry_file: registry_file.clone(),
            fleet: fleet.clone(),
            stage: stage.clone(),
            commit: commit.clone(),
            image_registry: image_registry.clone(),
            credentials_env: credentials_env.clone(),
            source_url: source_url.clone(),
            requested_by: actor.clone(),
            fleet_binary: fleet_binary.clone(),
        };
        let mut phase = |p: Phase| {
            let what = match p {
                Phase::Building => "building images",
                Phase::Deploying => "deploying over SSH",
            };
            console.print(&format!("{fleet}:{stage}: {what}\n"));
        };
        let line = |l: &str| console.print(&format!("{l}\n"));
        let mut released = Released {
            fleet: fleet.clone(),
            stage: stage.clone(),
            ok: false,
            images: Vec::new(),
        };
        match release(&request, &mut phase, &line) {
            Ok(report) => {
                released.ok = summarize(console, &report.routes) == exit::OK;
                released.images = report.images;
            }
            Err(e) => console.error(&format!("{fleet}:{stage}: {e}")),
        }
        all.push(released);
    }
    let code = if all.iter().all(|r| r.ok) {
        exit::OK
    } else {
        exit::FAILURE
    };
    (code, all)
}
