//! The runner's raw environment → what this run is asked to do (as ripgrep turns raw
//! arguments into validated ones): the command, the event, the inputs and the runner's files,
//! each read and checked once.

use std::path::PathBuf;

use serde_json::Value;

pub use crate::application::action_run::request::{ActionCommand, ActionRequest, Inputs, RunnerEnv};
use crate::application::deploy::history::HistoryError;
use crate::application::report::WorkflowError;
use crate::event::RepoRef;

/// An action input as the runner passes it: `INPUT_` + the name uppercased, hyphens kept
/// (`dry-run` → `INPUT_DRY-RUN`); empty or unset → `None`.
pub fn input_from(name: &str, get: impl Fn(&str) -> Option<String>) -> Option<String> {
    let key = format!("INPUT_{}", name.replace(' ', "_").to_uppercase());
    get(&key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A boolean input (`true`/`false`, as YAML writes them); unset → `default`.
pub fn flag(name: &str, value: Option<&str>, default: bool) -> Result<bool, WorkflowError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true" | "yes" | "1" | "on") => Ok(true),
        Some("false" | "no" | "0" | "off") => Ok(false),
        Some(other) => Err(WorkflowError::Usage(format!(
            "input {name}: expected true or false, got {other:?}"
        ))),
    }
}

impl ActionRequest {
    /// Reads the request from the runner's variables (`get`).
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, WorkflowError> {
        let var = |name: &str| get(name).filter(|v| !v.is_empty());
        let input = |name: &str| input_from(name, get);
        if var("GITHUB_ACTIONS").as_deref() != Some("true") {
            return Err(WorkflowError::Usage(
                "`fleet action` runs as a step of a GitHub Actions workflow (`uses: fleetflow/action@v1`), \
                 and GITHUB_ACTIONS=true is not set. To run it elsewhere, set what the runner sets: \
                 GITHUB_ACTIONS=true, GITHUB_EVENT_NAME, GITHUB_EVENT_PATH (the event's JSON), \
                 GITHUB_WORKSPACE and GITHUB_REPOSITORY; or use `fleet plan`, `fleet build` and \
                 `fleet registry deploy`."
                    .into(),
            ));
        }
        let workspace = var("GITHUB_WORKSPACE")
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        let event = match var("GITHUB_EVENT_PATH") {
            Some(path) => std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
                .map_err(|e| WorkflowError::failed(format!("cannot read the event file {path}: {e}")))?,
            None => Value::Null,
        };
        let event_name = var("GITHUB_EVENT_NAME").unwrap_or_default();
        let command = match (input("command").as_deref().unwrap_or("auto"), event_name.as_str()) {
            ("auto", "pull_request" | "pull_request_target") | ("plan", _) => ActionCommand::Plan,
            ("auto", "push") => ActionCommand::Push,
            ("auto", "workflow_dispatch") | ("deploy", _) => ActionCommand::Dispatch,
            ("auto", "issue_comment") => ActionCommand::Comment,
            ("build", _) => ActionCommand::Build,
            ("rollback", _) => ActionCommand::Rollback(
                (input("rollback-to").as_deref().unwrap_or("previous"))
                    .parse()
                    .map_err(|e: HistoryError| WorkflowError::Usage(format!("input rollback-to: {e}")))?,
            ),
            ("auto", other) => ActionCommand::Nothing(other.to_owned()),
            (other, _) => {
                return Err(WorkflowError::Usage(format!(
                    "input command: expected plan, build, deploy, rollback or auto, got {other:?}"
                )));
            }
        };
        let dispatched = |name: &str| {
            input(name).or_else(|| {
                event["inputs"][name]
                    .as_str()
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
            })
        };
        let repository = match var("GITHUB_REPOSITORY") {
            Some(r) => Some(
                RepoRef::parse(&r)
                    .ok_or_else(|| WorkflowError::Usage(format!("GITHUB_REPOSITORY {r:?} is not owner/name")))?,
            ),
            None => None,
        };
        let owner = var("GITHUB_REPOSITORY_OWNER").or_else(|| repository.as_ref().map(|r| r.owner.clone()));
        let inputs = Inputs {
            registry_path: input("registry-path"),
            fleet: dispatched("fleet"),
            stage: dispatched("stage"),
            image_registry: input("registry").or_else(|| Some(format!("ghcr.io/{}", owner?.to_lowercase()))),
            push: flag("push", input("push").as_deref(), false)?,
            platform: input("platform"),
            github_token: input("github-token"),
            ssh_private_key: input("ssh-private-key"),
            ssh_known_hosts: input("ssh-known-hosts"),
            dry_run: flag("dry-run", input("dry-run").as_deref(), false)?,
            comment: flag("comment", input("comment").as_deref(), true)?,
        };
        let runner = RunnerEnv {
            output: var("GITHUB_OUTPUT").map(PathBuf::from),
            step_summary: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            actor: var("GITHUB_ACTOR").unwrap_or_else(|| "github-actions".into()),
            sha: var("GITHUB_SHA"),
            git_ref: var("GITHUB_REF"),
            repository,
            api_url: var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            server_url: var("GITHUB_SERVER_URL"),
            temp: var("RUNNER_TEMP").map(PathBuf::from),
            ghcr_token: var("GHCR_TOKEN"),
            run_id: var("GITHUB_RUN_ID"),
        };
        Ok(Self {
            workspace,
            event,
            command,
            inputs,
            runner,
        })
    }
}
