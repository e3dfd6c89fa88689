//! The Cloudflare provider (seed 002/003): DNS records, R2 buckets (CORS, custom domain) and
//! Workers (module upload, routes) through the REST API v4.
//!
//! Use: [`CloudflareSettings::from_env`] → [`CloudflareProvider::new`] → [`CloudflareProvider::track`]
//! with the recorded state (so [`CloudProvider::get_state`] knows what to look at) → build each
//! [`Action`]'s attributes with [`desired_attributes`] → [`crate::cloud::apply_actions`].
//!
//! Applying is convergent: a create or update first looks the resource up and writes only what
//! differs, so repeating an apply (or continuing one that failed halfway) changes nothing that
//! is already right. References (`value = server.creo-dev-01.ip`) are resolved from the state
//! passed to [`CloudProvider::apply`] with [`crate::plan::references::resolve`].
//!
//! Provider ids (`StateResource::id`, accepted by [`CloudProvider::destroy`]):
//! `dns:ZONE_ID/RECORD_ID`, `r2:BUCKET`, `worker:SCRIPT`, `route:ZONE_ID/ROUTE_ID`.

mod attrs;
mod client;
mod dns;
mod r2;
mod workers;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

pub use attrs::{PROVIDER, desired_attributes, fqdn, manages};

use self::attrs::Target;
use self::client::{Api, seg, str_of};
use super::{Action, CloudProvider, Op, ProviderError};
use crate::clock::{Clock, SystemClock};
use crate::config::cloud::{CloudflareProvider as CloudflareConfig, Setting};
use crate::plan::references;
use crate::plan::state::{State, StateResource};

pub const DEFAULT_API_URL: &str = "https://api.cloudflare.com/client/v4";
/// Overrides [`DEFAULT_API_URL`] (tests point it at a fake).
pub const API_URL_ENV: &str = "FLEET_CLOUDFLARE_API_URL";
pub const TOKEN_ENV: &str = "CF_API_TOKEN";
pub const ACCOUNT_ENV: &str = "CF_ACCOUNT_ID";

/// How to reach the API. `Debug` never shows the token.
#[derive(Clone)]
pub struct CloudflareSettings {
    pub api_url: String,
    pub api_token: String,
    /// Needed for R2 and Workers; DNS works without it.
    pub account_id: Option<String>,
    /// Where a worker's relative `source` is found (the fleet's directory).
    pub source_dir: PathBuf,
}

impl fmt::Debug for CloudflareSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudflareSettings")
            .field("api_url", &self.api_url)
            .field("api_token", &"(redacted)")
            .field("account_id", &self.account_id)
            .field("source_dir", &self.source_dir)
            .finish()
    }
}

/// Why the provider cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum CloudflareError {
    #[error(
        "{TOKEN_ENV} is not set: create an API token (DNS:Edit, Workers R2 Storage:Edit, Workers Scripts:Edit, \
         Workers Routes:Edit, Zone:Read) at https://dash.cloudflare.com/profile/api-tokens and export it"
    )]
    MissingToken,
    #[error(
        "the Cloudflare account id comes from ${var} (providers {{ cloudflare {{ account-id env=\"{var}\" }} }}), \
         which is not set"
    )]
    MissingAccountEnv { var: String },
    #[error("cannot start the Cloudflare HTTP client: {0}")]
    Client(#[source] std::io::Error),
}

impl CloudflareSettings {
    /// From the process environment: `CF_API_TOKEN`, the configured account id (`CF_ACCOUNT_ID`
    /// when the configuration names none), `FLEET_CLOUDFLARE_API_URL`.
    pub fn from_env(config: Option<&CloudflareConfig>) -> Result<Self, CloudflareError> {
        Self::from_lookup(config, |name| std::env::var(name).ok())
    }

    /// Like [`CloudflareSettings::from_env`] with `lookup` for the environment.
    pub fn from_lookup(
        config: Option<&CloudflareConfig>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, CloudflareError> {
        let present = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let api_token = present(TOKEN_ENV).ok_or(CloudflareError::MissingToken)?;
        let account_id = match config.and_then(|c| c.account_id.as_ref()) {
            Some(Setting::Value(v)) => Some(v.clone()),
            Some(Setting::Env(var)) => {
                Some(present(var).ok_or_else(|| CloudflareError::MissingAccountEnv { var: var.clone() })?)
            }
            None => present(ACCOUNT_ENV),
        };
        Ok(Self {
            api_url: present(API_URL_ENV).unwrap_or_else(|| DEFAULT_API_URL.to_owned()),
            api_token: api_token.trim().to_owned(),
            account_id,
            source_dir: PathBuf::from("."),
        })
    }
}

/// The Cloudflare [`CloudProvider`].
pub struct CloudflareProvider {
    api: Api,
    account_id: Option<String>,
    source_dir: PathBuf,
    /// Zone name → zone id.
    zones: Mutex<BTreeMap<String, String>>,
    /// Address → the resource as last seen.
    tracked: Mutex<BTreeMap<String, StateResource>>,
}

impl CloudflareProvider {
    pub fn new(settings: CloudflareSettings) -> Result<Self, CloudflareError> {
        let api =
            Api::new(&settings.api_url, &settings.api_token, Arc::new(SystemClock)).map_err(CloudflareError::Client)?;
        Ok(Self {
            api,
            account_id: settings.account_id,
            source_dir: settings.source_dir,
            zones: Mutex::default(),
            tracked: Mutex::default(),
        })
    }

    /// The clock a 429's `Retry-After` is waited on (tests pass a recording one).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.api.set_clock(clock);
        self
    }

    /// Makes the Cloudflare resources recorded in `state` part of [`CloudProvider::get_state`];
    /// resources this provider applies are tracked by themselves.
    pub fn track(&self, state: &State) {
        let mut tracked = lock(&self.tracked);
        for r in &state.resources {
            if r.provider.as_deref() == Some(PROVIDER) && Target::of(&r.address).is_some() {
                tracked.insert(r.address.clone(), r.clone());
            }
        }
    }

    fn account(&self) -> Result<&str, ProviderError> {
        self.account_id.as_deref().ok_or_else(|| {
            ProviderError::Permanent(format!(
                "no account id: set {ACCOUNT_ENV} (providers {{ cloudflare {{ account-id env=\"{ACCOUNT_ENV}\" }} }})"
            ))
        })
    }

    /// The id of zone `name`.
    fn zone_id(&self, name: &str) -> Result<String, ProviderError> {
        self.find_zone(name)?.ok_or_else(|| {
            ProviderError::Permanent(format!(
                "zone {name} is not in this account: add it to Cloudflare, or give CF_API_TOKEN Zone:Read on it"
            ))
        })
    }

    fn find_zone(&self, name: &str) -> Result<Option<String>, ProviderError> {
        if let Some(id) = lock(&self.zones).get(name) {
            return Ok(Some(id.clone()));
        }
        let path = format!("/zones?name={}", seg(name));
        let zone = self
            .api
            .find(&path, "name", name, &format!("Zone:Read on zone {name}"))?;
        let id = zone.as_ref().and_then(|z| str_of(z, "id")).map(str::to_owned);
        if let Some(id) = &id {
            lock(&self.zones).insert(name.to_owned(), id.clone());
        }
        Ok(id)
    }

    /// The zone (name, id) a host name belongs to: its longest suffix that is a zone here.
    fn zone_of_host(&self, host: &str) -> Result<(String, String), ProviderError> {
        let host = host.trim_start_matches("*.").trim_end_matches('.');
        let labels: Vec<&str> = host.split('.').collect();
        for i in 0..labels.len().saturating_sub(1) {
            let candidate = labels[i..].join(".");
            if let Some(id) = self.find_zone(&candidate)? {
                return Ok((candidate, id));
            }
        }
        Err(ProviderError::Permanent(format!(
            "no zone in this account holds {host}: add the domain to Cloudflare, or give CF_API_TOKEN Zone:Read on it"
        )))
    }

    fn untrack(&self, address: &str) {
        lock(&self.tracked).remove(address);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What one resource is applied from: its address, the resolved attributes, what the state
/// records of it, and whether it is replaced (deleted first).
pub(crate) struct Wanted<'a> {
    pub address: &'a str,
    pub attrs: &'a BTreeMap<String, String>,
    pub recorded: Option<&'a StateResource>,
    pub replace: bool,
}

/// A state resource of this provider.
fn resource(address: &str, id: String, attributes: BTreeMap<String, String>, created: Option<&Value>) -> StateResource {
    StateResource {
        address: address.to_owned(),
        provider: Some(PROVIDER.to_owned()),
        id: Some(id),
        attributes,
        created_at: created.and_then(Value::as_str).map(str::to_owned),
    }
}

impl CloudProvider for CloudflareProvider {
    fn name(&self) -> &str {
        PROVIDER
    }

    /// Every tracked resource as it exists now (missing ones are left out), read from the API.
    fn get_state(&self) -> Result<Vec<StateResource>, ProviderError> {
        let known: Vec<StateResource> = lock(&self.tracked).values().cloned().collect();
        let mut out = Vec::new();
        for last in known {
            let now = match Target::parse(&last.address)? {
                Target::Dns { zone, name } => dns::read(self, &zone, &name, &last)?,
                Target::Bucket { name } => r2::read(self, &name, &last)?,
                Target::Worker { name } => workers::read(self, &name, &last)?,
            };
            if let Some(now) = now {
                lock(&self.tracked).insert(now.address.clone(), now.clone());
                out.push(now);
            }
        }
        Ok(out)
    }

    fn apply(&self, action: &Action, state: &State) -> Result<Option<StateResource>, ProviderError> {
        let target = Target::parse(&action.address)?;
        // What the state records, else what this provider last saw (the same run).
        let recorded =
            (state.resource(&action.address).cloned()).or_else(|| lock(&self.tracked).get(&action.address).cloned());
        if action.op == Op::Delete {
            match target {
                Target::Dns { zone, name } => dns::delete(self, &zone, &name, &action.attributes, recorded.as_ref())?,
                Target::Bucket { name } => r2::delete(self, &name)?,
                Target::Worker { name } => workers::delete(self, &name, recorded.as_ref())?,
            }
            self.untrack(&action.address);
            return Ok(None);
        }
        let attrs = references::resolve(&action.address, &action.attributes, state)
            .map_err(|e| ProviderError::Permanent(format!("{}: {e}", action.address)))?;
        let wanted = Wanted {
            address: &action.address,
            attrs: &attrs,
            recorded: recorded.as_ref(),
            replace: action.op == Op::Replace,
        };
        let now = match target {
            Target::Dns { zone, name } => dns::apply(self, &wanted, &zone, &name)?,
            Target::Bucket { name } => r2::apply(self, &wanted, &name)?,
            Target::Worker { name } => workers::apply(self, &wanted, &name)?,
        };
        lock(&self.tracked).insert(now.address.clone(), now.clone());
        Ok(Some(now))
    }

    /// A bucket's read returns its custom domain and CORS rule whenever they are set.
    fn reports(&self, address: &str, key: &str) -> bool {
        matches!(Target::of(address), Some(Target::Bucket { .. }))
            && (key == "custom-domain" || key.starts_with("cors."))
    }

    fn destroy(&self, id: &str) -> Result<(), ProviderError> {
        let bad = || ProviderError::Permanent(format!("{id:?} is not a Cloudflare provider id"));
        let (kind, rest) = id.split_once(':').ok_or_else(bad)?;
        match kind {
            "dns" => {
                let (zone_id, record) = rest.split_once('/').ok_or_else(bad)?;
                let path = format!("/zones/{}/dns_records/{}", seg(zone_id), seg(record));
                self.api.delete(&path, "DNS:Edit on the record's zone")
            }
            "route" => {
                let (zone_id, route) = rest.split_once('/').ok_or_else(bad)?;
                let path = format!("/zones/{}/workers/routes/{}", seg(zone_id), seg(route));
                self.api.delete(&path, "Workers Routes:Edit on the route's zone")
            }
            "r2" => r2::delete(self, rest),
            "worker" => workers::delete(self, rest, None),
            _ => Err(bad()),
        }?;
        lock(&self.tracked).retain(|_, r| r.id.as_deref() != Some(id));
        Ok(())
    }
}
