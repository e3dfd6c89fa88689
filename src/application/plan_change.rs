//! Planning a change: the configuration at a base revision against the one at the head, with
//! the recorded infrastructure state, and — where the state records resources — the live
//! providers, so drift made outside fleetflow shows. The CLI, the Action and the App's plan job
//! plan the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::report::{Reporter, WorkflowError};
use super::workspace::{FleetChoice, registry_file, select_fleet};
use crate::clock::Clock;
use crate::cloud::infra::{self, Scope};
use crate::config::load::{ConfigFiles, REGISTRY_FILE};
use crate::config::source::{ReadError, SourceFile};
use crate::config::{DirFiles, LoadError, LoadOptions, Workspace, load_workspace};
use crate::git::GitFiles;
use crate::git::{default_base, repo_root};
use crate::plan::snapshot::Address;
use crate::plan::state::State;
use crate::plan::{Change, Plan, Snapshot, Summary};
use crate::state_store::StateStore;

/// The base workspace and how it was chosen (`origin/HEAD (0123456789ab)`); `None` when
/// everything is new.
pub type Base = Option<(Workspace, String)>;

/// The recorded infrastructure state beside the registry (`.fleetflow/state.json`), if any.
pub fn load_state(registry_dir: &Path) -> Result<Option<State>, WorkflowError> {
    StateStore::new(registry_dir.join(".fleetflow"))
        .load_if_exists()
        .map_err(WorkflowError::failed)
}

/// The configuration at `base` (default: the merge base with the default branch) of the
/// registry `name` in `dir`; `None` outside git, without a base commit, or when the registry
/// did not exist there.
pub fn load_base(dir: &Path, name: &str, base: Option<&str>) -> Result<Base, WorkflowError> {
    load_base_with(dir, name, base, None)
}

/// [`load_base`], the registry file made up by `lone` when planning a fleet on its own.
fn load_base_with(dir: &Path, name: &str, base: Option<&str>, lone: Option<&LoneFleet>) -> Result<Base, WorkflowError> {
    if base == Some("none") {
        return Ok(None);
    }
    let Some(root) = repo_root(dir) else {
        return match base {
            Some(_) => Err(WorkflowError::failed(format!(
                "--base needs a git repository; {} is not in one",
                dir.display()
            ))),
            None => Ok(None),
        };
    };
    let (rev, label) = match base {
        Some(rev) => (rev.to_owned(), rev.to_owned()),
        None => match default_base(&root) {
            Some((commit, how)) => (commit, how),
            None => return Ok(None),
        },
    };
    let files = GitFiles::at(&root, &rev).map_err(WorkflowError::failed)?;
    let canonical_root = std::fs::canonicalize(&root).unwrap_or(root);
    let Ok(relative) = dir.strip_prefix(&canonical_root) else {
        return Err(WorkflowError::failed(format!(
            "{} is outside the repository {}",
            dir.display(),
            canonical_root.display()
        )));
    };
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    parts.push(name.to_owned());
    let label = format!("{label} ({})", files.rev.get(..12).unwrap_or(&files.rev));
    let registry_path = parts.join("/");
    let overlay;
    let files: &dyn ConfigFiles = match lone {
        Some(lone) => {
            overlay = lone.beside(&files, &registry_path);
            &overlay
        }
        None => &files,
    };
    match load_workspace(files, &registry_path, LoadOptions { verify_fleets: false }) {
        Ok(workspace) => Ok(Some((workspace, label))),
        Err(LoadError::Missing { .. }) => Ok(None),
        Err(error) => Err(WorkflowError::BaseInvalid { label, error }),
    }
}

/// The plan from `base` to `head` with `state`; its infrastructure against the live providers
/// when `live` (the CLI), as recorded otherwise; only `stage`'s changes when given (a stage no
/// fleet defines, here or at the base, is a usage error).
pub fn plan_change(
    reporter: &dyn Reporter,
    clock: &Arc<dyn Clock>,
    head: &Workspace,
    base: &Base,
    state: Option<&State>,
    stage: Option<&str>,
    live: bool,
) -> Result<Plan, WorkflowError> {
    let base_snapshot = base.as_ref().map(|(w, _)| Snapshot::from_workspace(w));
    let mut plan = crate::plan::plan(base_snapshot.as_ref(), &Snapshot::from_workspace(head), state);
    if live && let Some(state) = state {
        with_live_infrastructure(reporter, clock, head, state, &mut plan);
    }
    if let Some(stage) = stage {
        let defined = std::iter::once(head)
            .chain(base.as_ref().map(|(w, _)| w))
            .flat_map(|w| w.fleets.values())
            .any(|f| f.stage(stage).is_some());
        if !defined {
            return Err(WorkflowError::Usage(format!(
                "no fleet defines stage `{stage}` (here or at the base)"
            )));
        }
        plan = plan.for_stage(stage);
    }
    Ok(plan)
}

/// Replaces the plan's provisioned cloud resources, for each fleet whose resources the state
/// records, by the plan against the live providers: drift made outside fleetflow shows. A
/// provider that cannot be reached (no credentials) leaves that fleet's part as planned from
/// the recorded state, with a note.
fn with_live_infrastructure(
    reporter: &dyn Reporter,
    clock: &Arc<dyn Clock>,
    head: &Workspace,
    state: &State,
    plan: &mut Plan,
) {
    for (name, config) in &head.fleets {
        let scope = Scope {
            fleet: Some(name.clone()),
            stage: None,
        };
        let recorded = state
            .resources
            .iter()
            .any(|r| infra::parse_address(&r.address).is_some_and(|a| scope.contains(&a)));
        if !recorded {
            continue;
        }
        let desired = infra::desired(&Snapshot::from_fleet(name, config), &scope);
        let refreshed = crate::cloud::session::providers_for(config, &desired, state, &scope, clock.clone())
            .map_err(|e| format!("{e:#}"))
            .and_then(|providers| {
                let retry = crate::cloud::RetryConfig::default();
                infra::refresh(&providers, clock.as_ref(), &retry, state, &desired, &scope).map_err(|e| e.to_string())
            });
        let refreshed = match refreshed {
            Ok(r) => r,
            Err(e) => {
                reporter.note(&format!(
                    "note: the infrastructure of {name} was planned from the recorded state, not the live one: {e}"
                ));
                continue;
            }
        };
        for n in &refreshed.notes {
            reporter.note(&format!("drift: {n}"));
        }
        // Only resources whose provider was reached; the others stay as planned.
        let covered = |c: &Change| match &c.address {
            Address::Cloud { kind, .. } if scope.contains(&c.address) => {
                infra::provider_of(*kind, c.after.as_ref().or(c.before.as_ref()))
                    .is_some_and(|p| !refreshed.unavailable.contains(&p))
            }
            _ => false,
        };
        let live = infra::plan_infra(&desired, &refreshed.state, &scope);
        plan.changes.retain(|c| !covered(c));
        plan.changes.extend(live.changes.into_iter().filter(|c| covered(c)));
    }
    plan.changes
        .sort_by(|a, b| (a.address.section(), &a.address).cmp(&(b.address.section(), &b.address)));
    plan.summary = Summary::of(&plan.changes);
}

/// What [`plan_registry`] planned, and against which base (`None`: everything is new).
pub struct Planned {
    pub plan: Plan,
    /// How the base was chosen (`origin/HEAD (0123456789ab)`).
    pub base: Option<String>,
}

/// `fleet plan`: the working tree's configuration (its warnings shown) planned against `base`
/// (with the live providers' drift): the registry (`--registry`, else found from here), or
/// `chosen` fleet on its own; outside any registry, the fleet around the current directory.
pub fn plan_working_tree(
    reporter: &dyn Reporter,
    clock: &Arc<dyn Clock>,
    registry_flag: Option<&Path>,
    chosen: Option<&FleetChoice>,
    base: Option<&str>,
    stage: Option<&str>,
) -> Result<Plan, WorkflowError> {
    let registry = if chosen.is_some() {
        None
    } else {
        Some(registry_file(registry_flag))
    };
    let default = FleetChoice::default();
    let (registry_path, lone) = match registry {
        Some(Ok(path)) => (path, None),
        Some(Err(e)) if registry_flag.is_some() => return Err(e),
        // No registry here: the fleet around the current directory, if there is one.
        Some(Err(e)) => (PathBuf::new(), Some(select_fleet(&default, None, None).map_err(|_| e)?)),
        None => (
            PathBuf::new(),
            Some(select_fleet(chosen.unwrap_or(&default), registry_flag, None)?),
        ),
    };
    let state_dir =
        (lone.as_ref()).map(|fleet| super::infra::state_dir(registry_file(registry_flag).ok().as_deref(), fleet));
    let scope = match (&lone, &state_dir) {
        (Some(fleet), Some(state_dir)) => PlanScope::Fleet {
            dir: &fleet.dir,
            name: &fleet.project,
            state_dir,
        },
        _ => PlanScope::Registry(&registry_path),
    };
    let request = PlanRequest {
        scope,
        base,
        stage,
        live: true,
    };
    plan_registry(reporter, clock, &request).map(|p| p.plan)
}

/// What to plan: the working tree of a registry against a base revision.
pub struct PlanRequest<'a> {
    /// What is planned: a registry and its fleets, or one fleet on its own.
    pub scope: PlanScope<'a>,
    /// The base revision (see [`load_base`]).
    pub base: Option<&'a str>,
    /// Only this stage's changes.
    pub stage: Option<&'a str>,
    /// Ask the live providers (drift).
    pub live: bool,
}

/// What `fleet plan` plans.
#[derive(Debug, Clone, Copy)]
pub enum PlanScope<'a> {
    /// fleet-registry.kdl: every fleet it names, its servers and routes.
    Registry(&'a Path),
    /// One fleet on its own (`--fleet`, `--file`, or no registry): `dir` holds its
    /// `.fleetflow/`, `name` is its project, `state_dir` holds the `.fleetflow/state.json` its
    /// infrastructure is recorded in (the registry's root when a registry lists the fleet).
    Fleet {
        dir: &'a Path,
        name: &'a str,
        state_dir: &'a Path,
    },
}

/// A fleet planned on its own, read as the registry of that one fleet: the registry's text is
/// made up, the fleet's files are read where they are (on disk, or at the base commit).
struct LoneFleet {
    registry: String,
}

impl LoneFleet {
    fn named(name: &str) -> Self {
        let name = name.replace(['\\', '"'], "");
        LoneFleet {
            registry: format!("registry \"{name}\"\n\nfleet \"{name}\" {{\n    path \".\"\n}}\n"),
        }
    }

    /// `files`, with this registry at `path`.
    fn beside<'f>(&self, files: &'f dyn ConfigFiles, path: &str) -> Overlay<'f> {
        Overlay {
            files,
            path: path.to_owned(),
            text: self.registry.clone(),
        }
    }
}

struct Overlay<'f> {
    files: &'f dyn ConfigFiles,
    path: String,
    text: String,
}

impl ConfigFiles for Overlay<'_> {
    fn read(&self, relative: &str) -> Result<Option<SourceFile>, ReadError> {
        if relative == self.path {
            return Ok(Some(SourceFile::from_text(relative, &self.text)));
        }
        self.files.read(relative)
    }

    fn list(&self, relative: &str) -> Option<Vec<String>> {
        self.files.list(relative)
    }
}

/// The plan of the registry's working tree (its warnings reported) against its configuration
/// at the base, with the state recorded beside it. Notes which base it plans against.
pub fn plan_registry(
    reporter: &dyn Reporter,
    clock: &Arc<dyn Clock>,
    request: &PlanRequest,
) -> Result<Planned, WorkflowError> {
    let PlanRequest {
        scope,
        base,
        stage,
        live,
    } = *request;
    let (dir, name, lone) = match scope {
        PlanScope::Registry(registry) => {
            let (dir, name) = crate::config::load::split_path(registry);
            (dir, name, None)
        }
        PlanScope::Fleet { dir, name, .. } => (
            dir.to_path_buf(),
            REGISTRY_FILE.to_owned(),
            Some(LoneFleet::named(name)),
        ),
    };
    // The base (git objects) and the head (the working tree) are read at once.
    let (head, base) = std::thread::scope(|scope| {
        let base = scope.spawn(|| load_base_with(&dir, &name, base, lone.as_ref()));
        let disk = DirFiles { root: dir.clone() };
        let head = match &lone {
            Some(lone) => load_workspace(&lone.beside(&disk, &name), &name, LoadOptions::default()),
            None => load_workspace(&disk, &name, LoadOptions::default()),
        };
        let base = base
            .join()
            .unwrap_or_else(|_| Err(WorkflowError::failed("reading the base configuration failed")));
        (head, base)
    });
    let head = head?;
    reporter.diagnostics(&dir, &head.warnings);
    let base = base?;
    let state = match scope {
        PlanScope::Fleet { state_dir, .. } => load_state(state_dir)?,
        PlanScope::Registry(_) => load_state(&dir)?,
    };
    reporter.note(&match &base {
        Some((_, label)) => format!("fleet plan: {label} → working tree"),
        None => "fleet plan: no base configuration (not in git, or no base commit): everything is new".to_owned(),
    });
    let mut plan = plan_change(reporter, clock, &head, &base, state.as_ref(), stage, live)?;
    if lone.is_some() {
        // The made-up registry's own entry is not a change anybody made.
        plan.changes.retain(|c| !matches!(c.address, Address::Fleet { .. }));
        plan.summary = Summary::of(&plan.changes);
    }
    Ok(Planned {
        plan,
        base: base.map(|(_, label)| label),
    })
}
