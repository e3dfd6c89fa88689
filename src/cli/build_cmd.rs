//! `fleet build <stage>` ([`crate::application::local::build_images`]).

use clap::Args;

use super::fleet_select::FleetSelect;
use super::{Context, Exit, Output, exit};
use crate::application::image_build::BuildOptions;
use crate::application::local::{build_fleet, render_builds};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The stage to build for (local: native platform, never pushed; others: linux/amd64).
    pub stage: String,
    /// Only these services (repeatable).
    #[arg(short = 's', long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Push after building (not for the local stage).
    #[arg(long)]
    pub push: bool,
    /// Image tag (default latest; `sha-<7>` is added when a git commit is known).
    #[arg(long)]
    pub tag: Option<String>,
    /// Registry prefix of the images, e.g. ghcr.io/acme.
    #[arg(long, env = "FLEET_IMAGE_REGISTRY")]
    pub image_registry: Option<String>,
    /// Target platform (default: native for local, linux/amd64 otherwise).
    #[arg(long)]
    pub platform: Option<String>,
    /// Build without cache (and rebuild even when inputs are unchanged).
    #[arg(long)]
    pub no_cache: bool,
    /// Text, or JSON for scripts.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

/// Builds (and pushes) the stage's images of the selected fleet.
pub fn run(cx: &Context, args: &BuildArgs) -> Exit {
    let fleet = args.fleet.select(cx.registry, Some(&args.stage))?;
    let request = BuildOptions {
        services: args.services.clone(),
        push: args.push,
        tag: args.tag.clone(),
        registry: args.image_registry.clone(),
        platform: args.platform.clone(),
        no_cache: args.no_cache,
        ..BuildOptions::default()
    };
    let line = &mut |service: &str, line: &str| cx.console.service_line(service, line);
    let docker = cx.fx.docker.clone();
    let outcomes = build_fleet(&cx.reporter(false), docker, &fleet, &args.stage, request, line)?;
    cx.show(args.output, &outcomes, |o| render_builds(o));
    Ok(exit::OK)
}
