//! Cloud infrastructure (seed 003): the provider trait, the retry policy, and applying actions
//! with partial-failure handling — what succeeded is recorded in state, the failure is reported,
//! the rest is not attempted, and the next apply continues from the recorded state.
//!
//! Providers (Sakura Cloud, Cloudflare) implement [`CloudProvider`]; this module is pure over
//! that trait and the [`Clock`].

pub mod cloudflare;
pub mod infra;
pub mod live;
pub mod sakura;
pub mod session;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::clock::Clock;
use crate::plan::state::{State, StateResource};

/// One change to one resource, by plan address (`creo:dev/server.creo-dev-01`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub address: String,
    pub op: Op,
    /// Desired attributes (for create / update / replace).
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    Create,
    Update,
    Replace,
    Delete,
}

/// Why a provider call failed. Only [`ProviderError::Transient`] is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Worth another attempt (HTTP 5xx, 429, a timeout).
    #[error("{0}")]
    Transient(String),
    /// Will fail the same way again (bad request, quota, permission).
    #[error("{0}")]
    Permanent(String),
}

/// Seed 003's provider interface, one resource action at a time so progress can be recorded.
pub trait CloudProvider: Send + Sync {
    fn name(&self) -> &str;
    /// What exists now, as state resources.
    fn get_state(&self) -> Result<Vec<StateResource>, ProviderError>;
    /// Applies one action; returns the resource as it now exists (`None` after a delete).
    fn apply(&self, action: &Action, state: &State) -> Result<Option<StateResource>, ProviderError>;
    /// Deletes by provider id.
    fn destroy(&self, id: &str) -> Result<(), ProviderError>;
    /// The recorded resource as it is now (`None`: it no longer exists). Default: whatever
    /// [`CloudProvider::get_state`] reports at that address.
    fn refresh(&self, recorded: &StateResource) -> Result<Option<StateResource>, ProviderError> {
        Ok(self.get_state()?.into_iter().find(|r| r.address == recorded.address))
    }
    /// Whether a live read of `address` always returns attribute `key` when it is set, so that
    /// its absence means it was removed (a refresh then drops the recorded value, and the plan
    /// shows the change). Default: no — what a read does not return stays as recorded.
    fn reports(&self, address: &str, key: &str) -> bool {
        let _ = (address, key);
        false
    }
    /// Powers a resource on or off (servers: `fleet stage up` / `down --suspend`); returns it
    /// as it now is. Default: the provider has nothing to power.
    fn set_power(&self, resource: &StateResource, on: bool) -> Result<Option<StateResource>, ProviderError> {
        let _ = on;
        Ok(Some(resource.clone()))
    }
}

/// Seed 003's retry strategy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub backoff_multiplier: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            backoff_multiplier: 2.0,
        }
    }
}

impl RetryConfig {
    /// The wait before attempt `n + 1` (after `n` failed attempts, n ≥ 1).
    pub fn delay_after(&self, failed_attempts: u32) -> Duration {
        let factor = self.backoff_multiplier.powi(failed_attempts.saturating_sub(1) as i32);
        let secs = (self.initial_delay.as_secs_f64() * factor).min(self.max_delay.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// Runs `op`, retrying transient failures with backoff; the last error after
    /// `max_attempts`, or the first permanent one.
    pub fn run<T>(
        &self,
        clock: &dyn Clock,
        mut op: impl FnMut() -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let mut failed = 0;
        loop {
            match op() {
                Ok(v) => return Ok(v),
                Err(ProviderError::Transient(e)) if failed + 1 < self.max_attempts.max(1) => {
                    failed += 1;
                    tracing::warn!("transient provider error (attempt {failed}): {e}");
                    clock.sleep(self.delay_after(failed));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    pub applied: Vec<String>,
    pub failed: Option<(String, String)>,
    pub not_attempted: Vec<String>,
}

impl ApplyReport {
    pub fn ok(&self) -> bool {
        self.failed.is_none()
    }
}

/// Applies `actions` in order, recording each success in `state` as it happens (the caller
/// writes `state` under its lock even when the report has a failure). Stops at the first failure.
pub fn apply_actions(
    provider: &dyn CloudProvider,
    clock: &dyn Clock,
    retry: &RetryConfig,
    actions: &[Action],
    state: &mut State,
) -> ApplyReport {
    let mut report = ApplyReport {
        applied: Vec::new(),
        failed: None,
        not_attempted: Vec::new(),
    };
    for (i, action) in actions.iter().enumerate() {
        match retry.run(clock, || provider.apply(action, state)) {
            Ok(Some(resource)) => state.upsert(resource),
            Ok(None) => drop(state.remove(&action.address)),
            Err(e) => {
                report.failed = Some((action.address.clone(), format!("{}: {e}", provider.name())));
                report.not_attempted = actions[i + 1..].iter().map(|a| a.address.clone()).collect();
                return report;
            }
        }
        report.applied.push(action.address.clone());
    }
    report
}

/// The actions still needed after a partial apply: those whose effect `state` does not show yet.
pub fn remaining<'a>(actions: &'a [Action], state: &State) -> Vec<&'a Action> {
    actions
        .iter()
        .filter(|a| match a.op {
            Op::Create => state.resource(&a.address).is_none(),
            Op::Delete => state.resource(&a.address).is_some(),
            Op::Update | Op::Replace => state
                .resource(&a.address)
                .is_none_or(|r| a.attributes.iter().any(|(k, v)| r.attributes.get(k) != Some(v))),
        })
        .collect()
}
