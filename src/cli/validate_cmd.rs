//! `fleet validate [PATH] [--no-verify]` ([`crate::application::validate`]).

use std::path::PathBuf;

use clap::Args;

use super::{Context, Exit, Output, exit};
use crate::application::validate::{json_report, resolve_target, validate};
use crate::config::{ConfigError, LoadError, LoadOptions};

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
    let console = cx.console;
    match (validate(&target, options), args.output) {
        (Ok(v), Output::Text) => {
            console.print_diagnostics(&v.warnings);
            console.print(&v.checked.iter().map(|l| format!("ok: {l}\n")).collect::<String>());
            Ok(exit::OK)
        }
        (Ok(v), Output::Json) => {
            console.print_json(&json_report(true, &v.checked, &v.warnings));
            Ok(exit::OK)
        }
        (Err(LoadError::Config(ConfigError { diagnostics })), Output::Json) => {
            console.print_json(&json_report(false, &[], &diagnostics));
            Ok(exit::FAILURE)
        }
        (Err(e), Output::Json) => {
            console.print_json(&serde_json::json!({ "valid": false, "error": e.to_string() }));
            Ok(exit::FAILURE)
        }
        (Err(e), Output::Text) => Err(e.into()),
    }
}
