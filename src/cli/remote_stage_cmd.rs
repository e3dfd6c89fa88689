//! `fleet stage …` for a stage the registry routes to servers: the same operation, run by the
//! `fleet` binary on each server over SSH ([`crate::application::routes::run_routed`]).

use std::path::Path;

use super::fleet_select::FleetSelect;
use super::registry_remote_cmd::workspace;
use super::stage_cmd::StageCommand;
use super::{Console, exit};
use crate::application::deploy::remote::LocalBinary;
use crate::application::local::LocalFleet;
use crate::application::routes::{RoutedStage, routed_stage, run_routed};
use crate::application::workspace::registry_file;
use crate::console::{ConsoleReporter, this_fleet};
use crate::ssh::OpensshConnector;

/// `Some` when a registry is found and routes `stage` of the selected fleet to servers.
pub fn routes(registry: Option<&Path>, sel: &FleetSelect, fleet: &LocalFleet, stage: &str) -> Option<RoutedStage> {
    registry_file(registry).ok()?;
    let (ws, root) = workspace(&Console::new(super::ColorChoice::Never), registry, false).ok()?;
    routed_stage(&ws, &root, sel.fleet.as_deref(), &fleet.dir, stage)
}

pub fn run(console: &Console, routed: RoutedStage, command: &StageCommand) -> u8 {
    let (argv, deploy): (Vec<String>, bool) = match command {
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
    let reporter = ConsoleReporter { console, yes: true };
    console.finish(this_fleet().and_then(|exe| {
        let binary = LocalBinary {
            version: env!("CARGO_PKG_VERSION"),
            path: &exe,
        };
        run_routed(&reporter, &OpensshConnector::default(), &binary, routed, &argv, deploy)
    }))
}
