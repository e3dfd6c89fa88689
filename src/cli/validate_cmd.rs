//! `fleet validate [PATH] [--no-verify]` ([`crate::application::validate`]).

use std::path::PathBuf;

use clap::Args;

use super::{Context, Exit, Output, exit};
use crate::application::validate::{resolve_target, validate, validated_json};
use crate::config::LoadOptions;

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

pub fn run(cx: &Context, args: &ValidateArgs) -> Exit {
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
