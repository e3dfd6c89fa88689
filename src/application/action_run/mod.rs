//! The Action's workflows over its checkout: plan a pull request, deploy a push or a dispatch,
//! build, roll back, run a comment's command. The front door (`crate::action`) turns the
//! runner's environment into an [`ActionRequest`], builds the effects and the reporter, and
//! writes what a run learned ([`Outputs`]) where the runner reads it.

mod comment;
mod pushed_report;
pub mod request;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::application::deploy::history::RollbackTo;
use crate::application::deploy::release::ReleaseRequest;
use crate::application::effects::Effects;
use crate::application::image_build::BuildOptions;
use crate::application::jobs::plan_job::{CommentOwner, upsert_plan_comment};
use crate::application::local::{build_fleet, fleet_of_registry};
use crate::application::plan_change::{PlanRequest, PlanScope, plan_registry};
use crate::application::releases::{Push, PushDeploys, RouteName, dispatch_routes, push_deploys, release_routes};
use crate::application::report::{Reporter, WorkflowError};
use crate::config::discovery::find_registry;
use crate::config::load::{load_registry_file, split_path};
use crate::config::{LoadOptions, Workspace};
use crate::event::RepoRef;
use crate::github::GitHub;
use crate::plan::{COMMENT_LIMIT, render_markdown};
use crate::secret::Secret;
pub use request::{ActionCommand, ActionRequest, Inputs, RunnerEnv};

/// What one run learned: the step outputs, and the plan for the step summary.
#[derive(Default)]
pub struct Outputs {
    pub has_changes: bool,
    pub summary: String,
    pub images: Value,
    pub deployed: Vec<Value>,
    /// The plan's markdown, for GITHUB_STEP_SUMMARY.
    pub step_summary: Option<String>,
}

pub struct Run<'a> {
    pub reporter: &'a dyn Reporter,
    pub request: &'a ActionRequest,
    /// Docker, the clock, this binary, and SSH with the workflow's key.
    pub fx: &'a Effects,
}

impl Run<'_> {
    /// Runs the request's command (a comment's command with its parsed event).
    pub fn run(&self, outputs: &mut Outputs) -> Result<(), WorkflowError> {
        match &self.request.command {
            ActionCommand::Plan => self.plan(outputs),
            ActionCommand::Push => self.push(outputs),
            ActionCommand::Dispatch => self.dispatch(outputs),
            ActionCommand::Build => self.build(outputs),
            ActionCommand::Rollback(to) => self.rollback(to, outputs),
            ActionCommand::Comment => comment::run(self, outputs),
            ActionCommand::Nothing(event) => {
                (self.reporter).say(&format!("fleet action: nothing to do for the `{event}` event.\n"));
                Ok(())
            }
        }
    }

    /// fleet-registry.kdl: the `registry-path` input (relative to the workspace), else found
    /// from the workspace as `fleet` finds it.
    pub fn registry_file(&self) -> Result<PathBuf, WorkflowError> {
        let workspace = &self.request.workspace;
        let flag = self.request.inputs.registry_path.as_ref().map(|p| workspace.join(p));
        let found = find_registry(flag.as_deref(), None, workspace).map_err(|e| WorkflowError::Usage(e.to_string()))?;
        Ok(std::fs::canonicalize(found.path()).unwrap_or_else(|_| found.path().to_path_buf()))
    }

    /// The checkout's registry and configuration; its warnings become annotations.
    fn load_head(&self) -> Result<(PathBuf, Workspace), WorkflowError> {
        let registry = self.registry_file()?;
        let ws = load_registry_file(&registry, LoadOptions { verify_fleets: true })?;
        self.reporter.diagnostics(&split_path(&registry).0, &ws.warnings);
        Ok((registry, ws))
    }

    /// The pull request's plan: outputs, the step summary and (unless `comment: false`) the
    /// plan comment, created or edited.
    fn plan(&self, outputs: &mut Outputs) -> Result<(), WorkflowError> {
        let event = &self.request.event;
        let request = PlanRequest {
            scope: PlanScope::Registry(&self.registry_file()?),
            base: event["pull_request"]["base"]["sha"].as_str(),
            stage: self.request.inputs.stage.as_deref(),
            live: false,
        };
        let planned = plan_registry(self.reporter, &self.fx.clock, &request)?;
        let plan = planned.plan;
        let markdown = render_markdown(&plan, COMMENT_LIMIT);
        outputs.has_changes = !plan.is_empty();
        outputs.summary = plan.summary.line();
        outputs.images = serde_json::to_value(&plan.builds).unwrap_or_else(|_| json!([]));
        let from = planned.base.as_deref().unwrap_or("nothing");
        (self.reporter).say(&format!("fleet plan: {from} → working tree: {}\n", outputs.summary));
        if self.request.inputs.comment
            && event["pull_request"].is_object()
            && let Err(e) = self.comment(&markdown)
        {
            // A fork's read-only token cannot comment: the summary still holds the plan.
            (self.reporter).say(&format!(
                "::warning::fleet action: the plan comment was not posted: {e}\n"
            ));
        }
        outputs.step_summary = Some(markdown);
        Ok(())
    }

    /// Creates or edits the PR's plan comment.
    fn comment(&self, markdown: &str) -> Result<(), WorkflowError> {
        let event = &self.request.event;
        let number = event["pull_request"]["number"]
            .as_u64()
            .or_else(|| event["number"].as_u64())
            .ok_or_else(|| WorkflowError::failed("the event has no pull request number"))?;
        let owner = CommentOwner {
            author: None,
            touch_unchanged: true,
        };
        on_github(self.request, |gh, repo| async move {
            upsert_plan_comment(&gh, 0, &repo, number, &owner, markdown).await
        })
        .map(drop)
    }

    /// A push: routes with `auto-deploy=#true` of fleets whose files changed, on the default
    /// branch only.
    fn push(&self, outputs: &mut Outputs) -> Result<(), WorkflowError> {
        let (event, runner) = (&self.request.event, &self.request.runner);
        let default_branch = event["repository"]["default_branch"]
            .as_str()
            .ok_or_else(|| WorkflowError::failed("the push event names no repository.default_branch"))?;
        let push = Push {
            git_ref: event["ref"].as_str().or(runner.git_ref.as_deref()),
            default_branch,
            before: event["before"].as_str().unwrap_or_default(),
            after: event["after"].as_str().or(runner.sha.as_deref()).unwrap_or("HEAD"),
        };
        let registry = self.registry_file()?;
        let text = match push_deploys(&push, &registry, || Ok(self.load_head()?.1))? {
            PushDeploys::Routes(ws, routes) => return self.deploy_routes(&registry, &ws, &routes, None, outputs),
            PushDeploys::NotDefaultBranch(git_ref, default) => {
                format!("{git_ref} is not the default branch ({default}); nothing to deploy")
            }
            PushDeploys::Nothing(changed) if changed.is_empty() => {
                "no auto-deploy route of a changed fleet (none changed); nothing to deploy".to_owned()
            }
            PushDeploys::Nothing(changed) => format!(
                "no auto-deploy route of a changed fleet ({} changed); nothing to deploy",
                changed.join(", ")
            ),
        };
        self.reporter.say(&format!("fleet action: {text}.\n"));
        Ok(())
    }

    /// The `fleet` and `stage` inputs.
    fn fleet_and_stage(&self, command: &str) -> Result<(&str, &str), WorkflowError> {
        let inputs = &self.request.inputs;
        inputs
            .fleet
            .as_deref()
            .zip(inputs.stage.as_deref())
            .ok_or_else(|| WorkflowError::Usage(format!("{command} needs the inputs `fleet` and `stage`")))
    }

    /// `command: build`: the `fleet`/`stage` inputs' images, pushed with `push: true`, to
    /// `registry` (default ghcr.io/<owner>); the `images` output lists what was built.
    fn build(&self, outputs: &mut Outputs) -> Result<(), WorkflowError> {
        let (name, stage) = self.fleet_and_stage("command build")?;
        let inputs = &self.request.inputs;
        let fleet = fleet_of_registry(&self.registry_file()?, name)?;
        let request = BuildOptions {
            push: inputs.push,
            registry: inputs.image_registry.clone(),
            platform: inputs.platform.clone(),
            ..BuildOptions::default()
        };
        let line = &mut |service: &str, line: &str| self.reporter.service_line(service, line);
        let built = build_fleet(self.reporter, self.fx.docker.clone(), &fleet, stage, request, line)?;
        outputs.images = serde_json::to_value(&built).unwrap_or_else(|_| json!([]));
        match inputs.push {
            true => self.report_pushed(name, stage, &fleet.dir, &built),
            false => Ok(()),
        }
    }

    /// workflow_dispatch (or `command: deploy`): the `fleet` and `stage` inputs' routes;
    /// `command: rollback`: the same routes run an earlier deploy's images.
    fn dispatch(&self, outputs: &mut Outputs) -> Result<(), WorkflowError> {
        let (fleet, stage) = self.fleet_and_stage("deploy")?;
        let (registry, ws) = self.load_head()?;
        self.deploy_routes(&registry, &ws, &dispatch_routes(&ws, fleet, stage)?, None, outputs)
    }

    fn rollback(&self, to: &RollbackTo, outputs: &mut Outputs) -> Result<(), WorkflowError> {
        let (fleet, stage) = self.fleet_and_stage("rollback")?;
        let (registry, ws) = self.load_head()?;
        self.deploy_routes(&registry, &ws, &dispatch_routes(&ws, fleet, stage)?, Some(to), outputs)
    }

    /// Builds, pushes and deploys each fleet+stage (the App's release), or prints its plan with
    /// dry-run (from the registry `ws`); records each route in `deployed`.
    fn deploy_routes(
        &self,
        registry: &Path,
        ws: &Workspace,
        routes: &[RouteName],
        rollback_to: Option<&RollbackTo>,
        outputs: &mut Outputs,
    ) -> Result<(), WorkflowError> {
        let template = ReleaseRequest {
            rollback_to: rollback_to.cloned(),
            ..self.release_template(registry)?
        };
        let (ssh, docker, dry_run) = (self.fx.ssh.as_ref(), &self.fx.docker, self.request.inputs.dry_run);
        let released = release_routes(self.reporter, ssh, docker, &template, ws, routes, dry_run);
        for ((fleet, stage, server), status) in &released.routes {
            let entry = json!({ "fleet": fleet, "stage": stage, "server": server, "status": status });
            outputs.deployed.push(entry);
        }
        if !released.images.is_empty() {
            outputs.images = json!(released.images);
        }
        let failed = released.routes.iter().filter(|(_, s)| *s == "failed").count();
        match failed {
            0 => Ok(()),
            failed => Err(WorkflowError::Routes {
                failed,
                total: released.routes.len(),
            }),
        }
    }

    /// What every release of this run shares: the checkout, its commit, who asks, the image
    /// registry and its credentials, and this binary for the servers.
    fn release_template(&self, registry: &Path) -> Result<ReleaseRequest, WorkflowError> {
        let (root, registry_file) = split_path(registry);
        let (inputs, runner) = (&self.request.inputs, &self.request.runner);
        let mut credentials_env = vec![("GITHUB_ACTOR".to_owned(), runner.actor.clone())];
        if let Some(token) = inputs.github_token.as_ref().or(runner.ghcr_token.as_ref()) {
            credentials_env.push(("GHCR_TOKEN".into(), token.clone()));
        }
        Ok(ReleaseRequest {
            commit: (runner.sha.clone())
                .or_else(|| crate::git::git_line(&root, &["rev-parse", "HEAD"]))
                .unwrap_or_else(|| "unknown".into()),
            root,
            registry_file,
            fleet: String::new(),
            stage: String::new(),
            image_registry: inputs.image_registry.clone(),
            credentials_env,
            source_url: runner
                .server_url
                .as_ref()
                .zip(runner.repository.as_ref())
                .map(|(s, r)| format!("{s}/{r}")),
            requested_by: runner.actor.clone(),
            fleet_binary: self.fx.fleet_binary()?,
            given_up: Default::default(),
            lock_token: None,
            rollback_to: None,
            prebuilt: None,
        })
    }
}

/// Runs `call` with the run's GitHub client on a runtime of its own (the Action is synchronous).
fn on_github<T, F>(request: &ActionRequest, call: impl FnOnce(GitHub, RepoRef) -> F) -> Result<T, WorkflowError>
where
    F: std::future::Future<Output = Result<T, crate::github::GitHubError>>,
{
    let (gh, repo) = github_client(request)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(WorkflowError::failed)?;
    rt.block_on(call(gh, repo)).map_err(WorkflowError::failed)
}

/// A GitHub client with the `github-token` input (GITHUB_API_URL, default api.github.com), and
/// the repository (GITHUB_REPOSITORY).
fn github_client(request: &ActionRequest) -> Result<(GitHub, RepoRef), WorkflowError> {
    let token = (request.inputs.github_token.clone()).ok_or_else(|| WorkflowError::Usage("no github-token".into()))?;
    let repo = (request.runner.repository.clone())
        .ok_or_else(|| WorkflowError::Usage("GITHUB_REPOSITORY is not set".into()))?;
    let observer = Arc::new(crate::github::NoObserver);
    let gh = GitHub::with_token(&request.runner.api_url, Secret::new(token), observer)
        .map_err(|e| WorkflowError::Usage(e.to_string()))?;
    Ok((gh, repo))
}
