//! The infrastructure part of a workspace against what the providers report: refresh the
//! recorded state from the providers, plan with the plan engine (the live resources as the
//! base, so drift shows as a change), and apply the changes in dependency order through the
//! provider of each resource kind: servers before what refers to them, and each reference
//! (`server.creo-dev-01.ip`) resolved by the provider, through [`super::references`], from the
//! state the earlier actions recorded. How live resources read as declared ones is
//! [`super::live`].
//!
//! Providers plug in by name ([`ProviderSet`]); a resource uses its `provider "…"`, else the
//! default of its kind ([`default_provider`]): servers → sakura-cloud, DNS records, R2 buckets
//! and workers → cloudflare.

use std::collections::BTreeMap;

pub use super::live::{live_base, observed, plan_numbers};
use super::{Action, ApplyReport, CloudProvider, Op, ProviderError, RetryConfig, apply_actions, cloudflare};
use crate::clock::Clock;
use crate::config::cloud::Server;
use crate::plan::snapshot::{Address, CloudKind, Resource, Snapshot};
use crate::plan::state::{State, StateResource};
use crate::plan::{self, Change, Plan};

/// The providers available to an apply, by name.
#[derive(Default)]
pub struct ProviderSet {
    providers: Vec<Box<dyn CloudProvider>>,
}

impl ProviderSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the provider of that name.
    pub fn add(&mut self, provider: Box<dyn CloudProvider>) {
        self.providers.retain(|p| p.name() != provider.name());
        self.providers.push(provider);
    }

    pub fn get(&self, name: &str) -> Option<&dyn CloudProvider> {
        self.providers.iter().find(|p| p.name() == name).map(|p| p.as_ref())
    }

    pub fn names(&self) -> Vec<&str> {
        self.providers.iter().map(|p| p.name()).collect()
    }
}

/// The provider a kind uses when the resource names none.
pub fn default_provider(kind: CloudKind) -> Option<&'static str> {
    match kind {
        CloudKind::Server => Some(super::sakura::PROVIDER),
        CloudKind::R2Bucket | CloudKind::Worker | CloudKind::DnsRecord => Some(cloudflare::PROVIDER),
        CloudKind::Scale => None,
    }
}

/// The provider of a resource: its `provider "…"`, else its kind's default.
pub fn provider_of(kind: CloudKind, resource: Option<&Resource>) -> Option<String> {
    let declared = match resource {
        Some(Resource::Server(s)) => s.provider.clone(),
        Some(Resource::R2Bucket(b)) => b.provider.clone(),
        Some(Resource::Worker(w)) => w.provider.clone(),
        Some(Resource::DnsRecord(d)) => d.provider.clone(),
        _ => None,
    };
    declared.or_else(|| default_provider(kind).map(str::to_owned))
}

/// Which part of the workspace an apply touches: a fleet (or all), a stage (plus the
/// fleet-wide resources every stage uses) or all stages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub fleet: Option<String>,
    pub stage: Option<String>,
}

impl Scope {
    pub fn contains(&self, address: &Address) -> bool {
        let Address::Cloud { fleet, stage, kind, .. } = address else {
            return false;
        };
        kind.is_provisioned()
            && self.fleet.as_ref().is_none_or(|f| f == fleet)
            && match (&self.stage, stage) {
                (Some(want), Some(s)) => want == s,
                _ => true,
            }
    }
}

/// `creo:dev/server.creo-dev-01` or `creo/dns-record.example.com/api` back to an address.
pub fn parse_address(text: &str) -> Option<Address> {
    let (owner, rest) = text.split_once('/')?;
    let (kind, name) = rest.split_once('.')?;
    let kind = [
        CloudKind::Server,
        CloudKind::Scale,
        CloudKind::R2Bucket,
        CloudKind::Worker,
        CloudKind::DnsRecord,
    ]
    .into_iter()
    .find(|k| k.as_str() == kind)?;
    let (fleet, stage) = match owner.split_once(':') {
        Some((f, s)) => (f, Some(s.to_owned())),
        None => (owner, None),
    };
    (!fleet.is_empty() && !name.is_empty()).then(|| Address::Cloud {
        fleet: fleet.to_owned(),
        stage,
        kind,
        name: name.to_owned(),
    })
}

/// The provisioned cloud resources of `head` in `scope`.
pub fn desired(head: &Snapshot, scope: &Scope) -> Snapshot {
    Snapshot {
        resources: head
            .resources
            .iter()
            .filter(|(a, _)| scope.contains(a))
            .map(|(a, r)| (a.clone(), r.clone()))
            .collect(),
    }
}

/// `scale` blocks in scope (parsed, not applied yet).
pub fn scales(head: &Snapshot, scope: &Scope) -> Vec<String> {
    head.resources
        .keys()
        .filter_map(|a| match a {
            Address::Cloud {
                kind: CloudKind::Scale,
                name,
                fleet,
                stage,
            } if scope.fleet.as_ref().is_none_or(|f| f == fleet)
                && scope
                    .stage
                    .as_ref()
                    .is_none_or(|s| stage.as_ref().is_none_or(|t| t == s)) =>
            {
                Some(name.clone())
            }
            _ => None,
        })
        .collect()
}

/// The recorded attributes whose change behind fleetflow's back a refresh reports (servers:
/// plan, disk, address; DNS records: content, type, proxying, TTL; buckets; worker routes).
const DRIFT_ATTRIBUTES: [&str; 14] = [
    "core",
    "memory",
    "disk-size",
    "ip",
    "value",
    "type",
    "proxied",
    "ttl",
    "location",
    "custom-domain",
    "cors.allowed-origins",
    "cors.allowed-methods",
    "cors.max-age",
    "routes",
];

/// What a refresh found.
#[derive(Debug, Clone, Default)]
pub struct Refreshed {
    pub state: State,
    /// Drift found: resources gone, adopted or changed behind fleetflow's back.
    pub notes: Vec<String>,
    /// Providers that were needed but are not available (their resources stay as recorded).
    pub unavailable: Vec<String>,
}

/// The recorded state in `scope`, brought up to date from the providers: resources deleted
/// behind fleetflow's back leave it, live attributes replace recorded ones, and a declared
/// resource a provider reports but the state lacks (a run that died after creating it) is
/// adopted.
pub fn refresh(
    providers: &ProviderSet,
    clock: &dyn Clock,
    retry: &RetryConfig,
    recorded: &State,
    desired: &Snapshot,
    scope: &Scope,
) -> Result<Refreshed, ProviderError> {
    let mut out = Refreshed {
        state: recorded.clone(),
        ..Refreshed::default()
    };
    let in_scope = |r: &StateResource| parse_address(&r.address).is_some_and(|a| scope.contains(&a));
    let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in recorded.resources.iter().filter(|r| in_scope(r)) {
        let name = r.provider.clone().or_else(|| {
            parse_address(&r.address).and_then(|a| match a {
                Address::Cloud { kind, .. } => default_provider(kind).map(str::to_owned),
                _ => None,
            })
        });
        if let Some(name) = name {
            wanted.entry(name).or_default();
        }
    }
    for (address, resource) in &desired.resources {
        if let Address::Cloud { kind, .. } = address
            && let Some(name) = provider_of(*kind, Some(resource))
        {
            wanted.entry(name).or_default().push(address.to_string());
        }
    }
    for (name, declared) in wanted {
        let Some(provider) = providers.get(&name) else {
            out.unavailable.push(name);
            continue;
        };
        let live: BTreeMap<String, StateResource> = retry
            .run(clock, || provider.get_state())?
            .into_iter()
            .map(|r| (r.address.clone(), r))
            .collect();
        let mine: Vec<StateResource> = recorded
            .resources
            .iter()
            .filter(|r| in_scope(r) && r.provider.as_deref().is_none_or(|p| p == name))
            .cloned()
            .collect();
        for r in &mine {
            let now = match live.get(&r.address) {
                Some(l) if l.id == r.id || r.id.is_none() => Some(l.clone()),
                _ => retry.run(clock, || provider.refresh(r))?,
            };
            match now {
                Some(mut l) => {
                    // What the read does not return is kept, unless the provider says it is gone.
                    for (k, v) in &r.attributes {
                        if !provider.reports(&r.address, k) {
                            l.attributes.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                    if l.created_at.is_none() {
                        l.created_at = r.created_at.clone();
                    }
                    let drifted: Vec<String> = DRIFT_ATTRIBUTES
                        .iter()
                        .filter(|k| r.attributes.get(**k).is_some_and(|v| l.attributes.get(**k) != Some(v)))
                        .map(|k| format!("{k} {} → {}", r.attributes[*k], l.attributes.get(*k).map_or("-", |v| v)))
                        .collect();
                    if !drifted.is_empty() {
                        out.notes.push(format!(
                            "{} changed outside fleetflow: {}",
                            r.address,
                            drifted.join(", ")
                        ));
                    }
                    out.state.upsert(l);
                }
                None => {
                    out.notes.push(format!(
                        "{} no longer exists at {name} (deleted outside fleetflow)",
                        r.address
                    ));
                    out.state.remove(&r.address);
                }
            }
        }
        for address in declared {
            if out.state.resource(&address).is_none()
                && let Some(l) = live.get(&address)
                && is_complete(l)
            {
                out.notes
                    .push(format!("{address} exists at {name} but was not recorded: adopted"));
                out.state.upsert(l.clone());
            }
        }
    }
    Ok(out)
}

/// A server without a disk is a create that did not finish: it is resumed, not adopted.
fn is_complete(r: &StateResource) -> bool {
    !r.address.contains("/server.") || r.attributes.contains_key("disk-size")
}

/// The infrastructure plan: the live resources (`state`, refreshed) → the declared ones.
pub fn plan_infra(desired: &Snapshot, state: &State, scope: &Scope) -> Plan {
    let base = live_base(desired, state, scope);
    plan::plan(Some(&base), desired, Some(state))
}

/// Order of creation: what others refer to first. Deletes run in the reverse order.
fn rank(kind: CloudKind) -> u8 {
    match kind {
        CloudKind::Server => 0,
        CloudKind::R2Bucket => 1,
        CloudKind::Worker => 2,
        CloudKind::DnsRecord => 3,
        CloudKind::Scale => 4,
    }
}

/// The plan's changes in apply order: deletes (DNS first, servers last), then the rest
/// (servers first, DNS last).
pub fn ordered(plan: &Plan) -> Vec<&Change> {
    let kind = |c: &Change| match &c.address {
        Address::Cloud { kind, .. } => *kind,
        _ => CloudKind::Scale,
    };
    let mut deletes: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action == plan::Action::Delete)
        .collect();
    deletes.sort_by_key(|c| std::cmp::Reverse(rank(kind(c))));
    let mut rest: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != plan::Action::Delete)
        .collect();
    rest.sort_by_key(|c| rank(kind(c)));
    deletes.into_iter().chain(rest).collect()
}

/// The provider that applies a change: the resource's `provider "…"`, else its kind's default.
pub fn provider_for(change: &Change) -> Option<String> {
    match &change.address {
        Address::Cloud { kind, .. } => provider_of(*kind, change.after.as_ref().or(change.before.as_ref())),
        _ => None,
    }
}

/// The provider action for a change. The attributes are in the vocabulary of the resource's
/// provider: [`cloudflare::desired_attributes`] for what Cloudflare manages, the server
/// attributes of [`super::sakura`] for servers. References stay as written
/// (`server.creo-dev-01.ip`): the provider resolves them with [`crate::plan::references::resolve`]
/// against the state as it is when the action runs (after the server it names was applied).
pub fn action_for(change: &Change) -> Result<Action, ProviderError> {
    let op = match change.action {
        plan::Action::Create => Op::Create,
        plan::Action::Update => Op::Update,
        plan::Action::Replace => Op::Replace,
        plan::Action::Delete => Op::Delete,
    };
    let Address::Cloud { name, .. } = &change.address else {
        return Err(ProviderError::Permanent(format!(
            "{} is not a cloud resource",
            change.id
        )));
    };
    let resource = change.after.as_ref().or(change.before.as_ref());
    let attributes = match resource {
        Some(Resource::Server(s)) => server_attributes(name, s),
        Some(r) => cloudflare::desired_attributes(r).ok_or_else(|| {
            ProviderError::Permanent(format!(
                "{}: no provider of this build manages it (provider {:?}); use provider \"cloudflare\"",
                change.id,
                provider_for(change).unwrap_or_default()
            ))
        })?,
        None => BTreeMap::new(),
    };
    Ok(Action {
        address: change.id.clone(),
        op,
        attributes,
    })
}

/// What the Sakura Cloud provider reads from a server action (`ServerSpec::from_action`).
fn server_attributes(name: &str, s: &Server) -> BTreeMap<String, String> {
    let numbers = s.plan.as_ref().and_then(plan_numbers);
    [
        ("name", Some(name.split('#').next().unwrap_or(name).to_owned())),
        ("core", numbers.map(|n| n.0.to_string())),
        ("memory", numbers.map(|n| n.1.to_string())),
        (
            "disk-size",
            s.disk.as_ref().and_then(|d| d.size_gb).map(|n| n.to_string()),
        ),
        ("os", s.disk.as_ref().and_then(|d| d.os.clone())),
        ("ssh-key", s.ssh_key.clone()),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_owned(), v?)))
    .collect()
}

/// Applies the changes `select` keeps, in dependency order, each through its provider,
/// recording every success in `state`; stops at the first failure (the caller saves `state`).
pub fn apply_plan(
    providers: &ProviderSet,
    clock: &dyn Clock,
    retry: &RetryConfig,
    plan: &Plan,
    state: &mut State,
    select: &dyn Fn(&Change) -> bool,
) -> ApplyReport {
    let changes: Vec<&Change> = ordered(plan).into_iter().filter(|c| select(c)).collect();
    let mut report = ApplyReport {
        applied: Vec::new(),
        failed: None,
        not_attempted: Vec::new(),
    };
    for (i, change) in changes.iter().enumerate() {
        let rest = || changes[i + 1..].iter().map(|c| c.id.clone()).collect();
        let action = match action_for(change) {
            Ok(a) => a,
            Err(e) => {
                report.failed = Some((change.id.clone(), e.to_string()));
                report.not_attempted = rest();
                return report;
            }
        };
        let name = provider_for(change).unwrap_or_default();
        let Some(provider) = providers.get(&name) else {
            report.failed = Some((
                change.id.clone(),
                format!(
                    "no `{name}` provider is available (available: {}); check `provider` and `providers {{ … }}` in fleet.kdl",
                    providers.names().join(", ")
                ),
            ));
            report.not_attempted = rest();
            return report;
        };
        let one = apply_actions(provider, clock, retry, std::slice::from_ref(&action), state);
        report.applied.extend(one.applied);
        if let Some(failed) = one.failed {
            report.failed = Some(failed);
            report.not_attempted = rest();
            return report;
        }
    }
    report
}
