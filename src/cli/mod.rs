//! The `fleet` command line: raw arguments (clap) → one command run over the library.

mod apply_cmd;
mod build_cmd;
mod deploy_cmd;
mod fleet_select;
mod plan_cmd;
mod registry_cmd;
mod registry_remote_cmd;
mod serve_cmd;
mod stage_cmd;
mod validate_cmd;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

pub use crate::console::{ColorChoice, Console, Effects, exit};
use crate::ssh::OpensshConnector;

#[derive(Debug, Parser)]
#[command(name = "fleet", version, about = "Plan, build and deploy a monorepo of container fleets", long_about = None)]
pub struct Cli {
    /// Path to fleet-registry.kdl (or its directory). Default: FLEET_REGISTRY_PATH, then
    /// ./fleet-registry.kdl, then the nearest parent directory that has one.
    /// (Given before the command; `fleet build/deploy --registry` name an image registry.)
    #[arg(long, value_name = "PATH")]
    pub registry: Option<PathBuf>,

    /// When to use colors (NO_COLOR is respected with `auto`).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check fleet-registry.kdl and every fleet it references (or one fleet.kdl).
    Validate(validate_cmd::ValidateArgs),
    /// Inspect the fleet registry.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Build a stage's images (local: native; others: linux/amd64 with buildx).
    Build(build_cmd::BuildArgs),
    /// Deploy a stage: stop → replace → start in dependency order, health-gated, with rollback.
    Deploy(deploy_cmd::DeployArgs),
    /// Start a stage's containers (default stage: local).
    Up(deploy_cmd::UpArgs),
    /// Stop (or --remove) a stage's containers.
    Down(deploy_cmd::DownArgs),
    /// List a fleet's containers.
    Ps(deploy_cmd::PsArgs),
    /// Show container logs.
    Logs(deploy_cmd::LogsArgs),
    /// Restart a stage's containers.
    Restart(deploy_cmd::RestartArgs),
    /// Stage-centred commands (seed 004).
    #[command(subcommand)]
    Stage(stage_cmd::StageCommand),
    /// What changes between a base commit and the working tree: services, routes, infrastructure.
    Plan(plan_cmd::PlanArgs),
    /// Apply the infrastructure plan (servers, DNS, …) against the live providers, under the state lock.
    Apply(apply_cmd::ApplyArgs),
    /// Recorded infrastructure state (.fleetflow/state.json).
    #[command(subcommand)]
    State(plan_cmd::StateCommand),
    /// Run the GitHub App: signed webhooks → durable queue → plan comment and check run per PR.
    Serve(serve_cmd::ServeArgs),
    /// The GitHub Action's entrypoint (action.yml): reads GITHUB_* and INPUT_* variables.
    Action(ActionArgs),
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// List fleets, servers and routes (FS-005 layout).
    List(registry_cmd::ListArgs),
    /// Deploy a fleet to the servers its routes name, over SSH (prints the plan; runs with --yes).
    Deploy(registry_remote_cmd::RegistryDeployArgs),
    /// State of every route on its server (FS-005 layout).
    Status(registry_remote_cmd::StatusArgs),
    /// Remove a stuck deploy lock of a fleet+stage on its server.
    Unlock(registry_remote_cmd::UnlockArgs),
}

/// Everything comes from the environment the runner sets up (see action.yml).
#[derive(Debug, clap::Args)]
pub struct ActionArgs {}

/// `--output` for read commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    #[default]
    Text,
    Json,
}

/// Runs the CLI from process arguments and returns its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::console::init_tracing(cli.verbose);
    let console = Console::new(cli.color);
    let fx = Effects::new(Arc::new(OpensshConnector::default()));
    let code = match cli.command {
        Command::Validate(args) => validate_cmd::run(&console, cli.registry.as_deref(), &args),
        Command::Registry(RegistryCommand::List(args)) => {
            registry_cmd::list(&console, args.registry.as_deref().or(cli.registry.as_deref()), &args)
        }
        Command::Registry(RegistryCommand::Deploy(args)) => {
            registry_remote_cmd::deploy(&console, &fx, cli.registry.as_deref(), &args)
        }
        Command::Registry(RegistryCommand::Status(args)) => {
            registry_remote_cmd::status(&console, &fx, cli.registry.as_deref(), &args)
        }
        Command::Registry(RegistryCommand::Unlock(args)) => {
            registry_remote_cmd::unlock(&console, &fx, cli.registry.as_deref(), &args)
        }
        Command::Build(args) => build_cmd::run(&console, &fx, cli.registry.as_deref(), &args),
        Command::Deploy(args) => deploy_cmd::run_deploy(&console, &fx, cli.registry.as_deref(), &args),
        Command::Up(args) => deploy_cmd::run_up(&console, &fx, cli.registry.as_deref(), &args),
        Command::Down(args) => deploy_cmd::run_down(&console, &fx, cli.registry.as_deref(), &args),
        Command::Ps(args) => deploy_cmd::run_ps(&console, &fx, cli.registry.as_deref(), &args),
        Command::Logs(args) => deploy_cmd::run_logs(&console, &fx, cli.registry.as_deref(), &args),
        Command::Restart(args) => deploy_cmd::run_restart(&console, &fx, cli.registry.as_deref(), &args),
        Command::Stage(command) => stage_cmd::run(&console, &fx, cli.registry.as_deref(), &command),
        Command::Plan(args) => plan_cmd::run_plan(&console, cli.color, cli.registry.as_deref(), &args),
        Command::Apply(args) => apply_cmd::run(&console, &fx, cli.registry.as_deref(), &args),
        Command::State(command) => plan_cmd::run_state(&console, cli.registry.as_deref(), &command),
        Command::Serve(args) => serve_cmd::run(&console, &args),
        Command::Action(_) => crate::action::run(&console),
    };
    ExitCode::from(code)
}
