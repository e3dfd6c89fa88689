//! `fleet action` on an `issue_comment`: the App's chat-ops in a workflow step. The same
//! parser, permission and deploy-policy checks, fork refusal, replies and deploy job as
//! `fleet serve` ([`crate::application::jobs::command_job`], `deploy_job`) run with the workflow's token,
//! over a queue in a temporary SQLite file that the step drains before it ends. There is no
//! deploy history between runs, so "that SHA already runs" is not detected here; use the
//! workflow's `concurrency` group per fleet+stage to serialize runs.

use std::time::Duration;

use serde_json::json;

use super::{ActionRequest, Outputs, Run, github_client};
use crate::application::image_build::credentials::registry_host;
use crate::application::jobs::requests::command_request;
use crate::application::jobs::{DeploySettings, RegistryToken, run_command_here};
use crate::application::report::WorkflowError;
use crate::event::Event;
use crate::event::parse_event;
use crate::secret::Secret;

/// The workflow's token pushes to ghcr.io (with `packages: write`); it is never sent to
/// another registry.
fn workflow_token_for_ghcr(request: &ActionRequest) -> Option<RegistryToken> {
    let registry = request.inputs.image_registry.as_deref()?;
    let token = request.inputs.github_token.clone()?;
    (registry_host(registry) == "ghcr.io").then(|| RegistryToken {
        username: request.runner.actor.clone(),
        token: Secret::new(token),
    })
}

/// Handles the comment; the deploys it ran go to the `deployed` output.
pub fn run(run: &Run, outputs: &mut Outputs) -> Result<(), WorkflowError> {
    let (request, fx) = (run.request, run.fx);
    let body = serde_json::to_vec(&request.event).unwrap_or_default();
    let event = parse_event("issue_comment", &body)
        .ok()
        .filter(|e| matches!(e, Event::IssueComment { .. }))
        .ok_or_else(|| WorkflowError::failed("the issue_comment event file lacks the comment, issue or repository"))?;
    // The workflow's token stands for the App's installation.
    let Some(command) = command_request(&event, Some(0)) else {
        run.reporter
            .say("fleet action: no command in a new pull request comment; nothing to do.\n");
        return Ok(());
    };
    if request.inputs.dry_run {
        run.reporter
            .say("fleet action: dry-run: the comment's command is not run.\n");
        return Ok(());
    }
    let (github, _) = github_client(request)?;
    let settings = DeploySettings {
        connector: fx.ssh.clone(),
        docker: fx.docker.clone(),
        image_registry: request.inputs.image_registry.clone(),
        registry_login: workflow_token_for_ghcr(request),
        fleet_binary: None,
        lock_poll: Duration::from_secs(1),
        pages: None,
        // Here is a runner: a registry's `builds "github-actions"` builds here.
        runs: None,
    };
    let deploys = run_command_here(&github, &command, settings)
        .map_err(|e| WorkflowError::failed_with("chat-ops failed", &*e))?;
    for d in &deploys {
        let (fleet, stage) = d.fleet_and_stage();
        let status = if d.result == "success" { "deployed" } else { "failed" };
        outputs
            .deployed
            .push(json!({ "fleet": fleet, "stage": stage, "sha": d.sha, "status": status }));
    }
    let failed = deploys.iter().filter(|d| d.result != "success").count();
    match failed {
        0 => Ok(()),
        failed => Err(WorkflowError::Routes {
            failed,
            total: deploys.len(),
        }),
    }
}
