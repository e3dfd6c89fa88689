//! `fleet deploy`, and the local lifecycle: `up`, `down`, `ps`, `logs`, `restart`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use clap::Args;

use super::fleet_select::{FleetSelect, SelectError, SelectedFleet, select};
use super::{Console, Output, exit};
use crate::clock::SystemClock;
use crate::deploy::engine::Outcome;
use crate::deploy::lifecycle::{self, render_ps};
use crate::deploy::progress::StderrProgress;
use crate::deploy::{Action, DeployOptions, Target, deploy, desired_services};
use crate::docker::{Docker, DockerCli};

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The stage to deploy (e.g. live).
    pub stage: String,
    /// Only these services (repeatable).
    #[arg(short = 'n', long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Use local images; do not pull.
    #[arg(long)]
    pub no_pull: bool,
    /// Recreate containers even when nothing changed.
    #[arg(long)]
    pub force_recreate: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    pub images: ImageArgs,
    /// Seconds to wait for each new container to become healthy.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub health_timeout: u64,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

/// Where built images live.
#[derive(Debug, Clone, Args, Default)]
pub struct ImageArgs {
    /// Registry prefix of built images (e.g. ghcr.io/acme); also FLEET_IMAGE_REGISTRY.
    #[arg(long = "registry", env = "FLEET_IMAGE_REGISTRY", value_name = "REGISTRY")]
    pub registry: Option<String>,
    /// Tag of built images.
    #[arg(long, default_value = "latest")]
    pub tag: String,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// The stage (default: local).
    #[arg(default_value = "local")]
    pub stage: String,
    /// Pull images even when present.
    #[arg(long)]
    pub pull: bool,
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[arg(default_value = "local")]
    pub stage: String,
    /// Remove the containers (and the network when nothing is left), not only stop them.
    #[arg(long)]
    pub remove: bool,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// One stage (default: all stages of the fleet).
    pub stage: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[arg(default_value = "local")]
    pub stage: String,
    /// One service.
    #[arg(short = 's', long = "service")]
    pub service: Option<String>,
    /// Keep following.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Last N lines.
    #[arg(short = 'n', long = "tail", value_name = "N")]
    pub tail: Option<usize>,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    #[arg(default_value = "local")]
    pub stage: String,
    /// Only these services.
    #[arg(short = 's', long = "service")]
    pub services: Vec<String>,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Loads the fleet or reports why not.
fn selected(console: &Console, sel: &FleetSelect, registry: Option<&Path>) -> Result<SelectedFleet, u8> {
    select(sel, registry).map_err(|e| match e {
        SelectError::Usage(m) => {
            console.error(&m);
            exit::USAGE
        }
        SelectError::Load(e) => console.report_load_error(&e),
    })
}

fn engine(console: &Console) -> Result<DockerCli, u8> {
    let docker = DockerCli::default();
    docker.server_version().map(|_| docker).map_err(|e| {
        console.error(&e.to_string());
        exit::FAILURE
    })
}

pub fn run_deploy(console: &Console, registry: Option<&Path>, args: &DeployArgs) -> u8 {
    let options = DeployOptions {
        pull: !args.no_pull,
        force_recreate: args.force_recreate,
        health_timeout: Duration::from_secs(args.health_timeout),
        remove_orphans: args.services.is_empty(),
        ..DeployOptions::default()
    };
    converge(
        console,
        registry,
        &args.fleet,
        &args.stage,
        &args.services,
        &args.images,
        options,
        Confirm::Ask(args.yes),
        args.output,
    )
}

pub fn run_up(console: &Console, registry: Option<&Path>, args: &UpArgs) -> u8 {
    let options = DeployOptions {
        pull: args.pull,
        ..DeployOptions::default()
    };
    converge(
        console,
        registry,
        &args.fleet,
        &args.stage,
        &[],
        &args.images,
        options,
        Confirm::No,
        Output::Text,
    )
}

enum Confirm {
    /// Ask unless `--yes` (the bool).
    Ask(bool),
    No,
}

#[allow(clippy::too_many_arguments)]
fn converge(
    console: &Console,
    registry: Option<&Path>,
    sel: &FleetSelect,
    stage_name: &str,
    services: &[String],
    images: &ImageArgs,
    options: DeployOptions,
    confirm: Confirm,
    output: Output,
) -> u8 {
    let fleet = match selected(console, sel, registry) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let stage = match fleet.stage(stage_name) {
        Ok(s) => s,
        Err(m) => {
            console.error(&m);
            return exit::USAGE;
        }
    };
    let target = Target {
        project: fleet.project.clone(),
        stage,
        fleet_dir: fleet.dir.clone(),
        image_registry: images.registry.clone(),
        tag: images.tag.clone(),
    };
    let desired = match desired_services(&target, services, &|k| std::env::var(k).ok()) {
        Ok(d) => d,
        Err(e) => {
            console.error(&e.to_string());
            return exit::USAGE;
        }
    };
    if let Confirm::Ask(yes) = confirm
        && !yes
    {
        let question = format!("Deploy {} service(s) of {}:{stage_name}?", desired.len(), fleet.project);
        if let Err(code) = super::apply_cmd::confirm(console, false, &question) {
            return code;
        }
    }
    // No separate engine check: the first call below fails with the same one-line message.
    let docker = DockerCli::default();
    if let Err(code) = super::build_cmd::build_missing_local_images(console, &docker, &fleet, stage, &desired) {
        return code;
    }
    let mut progress = StderrProgress::new();
    let report = deploy(
        &docker,
        &SystemClock,
        &fleet.project,
        stage_name,
        &desired,
        &options,
        &mut progress,
    );
    drop(progress);
    match output {
        Output::Json => console.print_json(&serde_json::json!({
            "project": fleet.project,
            "stage": stage_name,
            "ok": report.error.is_none(),
            "error": report.error.as_ref().map(ToString::to_string),
            "services": report.outcomes,
        })),
        Output::Text => console.print(&render_outcomes(&report.outcomes)),
    }
    match report.error {
        None => exit::OK,
        Some(e) => {
            console.error(&e.to_string());
            exit::FAILURE
        }
    }
}

/// The final table: what happened to each service.
pub fn render_outcomes(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let w = outcomes.iter().map(|o| o.service.len()).max().unwrap_or(7).max(7);
    out.push_str(&format!("{:<w$}  {:<13}  DETAIL\n", "SERVICE", "ACTION"));
    for o in outcomes {
        let action = serde_json::to_value(o.action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        out.push_str(format!("{:<w$}  {action:<13}  {}", o.service, o.detail).trim_end());
        out.push('\n');
    }
    let changed = outcomes
        .iter()
        .filter(|o| !matches!(o.action, Action::Unchanged | Action::NotAttempted))
        .count();
    out.push_str(&format!(
        "{changed} changed, {} unchanged\n",
        outcomes.iter().filter(|o| o.action == Action::Unchanged).count()
    ));
    out
}

pub fn run_down(console: &Console, registry: Option<&Path>, args: &DownArgs) -> u8 {
    with_engine(console, registry, &args.fleet, |docker, fleet| {
        fleet.stage(&args.stage).map_err(|m| (exit::USAGE, m))?;
        let touched = lifecycle::down(docker, &fleet.project, &args.stage, args.remove, STOP_TIMEOUT)
            .map_err(|e| (exit::FAILURE, e.to_string()))?;
        let verb = if args.remove { "removed" } else { "stopped" };
        console.print(&format!(
            "{}:{}: {verb} {}\n",
            fleet.project,
            args.stage,
            list_or_nothing(&touched)
        ));
        Ok(())
    })
}

pub fn run_ps(console: &Console, registry: Option<&Path>, args: &PsArgs) -> u8 {
    with_engine(console, registry, &args.fleet, |docker, fleet| {
        if let Some(s) = &args.stage {
            fleet.stage(s).map_err(|m| (exit::USAGE, m))?;
        }
        let rows =
            lifecycle::ps(docker, &fleet.project, args.stage.as_deref()).map_err(|e| (exit::FAILURE, e.to_string()))?;
        match args.output {
            Output::Json => console.print_json(&rows),
            Output::Text => console.print(&render_ps(&rows, chrono::Utc::now())),
        }
        Ok(())
    })
}

pub fn run_logs(console: &Console, registry: Option<&Path>, args: &LogsArgs) -> u8 {
    with_engine(console, registry, &args.fleet, |docker, fleet| {
        let stage = fleet.stage(&args.stage).map_err(|m| (exit::USAGE, m))?;
        if let Some(s) = &args.service
            && !stage.services.iter().any(|x| &x.name.value == s)
        {
            return Err((exit::USAGE, format!("stage `{}` has no service `{s}`", args.stage)));
        }
        let mut out = std::io::stdout().lock();
        let prefix = args.service.is_none();
        lifecycle::logs(
            docker,
            &fleet.project,
            &args.stage,
            args.service.as_deref(),
            args.follow,
            args.tail,
            &mut |s, l| {
                let _ = if prefix {
                    writeln!(out, "{s} | {l}")
                } else {
                    writeln!(out, "{l}")
                };
            },
        )
        .map_err(|e| (exit::FAILURE, e.to_string()))
    })
}

pub fn run_restart(console: &Console, registry: Option<&Path>, args: &RestartArgs) -> u8 {
    with_engine(console, registry, &args.fleet, |docker, fleet| {
        fleet.stage(&args.stage).map_err(|m| (exit::USAGE, m))?;
        let touched = lifecycle::restart(docker, &fleet.project, &args.stage, &args.services, STOP_TIMEOUT)
            .map_err(|e| (exit::FAILURE, e.to_string()))?;
        console.print(&format!(
            "{}:{}: restarted {}\n",
            fleet.project,
            args.stage,
            list_or_nothing(&touched)
        ));
        Ok(())
    })
}

fn list_or_nothing(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}

/// Loads the fleet, checks the engine, runs `f`; errors become (exit code, message).
fn with_engine(
    console: &Console,
    registry: Option<&Path>,
    sel: &FleetSelect,
    f: impl FnOnce(&dyn Docker, &SelectedFleet) -> Result<(), (u8, String)>,
) -> u8 {
    let fleet = match selected(console, sel, registry) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let docker = match engine(console) {
        Ok(d) => d,
        Err(code) => return code,
    };
    match f(&docker, &fleet) {
        Ok(()) => exit::OK,
        Err((code, message)) => {
            console.error(&message);
            code
        }
    }
}

/// `fleet stage status` for a local stage (seed 004's Services part).
pub fn run_status(console: &Console, registry: Option<&Path>, args: &super::stage_cmd::StageArgs) -> u8 {
    with_engine(console, registry, &args.fleet, |docker, fleet| {
        let stage = fleet.stage(&args.stage).map_err(|m| (exit::USAGE, m))?;
        let rows =
            lifecycle::ps(docker, &fleet.project, Some(&args.stage)).map_err(|e| (exit::FAILURE, e.to_string()))?;
        let running = rows.iter().filter(|r| r.status.starts_with("running")).count();
        let status = match running {
            0 => "stopped",
            n if n == stage.services.len() => "running",
            _ => "partial",
        };
        if args.output == Output::Json {
            console.print_json(&serde_json::json!({ "stage": args.stage, "status": status, "services": rows }));
            return Ok(());
        }
        let mut out = format!("Stage: {}\nStatus: {status}\n\nServices:\n", args.stage);
        for service in &stage.services {
            let name = &service.name.value;
            let line = match rows.iter().find(|r| &r.service == name) {
                Some(r) if r.status.starts_with("running") => format!("  ✓ {name:<12} {}", r.status),
                Some(r) => format!("  ✗ {name:<12} {}", r.status),
                None => format!("  ✗ {name:<12} not created"),
            };
            out.push_str(&line);
            out.push('\n');
        }
        console.print(&out);
        Ok(())
    })
}
