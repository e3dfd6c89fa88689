//! Releasing fleet+stages from a checkout, one after the other: the routes a merge deploys, or
//! the one a dispatch names. Each is the App's release ([`super::deploy::release`]): build and
//! push its images, then deploy them over SSH.

use std::path::Path;

use super::deploy::release::{Phase, ReleaseRequest, release};
use super::merge::merge_deploys;
use super::report::{Reporter, WorkflowError};
use super::routes::summarize;
use crate::config::Workspace;

/// A route to release: fleet, stage, server.
pub type RouteName = (String, String, String);

/// What one fleet+stage release ended with.
pub struct Released {
    pub fleet: String,
    pub stage: String,
    /// Built, pushed and deployed to its route.
    pub ok: bool,
    pub images: Vec<String>,
}

/// The routes a push to the default branch deploys: those with `auto-deploy=#true` of fleets
/// whose files changed between `before` and `after` (every fleet, for a new branch), with
/// the fleets that changed. `registry_dir` is the registry's directory under `root`.
pub fn merge_routes(
    ws: &Workspace,
    root: &Path,
    registry_dir: &str,
    before: &str,
    after: &str,
) -> Result<(Vec<String>, Vec<RouteName>), WorkflowError> {
    let files = if before.is_empty() || before.bytes().all(|b| b == b'0') {
        None // a new branch: no "before"; every fleet counts as changed
    } else {
        Some(changed_files(root, before, after)?)
    };
    let (changed, routes) = merge_deploys(ws, registry_dir, files.as_deref());
    let routes = routes
        .iter()
        .map(|r| (r.fleet.value.clone(), r.stage.value.clone(), r.server.value.clone()))
        .collect();
    Ok((changed.into_iter().collect(), routes))
}

/// Paths changed between two commits (`git diff --name-only`), relative to the repository root.
fn changed_files(root: &Path, before: &str, after: &str) -> Result<Vec<String>, WorkflowError> {
    let out = crate::plan::git_files::git(root, &["diff", "--name-only", before, after])
        .map_err(|e| WorkflowError::failed(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(WorkflowError::failed(format!(
            "git diff {before} {after} failed (is the checkout deep enough? use fetch-depth: 0): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Releases each fleet+stage of `pairs` as `template` says (its fleet and stage are
/// replaced); a failed one is reported and the next still runs.
pub fn release_all(reporter: &dyn Reporter, template: &ReleaseRequest, pairs: &[(String, String)]) -> Vec<Released> {
    let mut all = Vec::new();
    for (fleet, stage) in pairs {
        let request = ReleaseRequest {
            fleet: fleet.clone(),
            stage: stage.clone(),
            ..template.clone()
        };
        let mut phase = |p: Phase| {
            let what = match p {
                Phase::Building => "building images",
                Phase::Deploying => "deploying over SSH",
            };
            reporter.say(&format!("{fleet}:{stage}: {what}\n"));
        };
        let line = |l: &str| reporter.say(&format!("{l}\n"));
        let mut released = Released {
            fleet: fleet.clone(),
            stage: stage.clone(),
            ok: false,
            images: Vec::new(),
        };
        match release(&request, &mut phase, &line) {
            Ok(report) => {
                released.ok = summarize(reporter, &report.routes)
                    .map_err(|e| reporter.note(&format!("error: {e}")))
                    .is_ok();
                released.images = report.images;
            }
            Err(e) => reporter.note(&format!("error: {fleet}:{stage}: {e}")),
        }
        all.push(released);
    }
    all
}
