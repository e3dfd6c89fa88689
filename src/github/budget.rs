//! The client's view of each installation's rate limit: what `X-RateLimit-Remaining/Reset`
//! said last, so work can wait for the reset instead of failing against an empty budget, and a
//! bound on concurrent requests per installation (GitHub's secondary limits punish bursts).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Semaphore;

/// Requests one installation has in flight at most.
pub const CONCURRENT_PER_INSTALLATION: usize = 8;

/// Below this many requests left, new jobs wait for the reset: a job needs a handful.
pub const LOW_BUDGET: u64 = 20;

/// The last rate-limit headers of an installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remaining {
    pub remaining: u64,
    pub limit: u64,
    /// Unix seconds.
    pub reset: u64,
}

#[derive(Default)]
pub struct Budgets {
    seen: Mutex<HashMap<u64, Remaining>>,
    gates: Mutex<HashMap<u64, Arc<Semaphore>>>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Budgets {
    /// The semaphore bounding `installation`'s concurrent requests.
    pub fn gate(&self, installation: u64) -> Arc<Semaphore> {
        let mut gates = self.gates.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            gates
                .entry(installation)
                .or_insert_with(|| Arc::new(Semaphore::new(CONCURRENT_PER_INSTALLATION))),
        )
    }

    /// Notes an answer's rate-limit headers.
    pub fn observe(&self, installation: u64, headers: &http::HeaderMap) -> Option<Remaining> {
        let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
        let seen = Remaining {
            remaining: number("x-ratelimit-remaining")?,
            limit: number("x-ratelimit-limit")?,
            reset: number("x-ratelimit-reset")?,
        };
        let mut all = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.insert(installation, seen);
        Some(seen)
    }

    /// How long `installation`'s work should wait: until the reset, when fewer than
    /// [`LOW_BUDGET`] requests are left of the window.
    pub fn wait(&self, installation: u64) -> Option<Duration> {
        let all = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let seen = all.get(&installation)?;
        let t = now();
        (seen.remaining < LOW_BUDGET && seen.reset > t).then(|| Duration::from_secs(seen.reset - t))
    }
}
