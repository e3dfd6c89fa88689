//! `fleet registry list`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{Console, Output, exit};
use crate::application::workspace::{load_registry, render_list};
use crate::config::LoadOptions;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Path to fleet-registry.kdl (or its directory).
    #[arg(long, value_name = "PATH")]
    pub registry: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

pub fn list(console: &Console, registry_flag: Option<&Path>, args: &ListArgs) -> u8 {
    // Listing reads the registry only; `fleet validate` checks the fleets it points to.
    let workspace = match load_registry(registry_flag, LoadOptions { verify_fleets: false }) {
        Ok((w, _)) => w,
        Err(e) => return console.finish(Err(e)),
    };
    console.print_diagnostics(&workspace.warnings);
    match args.output {
        Output::Text => console.print(&render_list(&workspace.registry)),
        Output::Json => console.print_json(&workspace.registry),
    }
    exit::OK
}
