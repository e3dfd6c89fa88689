//! `fleet build <stage>`.

use std::path::Path;

use clap::Args;

use super::fleet_select::{FleetSelect, SelectError, SelectedFleet, select};
use super::{Console, Output, exit};
use crate::build::credentials::login_for_push;
use crate::build::{BuildOptions, plan_builds, run_builds, source_url};
use crate::config::Stage;
use crate::deploy::DesiredService;
use crate::docker::{Builder, Docker, DockerCli};

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

pub fn run(console: &Console, registry_file: Option<&Path>, args: &BuildArgs) -> u8 {
    match build(console, registry_file, args) {
        Ok(outcomes) if args.output == Output::Json => {
            console.print_json(&outcomes);
            exit::OK
        }
        Ok(outcomes) => {
            let mut out = String::new();
            for o in &outcomes {
                let what = match (o.built, o.pushed) {
                    (true, true) => "built and pushed",
                    (true, false) => "built",
                    (false, true) => "unchanged, pushed",
                    (false, false) => "unchanged",
                };
                out.push_str(&format!("{}: {what}: {}\n", o.service, o.images.join(", ")));
            }
            console.print(&out);
            exit::OK
        }
        Err(code) => code,
    }
}

/// Builds (and pushes) the stage's images; errors are reported and become the exit code.
pub(super) fn build(
    console: &Console,
    registry_file: Option<&Path>,
    args: &BuildArgs,
) -> Result<Vec<crate::build::BuildOutcome>, u8> {
    let fleet = match select(&args.fleet, registry_file) {
        Ok(f) => f,
        Err(SelectError::Usage(m)) => {
            console.error(&m);
            return Err(exit::USAGE);
        }
        Err(SelectError::Load(e)) => return Err(console.report_load_error(&e)),
    };
    let stage = match fleet.stage(&args.stage) {
        Ok(s) => s,
        Err(m) => {
            console.error(&m);
            return Err(exit::USAGE);
        }
    };
    let docker = DockerCli::default();
    if let Err(e) = docker.server_version() {
        console.error(&e.to_string());
        return Err(exit::FAILURE);
    }
    if args.push && args.stage == "local" {
        eprintln!("note: the local stage is never pushed; building only");
    }
    let options = BuildOptions {
        services: args.services.clone(),
        push: args.push,
        tag: args.tag.clone(),
        registry: args.registry.clone(),
        platform: args.platform.clone(),
        no_cache: args.no_cache,
        commit: git(&fleet.dir, &["rev-parse", "HEAD"]),
        source_url: source_url(
            &|k| std::env::var(k).ok(),
            git(&fleet.dir, &["remote", "get-url", "origin"]).as_deref(),
        ),
        created: crate::clock::timestamp_now(),
    };
    let buildx = args.stage != "local" && docker.buildx_available();
    let plans = match plan_builds(&fleet.project, stage, &fleet.dir, &options, buildx) {
        Ok(p) => p,
        Err(e) => {
            console.error(&e.to_string());
            return Err(exit::USAGE);
        }
    };
    if args.stage != "local" && !buildx {
        eprintln!("note: docker buildx is not available; using `docker build --platform` and `docker push` instead");
    }
    let docker = with_credentials(console, docker, &plans, args.push)?;
    let plain = !console.color();
    let result = run_builds(&docker.0, &plans, &mut |service, line| {
        if plain || std::env::var_os("CI").is_some() {
            eprintln!("{service} | {line}");
        } else {
            eprintln!("\x1b[2m{service} |\x1b[0m {line}");
        }
    });
    result.map_err(|e| {
        console.error(&format!("{e}; nothing was deployed"));
        exit::FAILURE
    })
}

/// The engine, logged in to the push registries that need a token.
fn with_credentials(
    console: &Console,
    docker: DockerCli,
    plans: &[crate::build::PlannedBuild],
    push: bool,
) -> Result<(DockerCli, Option<tempfile::TempDir>), u8> {
    if !push {
        return Ok((docker, None));
    }
    let env = |k: &str| std::env::var(k).ok();
    login_for_push(docker, plans, &env).map_err(|e| {
        console.error(&e);
        exit::FAILURE
    })
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    crate::plan::git_files::git_line(dir, args)
}

/// Before `up`/`deploy`: builds the local images that do not exist yet.
pub fn build_missing_local_images(
    console: &Console,
    docker: &dyn Docker,
    fleet: &SelectedFleet,
    stage: &Stage,
    desired: &[DesiredService],
) -> Result<(), u8> {
    let mut missing = Vec::new();
    for d in desired.iter().filter(|d| d.built_locally) {
        match docker.inspect_image(&d.spec.image) {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(d.service.clone()),
            Err(e) => {
                console.error(&e.to_string());
                return Err(exit::FAILURE);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let options = BuildOptions {
        services: missing,
        created: chrono::Utc::now().to_rfc3339(),
        ..BuildOptions::default()
    };
    let fail = |m: String| {
        console.error(&m);
        exit::FAILURE
    };
    let mut plans = plan_builds(&fleet.project, stage, &fleet.dir, &options, false).map_err(|e| fail(e.to_string()))?;
    // Deploys run what they built under the name they run (tag of the desired image).
    for plan in &mut plans {
        if let Some(d) = desired.iter().find(|d| d.service == plan.service) {
            plan.request.tags = vec![d.spec.image.clone()];
            plan.request.platform = None;
            plan.builder = Builder::Classic;
        }
    }
    run_builds(docker, &plans, &mut |s, l| eprintln!("{s} | {l}"))
        .map_err(|e| fail(format!("{e}; nothing was deployed")))?;
    Ok(())
}
