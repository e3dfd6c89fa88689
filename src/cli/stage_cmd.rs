//! `fleet stage up|down|status|logs|ps <stage>` (seed 004): the stage as the unit.

use std::path::Path;

use clap::{Args, Subcommand};

use super::deploy_cmd::{self, DownArgs, ImageArgs, LogsArgs, PsArgs, UpArgs};
use super::fleet_select::{FleetSelect, select};
use super::{Console, Output, exit};
use crate::application::report::Reporter;
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
    let (stage, fleet) = match command {
        StageCommand::Up(a) => (&a.stage, &a.fleet),
        StageCommand::Down(a) => (&a.stage, &a.fleet),
        StageCommand::Status(a) | StageCommand::Ps(a) => (&a.stage, &a.fleet),
        StageCommand::Logs(a) => (&a.stage, &a.fleet),
    };
    match select(fleet, registry) {
        Ok(f) => match f.stage(stage) {
            Ok(_) if let Some(routed) = super::remote_stage_cmd::routes(registry, fleet, &f, stage) => {
                return super::remote_stage_cmd::run(console, routed, command);
            }
            Ok(s) if !s.is_local() => {
                let dir = f.dir.clone();
                let target = super::apply_cmd::target_of(registry, f);
                return super::cloud_stage_cmd::run(console, target, &dir, command);
            }
            Ok(_) => {}
            Err(e) => return console.finish(Err(e)),
        },
        Err(e) => return console.finish(Err(e)),
    }
    match command {
        StageCommand::Up(a) => deploy_cmd::run_up(
            console,
            registry,
            &UpArgs {
                stage: a.stage.clone(),
                pull: a.pull,
                images: a.images.clone(),
                fleet: a.fleet.clone(),
            },
        ),
        StageCommand::Down(a) if a.suspend => {
            console.error("--suspend powers servers off; a local stage has none (use --destroy to remove containers)");
            exit::USAGE
        }
        StageCommand::Down(a)
            if a.destroy
                && let Err(e) = (ConsoleReporter { console, yes: a.yes })
                    .confirm(&format!("Remove the containers of stage `{}`?", a.stage)) =>
        {
            console.finish(Err(e))
        }
        StageCommand::Down(a) => deploy_cmd::run_down(
            console,
            registry,
            &DownArgs {
                stage: a.stage.clone(),
                remove: a.destroy,
                fleet: a.fleet.clone(),
            },
        ),
        StageCommand::Status(a) => deploy_cmd::run_status(console, registry, a),
        StageCommand::Ps(a) => deploy_cmd::run_ps(
            console,
            registry,
            &PsArgs {
                stage: Some(a.stage.clone()),
                output: a.output,
                fleet: a.fleet.clone(),
            },
        ),
        StageCommand::Logs(a) => deploy_cmd::run_logs(
            console,
            registry,
            &LogsArgs {
                stage: a.stage.clone(),
                service: a.service.clone(),
                follow: a.follow,
                tail: a.tail,
                fleet: a.fleet.clone(),
            },
        ),
    }
}
