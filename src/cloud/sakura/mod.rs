//! Sakura Cloud servers through the REST API 1.1 directly (no usacloud binary needed): create
//! with a disk from a public archive, the SSH key set by disk edit, power on/off, plan change,
//! delete with disks. A server carries the tag `fleetflow` and its plan address in the
//! description (`fleetflow:creo:dev/server.creo-dev-01`), so the live state maps back to
//! addresses and a create interrupted half-way is resumed, never duplicated.

pub mod api;
pub mod auth;
mod server;

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use self::api::{Api, ApiError, id_of, unwrap};
pub use self::auth::{Credentials, CredentialsError};
pub use self::server::{ServerSpec, server_state};
use super::{Action, CloudProvider, Op, ProviderError};
use crate::clock::Clock;
use crate::plan::state::{State, StateResource};

/// The provider's name in `providers { … }`, `provider "…"` and state files.
pub const PROVIDER: &str = "sakura-cloud";
/// The tag every server fleetflow creates carries.
pub const TAG: &str = "fleetflow";
/// Description prefix naming the plan address.
pub const DESCRIPTION_PREFIX: &str = "fleetflow:";
/// The default zone when neither fleet.kdl nor the usacloud profile names one.
pub const DEFAULT_ZONE: &str = "tk1a";

/// Sakura Cloud, one zone.
pub struct SakuraProvider {
    api: Api,
    zone: String,
    clock: Arc<dyn Clock>,
    /// Between power / disk status polls.
    pub poll_interval: Duration,
    /// How long a power change or disk copy may take.
    pub wait_limit: Duration,
}

impl SakuraProvider {
    pub fn new(zone: &str, credentials: Credentials, base_url_override: Option<&str>, clock: Arc<dyn Clock>) -> Self {
        Self {
            api: Api::new(api::base_url(zone, base_url_override), credentials),
            zone: zone.to_owned(),
            clock,
            poll_interval: Duration::from_secs(5),
            wait_limit: Duration::from_secs(15 * 60),
        }
    }

    /// Credentials from the environment or usacloud; zone from fleet.kdl, else the profile,
    /// else [`DEFAULT_ZONE`]; FLEET_SAKURA_API_URL overrides the endpoint.
    pub fn from_env(zone: Option<&str>, clock: Arc<dyn Clock>) -> Result<Self, CredentialsError> {
        let credentials = auth::from_process()?;
        let zone = zone
            .map(str::to_owned)
            .or_else(|| credentials.zone.clone())
            .unwrap_or_else(|| DEFAULT_ZONE.to_owned());
        let url = std::env::var("FLEET_SAKURA_API_URL").ok();
        Ok(Self::new(&zone, credentials, url.as_deref(), clock))
    }

    pub fn zone(&self) -> &str {
        &self.zone
    }

    fn call(&self, method: Method, path: &str, query: Option<&Value>, body: Option<&Value>) -> Result<Value, ApiError> {
        let result = self.api.call(method, path, query, body);
        if let Err(e) = &result
            && e.status == 429
            && let Some(wait) = e.retry_after
        {
            // Honour Retry-After before the retry policy's own backoff.
            self.clock.sleep(wait.min(Duration::from_secs(60)));
        }
        result
    }

    fn req(&self, what: &str, method: Method, path: &str, body: Option<&Value>) -> Result<Value, ProviderError> {
        self.call(method, path, None, body).map_err(|e| e.into_provider(what))
    }

    /// Every server fleetflow manages in this zone, by the address in its description.
    pub fn managed_servers(&self) -> Result<Vec<(String, Value)>, ProviderError> {
        let query = json!({"Count": 1000, "Filter": {"Tags.Name": [TAG]}});
        let list = self
            .call(Method::GET, "/server", Some(&query), None)
            .map_err(|e| e.into_provider("listing Sakura Cloud servers"))?;
        let servers = list
            .get("Servers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(servers.into_iter().filter_map(|s| Some((address_of(&s)?, s))).collect())
    }

    /// The server named `name` that carries `address`, if any.
    pub fn find_server(&self, name: &str, address: &str) -> Result<Option<Value>, ProviderError> {
        let query = json!({"Count": 1000, "Filter": {"Name": name}});
        let list = self
            .call(Method::GET, "/server", Some(&query), None)
            .map_err(|e| e.into_provider(&format!("looking up server {name}")))?;
        Ok(list
            .get("Servers")
            .and_then(Value::as_array)
            .and_then(|all| {
                all.iter().find(|s| {
                    s.get("Name").and_then(Value::as_str) == Some(name) && address_of(s).as_deref() == Some(address)
                })
            })
            .cloned())
    }

    /// `GET /server/{id}`; `None` when it does not exist.
    pub fn server(&self, id: &str) -> Result<Option<Value>, ProviderError> {
        match self.call(Method::GET, &format!("/server/{id}"), None, None) {
            Ok(v) => Ok(Some(unwrap(&v, "Server").clone())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into_provider(&format!("reading server {id}"))),
        }
    }

    /// Whether the server is powered on: `Instance.Status == "up"` of `GET /server/{id}` (as
    /// the SDKs read it; the answer of `GET /server/{id}/power` is not documented).
    pub fn is_up(&self, id: &str) -> Result<bool, ProviderError> {
        let what = format!("reading the power state of server {id}");
        let v = self.req(&what, Method::GET, &format!("/server/{id}"), None)?;
        Ok(instance_status(unwrap(&v, "Server")) == Some("up"))
    }

    /// Powers on (`PUT …/power`) or forcibly off (`DELETE …/power`) and waits for it.
    pub fn set_power_and_wait(&self, id: &str, on: bool) -> Result<(), ProviderError> {
        if self.is_up(id)? == on {
            return Ok(());
        }
        let (method, body, verb) = if on {
            (Method::PUT, None, "powering on")
        } else {
            (Method::DELETE, Some(json!({"Force": true})), "powering off")
        };
        let what = format!("{verb} server {id}");
        self.req(&what, method, &format!("/server/{id}/power"), body.as_ref())?;
        let deadline = self.clock.now() + self.wait_limit;
        loop {
            if self.is_up(id)? == on {
                return Ok(());
            }
            if self.clock.now() >= deadline {
                return Err(ProviderError::Transient(format!(
                    "{what}: still not {} after {:?}; run again to keep waiting",
                    if on { "up" } else { "down" },
                    self.wait_limit
                )));
            }
            self.clock.sleep(self.poll_interval);
        }
    }

    /// Powers off and deletes the server with its disks; done when it is already gone.
    pub fn delete_server(&self, id: &str) -> Result<(), ProviderError> {
        let Some(server) = self.server(id)? else {
            return Ok(());
        };
        if instance_status(&server) != Some("down") {
            self.set_power_and_wait(id, false)?;
        }
        let disks: Vec<String> = server
            .get("Disks")
            .and_then(Value::as_array)
            .map(|d| d.iter().filter_map(id_of).collect())
            .unwrap_or_default();
        match self.call(
            Method::DELETE,
            &format!("/server/{id}"),
            None,
            Some(&json!({"WithDisk": disks})),
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into_provider(&format!("deleting server {id}"))),
        }
    }

    /// The state resource of the recorded server, read live (`None`: it is gone).
    pub fn read(&self, recorded: &StateResource) -> Result<Option<StateResource>, ProviderError> {
        let Some(id) = &recorded.id else {
            return Ok(None);
        };
        Ok(self
            .server(id)?
            .map(|s| server_state(&recorded.address, &s, Some(recorded))))
    }

    fn upsert(&self, action: &Action, state: &State) -> Result<StateResource, ProviderError> {
        let spec = ServerSpec::from_action(action)?;
        let recorded = state.resource(&action.address);
        let existing = match recorded.and_then(|r| r.id.clone()) {
            Some(id) => self.server(&id)?,
            None => None,
        };
        let existing = match existing {
            Some(s) => Some(s),
            None => self.find_server(&spec.name, &action.address)?,
        };
        match (action.op, existing) {
            (Op::Update, Some(server)) => self.update(&spec, &action.address, &server),
            (_, existing) => self.create(&spec, &action.address, existing),
        }
    }
}

impl CloudProvider for SakuraProvider {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn get_state(&self) -> Result<Vec<StateResource>, ProviderError> {
        Ok(self
            .managed_servers()?
            .into_iter()
            .map(|(address, s)| server_state(&address, &s, None))
            .collect())
    }

    fn apply(&self, action: &Action, state: &State) -> Result<Option<StateResource>, ProviderError> {
        if !action.address.contains("/server.") {
            return Err(ProviderError::Permanent(format!(
                "{}: sakura-cloud manages servers only; give this resource another `provider`",
                action.address
            )));
        }
        match action.op {
            Op::Delete => {
                if let Some(id) = state.resource(&action.address).and_then(|r| r.id.clone()) {
                    self.delete_server(&id)?;
                }
                Ok(None)
            }
            Op::Replace => {
                if let Some(id) = state.resource(&action.address).and_then(|r| r.id.clone()) {
                    self.delete_server(&id)?;
                }
                let mut without = state.clone();
                without.remove(&action.address);
                let create = Action {
                    op: Op::Create,
                    ..action.clone()
                };
                self.upsert(&create, &without).map(Some)
            }
            Op::Create | Op::Update => self.upsert(action, state).map(Some),
        }
    }

    fn destroy(&self, id: &str) -> Result<(), ProviderError> {
        self.delete_server(id)
    }

    fn set_power(&self, resource: &StateResource, on: bool) -> Result<Option<StateResource>, ProviderError> {
        let Some(id) = &resource.id else {
            return Ok(None);
        };
        if self.server(id)?.is_none() {
            return Ok(None);
        }
        self.set_power_and_wait(id, on)?;
        self.read(resource)
    }

    fn refresh(&self, resource: &StateResource) -> Result<Option<StateResource>, ProviderError> {
        self.read(resource)
    }
}

/// The address in a server's description (`fleetflow:<address>` on its first line).
pub fn address_of(server: &Value) -> Option<String> {
    let description = server.get("Description")?.as_str()?;
    let first = description.lines().next()?.trim();
    first
        .strip_prefix(DESCRIPTION_PREFIX)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
}

/// `Instance.Status` of a server or of a power response.
pub fn instance_status(v: &Value) -> Option<&str> {
    v.get("Instance")?.get("Status")?.as_str()
}
