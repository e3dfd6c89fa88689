//! The runner's raw environment → what this run is asked to do (as ripgrep turns raw
//! arguments into validated ones): the workspace, the event, the inputs that matter.

use std::path::PathBuf;

use serde_json::Value;

use super::runner::{flag, input_from};
use crate::application::report::WorkflowError;

/// What the Action does for this event and `command` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionCommand {
    /// Plan the pull request (comment, step summary, outputs).
    Plan,
    /// A push: deploy the changed fleets' auto-deploy routes (default branch only).
    Push,
    /// Deploy the `fleet` and `stage` inputs (workflow_dispatch, `command: deploy`).
    Dispatch,
    /// Build (and push) the `fleet` and `stage` inputs' images.
    Build,
    /// A pull-request comment: chat-ops.
    Comment,
    /// `command: auto` for an event the Action does not act on.
    Nothing(String),
    /// A `command` input the Action does not know.
    Unknown(String),
}

/// One run of the Action, validated.
#[derive(Debug)]
pub struct ActionRequest {
    /// GITHUB_WORKSPACE (else the current directory).
    pub workspace: PathBuf,
    /// The event file's JSON (`null` without one).
    pub event: Value,
    pub command: ActionCommand,
    /// Print plans; change nothing.
    pub dry_run: bool,
}

/// The `dry-run` input.
pub fn dry_run(get: &dyn Fn(&str) -> Option<String>) -> Result<bool, WorkflowError> {
    flag(input_from("dry-run", get).as_deref(), false).map_err(|e| WorkflowError::Usage(format!("input dry-run: {e}")))
}

impl ActionRequest {
    /// Reads the request from the runner's variables (`get`).
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>, dry_run: bool) -> Result<Self, WorkflowError> {
        let workspace = get("GITHUB_WORKSPACE")
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        let event = match get("GITHUB_EVENT_PATH") {
            Some(path) => std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
                .map_err(|e| WorkflowError::failed(format!("cannot read the event file {path}: {e}")))?,
            None => Value::Null,
        };
        let event_name = get("GITHUB_EVENT_NAME").unwrap_or_default();
        let command = input_from("command", get).unwrap_or_else(|| "auto".into());
        let command = match (command.as_str(), event_name.as_str()) {
            ("auto", "pull_request" | "pull_request_target") | ("plan", _) => ActionCommand::Plan,
            ("auto", "push") => ActionCommand::Push,
            ("auto", "workflow_dispatch") | ("deploy", _) => ActionCommand::Dispatch,
            ("auto", "issue_comment") => ActionCommand::Comment,
            ("build", _) => ActionCommand::Build,
            ("auto", other) => ActionCommand::Nothing(other.to_owned()),
            (other, _) => ActionCommand::Unknown(other.to_owned()),
        };
        Ok(Self {
            workspace,
            event,
            command,
            dry_run,
        })
    }
}
