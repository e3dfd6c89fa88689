//! The fake GitHub's Actions operations (issue 17): workflow dispatches and runs. As GitHub
//! does, a dispatch needs the App's `actions: write` permission (403 "Resource not accessible
//! by integration" without), a workflow file that exists (404), a ref that exists (422) and
//! only the inputs the workflow declares (422 "Unexpected inputs provided"); the run's id and
//! URLs come back only with `return_run_details`. Runs stay queued until a test runs them.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{World, message};

#[derive(Debug, Clone)]
pub struct FakeRun {
    pub id: u64,
    pub repo: String,
    pub workflow: String,
    pub git_ref: String,
    pub inputs: Value,
    /// `queued`, `in_progress`, `completed`.
    pub status: String,
    pub conclusion: Option<String>,
}

impl FakeRun {
    pub fn html_url(&self) -> String {
        format!("https://github.com/{}/actions/runs/{}", self.repo, self.id)
    }
}

#[derive(Debug, Default)]
pub struct ActionsWorld {
    /// The App's installation was granted `actions: write`.
    pub actions_write: bool,
    /// (owner/repo, workflow file) → the inputs it declares under `workflow_dispatch`.
    pub workflows: BTreeMap<(String, String), Vec<String>>,
    pub runs: Vec<FakeRun>,
    /// How many times each run was read.
    pub run_reads: BTreeMap<u64, usize>,
}

/// Answers one Actions operation, or `None` when `op_id` is not one of them.
pub fn handle(
    world: &mut World,
    op_id: &str,
    repo: &str,
    params: &BTreeMap<String, String>,
    body: &Value,
) -> Option<Response> {
    Some(match op_id {
        "actions/create-workflow-dispatch" => {
            if !world.actions.actions_write {
                return Some(message(StatusCode::FORBIDDEN, "Resource not accessible by integration"));
            }
            let workflow = super::percent_decode(params.get("workflow_id").map_or("", String::as_str));
            let Some(declared) = world.actions.workflows.get(&(repo.to_owned(), workflow.clone())) else {
                return Some(message(StatusCode::NOT_FOUND, "Not Found"));
            };
            let git_ref = body["ref"].as_str().unwrap_or_default().to_owned();
            if !world.commits.contains_key(&(repo.to_owned(), git_ref.clone())) {
                return Some(message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("No ref found for: {git_ref}"),
                ));
            }
            let inputs = body.get("inputs").cloned().unwrap_or(json!({}));
            let unexpected: Vec<&String> = (inputs.as_object().into_iter().flatten())
                .map(|(k, _)| k)
                .filter(|k| !declared.contains(k))
                .collect();
            if !unexpected.is_empty() {
                return Some(message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("Unexpected inputs provided: {unexpected:?}"),
                ));
            }
            let run = FakeRun {
                id: world.next_id(),
                repo: repo.to_owned(),
                workflow,
                git_ref,
                inputs,
                status: "queued".into(),
                conclusion: None,
            };
            let details = json!({
                "workflow_run_id": run.id,
                "run_url": format!("https://api.github.com/repos/{repo}/actions/runs/{}", run.id),
                "html_url": run.html_url(),
            });
            world.actions.runs.push(run);
            match body["return_run_details"].as_bool() {
                Some(true) => axum::Json(details).into_response(),
                _ => StatusCode::NO_CONTENT.into_response(),
            }
        }
        "actions/get-workflow-run" => {
            let id = params.get("run_id").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            *world.actions.run_reads.entry(id).or_default() += 1;
            match world.actions.runs.iter().find(|r| r.id == id && r.repo == repo) {
                Some(run) => axum::Json(json!({
                    "id": run.id,
                    "name": run.workflow,
                    "event": "workflow_dispatch",
                    "status": run.status,
                    "conclusion": run.conclusion,
                    "head_branch": run.git_ref,
                    "html_url": run.html_url(),
                }))
                .into_response(),
                None => message(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        _ => return None,
    })
}
