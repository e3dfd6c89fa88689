//! Releasing fleet+stages from a checkout, one after the other: the routes a merge deploys, or
//! the one a dispatch names. Each is the App's release ([`super::deploy::release`]): build and
//! push its images, then deploy them over SSH.

use std::path::Path;

use super::deploy::release::{Phase, ReleaseRequest, release};
use super::deploy::remote::RemoteDeployOptions;
use super::merge::merge_deploys;
use super::report::{Reporter, WorkflowError};
use super::routes::{describe_unrun, plans, summarize};
use crate::config::Workspace;
use crate::docker::DockerCli;
use crate::ssh::Connector;

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
    let out = crate::git::git(root, &["diff", "--name-only", before, after])
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
pub fn release_all(
    reporter: &dyn Reporter,
    connector: &dyn Connector,
    docker: &DockerCli,
    template: &ReleaseRequest,
    pairs: &[(String, String)],
) -> Vec<Released> {
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
        match release(connector, docker, &request, &mut phase, &line) {
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

/// What a push deploys.
pub enum PushDeploys {
    /// Not a push to the default branch (`git_ref`, the default branch).
    NotDefaultBranch(String, String),
    /// No auto-deploy route of a changed fleet (the fleets that changed).
    Nothing(Vec<String>),
    /// The routes, and the loaded registry they come from.
    Routes(Workspace, Vec<RouteName>),
}

/// A push as its event names it.
pub struct Push<'a> {
    pub git_ref: Option<&'a str>,
    pub default_branch: &'a str,
    pub before: &'a str,
    pub after: &'a str,
}

/// What a push deploys: on the default branch only, the auto-deploy routes of the fleets that
/// changed (see [`merge_routes`]) in the checkout of the registry file `registry`; `load`
/// loads it (only for such a push).
pub fn push_deploys(
    push: &Push,
    registry: &Path,
    load: impl FnOnce() -> Result<Workspace, WorkflowError>,
) -> Result<PushDeploys, WorkflowError> {
    if push.git_ref != Some(format!("refs/heads/{}", push.default_branch).as_str()) {
        let git_ref = push.git_ref.unwrap_or_default().to_owned();
        return Ok(PushDeploys::NotDefaultBranch(git_ref, push.default_branch.to_owned()));
    }
    let ws = load()?;
    let dir = crate::config::load::split_path(registry).0;
    let root = crate::git::repo_root(&dir).unwrap_or_else(|| dir.clone());
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let under = dir
        .strip_prefix(&root)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (changed, routes) = merge_routes(&ws, &root, &under, push.before, push.after)?;
    Ok(if routes.is_empty() {
        PushDeploys::Nothing(changed)
    } else {
        PushDeploys::Routes(ws, routes)
    })
}

/// The routes of `fleet`'s `stage` (a dispatch); none is a usage error.
pub fn dispatch_routes(ws: &Workspace, fleet: &str, stage: &str) -> Result<Vec<RouteName>, WorkflowError> {
    let routes: Vec<RouteName> = ws
        .registry
        .routes_of(fleet)
        .filter(|r| r.stage.value == stage)
        .map(|r| (fleet.to_owned(), stage.to_owned(), r.server.value.clone()))
        .collect();
    if routes.is_empty() {
        return Err(WorkflowError::Usage(format!(
            "the registry has no route for fleet `{fleet}` stage `{stage}`"
        )));
    }
    Ok(routes)
}

/// How each route of a release ended (`deployed`, `failed`; `planned` in a dry run), and the
/// images pushed.
#[derive(Default)]
pub struct RoutesReleased {
    pub routes: Vec<(RouteName, &'static str)>,
    pub images: Vec<String>,
}

impl RoutesReleased {
    pub fn ok(&self) -> bool {
        self.routes.iter().all(|(_, status)| *status != "failed")
    }
}

/// Releases every fleet+stage of `routes` once (see [`release_all`]); with `dry_run`, shows
/// each one's deploy plan from `ws` instead and changes nothing.
pub fn release_routes(
    reporter: &dyn Reporter,
    connector: &dyn Connector,
    docker: &DockerCli,
    template: &ReleaseRequest,
    ws: &Workspace,
    routes: &[RouteName],
    dry_run: bool,
) -> RoutesReleased {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (f, s, _) in routes {
        if !pairs.iter().any(|(pf, ps)| pf == f && ps == s) {
            pairs.push((f.clone(), s.clone()));
        }
    }
    let mut out = RoutesReleased::default();
    let mut record = |fleet: &str, stage: &str, status: &'static str| {
        for route in routes.iter().filter(|(f, s, _)| f == fleet && s == stage) {
            out.routes.push((route.clone(), status));
        }
    };
    if dry_run {
        let args = RemoteDeployOptions {
            pull: true,
            image_registry: template.image_registry.clone(),
            image_tag: None,
        };
        for (fleet, stage) in &pairs {
            match plans(ws, fleet, Some(stage), &args) {
                Ok(plans) => {
                    reporter.say(&describe_unrun(fleet, &plans));
                    record(fleet, stage, "planned");
                }
                Err(e) => {
                    reporter.note(&format!("error: {e}"));
                    record(fleet, stage, "failed");
                }
            }
        }
        return out;
    }
    for r in release_all(reporter, connector, docker, template, &pairs) {
        record(&r.fleet, &r.stage, if r.ok { "deployed" } else { "failed" });
        out.images.extend(r.images);
    }
    out
}
