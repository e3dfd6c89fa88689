//! One fleet's infrastructure under the state lock: the providers it needs, the state
//! refreshed from them, the plan, and applying it (the state is written after every apply,
//! whatever happened). `fleet apply` and `fleet stage up|down|status` run through this.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};

use super::cloudflare::{self, CloudflareError, CloudflareProvider, CloudflareSettings};
use super::infra::{self, ProviderSet, Refreshed, Scope};
use super::sakura::{self, SakuraProvider};
use super::{ApplyReport, RetryConfig};
use crate::clock::Clock;
use crate::config::FleetConfig;
use crate::config::cloud::Server;
use crate::plan::snapshot::{Address, CloudKind, Resource, Snapshot};
use crate::plan::state::{State, StateResource};
use crate::plan::{Change, Plan};
use crate::state_store::{StateLock, StateStore};

/// Why the providers a fleet needs cannot be set up. Each names the resources that need the
/// provider and what to set. The provider's error is part of the sentence, not a `source`
/// (an error chain would say it twice).
#[derive(Debug, thiserror::Error)]
pub enum ProvidersError {
    #[error("Sakura Cloud ({}): {reason}", .resources.join(", "))]
    Sakura {
        resources: Vec<String>,
        reason: sakura::CredentialsError,
    },
    #[error(
        "Cloudflare ({}): {reason}. Set {token} (and {account} for R2 buckets and workers, or \
         `providers {{ cloudflare {{ account-id env=\"…\" }} }}`)",
        .resources.join(", "), token = cloudflare::TOKEN_ENV, account = cloudflare::ACCOUNT_ENV
    )]
    Cloudflare {
        resources: Vec<String>,
        reason: CloudflareError,
    },
    #[error(
        "Cloudflare ({}): R2 buckets and workers need the account id: set {account} \
         (or `providers {{ cloudflare {{ account-id env=\"…\" }} }}`)",
        .resources.join(", "), account = cloudflare::ACCOUNT_ENV
    )]
    CloudflareAccount { resources: Vec<String> },
}

/// The providers `desired` and the recorded state in `scope` need, built from the fleet's
/// `providers { … }` and the environment: Sakura Cloud for servers, Cloudflare for DNS
/// records, R2 buckets and workers. A provider is set up only when a resource in scope uses
/// it, so a fleet without Cloudflare resources needs no Cloudflare credentials. A provider
/// this build lacks is left out (its resources fail to apply with a message naming it).
pub fn providers_for(
    config: &FleetConfig,
    desired: &Snapshot,
    recorded: &State,
    scope: &Scope,
    clock: Arc<dyn Clock>,
) -> Result<ProviderSet, ProvidersError> {
    // Provider name → the addresses that need it.
    let mut needed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (address, resource) in &desired.resources {
        if let Address::Cloud { kind, .. } = address
            && let Some(p) = infra::provider_of(*kind, Some(resource))
        {
            needed.entry(p).or_default().insert(address.to_string());
        }
    }
    for r in &recorded.resources {
        if let Some(address) = infra::parse_address(&r.address).filter(|a| scope.contains(a))
            && let Address::Cloud { kind, .. } = &address
            && let Some(p) = r
                .provider
                .clone()
                .or_else(|| infra::default_provider(*kind).map(str::to_owned))
        {
            needed.entry(p).or_default().insert(r.address.clone());
        }
    }
    let mut set = ProviderSet::new();
    if let Some(resources) = needed.get(sakura::PROVIDER) {
        let zone = config.providers.sakura_cloud.as_ref().and_then(|p| p.zone.as_deref());
        let provider = SakuraProvider::from_env(zone, Arc::clone(&clock)).map_err(|reason| ProvidersError::Sakura {
            resources: resources.iter().cloned().collect(),
            reason,
        })?;
        set.add(Box::new(provider));
    }
    if let Some(resources) = needed.get(cloudflare::PROVIDER) {
        let resources: Vec<String> = resources.iter().cloned().collect();
        let mut settings = CloudflareSettings::from_env(config.providers.cloudflare.as_ref()).map_err(|reason| {
            ProvidersError::Cloudflare {
                resources: resources.clone(),
                reason,
            }
        })?;
        let needs_account: Vec<String> = resources
            .iter()
            .filter(|a| a.contains("/r2-bucket.") || a.contains("/worker."))
            .cloned()
            .collect();
        if settings.account_id.is_none() && !needs_account.is_empty() {
            return Err(ProvidersError::CloudflareAccount {
                resources: needs_account,
            });
        }
        settings.source_dir = fleet_dir(config);
        let provider = CloudflareProvider::new(settings)
            .map_err(|reason| ProvidersError::Cloudflare { resources, reason })?
            .with_clock(clock);
        // Only this scope's resources: the provider reads back what it tracks.
        let mine = State {
            resources: recorded
                .resources
                .iter()
                .filter(|r| infra::parse_address(&r.address).is_some_and(|a| scope.contains(&a)))
                .cloned()
                .collect(),
            ..recorded.clone()
        };
        provider.track(&mine);
        set.add(Box::new(provider));
    }
    Ok(set)
}

fn is_server(address: &Address) -> bool {
    matches!(
        address,
        Address::Cloud {
            kind: CloudKind::Server,
            ..
        }
    )
}

/// `desired` and `recorded` cut down to the servers: what stopping containers, powering servers
/// and reading them need, so no other provider's credentials (DNS, R2, Workers) are asked for.
pub fn servers_only(desired: &mut Snapshot, recorded: &mut State) {
    desired.resources.retain(|a, _| is_server(a));
    recorded
        .resources
        .retain(|r| infra::parse_address(&r.address).is_some_and(|a| is_server(&a)));
}

/// The directory of the fleet (where `.fleetflow/fleet.kdl` is): a worker's `source` is
/// relative to it.
fn fleet_dir(config: &FleetConfig) -> PathBuf {
    let file = &config.file.path;
    let dir = file.parent().unwrap_or(Path::new("."));
    let dir = if dir.file_name().is_some_and(|n| n == ".fleetflow") {
        dir.parent().unwrap_or(Path::new("."))
    } else {
        dir
    };
    if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_path_buf()
    }
}

/// A fleet's infrastructure, locked.
pub struct Session<'a> {
    lock: StateLock<'a>,
    pub fleet: String,
    pub scope: Scope,
    pub desired: Snapshot,
    pub providers: ProviderSet,
    pub state: State,
    /// Drift the refresh found.
    pub notes: Vec<String>,
    pub unavailable: Vec<String>,
    pub clock: Arc<dyn Clock>,
    pub retry: RetryConfig,
}

impl<'a> Session<'a> {
    /// Locks the state, builds the providers and refreshes the state from them.
    pub fn open(
        store: &'a StateStore,
        operation: &str,
        fleet: &str,
        config: &FleetConfig,
        stage: Option<&str>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Session<'a>> {
        let scope = Scope {
            fleet: Some(fleet.to_owned()),
            stage: stage.map(str::to_owned),
        };
        let desired = infra::desired(&Snapshot::from_fleet(fleet, config), &scope);
        Self::open_with(store, operation, scope, desired, config, clock, None)
    }

    /// [`Session::open`] for the servers only (`fleet stage down`, `--suspend`): only their
    /// providers are set up; the stage's other recorded resources stay in the state as they are.
    pub fn open_servers(
        store: &'a StateStore,
        operation: &str,
        fleet: &str,
        config: &FleetConfig,
        stage: &str,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Session<'a>> {
        let scope = Scope {
            fleet: Some(fleet.to_owned()),
            stage: Some(stage.to_owned()),
        };
        let mut desired = infra::desired(&Snapshot::from_fleet(fleet, config), &scope);
        // Read without the lock only to choose the providers; the session reads it again under it.
        let mut servers = store.load()?;
        servers_only(&mut desired, &mut servers);
        let providers = providers_for(config, &desired, &servers, &scope, Arc::clone(&clock))?;
        let mut session = Self::open_with(store, operation, scope, desired, config, clock, Some(providers))?;
        // The providers left out were left out on purpose: their resources are not refreshed.
        session.unavailable.clear();
        Ok(session)
    }

    /// [`Session::open`] with the desired resources given and, optionally, the providers.
    pub fn open_with(
        store: &'a StateStore,
        operation: &str,
        scope: Scope,
        desired: Snapshot,
        config: &FleetConfig,
        clock: Arc<dyn Clock>,
        providers: Option<ProviderSet>,
    ) -> anyhow::Result<Session<'a>> {
        let lock = store.lock(&crate::operator::who_am_i(), operation)?;
        let recorded = lock.load()?;
        let providers = match providers {
            Some(p) => p,
            None => providers_for(config, &desired, &recorded, &scope, Arc::clone(&clock))?,
        };
        let retry = RetryConfig::default();
        let Refreshed {
            state,
            notes,
            unavailable,
        } = infra::refresh(&providers, clock.as_ref(), &retry, &recorded, &desired, &scope)
            .map_err(|e| anyhow!("cannot read the live infrastructure: {e}"))?;
        Ok(Session {
            lock,
            fleet: scope.fleet.clone().unwrap_or_default(),
            scope,
            desired,
            providers,
            state,
            notes,
            unavailable,
            clock,
            retry,
        })
    }

    pub fn plan(&self) -> Plan {
        infra::plan_infra(&self.desired, &self.state, &self.scope)
    }

    /// Writes the state (it also records what a refresh found).
    pub fn save(&self) -> anyhow::Result<()> {
        self.lock.write(&self.state).context("cannot write the state")
    }

    /// Applies the changes `select` keeps and writes the state, even after a failure.
    pub fn apply(&mut self, plan: &Plan, select: &dyn Fn(&Change) -> bool) -> anyhow::Result<ApplyReport> {
        let report = infra::apply_plan(
            &self.providers,
            self.clock.as_ref(),
            &self.retry,
            plan,
            &mut self.state,
            select,
        );
        self.save()?;
        Ok(report)
    }

    /// The declared servers with what the state records of them.
    pub fn servers(&self) -> Vec<(String, Server, Option<StateResource>)> {
        self.desired
            .resources
            .iter()
            .filter_map(|(address, resource)| match (address, resource) {
                (
                    Address::Cloud {
                        kind: CloudKind::Server,
                        name,
                        ..
                    },
                    Resource::Server(s),
                ) => Some((
                    name.clone(),
                    s.clone(),
                    self.state.resource(&address.to_string()).cloned(),
                )),
                _ => None,
            })
            .collect()
    }

    /// Powers a recorded resource on or off through its provider and records the result.
    pub fn set_power(&mut self, address: &str, on: bool) -> anyhow::Result<bool> {
        let Some(recorded) = self.state.resource(address).cloned() else {
            return Ok(false);
        };
        let name = recorded.provider.clone().unwrap_or_default();
        let provider = self
            .providers
            .get(&name)
            .ok_or_else(|| anyhow!("no `{name}` provider is available to power {address}"))?;
        let was = recorded.attributes.get("power").cloned();
        let now = self
            .retry
            .run(self.clock.as_ref(), || provider.set_power(&recorded, on))
            .map_err(|e| anyhow!("{name}: {e}"))?;
        let changed = match now {
            Some(r) => {
                let changed = r.attributes.get("power") != was.as_ref();
                self.state.upsert(r);
                changed
            }
            None => {
                self.state.remove(address);
                false
            }
        };
        self.save()?;
        Ok(changed)
    }

    /// A plan that destroys every recorded resource of the scope's stage (the fleet-wide ones
    /// other stages share are kept), or of the whole fleet when the scope has no stage.
    pub fn destroy_plan(&self) -> Plan {
        let mut base = infra::live_base(&self.desired, &self.state, &self.scope);
        if let Some(stage) = &self.scope.stage {
            base.resources.retain(|a, _| a.stage() == Some(stage.as_str()));
        }
        crate::plan::plan(Some(&base), &Snapshot::default(), Some(&self.state))
    }
}

/// The change lines of a report, for output.
pub fn describe_report(report: &ApplyReport) -> String {
    let mut out = String::new();
    for a in &report.applied {
        out.push_str(&format!("  ✓ {a}\n"));
    }
    if let Some((address, error)) = &report.failed {
        out.push_str(&format!("  ✗ {address}: {error}\n"));
    }
    for a in &report.not_attempted {
        out.push_str(&format!("  · {a} (not attempted)\n"));
    }
    out
}
