//! `fleet apply [--stage S] [--yes]`: the infrastructure plan against the live providers, then
//! applied under the state lock ([`crate::application::infra`]).

use std::path::Path;

use clap::Args;

use super::fleet_select::{FleetSelect, select};
use super::{Context, Exit, exit};
use crate::application::infra::{self, CloudTarget};
use crate::application::report::WorkflowError;
use crate::application::workspace::registry_file;

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

/// `--fleet`/`--file`, or outside a registry: that fleet; else every fleet of the registry.
fn targets(registry: Option<&Path>, sel: &FleetSelect) -> Result<Vec<CloudTarget>, WorkflowError> {
    let found = registry_file(registry).ok();
    match found {
        Some(path) if sel.fleet.is_none() && sel.file.is_none() => infra::registry_targets(&path),
        _ => Ok(vec![infra::cloud_target(found.as_deref(), select(sel, registry)?)]),
    }
}

pub fn run(cx: &Context, args: &ApplyArgs) -> Exit {
    let targets = targets(cx.registry, &args.fleet)?;
    let stage = args.stage.as_deref();
    if let Some(stage) = stage
        && !targets.iter().any(|t| t.config.stage(stage).is_some())
    {
        return Err(WorkflowError::Usage(format!("no fleet defines stage `{stage}`")));
    }
    let reporter = cx.reporter(args.yes);
    let mut code = exit::OK;
    for target in &targets {
        if stage.is_some_and(|s| target.config.stage(s).is_none()) {
            continue;
        }
        let result = infra::apply_fleet(&reporter, cx.fx.clock.clone(), target, stage);
        if result.is_err() {
            code = cx.console.finish(result);
        }
    }
    Ok(code)
}
