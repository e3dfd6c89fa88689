//! Recorded infrastructure state (seed 003) as data: what `.fleetflow/state.json` holds and
//! what its lock says. Reading and writing them is [`crate::state_store`]'s.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The schema version this build reads and writes.
pub const STATE_VERSION: u32 = 1;
pub const STATE_FILE: &str = "state.json";
pub const BACKUP_FILE: &str = "state.json.backup";
pub const LOCK_FILE: &str = "lock.json";

/// `{"version": 1, "resources": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub resources: Vec<StateResource>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            resources: Vec::new(),
        }
    }
}

/// A resource a provider created, by plan address (`creo:dev/server.creo-dev-01`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateResource {
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Values other resources may refer to (`ip`, `status`, …).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

impl State {
    pub fn resource(&self, address: &str) -> Option<&StateResource> {
        self.resources.iter().find(|r| r.address == address)
    }

    /// Adds or replaces the resource at its address.
    pub fn upsert(&mut self, resource: StateResource) {
        match self.resources.iter_mut().find(|r| r.address == resource.address) {
            Some(slot) => *slot = resource,
            None => self.resources.push(resource),
        }
    }

    pub fn remove(&mut self, address: &str) -> Option<StateResource> {
        let i = self.resources.iter().position(|r| r.address == address)?;
        Some(self.resources.remove(i))
    }

    /// Parses and checks a state file's text.
    pub fn parse(text: &str) -> Result<State, StateParseError> {
        #[derive(Deserialize)]
        struct Version {
            version: Option<serde_json::Value>,
        }
        let v: Version = serde_json::from_str(text)?;
        match v.version.as_ref().and_then(serde_json::Value::as_u64) {
            Some(n) if n == u64::from(STATE_VERSION) => {}
            Some(n) => return Err(StateParseError::Version(n)),
            None => return Err(StateParseError::NoVersion),
        }
        let state: State = serde_json::from_str(text)?;
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = state.resources.iter().find(|r| !seen.insert(r.address.as_str())) {
            return Err(StateParseError::Duplicate(dup.address.clone()));
        }
        Ok(state)
    }
}

/// Why a state file's text is not a state.
#[derive(Debug, thiserror::Error)]
pub enum StateParseError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported state version {0} (this fleet reads {STATE_VERSION})")]
    Version(u64),
    #[error("no numeric \"version\"")]
    NoVersion,
    #[error("resource {0:?} appears twice")]
    Duplicate(String),
}

/// Who holds the lock, for what, since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub holder: String,
    pub operation: String,
    /// RFC 3339.
    pub created_at: String,
    #[serde(default)]
    pub pid: u32,
    /// Unique per lock, so a holder only ever removes its own lock.
    #[serde(default)]
    pub id: String,
}
