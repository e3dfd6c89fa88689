//! Deploys whose images are built on GitHub's runners (`builds "github-actions"` in the
//! default branch's registry): the deploy job dispatches the repository's workflow on the
//! default branch with the fleet, stage and commit, follows the run (told early by the
//! `workflow_run` webhook, else by looking every `--run-poll` seconds), and takes the images
//! the run reported pushing; the release then deploys them without building.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Notify;

use super::requests::DeployRequest;
use crate::application::deploy::release::PushedImage;
use crate::event::RepoRef;
use crate::github::GitHub;
use crate::github::actions_api::{WorkflowRun, images_check_name};
use crate::images::short_sha;

/// Where a deploy's images are built, when not on the App's host: the workflow (a file of
/// `.github/workflows/`) dispatched on `git_ref`, the default branch (its workflow file, not a
/// pull request's, is what runs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerBuild {
    pub workflow: String,
    pub git_ref: String,
}

/// Where `registry` (the default branch's) builds a deploy's images, dispatched on `branch`.
pub fn of_registry(registry: &crate::config::Registry, branch: &str) -> Option<RunnerBuild> {
    match &registry.builds {
        crate::config::ImageBuilds::App => None,
        crate::config::ImageBuilds::GithubActions { workflow } => Some(RunnerBuild {
            workflow: workflow.clone(),
            git_ref: branch.to_owned(),
        }),
    }
}

/// A run: `owner/name` and its id.
type RunKey = (String, u64);

/// How deploys follow their build runs: runs that ended (from webhooks), how often to look
/// without one, and how long to wait at most.
#[derive(Clone, Debug)]
pub struct RunWatch {
    ended: Arc<Mutex<HashMap<RunKey, Arc<Notify>>>>,
    pub poll: Duration,
    pub timeout: Duration,
}

impl Default for RunWatch {
    fn default() -> Self {
        RunWatch::new(Duration::from_secs(15), Duration::from_secs(3600))
    }
}

impl RunWatch {
    pub fn new(poll: Duration, timeout: Duration) -> Self {
        RunWatch {
            ended: Default::default(),
            poll,
            timeout,
        }
    }

    fn signal(&self, repo: &RepoRef, run: u64) -> Arc<Notify> {
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(ended.entry((repo.to_string(), run)).or_default())
    }

    fn forget(&self, repo: &RepoRef, run: u64) {
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        ended.remove(&(repo.to_string(), run));
    }

    /// A `workflow_run` webhook said run `run` ended: its deploy (if waiting here) looks now.
    pub fn ended(&self, repo: &RepoRef, run: u64) {
        let ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(signal) = ended.get(&(repo.to_string(), run)) {
            signal.notify_one();
        }
    }
}

/// Dispatches the build of `req`'s fleet, stage and commit; the run it started. Errors are the
/// reply's words.
pub async fn dispatch(github: &GitHub, req: &DeployRequest, build: &RunnerBuild) -> Result<WorkflowRun, String> {
    let inputs = json!({ "fleet": req.fleet, "stage": req.stage, "sha": req.sha });
    github
        .dispatch_workflow(req.installation_id, &req.repo, &build.workflow, &build.git_ref, &inputs)
        .await
        .map_err(|e| {
            format!(
                "cannot start the build workflow `{}` on `{}`: {e}",
                build.workflow, build.git_ref
            )
        })
}

/// Waits for `run` to end, then takes the images it reported pushing.
pub async fn wait(
    github: &GitHub,
    watch: &RunWatch,
    req: &DeployRequest,
    mut run: WorkflowRun,
) -> Result<Vec<PushedImage>, String> {
    let (inst, repo) = (req.installation_id, &req.repo);
    let signal = watch.signal(repo, run.id);
    let started = Instant::now();
    let waited = loop {
        if run.is_completed() {
            break Ok(());
        }
        if started.elapsed() >= watch.timeout {
            break Err(format!(
                "the build run did not end within {} minutes: {}",
                watch.timeout.as_secs() / 60,
                run.html_url
            ));
        }
        // Told by the webhook, or the poll interval passed: look.
        let _ = tokio::time::timeout(watch.poll, signal.notified()).await;
        match github.workflow_run(inst, repo, run.id).await {
            Ok(now) => run = now,
            Err(e) if e.is_transient() => tracing::warn!(run = run.id, "cannot look at the build run: {e}"),
            Err(e) => break Err(format!("cannot look at the build run {}: {e}", run.html_url)),
        }
    };
    watch.forget(repo, run.id);
    waited?;
    take_images(github, req, &run).await
}

/// The images a successful run reported on the commit.
async fn take_images(github: &GitHub, req: &DeployRequest, run: &WorkflowRun) -> Result<Vec<PushedImage>, String> {
    let conclusion = run.conclusion.as_deref().unwrap_or("unknown");
    if conclusion != "success" {
        return Err(format!(
            "the build run ended with `{conclusion}`, nothing was deployed: {}",
            run.html_url
        ));
    }
    let name = images_check_name(&req.fleet, &req.stage);
    let text = github
        .find_check_run(req.installation_id, &req.repo, &req.sha, &name, &run.id.to_string())
        .await
        .map_err(|e| format!("cannot read what the build run pushed: {e}"))?
        // Only a workflow's own token writes as `github-actions`: another App's check run of the
        // same name is not the run's report.
        .filter(|found| found.app.as_deref() == Some("github-actions"))
        .and_then(|found| found.text)
        .ok_or_else(|| {
            format!(
                "the build run {} reported no images on `{}` (a check run `{name}` by github-actions): does \
                 its workflow check out `inputs.sha` and run the fleetflow Action with `push: true`, with \
                 `checks: write`?",
                run.html_url,
                short_sha(&req.sha)
            )
        })?;
    serde_json::from_str(&text).map_err(|e| format!("the build run's image list is not readable: {e}"))
}
