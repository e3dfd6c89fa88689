//! The configuration files: `fleet init` ([`crate::application::init`]), `fleet validate`
//! ([`crate::application::validate`]) and `fleet fmt` ([`crate::application::format`]).

use std::path::PathBuf;

use clap::Args;

use super::{Context, Exit, Output, exit};
use crate::application::format::{config_files, format_files, render_formatted};
use crate::application::init::init;
use crate::application::migrate::migrate;
use crate::application::validate::{resolve_target, validate, validated_json};
use crate::config::LoadOptions;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The repository's directory (default: the current one).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The first fleet's name.
    #[arg(long, value_name = "NAME", default_value = "web")]
    pub fleet: String,
}

pub fn run_init(cx: &Context, args: &InitArgs) -> Exit {
    init(&cx.reporter(false), &args.dir, &args.fleet)?;
    Ok(exit::OK)
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A registry file, a fleet.kdl, or a directory holding either. Default: the discovered
    /// registry, else the nearest .fleetflow/fleet.kdl.
    pub path: Option<PathBuf>,
    /// Do not require each fleet's .fleetflow/fleet.kdl to exist.
    #[arg(long)]
    pub no_verify: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

pub fn run_validate(cx: &Context, args: &ValidateArgs) -> Exit {
    let target = resolve_target(args.path.as_deref(), cx.registry)?;
    let options = LoadOptions {
        verify_fleets: !args.no_verify,
    };
    let result = validate(&target, options);
    if args.output == Output::Json {
        cx.console.print_json(&validated_json(&result));
        return Ok(exit::ok_if(result.is_ok()));
    }
    let v = result?;
    cx.console.print_diagnostics(&v.warnings);
    (cx.console).print(&v.checked.iter().map(|l| format!("ok: {l}\n")).collect::<String>());
    Ok(exit::OK)
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// A file, or a directory (its registry and fleets, or its .fleetflow/). Default: the
    /// registry and its fleets' files, else the nearest fleet's.
    pub path: Option<PathBuf>,
    /// Change nothing; exit 1 when a file is not in the canonical form (for CI).
    #[arg(long)]
    pub check: bool,
    /// Text, or JSON for scripts.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

pub fn run_fmt(cx: &Context, args: &FmtArgs) -> Exit {
    let files = config_files(args.path.as_deref(), cx.registry)?;
    let formatted = format_files(&files, args.check)?;
    cx.show(args.output, &formatted, |all| render_formatted(all, args.check));
    Ok(exit::ok_if(!args.check || formatted.iter().all(|f| !f.changed)))
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The FleetFlow repository: its .fleetflow/ directories become fleets of a new registry.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Write without asking (the diff is shown either way).
    #[arg(short = 'y', long)]
    pub yes: bool,
}

pub fn run_migrate(cx: &Context, args: &MigrateArgs) -> Exit {
    migrate(&cx.reporter(args.yes), &args.path).map(|_| exit::OK)
}
