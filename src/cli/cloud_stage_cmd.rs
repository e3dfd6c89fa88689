//! `fleet stage up|down|status|ps|logs` for a stage with cloud servers (seed 004): the
//! workflows are [`crate::application::stage`] and [`crate::application::stage_status`].

use std::path::Path;
use std::sync::Arc;

use super::stage_cmd::StageCommand;
use super::{Console, Output, exit};
use crate::application::deploy::remote::LocalBinary;
use crate::application::infra::CloudTarget;
use crate::application::stage::{self, Down, StageUp};
use crate::application::stage_status;
use crate::clock::SystemClock;
use crate::console::ConsoleReporter;
use crate::console::this_fleet;
use crate::ssh::OpensshConnector;

pub fn run(console: &Console, target: CloudTarget, fleet_dir: &Path, command: &StageCommand) -> u8 {
    let clock = Arc::new(SystemClock);
    let ssh = OpensshConnector::default();
    let reporter = |yes| ConsoleReporter { console, yes };
    let result = match command {
        StageCommand::Up(a) => this_fleet().and_then(|exe| {
            let binary = LocalBinary {
                version: env!("CARGO_PKG_VERSION"),
                path: &exe,
            };
            let request = StageUp {
                stage: &a.stage,
                pull: a.pull,
                fleet_dir,
            };
            stage::up(&reporter(a.yes), &ssh, &binary, clock, &target, &request)
        }),
        StageCommand::Down(a) if a.suspend && a.destroy => {
            console.error("give --suspend or --destroy, not both");
            return exit::USAGE;
        }
        StageCommand::Down(a) => {
            let how = match (a.suspend, a.destroy) {
                (true, _) => Down::Suspend,
                (_, true) => Down::Destroy,
                _ => Down::Stop,
            };
            stage::down(&reporter(a.yes), &ssh, clock, &target, &a.stage, how)
        }
        StageCommand::Status(a) => match stage_status::status(&reporter(false), &ssh, clock, &target, &a.stage) {
            Ok(status) if a.output == Output::Json => {
                console.print_json(&status.to_json());
                Ok(())
            }
            Ok(status) => {
                console.print(&status.render_text());
                Ok(())
            }
            Err(e) => Err(e),
        },
        StageCommand::Ps(a) => {
            let argv = ["ps".to_owned(), a.stage.clone()];
            stage::run_on_servers(&reporter(false), &ssh, clock, &target, &a.stage, &argv)
        }
        StageCommand::Logs(a) => {
            stage::run_on_servers(&reporter(false), &ssh, clock, &target, &a.stage, &a.fleet_args())
        }
    };
    console.finish(result)
}
