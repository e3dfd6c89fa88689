//! `fleet action`: the entrypoint of the containerized GitHub Action (action.yml). Reads what
//! the runner passes (GITHUB_* variables, INPUT_* inputs, the event file) and plans a pull
//! request, deploys a push to the default branch, or deploys a dispatched fleet+stage.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use serde_json::{Value, json};

use super::registry_remote_cmd::{self, DeployArgs};
use super::validate_cmd::split_path;
use super::{Console, Output, exit, plan_cmd};
use crate::action::{annotation, append, escape_data, flag, input, merge_deploys, output_entry};
use crate::config::discovery::find_registry;
use crate::config::{ConfigDiagnostic, DirFiles, LoadError, LoadOptions, Workspace, load_workspace};
use crate::github::GitHub;
use crate::pipeline::metrics::Metrics;
use crate::plan::{COMMENT_LIMIT, PLAN_MARKER, Plan, Snapshot, render_markdown};
use crate::webhook::{RepoRef, Secret};

/// Everything comes from the environment the runner sets up (see action.yml).
#[derive(Debug, Args)]
pub struct ActionArgs {}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// What one run learned, written to GITHUB_OUTPUT at the end.
#[derive(Default)]
struct Outputs {
    has_changes: bool,
    summary: String,
    images: Value,
    deployed: Vec<Value>,
}

struct Run<'a> {
    console: &'a Console,
    workspace: PathBuf,
    event: Value,
    dry_run: bool,
}

pub fn run(console: &Console, _args: &ActionArgs) -> u8 {
    let dry_run = match flag(input("dry-run").as_deref(), false) {
        Ok(v) => v,
        Err(e) => {
            console.error(&format!("input dry-run: {e}"));
            return exit::USAGE;
        }
    };
    // Removed (with the key) when the run ends.
    let _ssh_files = match ssh_setup() {
        Ok(dir) => dir,
        Err(e) => {
            console.error(&e);
            return exit::FAILURE;
        }
    };
    let workspace = env("GITHUB_WORKSPACE")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    let event = match env("GITHUB_EVENT_PATH") {
        Some(path) => match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => {
                console.error(&format!("cannot read the event file {path}: {e}"));
                return exit::FAILURE;
            }
        },
        None => Value::Null,
    };
    let run = Run {
        console,
        workspace,
        event,
        dry_run,
    };
    let mut outputs = Outputs {
        images: json!([]),
        ..Outputs::default()
    };
    let event_name = env("GITHUB_EVENT_NAME").unwrap_or_default();
    let command = input("command").unwrap_or_else(|| "auto".into());
    let code = match (command.as_str(), event_name.as_str()) {
        ("auto", "pull_request" | "pull_request_target") | ("plan", _) => run.plan(&mut outputs),
        ("auto", "push") => run.push(&mut outputs),
        ("auto", "workflow_dispatch") | ("deploy", _) => run.dispatch(&mut outputs),
        ("auto", "issue_comment") => {
            let (code, deployed) = super::action_chatops::run(console, &run.event, dry_run);
            outputs.deployed = deployed;
            code
        }
        ("build", _) => run.build(&mut outputs),
        ("auto", other) => {
            console.print(&format!("fleet action: nothing to do for the `{other}` event.\n"));
            exit::OK
        }
        (other, _) => {
            console.error(&format!(
                "input command: expected plan, build, deploy or auto, got {other:?}"
            ));
            exit::USAGE
        }
    };
    if let Err(e) = write_outputs(&outputs) {
        console.error(&format!("cannot write GITHUB_OUTPUT: {e}"));
        return exit::FAILURE;
    }
    code
}

/// The `ssh-private-key` and `ssh-known-hosts` inputs, written to files under RUNNER_TEMP
/// (else, or when that directory does not exist, the system temp dir) and handed to the SSH
/// layer as FLEET_SSH_KEY and FLEET_SSH_KNOWN_HOSTS.
fn ssh_setup() -> Result<Option<tempfile::TempDir>, String> {
    let key = input("ssh-private-key");
    let known = input("ssh-known-hosts");
    if key.is_none() && known.is_none() {
        return Ok(None);
    }
    // A container action gets the runner's RUNNER_TEMP path but not that directory (only the
    // workspace, home, workflow and file-command directories are mounted): then the system temp.
    let dir = env("RUNNER_TEMP")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("fleetflow-ssh-")
        .tempdir_in(&dir)
        .map_err(|e| format!("cannot create a directory for the SSH key in {}: {e}", dir.display()))?;
    let write = |name: &str, text: &str| -> Result<PathBuf, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.path().join(name);
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        std::io::Write::write_all(&mut f, format!("{}\n", text.trim_end()).as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    };
    let key = key.map(|k| write("id_key", &k)).transpose()?;
    let known = known.map(|k| write("known_hosts", &k)).transpose()?;
    // SAFETY: called first thing in `fleet action`, before any thread or runtime starts.
    unsafe {
        if let Some(k) = key {
            std::env::set_var("FLEET_SSH_KEY", k);
        }
        if let Some(k) = known {
            std::env::set_var("FLEET_SSH_KNOWN_HOSTS", k);
        }
    }
    Ok(Some(dir))
}

fn write_outputs(o: &Outputs) -> std::io::Result<()> {
    let Some(path) = env("GITHUB_OUTPUT") else {
        return Ok(());
    };
    let text = [
        output_entry("plan-has-changes", if o.has_changes { "true" } else { "false" }),
        output_entry("plan-summary", &o.summary),
        output_entry("images", &o.images.to_string()),
        output_entry("deployed", &Value::Array(o.deployed.clone()).to_string()),
    ]
    .concat();
    append(Path::new(&path), &text)
}

impl Run<'_> {
    /// fleet-registry.kdl: the `registry-path` input (relative to the workspace), else found
    /// from the workspace as `fleet` finds it.
    fn registry_file(&self) -> Result<PathBuf, u8> {
        let flag = input("registry-path").map(|p| self.workspace.join(p));
        let found = find_registry(flag.as_deref(), None, &self.workspace).map_err(|e| {
            self.console.error(&e.to_string());
            exit::USAGE
        })?;
        Ok(std::fs::canonicalize(found.path()).unwrap_or_else(|_| found.path().to_path_buf()))
    }

    /// `::error`/`::warning` lines for diagnostics, files relative to the workspace.
    fn annotations<'d>(&self, dir: &Path, items: impl IntoIterator<Item = &'d ConfigDiagnostic>) -> String {
        let ws = std::fs::canonicalize(&self.workspace).unwrap_or_else(|_| self.workspace.clone());
        items.into_iter().map(|d| annotation(d, dir, &ws) + "\n").collect()
    }

    /// Finds the registry and loads the working tree's configuration; errors become `::error`
    /// annotations.
    fn load_head(&self) -> Result<(PathBuf, Workspace), u8> {
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
                Err(self.console.report_load_error(&e))
            }
        }
    }

    fn plan(&self, outputs: &mut Outputs) -> u8 {
        let (registry, head) = match self.load_head() {
            Ok(loaded) => loaded,
            Err(code) => return code,
        };
        let (dir, name) = split_path(&registry);
        let base_sha = self.event["pull_request"]["base"]["sha"].as_str();
        let base = match plan_cmd::load_base(self.console, &dir, &name, base_sha) {
            Ok(b) => b,
            Err(code) => return code,
        };
        let state = match plan_cmd::load_state(self.console, &dir) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let base_snapshot = base.as_ref().map(|(w, _)| Snapshot::from_workspace(w));
        let mut plan = crate::plan::plan(base_snapshot.as_ref(), &Snapshot::from_workspace(&head), state.as_ref());
        if let Some(stage) = input("stage") {
            plan = plan.for_stage(&stage);
        }
        let markdown = render_markdown(&plan, COMMENT_LIMIT);
        fill_plan_outputs(outputs, &plan);
        self.console.print(&format!(
            "fleet plan: {} → working tree: {}\n",
            base.as_ref().map_or("nothing", |(_, l)| l.as_str()),
            outputs.summary
        ));
        if let Some(path) = env("GITHUB_STEP_SUMMARY")
            && let Err(e) = append(Path::new(&path), &format!("{markdown}\n"))
        {
            self.console.error(&format!("cannot write GITHUB_STEP_SUMMARY: {e}"));
            return exit::FAILURE;
        }
        let comment = match flag(input("comment").as_deref(), true) {
            Ok(c) => c,
            Err(e) => {
                self.console.error(&format!("input comment: {e}"));
                return exit::USAGE;
            }
        };
        let is_pull_request = self.event["pull_request"].is_object();
        if comment
            && is_pull_request
            && let Err(e) = self.comment(&markdown)
        {
            // A fork's read-only token cannot comment: the summary still holds the plan.
            self.console.print(&format!(
                "::warning::fleet action: the plan comment was not posted: {e}\n"
            ));
        }
        exit::OK
    }

    /// Creates or edits the PR's plan comment (found by [`PLAN_MARKER`]).
    fn comment(&self, markdown: &str) -> Result<(), String> {
        let number = self.event["pull_request"]["number"]
            .as_u64()
            .or_else(|| self.event["number"].as_u64())
            .ok_or("the event has no pull request number")?;
        let (gh, repo) = github_client()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let comments = gh.comments(0, &repo, number).await.map_err(|e| e.to_string())?;
            let ours = comments
                .iter()
                .find(|c| c.body.as_deref().is_some_and(|b| b.starts_with(PLAN_MARKER)));
            match ours {
                Some(c) => gh.update_comment(0, &repo, c.id, markdown).await,
                None => gh.create_comment(0, &repo, number, markdown).await.map(|_| ()),
            }
            .map_err(|e| e.to_string())
        })
    }

    /// A push: routes with `auto-deploy=#true` of fleets whose files changed, on the default
    /// branch only.
    fn push(&self, outputs: &mut Outputs) -> u8 {
        let git_ref = self.event["ref"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| env("GITHUB_REF"));
        let default = self.event["repository"]["default_branch"].as_str();
        let Some(default) = default else {
            self.console.error("the push event names no repository.default_branch");
            return exit::FAILURE;
        };
        if git_ref.as_deref() != Some(&format!("refs/heads/{default}")) {
            self.console.print(&format!(
                "fleet action: {} is not the default branch ({default}); nothing to deploy.\n",
                git_ref.unwrap_or_default()
            ));
            return exit::OK;
        }
        let (registry, ws) = match self.load_head() {
            Ok(loaded) => loaded,
            Err(code) => return code,
        };
        let (dir, _) = split_path(&registry);
        let root = crate::plan::git_files::repo_root(&dir).unwrap_or_else(|| self.workspace.clone());
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        let registry_dir = dir
            .strip_prefix(&root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let before = self.event["before"].as_str().unwrap_or_default();
        let after = self.event["after"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| env("GITHUB_SHA"))
            .unwrap_or_else(|| "HEAD".into());
        let files = if before.is_empty() || before.bytes().all(|b| b == b'0') {
            None // a new branch: no "before"; every fleet counts as changed
        } else {
            match git_diff(&root, before, &after) {
                Ok(files) => Some(files),
                Err(e) => {
                    self.console.error(&e);
                    return exit::FAILURE;
                }
            }
        };
        let (changed, routes) = merge_deploys(&ws, &registry_dir, files.as_deref());
        let routes: Vec<(String, String, String)> = routes
            .iter()
            .map(|r| (r.fleet.value.clone(), r.stage.value.clone(), r.server.value.clone()))
            .collect();
        if routes.is_empty() {
            self.console.print(&format!(
                "fleet action: no auto-deploy route of a changed fleet ({} changed); nothing to deploy.\n",
                if changed.is_empty() {
                    "none".to_owned()
                } else {
                    changed.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            ));
            return exit::OK;
        }
        self.deploy_routes(&registry, &routes, outputs)
    }

    /// workflow_dispatch (or command=deploy): the `fleet` and `stage` inputs (or the
    /// dispatch event's inputs of the same names).
    /// `command: build`: the `fleet`/`stage` inputs' images, pushed with `push: true`, to
    /// `registry` (default ghcr.io/<owner>); the `images` output lists what was built.
    fn build(&self, outputs: &mut Outputs) -> u8 {
        let (Some(fleet), Some(stage)) = (input("fleet"), input("stage")) else {
            self.console.error("command build needs the inputs `fleet` and `stage`");
            return exit::USAGE;
        };
        let push = match crate::action::flag(input("push").as_deref(), false) {
            Ok(p) => p,
            Err(e) => {
                self.console.error(&format!("input push: {e}"));
                return exit::USAGE;
            }
        };
        let registry = match self.registry_file() {
            Ok(r) => r,
            Err(code) => return code,
        };
        let args = super::build_cmd::BuildArgs {
            stage,
            services: Vec::new(),
            push,
            tag: None,
            registry: image_registry(),
            platform: input("platform"),
            no_cache: false,
            output: super::Output::Text,
            fleet: super::fleet_select::FleetSelect {
                fleet: Some(fleet),
                file: None,
            },
        };
        match super::build_cmd::build(self.console, Some(&registry), &args) {
            Ok(built) => {
                outputs.images = serde_json::to_value(&built).unwrap_or_else(|_| json!([]));
                exit::OK
            }
            Err(code) => code,
        }
    }

    fn dispatch(&self, outputs: &mut Outputs) -> u8 {
        let pick = |name: &str| {
            input(name).or_else(|| {
                self.event["inputs"][name]
                    .as_str()
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
            })
        };
        let (Some(fleet), Some(stage)) = (pick("fleet"), pick("stage")) else {
            self.console.error("deploy needs the fleet and stage inputs");
            return exit::USAGE;
        };
        let (registry, ws) = match self.load_head() {
            Ok(loaded) => loaded,
            Err(code) => return code,
        };
        let routes: Vec<(String, String, String)> = ws
            .registry
            .routes_of(&fleet)
            .filter(|r| r.stage.value == stage)
            .map(|r| (fleet.clone(), stage.clone(), r.server.value.clone()))
            .collect();
        if routes.is_empty() {
            self.console.error(&format!(
                "the registry has no route for fleet `{fleet}` stage `{stage}`"
            ));
            return exit::USAGE;
        }
        self.deploy_routes(&registry, &routes, outputs)
    }

    /// Builds, pushes and deploys each fleet+stage (the App's release), or prints its plan with
    /// dry-run; records each route in `deployed`.
    fn deploy_routes(&self, registry: &Path, routes: &[(String, String, String)], outputs: &mut Outputs) -> u8 {
        let image_registry = image_registry();
        if !self.dry_run {
            let pairs: Vec<(String, String)> = routes.iter().map(|(f, s, _)| (f.clone(), s.clone())).collect();
            let (code, released) = super::action_release::release_all(self.console, registry, &pairs, image_registry);
            let mut images = Vec::new();
            for r in released {
                images.extend(r.images.iter().cloned());
                for (_, _, server) in routes.iter().filter(|(f, s, _)| *f == r.fleet && *s == r.stage) {
                    let status = if r.ok { "deployed" } else { "failed" };
                    outputs
                        .deployed
                        .push(json!({ "fleet": r.fleet, "stage": r.stage, "server": server, "status": status }));
                }
            }
            if !images.is_empty() {
                outputs.images = json!(images);
            }
            return code;
        }
        let mut code = exit::OK;
        let mut done = std::collections::BTreeSet::new();
        for (fleet, stage, _) in routes {
            if !done.insert((fleet.clone(), stage.clone())) {
                continue;
            }
            let args = DeployArgs {
                fleet: fleet.clone(),
                stage: Some(stage.clone()),
                yes: !self.dry_run,
                no_pull: false,
                image_registry: image_registry.clone(),
                registry: Some(registry.to_path_buf()),
                output: Output::Text,
            };
            let c = registry_remote_cmd::deploy(self.console, Some(registry), &args);
            let status = match (c, self.dry_run) {
                (exit::OK, true) => "planned",
                (exit::OK, false) => "deployed",
                _ => "failed",
            };
            for (_, _, server) in routes.iter().filter(|(f, s, _)| f == fleet && s == stage) {
                outputs
                    .deployed
                    .push(json!({ "fleet": fleet, "stage": stage, "server": server, "status": status }));
            }
            if c != exit::OK {
                code = exit::FAILURE;
            }
        }
        code
    }
}

/// A GitHub client with the `github-token` input (GITHUB_API_URL, default api.github.com), and
/// the repository (GITHUB_REPOSITORY).
pub(super) fn github_client() -> Result<(GitHub, RepoRef), String> {
    let token = input("github-token").ok_or("no github-token")?;
    let repository = env("GITHUB_REPOSITORY").ok_or("GITHUB_REPOSITORY is not set")?;
    let (owner, name) = repository
        .split_once('/')
        .ok_or_else(|| format!("GITHUB_REPOSITORY {repository:?} is not owner/name"))?;
    let repo = RepoRef {
        owner: owner.to_owned(),
        name: name.to_owned(),
    };
    let api = env("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
    let gh = GitHub::with_token(&api, Secret::new(token), Arc::new(Metrics::default()))?;
    Ok((gh, repo))
}

/// The `registry` input, else `ghcr.io/<owner>` (lowercase, as GHCR names are).
pub(super) fn image_registry() -> Option<String> {
    input("registry").or_else(|| {
        let owner = env("GITHUB_REPOSITORY_OWNER")
            .or_else(|| env("GITHUB_REPOSITORY").and_then(|r| r.split_once('/').map(|(o, _)| o.to_owned())))?;
        Some(format!("ghcr.io/{}", owner.to_lowercase()))
    })
}

fn fill_plan_outputs(outputs: &mut Outputs, plan: &Plan) {
    outputs.has_changes = !plan.is_empty();
    outputs.summary = plan.summary.line();
    outputs.images = serde_json::to_value(&plan.builds).unwrap_or_else(|_| json!([]));
}

/// Paths changed between two commits (`git diff --name-only`), relative to the repository root.
fn git_diff(root: &Path, before: &str, after: &str) -> Result<Vec<String>, String> {
    let out = crate::plan::git_files::git(root, &["diff", "--name-only", before, after])
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git diff {before} {after} failed (is the checkout deep enough? use fetch-depth: 0): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}
