//! `fleet validate [PATH] [--no-verify]` ([`crate::application::validate`]).

use std::path::{Path, PathBuf};

use clap::Args;

use super::{Console, Output, exit};
use crate::application::validate::{json_report, resolve_target, validate};
use crate::config::{ConfigError, LoadError, LoadOptions};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A registry file, a fleet.kdl, or a directory holding either. Default: the discovered
    /// registry, else the nearest .fleetflow/fleet.kdl.
    pub path: Option<PathBuf>,
    /// Do not require each fleet's .fleetflow/fleet.kdl to exist (FS-002).
    #[arg(long)]
    pub no_verify: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

pub fn run(console: &Console, registry_flag: Option<&Path>, args: &ValidateArgs) -> u8 {
    let target = match resolve_target(args.path.as_deref(), registry_flag) {
        Ok(t) => t,
        Err(e) => return console.finish(Err(e)),
    };
    let options = LoadOptions {
        verify_fleets: !args.no_verify,
    };
    match (validate(&target, options), args.output) {
        (Ok(v), Output::Text) => {
            console.print_diagnostics(&v.warnings);
            console.print(&v.checked.iter().map(|l| format!("ok: {l}\n")).collect::<String>());
            exit::OK
        }
        (Ok(v), Output::Json) => {
            console.print_json(&json_report(true, &v.checked, &v.warnings));
            exit::OK
        }
        (Err(LoadError::Config(ConfigError { diagnostics })), Output::Json) => {
            console.print_json(&json_report(false, &[], &diagnostics));
            exit::FAILURE
        }
        (Err(e), Output::Json) => {
            console.print_json(&serde_json::json!({ "valid": false, "error": e.to_string() }));
            exit::FAILURE
        }
        (Err(e), Output::Text) => console.report_load_error(&e),
    }
}
