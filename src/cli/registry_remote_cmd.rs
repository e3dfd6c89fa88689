//! `fleet registry deploy | status | unlock`: the registry's routes over SSH.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use clap::Args;

use super::validate_cmd::split_path;
use super::{Console, Output, exit};
use crate::config::discovery::find_registry;
use crate::config::{DirFiles, LoadOptions, Workspace, load_workspace};
use crate::deploy::remote::{self, Deployer, LocalBinary, RemotePlan};
use crate::deploy::remote_run::{self, RouteResult, RouteWork, connect_all};
use crate::deploy::remote_status::{self, RouteStatus};
use crate::ssh::{OpensshRemote, SshTarget};

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The fleet to deploy.
    pub fleet: String,
    /// Only this stage's route.
    #[arg(short = 's', long = "stage")]
    pub stage: Option<String>,
    /// Run it (without: print the plan only).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Use the images already on the servers.
    #[arg(long)]
    pub no_pull: bool,
    /// Registry prefix of built images, passed to the remote `fleet deploy`.
    #[arg(long, env = "FLEET_IMAGE_REGISTRY")]
    pub image_registry: Option<String>,
    /// Path to fleet-registry.kdl (or its directory).
    #[arg(long, value_name = "PATH")]
    pub registry: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long, value_name = "PATH")]
    pub registry: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    pub fleet: String,
    pub stage: String,
    #[arg(long, value_name = "PATH")]
    pub registry: Option<PathBuf>,
}

/// The registry and every fleet, plus the registry's directory.
pub(super) fn workspace(console: &Console, flag: Option<&Path>, verify: bool) -> Result<(Workspace, PathBuf), u8> {
    let cwd = std::env::current_dir().map_err(|_| exit::FAILURE)?;
    let env = std::env::var_os("FLEET_REGISTRY_PATH").map(PathBuf::from);
    let found = find_registry(flag, env.as_deref(), &cwd).map_err(|e| {
        console.error(&e.to_string());
        exit::USAGE
    })?;
    let (root, file) = split_path(found.path());
    let ws = load_workspace(
        &DirFiles { root: root.clone() },
        &file,
        LoadOptions { verify_fleets: verify },
    )
    .map_err(|e| console.report_load_error(&e))?;
    Ok((ws, root))
}

/// The routes of `fleet` (optionally one stage), with their SSH targets.
pub(crate) fn plans(
    ws: &Workspace,
    fleet: &str,
    stage: Option<&str>,
    args: &remote::DeployArgs,
) -> Result<Vec<(RemotePlan, SshTarget)>, String> {
    remote_run::route_plans(ws, fleet, stage, args)
}

fn runtime(console: &Console) -> Result<Arc<tokio::runtime::Runtime>, u8> {
    remote_run::ssh_runtime().map_err(|e| {
        console.error(&e);
        exit::FAILURE
    })
}

pub fn deploy(console: &Console, flag: Option<&Path>, args: &DeployArgs) -> u8 {
    let (ws, root) = match workspace(console, args.registry.as_deref().or(flag), true) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let remote_args = remote::DeployArgs {
        pull: !args.no_pull,
        image_registry: args.image_registry.clone(),
        image_tag: None,
    };
    let plans = match plans(&ws, &args.fleet, args.stage.as_deref(), &remote_args) {
        Ok(p) => p,
        Err(m) => {
            console.error(&m);
            return exit::USAGE;
        }
    };
    if args.output == Output::Json && !args.yes {
        console.print_json(&plans.iter().map(|(p, _)| p).collect::<Vec<_>>());
        return exit::OK;
    }
    let mut text = format!("Deploy plan for {}:\n", args.fleet);
    for (p, _) in &plans {
        text.push_str(&format!(
            "  {}:{} → {}  {}  {}\n    $ {}\n",
            p.fleet,
            p.stage,
            p.server,
            p.address,
            p.remote_dir,
            p.command.join(" ")
        ));
    }
    if !args.yes {
        text.push_str("\nNothing was run: add --yes to deploy.\n");
        console.print(&text);
        return exit::OK;
    }
    console.print(&text);
    let entry = ws.registry.fleet(&args.fleet).expect("checked by plans()");
    deploy_routes(console, &plans, &root.join(&entry.path.value), git_head(&root))
}

/// Ships `fleet_dir`'s `.fleetflow/` and runs each plan's command under the route's lock, all
/// routes in parallel; one result line per route.
pub(super) fn deploy_routes(
    console: &Console,
    plans: &[(RemotePlan, SshTarget)],
    fleet_dir: &Path,
    commit: Option<String>,
) -> u8 {
    let tar = match remote::pack_config(fleet_dir) {
        Ok(t) => t,
        Err(e) => {
            console.error(&format!("cannot pack {}/.fleetflow: {e}", fleet_dir.display()));
            return exit::FAILURE;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            console.error(&format!("cannot find this fleet binary to install it on servers: {e}"));
            return exit::FAILURE;
        }
    };
    let binary = LocalBinary {
        version: env!("CARGO_PKG_VERSION"),
        path: &exe,
    };
    let by = Deployer {
        who: remote::who_am_i(),
        commit,
        when: crate::clock::timestamp_now(),
    };
    match for_each_route(console, plans, &|remote, plan, line| {
        remote::deploy_route(remote, plan, &by, &tar, &binary, line).map_err(|e| e.to_string())
    }) {
        Ok(results) => summarize(console, &results),
        Err(code) => code,
    }
}

/// Runs `work` for every route in parallel, printing each output line prefixed with `[server]`.
pub(super) fn for_each_route(
    console: &Console,
    plans: &[(RemotePlan, SshTarget)],
    work: &RouteWork<'_>,
) -> Result<Vec<RouteResult>, u8> {
    let stdout = Mutex::new(std::io::stdout());
    remote_run::for_each_route(plans, work, &|server, l| {
        if let Ok(mut out) = stdout.lock() {
            let _ = writeln!(out, "[{server}] {l}");
        }
    })
    .map_err(|e| {
        console.error(&e);
        exit::FAILURE
    })
}

/// Runs each plan's `fleet` command line on its server (see [`RemotePlan::with_fleet_args`]),
/// every route in parallel.
pub(super) fn run_fleet_on_routes(
    console: &Console,
    plans: &[(RemotePlan, SshTarget)],
) -> Result<Vec<RouteResult>, u8> {
    for_each_route(console, plans, &|r, plan, line| {
        remote::run_deploy(r, plan, line).map_err(|e| e.to_string())
    })
}

/// One result line per route; exit 1 when any failed.
pub(super) fn summarize(console: &Console, results: &[RouteResult]) -> u8 {
    let mut summary = String::from("\n");
    let mut failed = 0;
    for (label, r) in results {
        match r {
            Ok(secs) => summary.push_str(&format!("{label}: ok ({secs:.1}s)\n")),
            Err(e) => {
                failed += 1;
                summary.push_str(&format!("{label}: FAILED: {e}\n"));
            }
        }
    }
    console.print(&summary);
    if failed > 0 {
        console.error(&format!("{failed} of {} route(s) failed", results.len()));
        exit::FAILURE
    } else {
        exit::OK
    }
}

fn git_head(dir: &Path) -> Option<String> {
    crate::plan::git_files::git_line(dir, &["rev-parse", "HEAD"])
}

pub fn status(console: &Console, flag: Option<&Path>, args: &StatusArgs) -> u8 {
    let (ws, _) = match workspace(console, args.registry.as_deref().or(flag), false) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let rt = match runtime(console) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let mut targets = Vec::new();
    let mut unreachable: BTreeMap<String, String> = BTreeMap::new();
    for r in &ws.registry.routes {
        match ws.registry.server(&r.server.value).map(SshTarget::from_server) {
            Some(Ok(t)) => targets.push(t),
            Some(Err(e)) => drop(unreachable.insert(r.server.value.clone(), e.to_string())),
            None => {}
        }
    }
    let refs: Vec<&SshTarget> = targets.iter().collect();
    let connections = connect_all(&refs, &rt);
    let answers: BTreeMap<String, Result<remote_status::ServerContainers, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = connections
            .iter()
            .map(|(name, conn)| {
                (
                    name.clone(),
                    s.spawn(move || {
                        conn.clone()
                            .and_then(|c| remote_status::query(c.as_ref()).map_err(|e| e.to_string()))
                    }),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(n, h)| (n, h.join().unwrap_or_else(|_| Err("query failed".into()))))
            .collect()
    });
    let rows: Vec<RouteStatus> = ws
        .registry
        .routes
        .iter()
        .map(|r| {
            let fleet = ws.fleets.get(&r.fleet.value);
            let project = fleet
                .and_then(|f| f.project.as_ref())
                .map_or(r.fleet.value.clone(), |p| p.value.clone());
            let services = fleet
                .and_then(|f| f.stage(&r.stage.value))
                .map_or(0, |s| s.services.len());
            let answer = answers.get(&r.server.value).cloned().unwrap_or_else(|| {
                Err(unreachable
                    .get(&r.server.value)
                    .cloned()
                    .unwrap_or_else(|| "not queried".into()))
            });
            let (status, running, error) = match answer {
                Ok(containers) => {
                    let (text, running) = remote_status::route_status(&containers, &project, &r.stage.value, services);
                    (text, running, None)
                }
                Err(e) => ("Unreachable".to_owned(), 0, Some(e)),
            };
            RouteStatus {
                fleet: r.fleet.value.clone(),
                stage: r.stage.value.clone(),
                server: r.server.value.clone(),
                status,
                running,
                services,
                error,
            }
        })
        .collect();
    match args.output {
        Output::Json => console.print_json(&rows),
        Output::Text => {
            console.print(&remote_status::render(&ws.registry.name.value, &rows));
            for r in rows.iter().filter(|r| r.error.is_some()) {
                eprintln!("{}: {}", r.server, r.error.as_deref().unwrap_or(""));
            }
        }
    }
    if rows.iter().any(|r| r.error.is_some()) {
        exit::FAILURE
    } else {
        exit::OK
    }
}

pub fn unlock(console: &Console, flag: Option<&Path>, args: &UnlockArgs) -> u8 {
    let (ws, _) = match workspace(console, args.registry.as_deref().or(flag), false) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let plans = match plans(&ws, &args.fleet, Some(&args.stage), &remote::DeployArgs::default()) {
        Ok(p) => p,
        Err(m) => {
            console.error(&m);
            return exit::USAGE;
        }
    };
    let rt = match runtime(console) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let mut code = exit::OK;
    for (plan, target) in &plans {
        match OpensshRemote::connect(target, Arc::clone(&rt))
            .map_err(|e| e.to_string())
            .and_then(|r| remote::unlock(&r, plan).map_err(|e| e.to_string()))
        {
            Ok(()) => console.print(&format!("unlocked {}:{} on {}\n", plan.fleet, plan.stage, plan.server)),
            Err(e) => {
                console.error(&e);
                code = exit::FAILURE;
            }
        }
    }
    code
}
