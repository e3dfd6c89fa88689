//! `fleet registry list`, and `fleet registry deploy | status | unlock`: the registry's routes
//! over SSH ([`crate::application::routes`]).

use std::path::PathBuf;

use clap::Args;

use super::{Context, Exit, Output, OutputArgs, exit};
use crate::application::deploy::remote::{self, LocalBinary, RemotePlan};
use crate::application::deploy::remote_status;
use crate::application::report::WorkflowError;
use crate::application::routes::{self, deploy_fleet, plans};
use crate::application::workspace::{load_registry, render_list};
use crate::config::{LoadOptions, Workspace};

#[derive(Debug, Args)]
pub struct RegistryDeployArgs {
    /// The fleet to deploy.
    pub fleet: String,
    /// Only this stage's route.
    #[arg(long, value_name = "STAGE")]
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
    /// Text, or JSON for scripts.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The fleet whose lock to remove.
    pub fleet: String,
    /// Its stage, e.g. live.
    pub stage: String,
}

/// The registry and every fleet, plus the registry's directory.
fn workspace(cx: &Context, verify: bool) -> Result<(Workspace, PathBuf), WorkflowError> {
    load_registry(cx.registry, LoadOptions { verify_fleets: verify })
}

pub fn list(cx: &Context, args: &OutputArgs) -> Exit {
    // Listing reads the registry only; `fleet validate` checks the fleets it points to.
    let (workspace, _) = self::workspace(cx, false)?;
    cx.console.print_diagnostics(&workspace.warnings);
    cx.show(args.output, &workspace.registry, render_list);
    Ok(exit::OK)
}

pub fn deploy(cx: &Context, args: &RegistryDeployArgs) -> Exit {
    let registry = workspace(cx, true)?;
    let remote_args = remote::RemoteDeployOptions {
        pull: !args.no_pull,
        image_registry: args.image_registry.clone(),
        image_tag: None,
    };
    let plans = plans(&registry.0, &args.fleet, args.stage.as_deref(), &remote_args)?;
    if args.output == Output::Json && !args.yes {
        cx.console
            .print_json(&plans.iter().map(|(p, _)| p).collect::<Vec<&RemotePlan>>());
        return Ok(exit::OK);
    }
    let exe = cx.fx.fleet_binary()?;
    let binary = LocalBinary::this_build(&exe);
    let (fleet, ssh) = (&args.fleet, cx.fx.ssh.as_ref());
    deploy_fleet(&cx.reporter(true), ssh, &binary, &registry, fleet, &plans, args.yes)?;
    Ok(exit::OK)
}

/// Exits 1 when a server could not be read.
pub fn status(cx: &Context, args: &OutputArgs) -> Exit {
    let (ws, _) = workspace(cx, false)?;
    let rows = routes::route_statuses(cx.fx.ssh.as_ref(), &ws);
    cx.show(args.output, &rows, |rows| {
        remote_status::render(&ws.registry.name.value, rows)
    });
    let unreachable = remote_status::unreachable_servers(&rows);
    if args.output == Output::Text {
        unreachable.iter().for_each(|line| eprintln!("{line}"));
    }
    Ok(exit::ok_if(unreachable.is_empty()))
}

pub fn unlock(cx: &Context, args: &UnlockArgs) -> Exit {
    let (ws, _) = workspace(cx, false)?;
    let options = remote::RemoteDeployOptions::default();
    let plans = plans(&ws, &args.fleet, Some(&args.stage), &options)?;
    routes::unlock(&cx.reporter(true), cx.fx.ssh.as_ref(), &plans)?;
    Ok(exit::OK)
}
