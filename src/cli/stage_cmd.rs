//! `fleet stage up|down|status|logs|ps <stage>` (seed 004): the stage as the unit.

use std::path::Path;

use clap::{Args, Subcommand};

use super::deploy_cmd::{self, ImageArgs};
use super::fleet_select::{FleetSelect, select};
use super::{Console, Output, exit};
use crate::application::local;
use crate::application::report::Reporter;
use crate::application::workspace::registry_file;
use crate::console::ConsoleReporter;

#[derive(Debug, Subcommand)]
pub enum StageCommand {
    /// Start the stage (local: containers; remote: infrastructure + containers).
    Up(StageUpArgs),
    /// Stop the stage.
    Down(StageDownArgs),
    /// Show the stage's state.
    Status(StageArgs),
    /// Show logs.
    Logs(StageLogsArgs),
    /// List containers.
    Ps(StageArgs),
}

#[derive(Debug, Args)]
pub struct StageArgs {
    pub stage: String,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

#[derive(Debug, Args)]
pub struct StageUpArgs {
    pub stage: String,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Pull images even when present.
    #[arg(long)]
    pub pull: bool,
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

#[derive(Debug, Args)]
pub struct StageDownArgs {
    pub stage: String,
    /// Also power the servers off (remote stages).
    #[arg(long)]
    pub suspend: bool,
    /// Delete the servers (remote), or remove the containers (local).
    #[arg(long)]
    pub destroy: bool,
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

#[derive(Debug, Args)]
pub struct StageLogsArgs {
    pub stage: String,
    #[arg(short = 's', long = "service")]
    pub service: Option<String>,
    #[arg(short = 'f', long)]
    pub follow: bool,
    #[arg(short = 'n', long = "tail")]
    pub tail: Option<usize>,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

impl StageLogsArgs {
    /// The `fleet logs …` command line a server runs for these arguments.
    pub fn fleet_args(&self) -> Vec<String> {
        let mut argv = vec!["logs".to_owned(), self.stage.clone()];
        if let Some(s) = &self.service {
            argv.extend(["--service".into(), s.clone()]);
        }
        if let Some(n) = self.tail {
            argv.extend(["--tail".into(), n.to_string()]);
        }
        if self.follow {
            argv.push("--follow".into());
        }
        argv
    }
}

pub fn run(console: &Console, registry: Option<&Path>, command: &StageCommand) -> u8 {
    let (stage, sel) = match command {
        StageCommand::Up(a) => (&a.stage, &a.fleet),
        StageCommand::Down(a) => (&a.stage, &a.fleet),
        StageCommand::Status(a) | StageCommand::Ps(a) => (&a.stage, &a.fleet),
        StageCommand::Logs(a) => (&a.stage, &a.fleet),
    };
    let fleet = match select(sel, registry) {
        Ok(f) => f,
        Err(e) => return console.finish(Err(e)),
    };
    match fleet.stage(stage) {
        Ok(_) if let Some(routed) = super::remote_stage_cmd::routes(registry, sel, &fleet, stage) => {
            return super::remote_stage_cmd::run(console, routed, command);
        }
        Ok(s) if !s.is_local() => {
            let dir = fleet.dir.clone();
            let found = registry_file(registry).ok();
            let target = crate::application::infra::cloud_target(found.as_deref(), fleet);
            return super::cloud_stage_cmd::run(console, target, &dir, command);
        }
        Ok(_) => {}
        Err(e) => return console.finish(Err(e)),
    }
    let fleet = Ok(fleet);
    match command {
        StageCommand::Up(a) => deploy_cmd::up(console, fleet, &a.stage, a.pull, &a.images),
        StageCommand::Down(a) if a.suspend => {
            console.error("--suspend powers servers off; a local stage has none (use --destroy to remove containers)");
            exit::USAGE
        }
        StageCommand::Down(a) => deploy_cmd::on_engine(console, fleet, |reporter, docker, fleet| {
            if a.destroy {
                (ConsoleReporter { console, yes: a.yes })
                    .confirm(&format!("Remove the containers of stage `{}`?", a.stage))?;
            }
            local::down(reporter, docker, fleet, &a.stage, a.destroy)
        }),
        StageCommand::Status(a) => deploy_cmd::status(console, fleet, &a.stage, a.output),
        StageCommand::Ps(a) => deploy_cmd::ps(console, fleet, Some(&a.stage), a.output),
        StageCommand::Logs(a) => deploy_cmd::logs(console, fleet, &a.stage, a.service.as_deref(), a.follow, a.tail),
    }
}
