//! The Action's commands over the application layer: plan a pull request, deploy a push or a
//! dispatch, build; each loads the checkout's configuration with `::error` annotations.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use super::request::ActionRequest;
use super::runner::{annotation, append, escape_data, flag, input};
use super::{Outputs, env};
use crate::application::deploy::release::ReleaseRequest;
use crate::application::image_build::BuildOptions;
use crate::application::jobs::plan_job::{CommentOwner, upsert_plan_comment};
use crate::application::local::{build_fleet, fleet_of_registry};
use crate::application::plan_change::plan_registry;
use crate::application::releases::{Push, PushDeploys, RouteName, dispatch_routes, push_deploys, release_routes};
use crate::application::report::WorkflowError;
use crate::config::discovery::find_registry;
use crate::config::load::{load_registry_file, split_path};
use crate::config::{ConfigDiagnostic, DirFiles, LoadError, LoadOptions, Workspace, load_workspace};
use crate::console::{Console, ConsoleReporter, Effects, exit};
use crate::event::RepoRef;
use crate::git::repo_root;
use crate::github::GitHub;
use crate::plan::{COMMENT_LIMIT, render_markdown};
use crate::secret::Secret;

pub struct Run<'a> {
    pub console: &'a Console,
    pub reporter: &'a ConsoleReporter<'a>,
    pub request: &'a ActionRequest,
    /// Docker, the clock, this binary, and SSH with the workflow's key.
    pub fx: &'a Effects,
}

impl Run<'_> {
    fn fail(&self, e: WorkflowError) -> u8 {
        self.console.finish(Err(e))
    }

    /// fleet-registry.kdl: the `registry-path` input (relative to the workspace), else found
    /// from the workspace as `fleet` finds it.
    fn registry_file(&self) -> Result<PathBuf, WorkflowError> {
        let workspace = &self.request.workspace;
        let flag = input("registry-path").map(|p| workspace.join(p));
        let found = find_registry(flag.as_deref(), None, workspace).map_err(|e| WorkflowError::Usage(e.to_string()))?;
        Ok(std::fs::canonicalize(found.path()).unwrap_or_else(|_| found.path().to_path_buf()))
    }

    /// `::error`/`::warning` lines for diagnostics, files relative to the workspace.
    fn annotations<'d>(&self, dir: &Path, items: impl IntoIterator<Item = &'d ConfigDiagnostic>) -> String {
        let workspace = &self.request.workspace;
        let ws = std::fs::canonicalize(workspace).unwrap_or_else(|_| workspace.clone());
        items.into_iter().map(|d| annotation(d, dir, &ws) + "\n").collect()
    }

    /// Finds the registry and loads the working tree's configuration; its diagnostics become
    /// `::error` annotations.
    fn load_head(&self) -> Result<(PathBuf, Workspace), WorkflowError> {
        let registry = self.registry_file()?;
        let (dir, name) = split_path(&registry);
        match load_workspace(
            &DirFiles { root: dir.clone() },
            &name,
            LoadOptions { verify_fleets: true },
        ) {
            Ok(ws) => {
                self.console.print(&self.annotations(&dir, &ws.warnings.items));
                Ok((registry, ws))
            }
            Err(e) => {
                if let LoadError::Config(c) = &e {
                    self.console.print(&self.annotations(&dir, &c.diagnostics.items));
                } else {
                    self.console
                        .print(&format!("::error::{}\n", escape_data(&e.to_string())));
                }
                Err(WorkflowError::Load(e))
            }
        }
    }

    pub fn plan(&self, outputs: &mut Outputs) -> u8 {
        self.try_plan(outputs).map_or_else(|e| self.fail(e), |()| exit::OK)
    }

    fn try_plan(&self, outputs: &mut Outputs) -> Result<(), WorkflowError> {
        let (registry, head) = self.load_head()?;
        let event = &self.request.event;
        let base_sha = event["pull_request"]["base"]["sha"].as_str();
        let planned = plan_registry(self.reporter, &self.fx.clock, &registry, &head, base_sha, None, false)?;
        let mut plan = planned.plan;
        if let Some(stage) = input("stage") {
            plan = plan.for_stage(&stage);
        }
        let markdown = render_markdown(&plan, COMMENT_LIMIT);
        outputs.has_changes = !plan.is_empty();
        outputs.summary = plan.summary.line();
        outputs.images = serde_json::to_value(&plan.builds).unwrap_or_else(|_| json!([]));
        let from = planned.base.as_deref().unwrap_or("nothing");
        self.console
            .print(&format!("fleet plan: {from} → working tree: {}\n", outputs.summary));
        if let Some(path) = env("GITHUB_STEP_SUMMARY") {
            append(Path::new(&path), &format!("{markdown}\n"))
                .map_err(|e| WorkflowError::failed(format!("cannot write GITHUB_STEP_SUMMARY: {e}")))?;
        }
        let comment =
            flag(input("comment").as_deref(), true).map_err(|e| WorkflowError::Usage(format!("input comment: {e}")))?;
        if comment
            && event["pull_request"].is_object()
            && let Err(e) = self.comment(&markdown)
        {
            // A fork's read-only token cannot comment: the summary still holds the plan.
            self.console.print(&format!(
                "::warning::fleet action: the plan comment was not posted: {e}\n"
            ));
        }
        Ok(())
    }

    /// Creates or edits the PR's plan comment.
    fn comment(&self, markdown: &str) -> Result<(), WorkflowError> {
        let event = &self.request.event;
        let number = event["pull_request"]["number"]
            .as_u64()
            .or_else(|| event["number"].as_u64())
            .ok_or_else(|| WorkflowError::failed("the event has no pull request number"))?;
        let (gh, repo) = github_client()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(WorkflowError::failed)?;
        let owner = CommentOwner {
            author: None,
            touch_unchanged: true,
        };
        rt.block_on(upsert_plan_comment(&gh, 0, &repo, number, &owner, markdown))
            .map_err(WorkflowError::failed)
    }

    /// A push: routes with `auto-deploy=#true` of fleets whose files changed, on the default
    /// branch only.
    pub fn push(&self, outputs: &mut Outputs) -> u8 {
        let event = &self.request.event;
        let git_ref = event["ref"].as_str().map(str::to_owned).or_else(|| env("GITHUB_REF"));
        let Some(default_branch) = event["repository"]["default_branch"].as_str() else {
            return self.fail(WorkflowError::failed(
                "the push event names no repository.default_branch",
            ));
        };
        let after = event["after"].as_str().map(str::to_owned).or_else(|| env("GITHUB_SHA"));
        let push = Push {
            git_ref: git_ref.as_deref(),
            default_branch,
            before: event["before"].as_str().unwrap_or_default(),
            after: after.as_deref().unwrap_or("HEAD"),
        };
        let mut registry = PathBuf::new();
        let decided = push_deploys(&push, || {
            let (file, ws) = self.load_head()?;
            let dir = split_path(&file).0;
            let root = repo_root(&dir).unwrap_or_else(|| self.request.workspace.clone());
            let root = std::fs::canonicalize(&root).unwrap_or(root);
            let under = dir
                .strip_prefix(&root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            registry = file;
            Ok((ws, root, under))
        });
        let text = match decided {
            Err(e) => return self.fail(e),
            Ok(PushDeploys::Routes(routes)) => return self.deploy_routes(&registry, &routes, outputs),
            Ok(PushDeploys::NotDefaultBranch(git_ref, default)) => {
                format!("{git_ref} is not the default branch ({default}); nothing to deploy")
            }
            Ok(PushDeploys::Nothing(changed)) => {
                let changed = if changed.is_empty() {
                    "none".to_owned()
                } else {
                    changed.join(", ")
                };
                format!("no auto-deploy route of a changed fleet ({changed} changed); nothing to deploy")
            }
        };
        self.console.print(&format!("fleet action: {text}.\n"));
        exit::OK
    }

    /// `command: build`: the `fleet`/`stage` inputs' images, pushed with `push: true`, to
    /// `registry` (default ghcr.io/<owner>); the `images` output lists what was built.
    pub fn build(&self, outputs: &mut Outputs) -> u8 {
        let (Some(fleet), Some(stage)) = (input("fleet"), input("stage")) else {
            return self.fail(WorkflowError::Usage(
                "command build needs the inputs `fleet` and `stage`".into(),
            ));
        };
        let built = flag(input("push").as_deref(), false)
            .map_err(|e| WorkflowError::Usage(format!("input push: {e}")))
            .and_then(|push| {
                let fleet = fleet_of_registry(&self.registry_file()?, &fleet)?;
                let request = BuildOptions {
                    push,
                    registry: image_registry(),
                    platform: input("platform"),
                    ..BuildOptions::default()
                };
                let line = &mut |service: &str, line: &str| self.console.service_line(service, line);
                build_fleet(self.reporter, self.fx.docker.clone(), &fleet, &stage, request, line)
            });
        match built {
            Ok(built) => {
                outputs.images = serde_json::to_value(&built).unwrap_or_else(|_| json!([]));
                exit::OK
            }
            Err(e) => self.fail(e),
        }
    }

    /// workflow_dispatch (or command=deploy): the `fleet` and `stage` inputs (or the
    /// dispatch event's inputs of the same names).
    pub fn dispatch(&self, outputs: &mut Outputs) -> u8 {
        let event = &self.request.event;
        let pick = |name: &str| {
            input(name).or_else(|| {
                event["inputs"][name]
                    .as_str()
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
            })
        };
        let (Some(fleet), Some(stage)) = (pick("fleet"), pick("stage")) else {
            return self.fail(WorkflowError::Usage("deploy needs the fleet and stage inputs".into()));
        };
        match self
            .load_head()
            .and_then(|(registry, ws)| Ok((registry, dispatch_routes(&ws, &fleet, &stage)?)))
        {
            Ok((registry, routes)) => self.deploy_routes(&registry, &routes, outputs),
            Err(e) => self.fail(e),
        }
    }

    /// Builds, pushes and deploys each fleet+stage (the App's release), or prints its plan with
    /// dry-run; records each route in `deployed`.
    fn deploy_routes(&self, registry: &Path, routes: &[RouteName], outputs: &mut Outputs) -> u8 {
        let released = self.release_template(registry).and_then(|template| {
            let ws = load_registry_file(registry, LoadOptions { verify_fleets: true })?;
            Ok(release_routes(
                self.reporter,
                self.fx.ssh.as_ref(),
                &self.fx.docker,
                &template,
                &ws,
                routes,
                self.request.dry_run,
            ))
        });
        let released = match released {
            Ok(r) => r,
            Err(e) => return self.fail(e),
        };
        for ((fleet, stage, server), status) in &released.routes {
            let entry = json!({ "fleet": fleet, "stage": stage, "server": server, "status": status });
            outputs.deployed.push(entry);
        }
        if !released.images.is_empty() {
            outputs.images = json!(released.images);
        }
        if released.ok() { exit::OK } else { exit::FAILURE }
    }

    /// What every release of this run shares: the checkout, its commit, who asks, the image
    /// registry and its credentials, and this binary for the servers.
    fn release_template(&self, registry: &Path) -> Result<ReleaseRequest, WorkflowError> {
        let (root, registry_file) = split_path(registry);
        let actor = env("GITHUB_ACTOR").unwrap_or_else(|| "github-actions".into());
        let mut credentials_env = vec![("GITHUB_ACTOR".to_owned(), actor.clone())];
        if let Some(token) = input("github-token").or_else(|| env("GHCR_TOKEN")) {
            credentials_env.push(("GHCR_TOKEN".into(), token));
        }
        let fleet_binary = self.fx.fleet_binary()?;
        Ok(ReleaseRequest {
            commit: env("GITHUB_SHA")
                .or_else(|| crate::git::git_line(&root, &["rev-parse", "HEAD"]))
                .unwrap_or_else(|| "unknown".into()),
            root,
            registry_file,
            fleet: String::new(),
            stage: String::new(),
            image_registry: image_registry(),
            credentials_env,
            source_url: env("GITHUB_SERVER_URL")
                .zip(env("GITHUB_REPOSITORY"))
                .map(|(server, repo)| format!("{server}/{repo}")),
            requested_by: actor,
            fleet_binary,
        })
    }
}

/// A GitHub client with the `github-token` input (GITHUB_API_URL, default api.github.com), and
/// the repository (GITHUB_REPOSITORY).
pub fn github_client() -> Result<(GitHub, RepoRef), WorkflowError> {
    let token = input("github-token").ok_or_else(|| WorkflowError::Usage("no github-token".into()))?;
    let repository =
        env("GITHUB_REPOSITORY").ok_or_else(|| WorkflowError::Usage("GITHUB_REPOSITORY is not set".into()))?;
    let (owner, name) = repository
        .split_once('/')
        .ok_or_else(|| WorkflowError::Usage(format!("GITHUB_REPOSITORY {repository:?} is not owner/name")))?;
    let repo = RepoRef {
        owner: owner.to_owned(),
        name: name.to_owned(),
    };
    let api = env("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
    let gh = GitHub::with_token(&api, Secret::new(token), Arc::new(crate::github::NoObserver))
        .map_err(|e| WorkflowError::Usage(e.to_string()))?;
    Ok((gh, repo))
}

/// The `registry` input, else `ghcr.io/<owner>` (lowercase, as GHCR names are).
pub fn image_registry() -> Option<String> {
    input("registry").or_else(|| {
        let owner = env("GITHUB_REPOSITORY_OWNER")
            .or_else(|| env("GITHUB_REPOSITORY").and_then(|r| r.split_once('/').map(|(o, _)| o.to_owned())))?;
        Some(format!("ghcr.io/{}", owner.to_lowercase()))
    })
}
