//! `fleet apply [--stage S] [--yes]`: the infrastructure plan against the live providers, then
//! applied under the state lock ([`crate::application::infra::apply_fleets`]).

use clap::Args;

use super::fleet_select::FleetSelect;
use super::{Context, Exit, exit};
use crate::application::infra::apply_fleets;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Only this stage's infrastructure (and the fleet-wide resources).
    #[arg(long, value_name = "STAGE")]
    pub stage: Option<String>,
    /// Apply without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    pub fleet: FleetSelect,
}

/// Exits 1 when a fleet's apply failed (each failure said).
pub fn run(cx: &Context, args: &ApplyArgs) -> Exit {
    let (reporter, chosen) = (cx.reporter(args.yes), args.fleet.chosen());
    let results = apply_fleets(
        &reporter,
        &cx.fx.clock,
        cx.registry,
        chosen.as_ref(),
        args.stage.as_deref(),
    )?;
    let codes = results
        .into_iter()
        .map(|r| if r.is_err() { cx.console.finish(r) } else { exit::OK });
    Ok(codes.fold(exit::OK, |code, c| if c == exit::OK { code } else { c }))
}
