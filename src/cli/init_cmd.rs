//! `fleet init [DIR] [--fleet NAME]` ([`crate::application::init`]).

use std::path::PathBuf;

use clap::Args;

use super::{Context, Exit, exit};
use crate::application::init::init;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The repository's directory (default: the current one).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The first fleet's name.
    #[arg(long, value_name = "NAME", default_value = "web")]
    pub fleet: String,
}

pub fn run(cx: &Context, args: &InitArgs) -> Exit {
    init(&cx.reporter(false), &args.dir, &args.fleet)?;
    Ok(exit::OK)
}
