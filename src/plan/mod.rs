//! Plan engine (issue 5): what changes between two validated configurations (base and head),
//! as typed changes to services, routes and infrastructure, rendered like Terraform.
//!
//! The engine is pure: [`Snapshot`]s in (plus an optional recorded [`State`]), a [`Plan`] out.
//! [`render_text`] and [`render_markdown`] draw it. Nothing here touches the outside world: a
//! commit's files are read by [`crate::git`], `.fleetflow/state.json` by [`crate::state_store`].
//!
//! With a state, a cloud resource of the base exists only if the state records it (so a
//! resource that was declared but never applied is still planned for creation), and a
//! reference such as `server.creo-dev-01.ip` takes the recorded value; otherwise, or when
//! that server is created or replaced by the plan, it is `(known after apply)`.

mod attrs;
pub mod markdown;
pub mod references;
mod render;
pub mod snapshot;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use attrs::{Attr, AttrChange, KNOWN_AFTER_APPLY, SECRET_MARKERS, SENSITIVE, is_secret_name};
pub use markdown::{CHECK_RUN_LIMIT, COMMENT_LIMIT, PLAN_MARKER, render_markdown};
pub use render::render_text;
pub use snapshot::{Address, CloudKind, DnsEntry, NO_STAGE, Resource, Section, Snapshot};
pub use state::State;

use crate::config::cloud::{ResourceRef, ValueOrRef};

/// What happens to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    /// Destroyed and created again: an attribute cannot change in place.
    Replace,
    Delete,
}

impl Action {
    /// Terraform's symbol.
    pub fn sign(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "will be created",
            Action::Update => "will be updated in-place",
            Action::Replace => "must be replaced",
            Action::Delete => "will be destroyed",
        }
    }

    /// Review order: destroys and replacements first, then changes, then additions.
    pub fn importance(self) -> u8 {
        match self {
            Action::Delete | Action::Replace => 0,
            Action::Update => 1,
            Action::Create => 2,
        }
    }
}

/// One resource's change, with the attributes it touches.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// The address as text (`web:live/service.site`).
    pub id: String,
    pub address: Address,
    pub action: Action,
    /// Created and destroyed resources list every attribute; updates only the changed ones.
    pub attributes: Vec<AttrChange>,
    /// Attributes an update leaves as they are.
    pub unchanged: usize,
    /// The resource before and after (never serialized: it may hold secrets).
    #[serde(skip)]
    pub before: Option<Resource>,
    #[serde(skip)]
    pub after: Option<Resource>,
}

/// Terraform's count: a replacement adds one and destroys one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl Summary {
    pub fn of<'a>(changes: impl IntoIterator<Item = &'a Change>) -> Self {
        let mut s = Summary::default();
        for c in changes {
            match c.action {
                Action::Create => s.add += 1,
                Action::Update => s.change += 1,
                Action::Replace => {
                    s.add += 1;
                    s.destroy += 1;
                }
                Action::Delete => s.destroy += 1,
            }
        }
        s
    }

    /// `Plan: X to add, Y to change, Z to destroy.`
    pub fn line(&self) -> String {
        format!(
            "Plan: {} to add, {} to change, {} to destroy.",
            self.add, self.change, self.destroy
        )
    }
}

/// An image `fleet build` will build: a service with `build` (and no `image`) that is new or
/// whose build configuration changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageBuild {
    pub fleet: String,
    pub stage: String,
    pub service: String,
    pub context: String,
    pub dockerfile: Option<String>,
}

/// A server that receives a deploy of a fleet's stage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DeployTarget {
    pub server: String,
    pub fleet: String,
    pub stage: String,
}

/// Every change from a base to a head, in display order (by section, then address).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub summary: Summary,
    pub changes: Vec<Change>,
    pub builds: Vec<ImageBuild>,
    pub deploys: Vec<DeployTarget>,
    /// Infrastructure no state records and this change does not make either: declared before
    /// and never applied, so `fleet apply` would make it too (planned against nothing applied).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unapplied: Vec<Change>,
}

impl Plan {
    /// Changes to who may deploy (deploy policies) or where (servers, routes): a pull request
    /// making them cannot be deployed under its own rules.
    pub fn deploy_rule_changes(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| {
            matches!(
                c.address,
                Address::DeployPolicy { .. } | Address::Server { .. } | Address::Route { .. }
            )
        })
    }

    /// Nothing changes and nothing is left to apply.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.unapplied.is_empty()
    }

    /// `snapshot` with every change made: `plan(a, b).apply_to(a) == b`.
    pub fn apply_to(&self, snapshot: &Snapshot) -> Snapshot {
        let mut out = snapshot.clone();
        for change in &self.changes {
            match &change.after {
                Some(r) => out.resources.insert(change.address.clone(), r.clone()),
                None => out.resources.remove(&change.address),
            };
        }
        out
    }

    /// Only what concerns one stage (its routes, services and infrastructure, and the
    /// fleet-wide infrastructure every stage uses).
    pub fn for_stage(&self, stage: &str) -> Plan {
        let keep = |a: &Address| match a {
            Address::Cloud { stage: None, .. } => true,
            _ => a.stage() == Some(stage),
        };
        let kept =
            |changes: &[Change]| -> Vec<Change> { changes.iter().filter(|c| keep(&c.address)).cloned().collect() };
        let changes = kept(&self.changes);
        Plan {
            summary: Summary::of(&changes),
            changes,
            builds: self.builds.iter().filter(|b| b.stage == stage).cloned().collect(),
            deploys: self.deploys.iter().filter(|d| d.stage == stage).cloned().collect(),
            unapplied: kept(&self.unapplied),
        }
    }
}

/// Gives references their values: recorded ones from the state, `(known after apply)` for
/// servers this plan creates or replaces (`pending`, as `fleet/server`) and unrecorded ones.
struct Resolver<'a> {
    state: Option<&'a State>,
    pending: BTreeSet<String>,
}

impl Resolver<'_> {
    fn resolve(&self, fleet: &str, stage: Option<&str>, r: &ResourceRef) -> Attr {
        if r.kind == "server" && self.pending.contains(&format!("{fleet}/{}", r.name)) {
            return Attr::unknown(r, true);
        }
        let Some(state) = self.state else {
            return Attr::unknown(r, false);
        };
        references::lookup_in(fleet, stage, r, state).map_or_else(|| Attr::unknown(r, false), Attr::quoted)
    }

    fn attrs(&self, address: &Address, resource: &Resource) -> attrs::Attrs {
        let (fleet, stage) = match address {
            Address::Cloud { fleet, stage, .. } => (fleet.as_str(), stage.as_deref()),
            _ => ("", None),
        };
        attrs::flatten(resource, &|r| self.resolve(fleet, stage, r))
    }
}

/// The plan from `base` (`None`: nothing exists yet) to `head`. Without a `state`, the
/// infrastructure the base declares counts as there, and what `apply` would still have to
/// make (nothing being recorded) is listed apart, in [`Plan::unapplied`].
pub fn plan(base: Option<&Snapshot>, head: &Snapshot, state: Option<&State>) -> Plan {
    // Only the provisioned infrastructure, planned against nothing applied.
    let unapplied = match (base, state) {
        (Some(_), None) => {
            let provisioned = Snapshot {
                resources: (head.resources.iter())
                    .filter(|(a, _)| is_provisioned(a))
                    .map(|(a, r)| (a.clone(), r.clone()))
                    .collect(),
            };
            Some(plan(None, &provisioned, Some(&State::default())).changes)
        }
        _ => None,
    };
    let empty = Snapshot::default();
    let recorded;
    let base = match (base, state) {
        (Some(b), Some(s)) => {
            recorded = recorded_in(b, s);
            &recorded
        }
        (Some(b), None) => b,
        (None, _) => &empty,
    };
    let known = Resolver {
        state,
        pending: BTreeSet::new(),
    };
    let mut changes = Vec::new();
    for (address, before) in &base.resources {
        changes.extend(diff_one(
            address,
            Some(before),
            head.resources.get(address),
            &known,
            &known,
        ));
    }
    for (address, after) in &head.resources {
        if !base.resources.contains_key(address) {
            changes.extend(diff_one(address, None, Some(after), &known, &known));
        }
    }
    let pending: BTreeSet<String> = changes
        .iter()
        .filter(|c| matches!(c.action, Action::Create | Action::Replace))
        .filter_map(|c| match &c.address {
            Address::Cloud {
                fleet,
                kind: CloudKind::Server,
                name,
                ..
            } => Some(format!("{fleet}/{name}")),
            _ => None,
        })
        .collect();
    if !pending.is_empty() {
        // Records pointing at a server that is (re)created get a value known only after apply.
        let fresh = Resolver { state, pending };
        for (address, after) in &head.resources {
            if refers_to_pending(address, after, &fresh.pending) {
                changes.retain(|c| &c.address != address);
                let before = base.resources.get(address);
                changes.extend(diff_one(address, before, Some(after), &known, &fresh));
            }
        }
    }
    changes.sort_by(|a, b| (a.address.section(), &a.address).cmp(&(b.address.section(), &b.address)));
    let builds = builds(&changes);
    let deploys = deploys(&changes, base, head);
    // What apply would make with nothing applied, that this change does not already show.
    let unapplied = (unapplied.unwrap_or_default().into_iter())
        .filter(|u| !changes.iter().any(|c| c.address == u.address && c.action == u.action))
        .collect();
    Plan {
        summary: Summary::of(&changes),
        changes,
        builds,
        deploys,
        unapplied,
    }
}

/// The base without the provisioned cloud resources the state does not record.
fn recorded_in(base: &Snapshot, state: &State) -> Snapshot {
    let resources = base
        .resources
        .iter()
        .filter(|(a, _)| match a {
            a if is_provisioned(a) => state.resource(&a.to_string()).is_some(),
            _ => true,
        })
        .map(|(a, r)| (a.clone(), r.clone()))
        .collect();
    Snapshot { resources }
}

/// A cloud resource a provider makes (servers, buckets, workers, records; not `scale`).
fn is_provisioned(address: &Address) -> bool {
    matches!(address, Address::Cloud { kind, .. } if kind.is_provisioned())
}

fn refers_to_pending(address: &Address, resource: &Resource, pending: &BTreeSet<String>) -> bool {
    match (address, resource) {
        (Address::Cloud { fleet, .. }, Resource::DnsRecord(d)) => matches!(
            &d.record.value,
            ValueOrRef::Reference(r) if r.kind == "server" && pending.contains(&format!("{fleet}/{}", r.name))
        ),
        _ => false,
    }
}

fn diff_one(
    address: &Address,
    before: Option<&Resource>,
    after: Option<&Resource>,
    old: &Resolver,
    new: &Resolver,
) -> Option<Change> {
    if before == after && !after.is_some_and(|r| refers_to_pending(address, r, &new.pending)) {
        return None;
    }
    let forcing = |path: &str| match address {
        Address::Cloud { kind, .. } => attrs::forces_replacement(*kind, path),
        _ => false,
    };
    let old_attrs = before.map(|r| old.attrs(address, r)).unwrap_or_default();
    let new_attrs = after.map(|r| new.attrs(address, r)).unwrap_or_default();
    let (mut attributes, unchanged) = attrs::diff_attrs(&old_attrs, &new_attrs, forcing);
    let action = match (before, after) {
        (None, _) => Action::Create,
        (_, None) => Action::Delete,
        _ if attributes.is_empty() => return None,
        _ if attributes.iter().any(|a| a.forces_replacement) => Action::Replace,
        _ => Action::Update,
    };
    if matches!(action, Action::Create | Action::Delete) {
        // Nothing is "forced" about creating or destroying.
        attributes.iter_mut().for_each(|a| a.forces_replacement = false);
    }
    Some(Change {
        id: address.to_string(),
        address: address.clone(),
        action,
        attributes,
        unchanged: if matches!(action, Action::Create | Action::Delete) {
            0
        } else {
            unchanged
        },
        before: before.cloned(),
        after: after.cloned(),
    })
}

fn builds(changes: &[Change]) -> Vec<ImageBuild> {
    changes
        .iter()
        .filter_map(|c| {
            let Address::Service { fleet, stage, service } = &c.address else {
                return None;
            };
            let Some(Resource::Service(after)) = &c.after else {
                return None;
            };
            let build = after.build.as_ref().filter(|_| after.image.is_none())?;
            let rebuilt = match &c.before {
                Some(Resource::Service(before)) => before.image.is_some() || before.build.as_ref() != Some(build),
                _ => true,
            };
            rebuilt.then(|| ImageBuild {
                fleet: fleet.clone(),
                stage: stage.clone(),
                service: service.clone(),
                context: build.context.clone(),
                dockerfile: build.dockerfile.clone(),
            })
        })
        .collect()
}

/// Stages whose services changed or whose route was added or moved, with the server(s) that
/// run them: the route's server (head, else base), else the stage's own cloud servers.
fn deploys(changes: &[Change], base: &Snapshot, head: &Snapshot) -> Vec<DeployTarget> {
    let touched: BTreeSet<(&str, &str)> = changes
        .iter()
        .filter_map(|c| match (&c.address, c.action) {
            (Address::Service { fleet, stage, .. }, _) => Some((fleet.as_str(), stage.as_str())),
            (Address::Route { fleet, stage }, Action::Create | Action::Update) => {
                Some((fleet.as_str(), stage.as_str()))
            }
            _ => None,
        })
        .collect();
    if touched.is_empty() {
        return Vec::new();
    }
    let mut stage_servers: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for address in head.resources.keys() {
        if let Address::Cloud {
            fleet,
            stage: Some(stage),
            kind: CloudKind::Server,
            name,
        } = address
        {
            stage_servers.entry((fleet, stage)).or_default().push(name);
        }
    }
    let mut targets = BTreeSet::new();
    for (fleet, stage) in touched {
        let route = Address::Route {
            fleet: fleet.to_owned(),
            stage: stage.to_owned(),
        };
        let routed = [head, base].iter().find_map(|s| match s.resources.get(&route) {
            Some(Resource::Route { server }) => Some(server.as_str()),
            _ => None,
        });
        let servers = match routed {
            Some(server) => vec![server],
            None => stage_servers.get(&(fleet, stage)).cloned().unwrap_or_default(),
        };
        for server in servers {
            targets.insert(DeployTarget {
                server: server.to_owned(),
                fleet: fleet.to_owned(),
                stage: stage.to_owned(),
            });
        }
    }
    targets.into_iter().collect()
}
