//! Counters for GET /metrics, in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::application::jobs::db::JobCounts;

/// Upper bounds (seconds) of the job-duration histogram.
const BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    /// Labels from fixed lists only: a request must not be able to add series.
    deliveries: BTreeMap<(&'static str, &'static str), u64>,
    github_calls: BTreeMap<(String, String), u64>,
    jobs: BTreeMap<(String, String), Histogram>,
    /// Installation → its rate limit as last seen (installations are the App's own: bounded).
    rate_limits: BTreeMap<u64, crate::github::budget::Remaining>,
    /// Job leases renewed, and leases that ran out under another replica and were swept.
    lease_renewals: u64,
    leases_expired: u64,
    /// Deploys that found their fleet+stage locked and waited.
    lock_waits: u64,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// One value of an installation's rate limit, as a gauge shows it.
type RateLimitValue = fn(&crate::github::budget::Remaining) -> u64;

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    /// A delivery of `event` (a known event name, `other` or `unverified`) and what became of
    /// it (accepted, duplicate, ignored, unauthorized, invalid).
    pub fn delivery(&self, event: &'static str, result: &'static str) {
        let mut inner = self.inner.lock().expect("metrics");
        *inner.deliveries.entry((event, result)).or_default() += 1;
    }

    /// The Prometheus text exposition, with the queue read from the store.
    pub fn render(&self, jobs: Option<&JobCounts>) -> String {
        let inner = self.inner.lock().expect("metrics");
        let mut out = String::new();
        out.push_str("# HELP fleet_webhook_deliveries_total Webhook deliveries by event and result.\n");
        out.push_str("# TYPE fleet_webhook_deliveries_total counter\n");
        for ((event, result), n) in &inner.deliveries {
            let _ = writeln!(
                out,
                "fleet_webhook_deliveries_total{{event=\"{}\",result=\"{}\"}} {n}",
                escape(event),
                escape(result)
            );
        }
        if let Some(c) = jobs {
            out.push_str("# HELP fleet_queue_depth Jobs waiting to run.\n# TYPE fleet_queue_depth gauge\n");
            let _ = writeln!(out, "fleet_queue_depth {}", c.queued);
            out.push_str("# HELP fleet_jobs Jobs by state.\n# TYPE fleet_jobs gauge\n");
            for (state, n) in [
                ("queued", c.queued),
                ("running", c.running),
                ("done", c.done),
                ("failed", c.failed),
                ("superseded", c.superseded),
                ("quarantined", c.quarantined),
            ] {
                let _ = writeln!(out, "fleet_jobs{{state=\"{state}\"}} {n}");
            }
        }
        for (name, help, n) in [
            (
                "fleet_lease_renewals_total",
                "Job leases this replica renewed.",
                inner.lease_renewals,
            ),
            (
                "fleet_leases_expired_total",
                "Running jobs whose lease ran out (a replica died or stalled), swept by this replica.",
                inner.leases_expired,
            ),
            (
                "fleet_deploy_lock_waits_total",
                "Deploys that found their fleet+stage locked by another deploy and waited.",
                inner.lock_waits,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {n}");
        }
        out.push_str("# HELP fleet_job_duration_seconds Job run time by kind and result.\n");
        out.push_str("# TYPE fleet_job_duration_seconds histogram\n");
        for ((kind, result), h) in &inner.jobs {
            let labels = format!("kind=\"{}\",result=\"{}\"", escape(kind), escape(result));
            for (bound, n) in BUCKETS.iter().zip(&h.counts) {
                let _ = writeln!(out, "fleet_job_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "fleet_job_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "fleet_job_duration_seconds_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "fleet_job_duration_seconds_count{{{labels}}} {}", h.count);
        }
        let gauges: [(&str, &str, RateLimitValue); 2] = [
            (
                "fleet_github_rate_limit_remaining",
                "Requests left of an installation's hourly budget, as GitHub last said.",
                |r| r.remaining,
            ),
            (
                "fleet_github_rate_limit_reset_seconds",
                "When an installation's budget resets (Unix time).",
                |r| r.reset,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (installation, seen) in &inner.rate_limits {
                let _ = writeln!(out, "{name}{{installation=\"{installation}\"}} {}", value(seen));
            }
        }
        out.push_str("# HELP fleet_github_requests_total GitHub API calls by method and HTTP status.\n");
        out.push_str("# TYPE fleet_github_requests_total counter\n");
        for ((method, status), n) in &inner.github_calls {
            let _ = writeln!(
                out,
                "fleet_github_requests_total{{method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        out
    }
}

impl crate::github::CallObserver for Metrics {
    fn github_call(&self, method: &str, status: u16) {
        let mut inner = self.inner.lock().expect("metrics");
        *inner
            .github_calls
            .entry((method.to_owned(), status.to_string()))
            .or_default() += 1;
    }

    fn rate_limit(&self, installation: u64, seen: crate::github::budget::Remaining) {
        let mut inner = self.inner.lock().expect("metrics");
        inner.rate_limits.insert(installation, seen);
        if seen.remaining < crate::github::budget::LOW_BUDGET {
            tracing::warn!(
                installation,
                remaining = seen.remaining,
                reset = seen.reset,
                "GitHub rate limit nearly spent: new jobs wait for the reset"
            );
        }
    }
}

impl crate::application::jobs::JobObserver for Metrics {
    /// A job run of `kind` that ended with `result` (done, retry, failed).
    fn job(&self, kind: &str, result: &str, took: Duration) {
        let mut inner = self.inner.lock().expect("metrics");
        let h = inner.jobs.entry((kind.to_owned(), result.to_owned())).or_default();
        if h.counts.is_empty() {
            h.counts = vec![0; BUCKETS.len()];
        }
        let secs = took.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    fn lease_renewed(&self) {
        self.inner.lock().expect("metrics").lease_renewals += 1;
    }

    fn lock_waited(&self) {
        self.inner.lock().expect("metrics").lock_waits += 1;
    }

    fn leases_expired(&self, n: u64) {
        self.inner.lock().expect("metrics").leases_expired += n;
    }
}
