//! `fleet stage …` for a stage the registry routes to servers: the same operation, run by the
//! `fleet` binary on each server over SSH.

use std::path::Path;

use super::fleet_select::FleetSelect;
use super::registry_remote_cmd::workspace;
use super::stage_cmd::StageCommand;
use super::{Console, exit};
use crate::application::deploy::remote;
use crate::application::local::LocalFleet;
use crate::application::routes::{RouteTarget, deploy_routes, plans, run_fleet_on_routes, summarize};
use crate::config::Workspace;
use crate::console::ConsoleReporter;

/// The registry's routes for this fleet and stage, with what is needed to run them.
pub struct Routed {
    plans: Vec<RouteTarget>,
    fleet_dir: std::path::PathBuf,
}

/// `Some` when a registry is found and routes `stage` of the selected fleet to servers.
pub fn routes(registry: Option<&Path>, sel: &FleetSelect, fleet: &LocalFleet, stage: &str) -> Option<Routed> {
    let quiet = Console::new(super::ColorChoice::Never);
    let (ws, root) = workspace_quietly(&quiet, registry)?;
    let name = match &sel.fleet {
        Some(n) => n.clone(),
        None => fleet_name_of_dir(&ws, &root, &fleet.dir)?,
    };
    let plans = plans(
        &ws,
        &name,
        Some(stage),
        &remote::DeployArgs {
            pull: true,
            ..Default::default()
        },
    )
    .ok()?;
    let entry = ws.registry.fleet(&name)?;
    Some(Routed {
        plans,
        fleet_dir: root.join(&entry.path.value),
    })
}

fn workspace_quietly(console: &Console, registry: Option<&Path>) -> Option<(Workspace, std::path::PathBuf)> {
    let cwd = std::env::current_dir().ok()?;
    let env = std::env::var_os("FLEET_REGISTRY_PATH").map(std::path::PathBuf::from);
    crate::config::discovery::find_registry(registry, env.as_deref(), &cwd).ok()?;
    workspace(console, registry, false).ok()
}

fn fleet_name_of_dir(ws: &Workspace, root: &Path, dir: &Path) -> Option<String> {
    ws.registry
        .fleets
        .iter()
        .find(|f| root.join(&f.path.value).canonicalize().ok().as_deref() == Some(dir))
        .map(|f| f.name.value.clone())
}

pub fn run(console: &Console, routed: Routed, command: &StageCommand) -> u8 {
    let (args, full_deploy): (Vec<String>, bool) = match command {
        StageCommand::Up(a) => {
            let mut v = vec!["up".to_owned(), a.stage.clone()];
            if a.pull {
                v.push("--pull".into());
            }
            (v, true)
        }
        StageCommand::Down(a) if a.suspend || a.destroy => {
            console.error(
                "--suspend and --destroy manage cloud servers a fleet declares; this stage is routed to a registry server, so `fleet stage down` (without them) stops its containers there",
            );
            return exit::USAGE;
        }
        StageCommand::Down(a) => (vec!["down".into(), a.stage.clone()], false),
        StageCommand::Status(a) => (vec!["stage".into(), "status".into(), a.stage.clone()], false),
        StageCommand::Ps(a) => (vec!["ps".into(), a.stage.clone()], false),
        StageCommand::Logs(a) => (a.fleet_args(), false),
    };
    let plans: Vec<RouteTarget> = routed
        .plans
        .into_iter()
        .map(|(p, t)| (p.with_fleet_args(&args), t))
        .collect();
    let reporter = ConsoleReporter { console, yes: true };
    console.finish(if full_deploy {
        deploy_routes(&reporter, &plans, &routed.fleet_dir, None)
    } else {
        run_fleet_on_routes(&reporter, &plans).and_then(|results| summarize(&reporter, &results))
    })
}
