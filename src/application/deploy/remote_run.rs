//! Running work on a fleet's routes over SSH: which routes and servers a fleet+stage means, one
//! connection per server (opened in parallel), every route in parallel. Shared by the CLI
//! (`fleet registry deploy`, remote `fleet stage …`), the App's deploy job and the Action.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::remote::{RemoteDeployOptions, RemotePlan};
use crate::config::Workspace;
use crate::ssh::{Connector, Remote, SshError, SshTarget};

/// What runs for one route: over its connection, with a line sink.
pub type RouteWork<'a> =
    dyn Fn(&dyn Remote, &RemotePlan, &mut (dyn FnMut(&str) + Send)) -> Result<(), String> + Sync + 'a;

/// A route's outcome: its label and how long it took, or why it failed.
pub type RouteResult = (String, Result<f64, String>);

/// Why a fleet's routes cannot be named.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("the registry has no fleet `{fleet}`; its fleets are: {known}")]
    UnknownFleet { fleet: String, known: String },
    #[error("fleet `{fleet}` has no route for stage `{stage}` in the registry's `deployment`")]
    NoRouteForStage { fleet: String, stage: String },
    #[error("fleet `{0}` has no route in the registry's `deployment`")]
    NoRoute(String),
    #[error("unknown server `{0}`")]
    UnknownServer(String),
    #[error(transparent)]
    Ssh(#[from] SshError),
}

/// The routes of `fleet` (optionally one stage), with their SSH targets.
pub fn route_plans(
    ws: &Workspace,
    fleet: &str,
    stage: Option<&str>,
    args: &RemoteDeployOptions,
) -> Result<Vec<(RemotePlan, SshTarget)>, RouteError> {
    let entry = ws.registry.fleet(fleet).ok_or_else(|| {
        let known: Vec<&str> = ws.registry.fleets.iter().map(|f| f.name.value.as_str()).collect();
        RouteError::UnknownFleet {
            fleet: fleet.to_owned(),
            known: known.join(", "),
        }
    })?;
    let routes: Vec<_> = ws
        .registry
        .routes_of(fleet)
        .filter(|r| stage.is_none_or(|s| r.stage.value == s))
        .collect();
    if routes.is_empty() {
        return Err(match stage {
            Some(s) => RouteError::NoRouteForStage {
                fleet: fleet.to_owned(),
                stage: s.to_owned(),
            },
            None => RouteError::NoRoute(fleet.to_owned()),
        });
    }
    routes
        .into_iter()
        .map(|r| {
            let server = ws
                .registry
                .server(&r.server.value)
                .ok_or_else(|| RouteError::UnknownServer(r.server.value.clone()))?;
            let target = SshTarget::from_server(server)?;
            let path = server.deploy_path.as_deref().ok_or_else(|| SshError::MissingSetting {
                server: server.name.value.clone(),
                setting: "deploy-path",
            })?;
            let mut plan = RemotePlan::new(fleet, &r.stage.value, &server.name.value, &target.address(), path, args);
            plan.description = entry.description.clone();
            Ok((plan, target))
        })
        .collect()
}

/// Connects to each distinct server once (in parallel); the connection is shared by its routes.
pub fn connect_all(
    targets: &[&SshTarget],
    connector: &dyn Connector,
) -> BTreeMap<String, Result<Arc<dyn Remote>, String>> {
    let mut unique: BTreeMap<String, &SshTarget> = BTreeMap::new();
    for t in targets {
        unique.entry(t.name.clone()).or_insert(t);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = unique
            .into_iter()
            .map(|(name, t)| (name, s.spawn(move || connector.connect(t).map_err(|e| e.to_string()))))
            .collect();
        handles
            .into_iter()
            .map(|(n, h)| (n, h.join().unwrap_or_else(|_| Err("connection thread failed".into()))))
            .collect()
    })
}

/// Runs `work` for every route in parallel, over one connection per server; each output line
/// goes to `line(server, text)`. A route whose server cannot be reached fails with the reason.
pub fn for_each_route(
    connector: &dyn Connector,
    plans: &[(RemotePlan, SshTarget)],
    work: &RouteWork<'_>,
    line: &(dyn Fn(&str, &str) + Sync),
) -> Vec<RouteResult> {
    let targets: Vec<&SshTarget> = plans.iter().map(|(_, t)| t).collect();
    let connections = connect_all(&targets, connector);
    std::thread::scope(|s| {
        let handles: Vec<_> = plans
            .iter()
            .map(|(plan, target)| {
                let conn = connections
                    .get(&target.name)
                    .cloned()
                    .unwrap_or_else(|| Err("not connected".into()));
                let label = format!("{}:{} → {}", plan.fleet, plan.stage, plan.server);
                let handle = s.spawn(move || {
                    let started = Instant::now();
                    let remote = conn?;
                    let mut sink = |l: &str| line(&plan.server, l);
                    work(remote.as_ref(), plan, &mut sink).map(|()| started.elapsed().as_secs_f64())
                });
                (label, handle)
            })
            .collect();
        handles
            .into_iter()
            .map(|(label, h)| (label, h.join().unwrap_or_else(|_| Err("route thread failed".into()))))
            .collect()
    })
}
