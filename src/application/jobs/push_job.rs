//! The push job: a push to the default branch (a merge) queues a deploy of every fleet+stage
//! whose route opts in with `auto-deploy=#true` and whose fleet directory changed. The commit
//! is on the base repository's default branch, so its code is ours to build.

use super::db::Store;
use super::requests::{DEPLOY_JOB, DeployRequest, Job, PushRequest, Trigger};
use crate::application::merge::merge_deploys;
use crate::config::LoadOptions;
use crate::github::files::load_at;
use crate::github::{GitHub, GitHubError};

pub async fn run(github: &GitHub, store: &Store, delivery: &str, req: &PushRequest) -> Result<(), GitHubError> {
    let (inst, repo) = (req.installation_id, &req.repo);
    let ws = match load_at(github, inst, repo, &req.after, LoadOptions::default()).await? {
        Ok(ws) => ws,
        Err(e) => {
            // The plan check of the pull request showed this already; nothing deploys.
            tracing::warn!(sha = %req.after, "push: the configuration does not load, nothing deploys: {e}");
            return Ok(());
        }
    };
    let new_branch = req.before.is_empty() || req.before.bytes().all(|b| b == b'0');
    let changed = if new_branch {
        None
    } else {
        github.changed_files(inst, repo, &req.before, &req.after).await?
    };
    let (_, routes) = merge_deploys(&ws, "", changed.as_deref());
    let mut pairs: Vec<(String, String)> = routes
        .iter()
        .map(|r| (r.fleet.value.clone(), r.stage.value.clone()))
        .collect();
    pairs.sort();
    pairs.dedup();
    tracing::info!(sha = %req.after, deploys = pairs.len(), "push to {}", req.branch);
    for (fleet, stage) in pairs {
        let deploy = DeployRequest {
            installation_id: inst,
            repo: repo.clone(),
            sha: req.after.clone(),
            fleet,
            stage,
            requested_by: format!("merge to {}", req.branch),
            force: false,
            trigger: Trigger::Push,
            rollback_to: None,
            // The pushed commit is the default branch's: its registry's word.
            runner_build: super::runner_build::of_registry(&ws.registry, &req.branch),
        };
        let key = format!("{DEPLOY_JOB}:{}:{}", deploy.fleet, deploy.stage);
        super::command_job::enqueue(store, delivery, &key, &Job::Deploy(deploy).queued()).await?;
    }
    Ok(())
}
