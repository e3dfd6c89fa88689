//! `fleet registry list`.

use std::path::PathBuf;

use clap::Args;

use super::{Context, Exit, Output, exit};
use crate::application::workspace::{load_registry, render_list};
use crate::config::LoadOptions;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Path to fleet-registry.kdl (or its directory); also given before the command.
    #[arg(long, value_name = "PATH")]
    pub registry: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

pub fn list(cx: &Context, args: &ListArgs) -> Exit {
    // Listing reads the registry only; `fleet validate` checks the fleets it points to.
    let flag = args.registry.as_deref().or(cx.registry);
    let (workspace, _) = load_registry(flag, LoadOptions { verify_fleets: false })?;
    cx.console.print_diagnostics(&workspace.warnings);
    cx.show(args.output, &workspace.registry, render_list);
    Ok(exit::OK)
}
