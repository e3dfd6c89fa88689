//! A registry's routes over SSH: deploy a fleet to the servers its routes name, run a `fleet`
//! command on them, read every route's state, remove a stuck lock. Every route runs in
//! parallel; each reports its own result.

use std::collections::BTreeMap;
use std::path::Path;

use super::deploy::remote::{self, Deployer, LocalBinary, RemotePlan};
use super::deploy::remote_run::{self, RouteResult, RouteWork, connect_all};
use super::deploy::remote_status::{self, RouteStatus};
use super::report::{Reporter, WorkflowError};
use crate::config::Workspace;
use crate::ssh::{Connector, SshTarget};

/// A route and how to reach its server.
pub type RouteTarget = (RemotePlan, SshTarget);

/// The routes of `fleet` (optionally one stage), with their SSH targets.
pub fn plans(
    ws: &Workspace,
    fleet: &str,
    stage: Option<&str>,
    args: &remote::RemoteDeployOptions,
) -> Result<Vec<RouteTarget>, WorkflowError> {
    remote_run::route_plans(ws, fleet, stage, args).map_err(|e| WorkflowError::Usage(e.to_string()))
}

/// The plan text of a deploy: each route, its server and the command it runs.
pub fn describe(fleet: &str, plans: &[RouteTarget]) -> String {
    let mut text = format!("Deploy plan for {fleet}:\n");
    for (p, _) in plans {
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
    text
}

/// [`describe`], and that it was not run.
pub fn describe_unrun(fleet: &str, plans: &[RouteTarget]) -> String {
    format!("{}\nNothing was run: add --yes to deploy.\n", describe(fleet, plans))
}

/// `fleet registry deploy`: shows the plan of `fleet`'s routes; with `run`, deploys them from
/// its directory in the registry (loaded, in the directory whose commit is recorded).
pub fn deploy_fleet(
    reporter: &dyn Reporter,
    connector: &dyn Connector,
    binary: &LocalBinary,
    (ws, root): &(Workspace, std::path::PathBuf),
    fleet: &str,
    plans: &[RouteTarget],
    run: bool,
) -> Result<(), WorkflowError> {
    if !run {
        reporter.say(&describe_unrun(fleet, plans));
        return Ok(());
    }
    reporter.say(&describe(fleet, plans));
    let entry = ws
        .registry
        .fleet(fleet)
        .ok_or_else(|| WorkflowError::Usage(format!("the registry has no fleet `{fleet}`")))?;
    let commit = crate::git::git_line(root, &["rev-parse", "HEAD"]);
    deploy_routes(
        reporter,
        connector,
        binary,
        plans,
        &root.join(&entry.path.value),
        commit,
    )
}

/// Ships `fleet_dir`'s `.fleetflow/` and `binary` (the `fleet` the servers run), and runs
/// each plan's command under the route's lock, all routes in parallel; one result line per
/// route.
pub fn deploy_routes(
    reporter: &dyn Reporter,
    connector: &dyn Connector,
    binary: &LocalBinary,
    plans: &[RouteTarget],
    fleet_dir: &Path,
    commit: Option<String>,
) -> Result<(), WorkflowError> {
    let tar = remote::pack_config(fleet_dir)
        .map_err(|e| WorkflowError::failed(format!("cannot pack {}/.fleetflow: {e}", fleet_dir.display())))?;
    let by = Deployer {
        who: crate::operator::who_am_i(),
        commit,
        when: crate::clock::timestamp_now(),
        lock_token: None,
    };
    let results = for_each_route(reporter, connector, plans, &|remote, plan, line| {
        remote::deploy_route(remote, plan, &by, &tar, binary, line).map_err(|e| e.to_string())
    });
    summarize(reporter, &results)
}

/// Runs `work` for every route in parallel, each output line reported with its server.
pub fn for_each_route(
    reporter: &dyn Reporter,
    connector: &dyn Connector,
    plans: &[RouteTarget],
    work: &RouteWork<'_>,
) -> Vec<RouteResult> {
    remote_run::for_each_route(connector, plans, work, &|server, line| {
        reporter.remote_line(server, line)
    })
}

/// Runs each plan's `fleet` command line on its server (see [`RemotePlan::with_fleet_args`]),
/// every route in parallel.
pub fn run_fleet_on_routes(
    reporter: &dyn Reporter,
    connector: &dyn Connector,
    plans: &[RouteTarget],
) -> Vec<RouteResult> {
    for_each_route(reporter, connector, plans, &|r, plan, line| {
        remote::run_deploy(r, plan, line).map_err(|e| e.to_string())
    })
}

/// One result line per route; an error when any failed.
pub fn summarize(reporter: &dyn Reporter, results: &[RouteResult]) -> Result<(), WorkflowError> {
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
    reporter.say(&summary);
    if failed > 0 {
        Err(WorkflowError::Routes {
            failed,
            total: results.len(),
        })
    } else {
        Ok(())
    }
}

/// The state of every route of the registry, as its server reports it (servers queried in
/// parallel; an unreachable server's routes say why).
pub fn route_statuses(connector: &dyn Connector, ws: &Workspace) -> Vec<RouteStatus> {
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
    let connections = connect_all(&refs, connector);
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
    ws.registry
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
        .collect()
}

/// Removes the deploy lock of each route in `plans`; every route is tried, the first
/// failure is returned after the others were reported.
pub fn unlock(reporter: &dyn Reporter, connector: &dyn Connector, plans: &[RouteTarget]) -> Result<(), WorkflowError> {
    let mut failures = Vec::new();
    for (plan, target) in plans {
        match connector
            .connect(target)
            .map_err(|e| e.to_string())
            .and_then(|r| remote::unlock(r.as_ref(), plan).map_err(|e| e.to_string()))
        {
            Ok(remote::Unlocked::Removed { holder }) => reporter.say(&format!(
                "unlocked {}:{} on {} (held by {})\n",
                plan.fleet,
                plan.stage,
                plan.server,
                holder.as_deref().unwrap_or("an unknown deploy")
            )),
            Ok(remote::Unlocked::NotLocked) => reporter.say(&format!(
                "{}:{} on {} was not locked; nothing to remove\n",
                plan.fleet, plan.stage, plan.server
            )),
            Err(e) => failures.push(e),
        }
    }
    match failures.len() {
        0 => Ok(()),
        1 => Err(WorkflowError::Failed(failures.remove(0))),
        _ => {
            let last = failures.pop().unwrap_or_default();
            for e in failures {
                reporter.note(&format!("error: {e}"));
            }
            Err(WorkflowError::Failed(last))
        }
    }
}

/// A stage the registry routes to servers: its routes, and the fleet's directory.
pub struct RoutedStage {
    pub plans: Vec<RouteTarget>,
    pub fleet_dir: std::path::PathBuf,
}

/// `Some` when the registry `ws` (in `root`) routes `stage` of the fleet `name` (else the
/// fleet whose directory is `fleet_dir`) to servers.
pub fn routed_stage(
    ws: &Workspace,
    root: &Path,
    name: Option<&str>,
    fleet_dir: &Path,
    stage: &str,
) -> Option<RoutedStage> {
    let name = match name {
        Some(n) => n.to_owned(),
        None => ws
            .registry
            .fleets
            .iter()
            .find(|f| root.join(&f.path.value).canonicalize().ok().as_deref() == Some(fleet_dir))
            .map(|f| f.name.value.clone())?,
    };
    let args = remote::RemoteDeployOptions {
        pull: true,
        ..Default::default()
    };
    let plans = plans(ws, &name, Some(stage), &args).ok()?;
    let entry = ws.registry.fleet(&name)?;
    Some(RoutedStage {
        plans,
        fleet_dir: root.join(&entry.path.value),
    })
}

/// Runs `fleet <argv>` on each server of a routed stage; `deploy`: ship the configuration and
/// `binary` first, under the routes' locks (`fleet stage up`).
pub fn run_routed(
    reporter: &dyn Reporter,
    connector: &dyn Connector,
    binary: &LocalBinary,
    routed: RoutedStage,
    argv: &[String],
    deploy: bool,
) -> Result<(), WorkflowError> {
    let plans: Vec<RouteTarget> = routed
        .plans
        .into_iter()
        .map(|(p, t)| (p.with_fleet_args(argv), t))
        .collect();
    if deploy {
        return deploy_routes(reporter, connector, binary, &plans, &routed.fleet_dir, None);
    }
    let results = run_fleet_on_routes(reporter, connector, &plans);
    summarize(reporter, &results)
}
