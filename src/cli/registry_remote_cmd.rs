//! `fleet registry deploy | status | unlock`: the registry's routes over SSH
//! ([`crate::application::routes`]).

use std::path::{Path, PathBuf};

use clap::Args;

use super::{Console, Output, exit};
use crate::application::deploy::remote::{self, LocalBinary, RemotePlan};
use crate::application::deploy::remote_status;
use crate::application::routes::{self, deploy_fleet, plans};
use crate::application::workspace::load_registry;
use crate::config::{LoadOptions, Workspace};
use crate::console::{ConsoleReporter, Effects};

#[derive(Debug, Args)]
pub struct RegistryDeployArgs {
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

/// The registry and every fleet, plus the registry's directory; errors are shown.
fn workspace(console: &Console, flag: Option<&Path>, verify: bool) -> Result<(Workspace, PathBuf), u8> {
    load_registry(flag, LoadOptions { verify_fleets: verify }).map_err(|e| console.finish(Err(e)))
}

pub fn deploy(console: &Console, fx: &Effects, flag: Option<&Path>, args: &RegistryDeployArgs) -> u8 {
    let registry = match workspace(console, args.registry.as_deref().or(flag), true) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let remote_args = remote::RemoteDeployOptions {
        pull: !args.no_pull,
        image_registry: args.image_registry.clone(),
        image_tag: None,
    };
    let plans = match plans(&registry.0, &args.fleet, args.stage.as_deref(), &remote_args) {
        Ok(p) => p,
        Err(e) => return console.finish(Err(e)),
    };
    if args.output == Output::Json && !args.yes {
        console.print_json(&plans.iter().map(|(p, _)| p).collect::<Vec<&RemotePlan>>());
        return exit::OK;
    }
    let reporter = ConsoleReporter { console, yes: true };
    console.finish(fx.fleet_binary().and_then(|exe| {
        let binary = LocalBinary::this_build(&exe);
        deploy_fleet(
            &reporter,
            fx.ssh.as_ref(),
            &binary,
            &registry,
            &args.fleet,
            &plans,
            args.yes,
        )
    }))
}

pub fn status(console: &Console, fx: &Effects, flag: Option<&Path>, args: &StatusArgs) -> u8 {
    let (ws, _) = match workspace(console, args.registry.as_deref().or(flag), false) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let rows = routes::route_statuses(fx.ssh.as_ref(), &ws);
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

pub fn unlock(console: &Console, fx: &Effects, flag: Option<&Path>, args: &UnlockArgs) -> u8 {
    let (ws, _) = match workspace(console, args.registry.as_deref().or(flag), false) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let reporter = ConsoleReporter { console, yes: true };
    let options = remote::RemoteDeployOptions::default();
    console.finish(
        plans(&ws, &args.fleet, Some(&args.stage), &options)
            .and_then(|plans| routes::unlock(&reporter, fx.ssh.as_ref(), &plans)),
    )
}
