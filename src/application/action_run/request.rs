//! One run of the Action, validated: what the runner's environment asks for (the Action's front
//! door, `crate::action`, reads it).

use std::path::PathBuf;

use serde_json::Value;

use crate::application::deploy::history::RollbackTo;
use crate::event::RepoRef;

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
    /// Run the images of an earlier deploy of the `fleet` and `stage` inputs again (the
    /// `rollback-to` input: `previous`, a commit or a history id); nothing is built.
    Rollback(RollbackTo),
    /// A pull-request comment: chat-ops.
    Comment,
    /// `command: auto` for an event the Action does not act on.
    Nothing(String),
}

/// The inputs of action.yml, validated.
#[derive(Debug, Default)]
pub struct Inputs {
    /// fleet-registry.kdl (or its directory), relative to the workspace.
    pub registry_path: Option<String>,
    /// The input, else a workflow_dispatch event's input of the same name.
    pub fleet: Option<String>,
    pub stage: Option<String>,
    /// The `registry` input, else `ghcr.io/<owner>` (lowercase, as GHCR names are).
    pub image_registry: Option<String>,
    pub push: bool,
    pub platform: Option<String>,
    pub github_token: Option<String>,
    pub ssh_private_key: Option<String>,
    pub ssh_known_hosts: Option<String>,
    /// Print plans; change nothing.
    pub dry_run: bool,
    /// Post (or edit) the plan comment.
    pub comment: bool,
}

/// The GITHUB_* variables a run reads.
#[derive(Debug, Default)]
pub struct RunnerEnv {
    pub output: Option<PathBuf>,
    pub step_summary: Option<PathBuf>,
    /// Who started the run (`github-actions` when unset).
    pub actor: String,
    pub sha: Option<String>,
    pub git_ref: Option<String>,
    /// GITHUB_REPOSITORY.
    pub repository: Option<RepoRef>,
    pub api_url: String,
    pub server_url: Option<String>,
    /// RUNNER_TEMP.
    pub temp: Option<PathBuf>,
    /// GITHUB_RUN_ID: a build reports what it pushed on a check run of that external id.
    pub run_id: Option<String>,
    /// GHCR_TOKEN: pushes to ghcr.io when there is no `github-token` input.
    pub ghcr_token: Option<String>,
}

/// One run of the Action, validated.
#[derive(Debug)]
pub struct ActionRequest {
    /// GITHUB_WORKSPACE (else the current directory).
    pub workspace: PathBuf,
    /// The event file's JSON (`null` without one).
    pub event: Value,
    pub command: ActionCommand,
    pub inputs: Inputs,
    pub runner: RunnerEnv,
}
