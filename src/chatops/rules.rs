//! A pull request may not lift its own deploy rules. Who may deploy a stage (its
//! `deploy-policy`) and where a fleet+stage goes (its route and that route's server: the host,
//! user, key and path the App's SSH key connects to) are read from the default branch, as
//! GitHub's environments keep their protection rules outside the code. A pull request that
//! changes them for what it deploys needs [`RULES_PERMISSION`] to deploy: the permission
//! GitHub asks for changing an environment.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Registry;
use crate::config::registry::Permission;
use crate::plan::{Address, Snapshot, plan};

/// What deploying a change of the deploy rules takes.
pub const RULES_PERMISSION: Permission = Permission::Admin;

/// The deploy rules that `head` changes for `targets` (fleet, stage) against the default
/// branch's registry (`None`: the default branch has none, so every rule is new), as labels:
/// `deploy-policy "live"`, `route web:live`, `server "vps-01"`. Any policy change counts;
/// routes and servers count when a target uses them, before or after.
pub fn changed_deploy_rules(trusted: Option<&Registry>, head: &Registry, targets: &[(String, String)]) -> Vec<String> {
    let no_fleets = BTreeMap::new();
    let base = trusted.map(|r| Snapshot::from_parts(r, &no_fleets));
    let after = Snapshot::from_parts(head, &no_fleets);
    let servers: BTreeSet<&str> = [trusted, Some(head)]
        .into_iter()
        .flatten()
        .flat_map(|r| r.routes.iter())
        .filter(|r| targets.iter().any(|(f, s)| *f == r.fleet.value && *s == r.stage.value))
        .map(|r| r.server.value.as_str())
        .collect();
    plan(base.as_ref(), &after, None)
        .deploy_rule_changes()
        .filter(|c| match &c.address {
            Address::DeployPolicy { .. } => true,
            Address::Route { fleet, stage } => targets.iter().any(|(f, s)| f == fleet && s == stage),
            Address::Server { server } => servers.contains(server.as_str()),
            _ => false,
        })
        .map(|c| c.address.label())
        .collect()
}
