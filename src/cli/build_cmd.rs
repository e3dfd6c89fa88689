//! `fleet build <stage>` ([`crate::application::local::build_images`]).

use std::path::Path;

use clap::Args;

use super::fleet_select::{FleetSelect, select};
use super::{Console, Output, exit};
use crate::application::image_build::{BuildOptions, BuildOutcome};
use crate::application::local::{build_fleet, render_builds};
use crate::application::report::WorkflowError;
use crate::console::{ConsoleReporter, Effects};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The stage to build for (local: native platform, never pushed; others: linux/amd64).
    pub stage: String,
    /// Only these services (repeatable).
    #[arg(short = 'n', long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Push after building (not for the local stage).
    #[arg(long)]
    pub push: bool,
    /// Image tag (default latest; `sha-<7>` is added when a git commit is known).
    #[arg(long)]
    pub tag: Option<String>,
    /// Registry prefix, e.g. ghcr.io/acme (also FLEET_IMAGE_REGISTRY).
    #[arg(long, env = "FLEET_IMAGE_REGISTRY")]
    pub registry: Option<String>,
    /// Target platform (default: native for local, linux/amd64 otherwise).
    #[arg(long)]
    pub platform: Option<String>,
    /// Build without cache (and rebuild even when inputs are unchanged).
    #[arg(long)]
    pub no_cache: bool,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

pub fn run(console: &Console, fx: &Effects, registry_file: Option<&Path>, args: &BuildArgs) -> u8 {
    match build(console, fx, registry_file, args) {
        Ok(outcomes) if args.output == Output::Json => {
            console.print_json(&outcomes);
            exit::OK
        }
        Ok(outcomes) => {
            console.print(&render_builds(&outcomes));
            exit::OK
        }
        Err(e) => console.finish(Err(e)),
    }
}

/// Builds (and pushes) the stage's images of the selected fleet.
fn build(
    console: &Console,
    fx: &Effects,
    registry_file: Option<&Path>,
    args: &BuildArgs,
) -> Result<Vec<BuildOutcome>, WorkflowError> {
    let fleet = select(&args.fleet, registry_file)?;
    let request = BuildOptions {
        services: args.services.clone(),
        push: args.push,
        tag: args.tag.clone(),
        registry: args.registry.clone(),
        platform: args.platform.clone(),
        no_cache: args.no_cache,
        ..BuildOptions::default()
    };
    let reporter = ConsoleReporter { console, yes: false };
    build_fleet(
        &reporter,
        fx.docker.clone(),
        &fleet,
        &args.stage,
        request,
        &mut |service, line| console.service_line(service, line),
    )
}
