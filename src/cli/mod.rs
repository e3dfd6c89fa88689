//! The `fleet` command line: raw arguments (clap) → one command run over the library. Each
//! command returns its exit code or the [`WorkflowError`] that stopped it; [`main`] shows and
//! maps errors in one place ([`Console::exit_with`]).

mod deploy_cmd;
mod files_cmd;
mod fleet_select;
pub mod old_spellings;
mod plan_cmd;
mod registry_cmd;
mod stage_cmd;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::application::report::WorkflowError;
use crate::console::ConsoleReporter;
pub use crate::console::{ColorChoice, Console, Effects, exit};
use crate::ssh::OpensshConnector;

#[derive(Debug, Parser)]
#[command(name = "fleet", version, about = "Plan, build and deploy a monorepo of container fleets", long_about = None)]
pub struct Cli {
    /// Path to fleet-registry.kdl (or its directory). Default: FLEET_REGISTRY_PATH, then
    /// ./fleet-registry.kdl, then the nearest parent directory that has one.
    #[arg(long, global = true, value_name = "PATH")]
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
    /// Start a repository: a commented fleet-registry.kdl, one fleet and the Action's workflow.
    Init(files_cmd::InitArgs),
    /// Check fleet-registry.kdl and every fleet it references (or one fleet.kdl).
    Validate(files_cmd::ValidateArgs),
    /// Rewrite configuration files in their canonical form (--check: only say which are not).
    Fmt(files_cmd::FmtArgs),
    /// Turn a FleetFlow repository into a fleet registry (shows the diff, then asks).
    Migrate(files_cmd::MigrateArgs),
    /// Inspect the fleet registry.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Build a stage's images (local: native; others: linux/amd64 with buildx).
    Build(deploy_cmd::BuildArgs),
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
    /// Run an earlier deploy's images again (no build), health-gated, wherever the stage runs.
    Rollback(stage_cmd::RollbackArgs),
    /// The deploys of a fleet's stage, as recorded where it runs.
    History(stage_cmd::HistoryArgs),
    /// A stage wherever it runs: this machine, servers of the registry, or cloud servers.
    #[command(subcommand)]
    Stage(stage_cmd::StageCommand),
    /// What changes between a base commit and the working tree: services, routes, infrastructure.
    Plan(plan_cmd::PlanArgs),
    /// Apply the infrastructure plan (servers, DNS, …) against the live providers, under the state lock.
    Apply(plan_cmd::ApplyArgs),
    /// Recorded infrastructure state (.fleetflow/state.json).
    #[command(subcommand)]
    State(plan_cmd::StateCommand),
    /// The GitHub App itself: `fleet app create` makes it with GitHub's manifest flow.
    #[command(subcommand)]
    App(crate::webhook::app_create::AppCommand),
    /// Run the GitHub App: signed webhooks → durable queue → plan comment and check run per PR.
    Serve(crate::webhook::serve_args::ServeArgs),
    /// The GitHub Action's entrypoint (action.yml): reads GITHUB_* and INPUT_* variables (all it
    /// takes comes from the environment the runner sets up).
    Action,
    /// Print a shell completion script (e.g. `fleet completions bash > /etc/bash_completion.d/fleet`).
    Completions(CompletionsArgs),
    /// Print the man page (`fleet man | man -l -`), or write one page per command with --dir.
    Man(ManArgs),
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write fleet.1 and a page per command (fleet-build.1, fleet-stage-up.1, …) into DIR.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// List fleets, servers and routes.
    List(OutputArgs),
    /// Deploy a fleet to the servers its routes name, over SSH (prints the plan; runs with --yes).
    Deploy(registry_cmd::RegistryDeployArgs),
    /// State of every route on its server.
    Status(OutputArgs),
    /// Remove a stuck deploy lock of a fleet+stage on its server.
    Unlock(registry_cmd::UnlockArgs),
}

/// A read command whose only option is `--output`.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Text, or JSON for scripts.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `--output` for read commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    #[default]
    Text,
    Json,
}

/// What every command runs with: where it writes, its effects, the global flags.
pub struct Context<'a> {
    pub console: &'a Console,
    pub fx: &'a Effects,
    /// `--registry` (given before the command).
    pub registry: Option<&'a Path>,
    pub color: ColorChoice,
}

impl Context<'_> {
    /// The console as a workflow's reporter; `yes` answers its questions.
    pub fn reporter(&self, yes: bool) -> ConsoleReporter<'_> {
        ConsoleReporter {
            console: self.console,
            yes,
        }
    }

    /// A read command's result, as text or JSON.
    pub fn show<T: serde::Serialize + ?Sized>(&self, output: Output, value: &T, text: impl FnOnce(&T) -> String) {
        match output {
            Output::Json => self.console.print_json(value),
            Output::Text => self.console.print(&text(value)),
        }
    }
}

/// `fleet man`: the pages come from the same definitions as `--help`.
fn man(console: &Console, args: &ManArgs) -> Exit {
    let command = <Cli as clap::CommandFactory>::command();
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .and_then(|()| clap_mangen::generate_to(command, dir))
                .map_err(|e| WorkflowError::failed(format!("cannot write man pages to {}: {e}", dir.display())))?;
            console.print(&format!("wrote the man pages to {}\n", dir.display()));
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(|e| WorkflowError::failed(format!("cannot render the man page: {e}")))?;
            console.print(&String::from_utf8_lossy(&page));
        }
    }
    Ok(exit::OK)
}

/// A command's exit code, or why it stopped.
pub type Exit = Result<u8, WorkflowError>;

/// Runs the CLI from process arguments and returns its exit code.
pub fn main() -> ExitCode {
    let upgraded = old_spellings::upgrade(std::env::args_os());
    let cli = Cli::parse_from(upgraded.args);
    crate::console::init_tracing(cli.verbose);
    let console = Console::new(cli.color);
    for line in &upgraded.deprecations {
        console.warn(line);
    }
    let fx = Effects::new(Arc::new(OpensshConnector::default()));
    let cx = Context {
        console: &console,
        fx: &fx,
        registry: cli.registry.as_deref(),
        color: cli.color,
    };
    let result = match cli.command {
        Command::Init(args) => files_cmd::run_init(&cx, &args),
        Command::Validate(args) => files_cmd::run_validate(&cx, &args),
        Command::Fmt(args) => files_cmd::run_fmt(&cx, &args),
        Command::Migrate(args) => files_cmd::run_migrate(&cx, &args),
        Command::Registry(RegistryCommand::List(args)) => registry_cmd::list(&cx, &args),
        Command::Registry(RegistryCommand::Deploy(args)) => registry_cmd::deploy(&cx, &args),
        Command::Registry(RegistryCommand::Status(args)) => registry_cmd::status(&cx, &args),
        Command::Registry(RegistryCommand::Unlock(args)) => registry_cmd::unlock(&cx, &args),
        Command::Build(args) => deploy_cmd::run_build(&cx, &args),
        Command::Deploy(args) => deploy_cmd::run_deploy(&cx, &args),
        Command::Up(args) => deploy_cmd::run_up(&cx, &args),
        Command::Down(args) => deploy_cmd::run_down(&cx, &args),
        Command::Ps(args) => deploy_cmd::run_ps(&cx, &args),
        Command::Logs(args) => deploy_cmd::run_logs(&cx, &args),
        Command::Restart(args) => deploy_cmd::run_restart(&cx, &args),
        Command::Stage(command) => stage_cmd::run(&cx, &command),
        Command::Rollback(args) => stage_cmd::run_rollback(&cx, &args),
        Command::History(args) => stage_cmd::run_history(&cx, &args),
        Command::Plan(args) => plan_cmd::run_plan(&cx, &args),
        Command::Apply(args) => plan_cmd::run_apply(&cx, &args),
        Command::State(command) => plan_cmd::run_state(&cx, &command),
        Command::Serve(args) => crate::webhook::serve_args::run(&fx, &args).map(|()| exit::OK),
        Command::App(command) => crate::webhook::app_create::run(&console, &command).map(|()| exit::OK),
        Command::Action => Ok(crate::action::run(&console)),
        Command::Man(args) => man(&console, &args),
        Command::Completions(args) => {
            let mut script = Vec::new();
            clap_complete::generate(
                args.shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "fleet",
                &mut script,
            );
            console.print(&String::from_utf8_lossy(&script));
            Ok(exit::OK)
        }
    };
    ExitCode::from(console.exit_with(result))
}
