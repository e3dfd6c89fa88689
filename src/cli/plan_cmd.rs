//! `fleet plan` (base commit → working tree) and `fleet state show|unlock`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::validate_cmd::split_path;
use super::{ColorChoice, Console, Output, exit};
use crate::config::discovery::find_registry;
use crate::config::{DirFiles, LoadError, LoadOptions, Workspace, load_workspace};
use crate::plan::git_files::{default_base, repo_root};
use crate::plan::state::{STATE_FILE, StateStore};
use crate::plan::{COMMENT_LIMIT, GitFiles, Snapshot, render_markdown, render_text};

/// `--output` of `fleet plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PlanOutput {
    #[default]
    Text,
    Json,
    /// GitHub markdown (a pull-request comment), at most 65,536 characters.
    Markdown,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Revision to compare the working tree with. Default: the merge base of HEAD and the
    /// default branch (origin/HEAD, else main, else master); none, or outside git: all is new.
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Only this stage's changes (and the fleet-wide infrastructure).
    #[arg(long, short = 's', value_name = "STAGE")]
    pub stage: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: PlanOutput,
    /// Exit 0 when nothing changes, 2 when something does (1 on error).
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Show the recorded infrastructure state (.fleetflow/state.json beside the registry).
    Show(StateShowArgs),
    /// Remove the state lock a dead run left behind.
    Unlock,
}

#[derive(Debug, Args)]
pub struct StateShowArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

fn registry_file(flag: Option<&Path>) -> Result<PathBuf, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let env = std::env::var_os("FLEET_REGISTRY_PATH").map(PathBuf::from);
    let found = find_registry(flag, env.as_deref(), &cwd).map_err(|e| e.to_string())?;
    std::fs::canonicalize(found.path()).map_err(|e| format!("cannot read {}: {e}", found.path().display()))
}

/// The base workspace and how it was chosen; `None` when everything is new.
pub(super) type Base = Option<(Workspace, String)>;

/// The recorded infrastructure state next to the registry (`.fleetflow/state.json`), if any;
/// an unreadable one is reported and becomes the exit code.
pub(super) fn load_state(console: &Console, registry_dir: &Path) -> Result<Option<crate::plan::state::State>, u8> {
    StateStore::new(registry_dir.join(".fleetflow"))
        .load_if_exists()
        .map_err(|e| {
            console.error(&e.to_string());
            exit::FAILURE
        })
}

pub(super) fn load_base(console: &Console, dir: &Path, name: &str, base: Option<&str>) -> Result<Base, u8> {
    let fail = |message: String| {
        console.error(&message);
        exit::FAILURE
    };
    let Some(root) = repo_root(dir) else {
        return match base {
            Some(_) => Err(fail(format!(
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
    let files = GitFiles::at(&root, &rev).map_err(|e| fail(e.to_string()))?;
    let canonical_root = std::fs::canonicalize(&root).unwrap_or(root);
    let Ok(relative) = dir.strip_prefix(&canonical_root) else {
        return Err(fail(format!(
            "{} is outside the repository {}",
            dir.display(),
            canonical_root.display()
        )));
    };
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    parts.push(name.to_owned());
    let label = format!("{label} ({})", files.rev.get(..12).unwrap_or(&files.rev));
    match load_workspace(&files, &parts.join("/"), LoadOptions { verify_fleets: false }) {
        Ok(workspace) => Ok(Some((workspace, label))),
        Err(LoadError::Missing { .. }) => Ok(None),
        Err(e) => {
            console.report_load_error(&e);
            Err(fail(format!(
                "the base configuration at {label} is invalid; pick another with --base REF"
            )))
        }
    }
}

/// Replaces the plan's provisioned cloud resources, for each fleet whose resources the state
/// records, by the plan against the live providers: drift made outside fleetflow shows. A
/// provider that cannot be reached (no credentials) leaves that fleet's part as planned from
/// the recorded state, with a note.
fn with_live_infrastructure(head: &Workspace, state: &crate::plan::State, plan: &mut crate::plan::Plan) {
    use crate::cloud::infra::{self, Scope};
    use crate::plan::snapshot::Address;
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
        let clock = std::sync::Arc::new(crate::clock::SystemClock);
        let refreshed = crate::cloud::session::providers_for(config, &desired, state, &scope, clock.clone())
            .map_err(|e| format!("{e:#}"))
            .and_then(|providers| {
                let retry = crate::cloud::RetryConfig::default();
                infra::refresh(&providers, clock.as_ref(), &retry, state, &desired, &scope).map_err(|e| e.to_string())
            });
        let refreshed = match refreshed {
            Ok(r) => r,
            Err(e) => {
                note(&format!(
                    "note: the infrastructure of {name} was planned from the recorded state, not the live one: {e}"
                ));
                continue;
            }
        };
        for n in &refreshed.notes {
            note(&format!("drift: {n}"));
        }
        // Only resources whose provider was reached; the others stay as planned.
        let covered = |c: &crate::plan::Change| match &c.address {
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
    plan.summary = crate::plan::Summary::of(&plan.changes);
}

fn note(message: &str) {
    eprintln!("{message}");
}

pub fn run_plan(console: &Console, color: ColorChoice, registry_flag: Option<&Path>, args: &PlanArgs) -> u8 {
    let usage = if args.detailed_exitcode {
        exit::FAILURE
    } else {
        exit::USAGE
    };
    let registry = match registry_file(registry_flag) {
        Ok(p) => p,
        Err(message) => {
            console.error(&message);
            return usage;
        }
    };
    let (dir, name) = split_path(&registry);
    let head = match load_workspace(&DirFiles { root: dir.clone() }, &name, LoadOptions::default()) {
        Ok(w) => w,
        Err(e) => return console.report_load_error(&e),
    };
    console.print_diagnostics(&head.warnings);
    let base = match load_base(console, &dir, &name, args.base.as_deref()) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let state = match load_state(console, &dir) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match &base {
        Some((_, label)) => note(&format!("fleet plan: {label} → working tree")),
        None => note("fleet plan: no base configuration (not in git, or no base commit): everything is new"),
    }
    let base_snapshot = base.as_ref().map(|(w, _)| Snapshot::from_workspace(w));
    let mut plan = crate::plan::plan(base_snapshot.as_ref(), &Snapshot::from_workspace(&head), state.as_ref());
    if let Some(state) = &state {
        with_live_infrastructure(&head, state, &mut plan);
    }
    if let Some(stage) = &args.stage {
        let defined = std::iter::once(&head)
            .chain(base.as_ref().map(|(w, _)| w))
            .flat_map(|w| w.fleets.values())
            .any(|f| f.stage(stage).is_some());
        if !defined {
            console.error(&format!("no fleet defines stage `{stage}` (here or at the base)"));
            return usage;
        }
        plan = plan.for_stage(stage);
    }
    match args.output {
        PlanOutput::Text => {
            let paint = console.color() && (color == ColorChoice::Always || std::io::stdout().is_terminal());
            console.print(&render_text(&plan, paint));
        }
        PlanOutput::Json => console.print_json(&plan),
        PlanOutput::Markdown => console.print(&render_markdown(&plan, COMMENT_LIMIT)),
    }
    if args.detailed_exitcode && !plan.is_empty() {
        2
    } else {
        exit::OK
    }
}

/// `.fleetflow/` beside the registry, else in the current directory.
fn state_store(registry_flag: Option<&Path>) -> Result<StateStore, String> {
    let dir = match registry_file(registry_flag) {
        Ok(registry) => split_path(&registry).0,
        Err(_) if registry_flag.is_none() => {
            std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?
        }
        Err(message) => return Err(message),
    };
    Ok(StateStore::new(dir.join(".fleetflow")))
}

pub fn run_state(console: &Console, registry_flag: Option<&Path>, command: &StateCommand) -> u8 {
    let store = match state_store(registry_flag) {
        Ok(s) => s,
        Err(message) => {
            console.error(&message);
            return exit::USAGE;
        }
    };
    let result = match command {
        StateCommand::Show(args) => show(console, &store, args.output),
        StateCommand::Unlock => store.unlock().map(|held| {
            console.print(&match held {
                Some(l) => format!(
                    "Removed the state lock held by {} for `{}` since {}.\n",
                    l.holder, l.operation, l.created_at
                ),
                None => "The state is not locked.\n".to_owned(),
            })
        }),
    };
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            console.error(&e.to_string());
            exit::FAILURE
        }
    }
}

fn show(console: &Console, store: &StateStore, output: Output) -> Result<(), crate::plan::state::StateError> {
    let state = store.load()?;
    let lock = store.read_lock()?;
    let path = store.state_path();
    if output == Output::Json {
        console.print_json(&serde_json::json!({
            "path": path,
            "exists": store.exists(),
            "state": state,
            "lock": lock,
        }));
        return Ok(());
    }
    let mut out = if store.exists() {
        let n = state.resources.len();
        let s = if n == 1 { "" } else { "s" };
        format!(
            "State: {} (version {}, {n} resource{s})\n",
            path.display(),
            state.version
        )
    } else {
        format!("No state recorded yet ({} does not exist).\n", path.display())
    };
    let width = state
        .resources
        .iter()
        .map(|r| r.address.chars().count())
        .max()
        .unwrap_or(0);
    for r in &state.resources {
        let mut line = format!("  {:<width$}", r.address);
        for (k, v) in [("provider", &r.provider), ("id", &r.id), ("created", &r.created_at)] {
            if let Some(v) = v {
                line.push_str(&format!("  {k}={v:?}"));
            }
        }
        for (k, v) in &r.attributes {
            line.push_str(&format!("  {k}={v:?}"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&match lock {
        Some(l) => format!(
            "Lock: held by {} for `{}` since {} (remove a dead run's lock with `fleet state unlock`)\n",
            l.holder, l.operation, l.created_at
        ),
        None => format!("Lock: none ({STATE_FILE} can be written)\n"),
    });
    console.print(&out);
    Ok(())
}
