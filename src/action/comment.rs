//! `fleet action` on an `issue_comment`: the App's chat-ops in a workflow step. The same
//! parser, permission and deploy-policy checks, fork refusal, replies and deploy job as
//! `fleet serve` ([`crate::application::jobs::command_job`], `deploy_job`) run with the workflow's token,
//! over a queue in a temporary SQLite file that the step drains before it ends. There is no
//! deploy history between runs, so "that SHA already runs" is not detected here; use the
//! workflow's `concurrency` group per fleet+stage to serialize runs.

use std::time::Duration;

use serde_json::{Value, json};

use super::workflows::{github_client, image_registry};
use crate::application::jobs::requests::CommandRequest;
use crate::application::jobs::{DeploySettings, run_command_here};
use crate::chatops::{Author, may_hold_command};
use crate::console::{Console, Effects, exit};
use crate::event::Event;
use crate::webhook::parse_event;

/// Handles the comment; returns the exit code and the `deployed` output entries.
pub fn run(console: &Console, fx: &Effects, event: &Value, dry_run: bool) -> (u8, Vec<Value>) {
    let body = serde_json::to_vec(event).unwrap_or_default();
    let (action, number, is_pr, comment) = match parse_event("issue_comment", &body) {
        Ok(Event::IssueComment {
            action,
            issue_number,
            is_pull_request,
            comment,
            ..
        }) => (action, issue_number, is_pull_request, comment),
        Ok(_) | Err(_) => {
            console.error("the issue_comment event file lacks the comment, issue or repository");
            return (exit::FAILURE, Vec::new());
        }
    };
    let author = Author {
        login: &comment.author,
        kind: &comment.author_type,
    };
    if action != "created" || !is_pr || !may_hold_command(&comment.body, &author) {
        console.print("fleet action: no command in a new pull request comment; nothing to do.\n");
        return (exit::OK, Vec::new());
    }
    if dry_run {
        console.print("fleet action: dry-run: the comment's command is not run.\n");
        return (exit::OK, Vec::new());
    }
    let (github, repo) = match github_client() {
        Ok(c) => c,
        Err(e) => {
            console.error(&e.to_string());
            return (exit::USAGE, Vec::new());
        }
    };
    let request = CommandRequest {
        installation_id: 0,
        repo,
        number,
        comment,
    };
    let settings = DeploySettings {
        connector: fx.ssh.clone(),
        docker: fx.docker.clone(),
        image_registry: image_registry(),
        fleet_binary: None,
        lock_poll: Duration::from_secs(1),
    };
    let result = run_command_here(&github, &request, settings);
    match result {
        Ok(deploys) => {
            let failed = deploys.iter().any(|d| d.result != "success");
            let deployed = deploys
                .iter()
                .map(|d| {
                    let mut parts = d.target.rsplitn(3, ':');
                    let stage = parts.next().unwrap_or_default();
                    let fleet = parts.next().unwrap_or_default();
                    let status = if d.result == "success" { "deployed" } else { "failed" };
                    json!({ "fleet": fleet, "stage": stage, "sha": d.sha, "status": status })
                })
                .collect();
            (if failed { exit::FAILURE } else { exit::OK }, deployed)
        }
        Err(e) => {
            console.error(&format!("chat-ops failed: {e:#}"));
            (exit::FAILURE, Vec::new())
        }
    }
}
