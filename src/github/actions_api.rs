//! Builds on GitHub's runners: dispatch a repository's workflow, follow its run, and read the
//! images it reported (a check run the fleetflow Action writes on the commit it built).

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Auth, GitHub, GitHubError};
use crate::event::RepoRef;

/// A workflow run, as far as a deploy waits for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkflowRun {
    pub id: u64,
    /// `queued`, `in_progress`, `completed`, …
    pub status: String,
    /// `success`, `failure`, `cancelled`, … once completed.
    #[serde(default)]
    pub conclusion: Option<String>,
    pub html_url: String,
}

impl WorkflowRun {
    pub fn is_completed(&self) -> bool {
        self.status == "completed"
    }
}

/// The check run the fleetflow Action writes in build mode on the commit it built, listing
/// the images it pushed: `fleetflow/images <fleet>:<stage>`, its external id the run's id.
pub fn images_check_name(fleet: &str, stage: &str) -> String {
    format!("fleetflow/images {fleet}:{stage}")
}

impl GitHub {
    /// Dispatches `workflow` (a file name or id) on branch `git_ref` with `inputs`; returns the
    /// run GitHub started (`return_run_details`).
    pub async fn dispatch_workflow(
        &self,
        installation: u64,
        repo: &RepoRef,
        workflow: &str,
        git_ref: &str,
        inputs: &Value,
    ) -> Result<WorkflowRun, GitHubError> {
        let url = self.url(
            &[
                "repos",
                &repo.owner,
                &repo.name,
                "actions",
                "workflows",
                workflow,
                "dispatches",
            ],
            &[],
        );
        let path = url.path().to_owned();
        let body = json!({ "ref": git_ref, "inputs": inputs, "return_run_details": true });
        let v = self
            .call(Method::POST, url, Auth::Installation(installation), Some(&body))
            .await?;
        let id = v.get("workflow_run_id").and_then(Value::as_u64);
        let html_url = v.get("html_url").and_then(Value::as_str);
        match (id, html_url) {
            (Some(id), Some(html_url)) => Ok(WorkflowRun {
                id,
                status: "queued".into(),
                conclusion: None,
                html_url: html_url.to_owned(),
            }),
            _ => Err(GitHubError::Decode {
                path,
                message: "the dispatch answered without the run's id and URL".into(),
            }),
        }
    }

    /// The run `id` now.
    pub async fn workflow_run(&self, installation: u64, repo: &RepoRef, id: u64) -> Result<WorkflowRun, GitHubError> {
        let id = id.to_string();
        let url = self.url(
            &["repos", &repo.owner, &repo.name, "actions", "runs", &id],
            &[("exclude_pull_requests", "true")],
        );
        let path = url.path().to_owned();
        let v = self
            .call(Method::GET, url, Auth::Installation(installation), None)
            .await?;
        serde_json::from_value(v).map_err(|e| GitHubError::Decode {
            path,
            message: e.to_string(),
        })
    }
}
