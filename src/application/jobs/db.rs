//! The durable store: deliveries (keyed by X-GitHub-Delivery) and jobs, in SQLite (embedded,
//! one replica) or PostgreSQL (several replicas), through one set of queries.
//!
//! A delivery and its job are written in one transaction (the delivery id is the key, so a
//! redelivery — to any replica — is acknowledged and not queued twice; a job with an identity —
//! a command's comment — is queued once whatever the delivery id, so a replayed body is too).
//! Jobs go queued → running → done | failed | superseded | quarantined. A running job is held
//! under a lease its worker renews ([`queue`]); a replica that dies or stalls loses it and the
//! job is claimed again, by any replica, fenced by its claim number. A job found running at
//! start-up of the one SQLite process killed the process or died with it: it is
//! `quarantined`, never run again (see [`Store::recover_interrupted`]); jobs a graceful stop
//! interrupts go back to the queue.

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};

use crate::event::RepoRef;

/// `attempts` with the current start given back (a start that did not count: a graceful stop,
/// a deferral, a lease that ran out).
const REFUND_ATTEMPT: &str = "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END";

/// How often a job is started before a failure is final (a start a graceful stop cuts off does
/// not count; a crash under a job quarantines it instead).
pub const MAX_ATTEMPTS: i64 = 3;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A job taken from the queue.
#[derive(Debug, Clone)]
pub struct QueuedJob {
    pub id: i64,
    /// The delivery that caused it (jobs queued by other jobs share their delivery).
    pub delivery_id: String,
    /// Why its last start did not finish it (an error, or what it waits for).
    pub last_error: Option<String>,
    pub kind: String,
    pub payload: String,
    /// Starts so far, this one included.
    pub attempts: i64,
    /// The check run an earlier start created (reused when the job runs again).
    pub check_run_id: Option<i64>,
    /// The GitHub deployment a deploy job created.
    pub deployment_id: Option<i64>,
    /// The build run on GitHub's runners a deploy job dispatched.
    pub build_run_id: Option<i64>,
    /// Which claim of the job this is: what fences a worker whose lease ran out (every write
    /// of a running job names it; a later claim makes the earlier one's writes do nothing).
    pub claim: i64,
}

/// The columns [`job_from_row`] reads, in its order.
const JOB_COLUMNS: &str =
    "id, kind, payload, attempts, check_run_id, delivery_id, last_error, deployment_id, claims, build_run_id";

fn job_from_row(r: &sqlx::any::AnyRow) -> QueuedJob {
    QueuedJob {
        id: r.get(0),
        claim: r.get(8),
        kind: r.get(1),
        payload: r.get(2),
        attempts: r.get(3),
        check_run_id: r.get(4),
        delivery_id: r.get(5),
        last_error: r.get(6),
        deployment_id: r.get(7),
        build_run_id: r.get(9),
    }
}

/// Counts of jobs by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobCounts {
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub failed: i64,
    /// Dropped for a newer job of the same serial key (a plan of a later head).
    pub superseded: i64,
    /// Found running at start-up (the process died under them): never run again.
    pub quarantined: i64,
}

/// A job to queue with the delivery that asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub kind: &'static str,
    pub payload: String,
    /// What the job acts on, queued once ever: a delivery whose job has an identity already
    /// queued is a duplicate, whatever its delivery id.
    pub identity: Option<String>,
    /// Jobs with the same key (the plan jobs of one pull request) never run at once, and only
    /// the newest runs: the older ones still queued are superseded when a worker reaches them.
    pub serial_key: Option<String>,
}

impl NewJob {
    pub fn new(kind: &'static str, payload: String) -> Self {
        NewJob {
            kind,
            payload,
            identity: None,
            serial_key: None,
        }
    }
}

/// Whether a delivery was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New { job: Option<i64> },
    Duplicate,
}

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One file, one replica (the default).
    Sqlite,
    /// Several replicas on one database.
    Postgres,
}

/// How long a claimed job is held without renewal before another replica may take it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The database URL (PostgreSQL: where the listener for new jobs connects).
    url: Arc<str>,
    /// This process among the replicas: the owner its leases name.
    replica: Arc<str>,
    lease: Duration,
    /// Where deliveries go to be written together (started on first use).
    writer: Arc<std::sync::OnceLock<tokio::sync::mpsc::Sender<group_commit::Pending>>>,
}

impl Store {
    /// Opens (creating if needed) the database at `url` — `sqlite://PATH` or
    /// `postgres://USER:PASSWORD@HOST:PORT/DB` — and applies the migrations.
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(sqlx::Error::Configuration(
                "the database URL must start with sqlite:// or postgres://".into(),
            ));
        };
        let options: AnyConnectOptions = match backend {
            // Created if missing (the driver's read-write-create mode).
            Backend::Sqlite if !url.contains('?') && url != "sqlite::memory:" => format!("{url}?mode=rwc").parse()?,
            _ => url.parse()?,
        };
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(4)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL + FULL: every commit is fsynced before it returns, so an
                            // acknowledged delivery survives a power cut, not only a crash of
                            // the process (NORMAL's promise).
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                                 PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => AnyPoolOptions::new().max_connections(10).connect_with(options).await?,
        };
        let store = Store {
            pool,
            backend,
            url: url.into(),
            replica: replica_id().into(),
            lease: DEFAULT_LEASE,
            writer: Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The same store holding the jobs it claims for `lease` without renewal.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// This process's name among the replicas (host, process id and a random part).
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// How long a claimed job is held without renewal.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Records a delivery and (if `job` is given) queues its job, atomically. A delivery seen
    /// before, or whose job's identity was queued before, is a duplicate and nothing is kept.
    pub async fn store_delivery(
        &self,
        delivery_id: &str,
        event: &str,
        action: Option<&str>,
        job: Option<&NewJob>,
    ) -> Result<Stored, sqlx::Error> {
        // Written by the group-commit writer: on disk (fsynced) when this returns.
        let writer = self.writer.get_or_init(|| group_commit::start(self.clone())).clone();
        let (done, result) = tokio::sync::oneshot::channel();
        let pending = group_commit::Pending {
            delivery_id: delivery_id.to_owned(),
            event: event.to_owned(),
            action: action.map(str::to_owned),
            job: job.cloned(),
            done,
        };
        let lost = || sqlx::Error::Protocol("the delivery writer stopped".into());
        writer.send(pending).await.map_err(|_| lost())?;
        result.await.map_err(|_| lost())?.map_err(sqlx::Error::Protocol)
    }

    pub async fn job_counts(&self) -> Result<JobCounts, sqlx::Error> {
        let rows = sqlx::query("SELECT state, COUNT(*) FROM jobs GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let mut c = JobCounts::default();
        for r in rows {
            let n: i64 = r.get(1);
            match r.get::<String, _>(0).as_str() {
                "queued" => c.queued = n,
                "running" => c.running = n,
                "done" => c.done = n,
                "failed" => c.failed = n,
                "superseded" => c.superseded = n,
                "quarantined" => c.quarantined = n,
                _ => {}
            }
        }
        Ok(c)
    }

    /// How many jobs of `kind` were ever queued (tests, diagnostics).
    pub async fn jobs_of_kind(&self, kind: &str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = $1")
            .bind(kind)
            .fetch_one(&self.pool)
            .await
    }

    pub async fn delivery_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM deliveries")
            .fetch_one(&self.pool)
            .await
    }

    /// State and last error of a job (tests, diagnostics).
    pub async fn job_state(&self, id: i64) -> Result<Option<(String, i64, Option<String>)>, sqlx::Error> {
        let row = sqlx::query("SELECT state, attempts, last_error FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
    }

    /// The repositories (with their installation) the App has planned or deployed for: where
    /// the reconciliation sweep looks for pull requests without a plan.
    pub async fn known_repositories(&self) -> Result<Vec<(u64, RepoRef)>, sqlx::Error> {
        let sql = format!(
            "SELECT DISTINCT {}, {}, {} FROM jobs WHERE kind IN ($1, $2)",
            self.backend.payload_field("installation_id"),
            self.backend.payload_field("repo.owner"),
            self.backend.payload_field("repo.name")
        );
        let rows: Vec<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(&sql)
            .bind(super::PLAN_JOB)
            .bind(super::PUSH_JOB)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(installation, owner, name)| {
                Some((
                    installation?.parse().ok()?,
                    RepoRef {
                        owner: owner?,
                        name: name?,
                    },
                ))
            })
            .collect())
    }

    /// Whether a plan job of `serial_key` (a pull request) at `head_sha` was ever queued here.
    pub async fn has_plan_job(&self, serial_key: &str, head_sha: &str) -> Result<bool, sqlx::Error> {
        let sql = format!(
            "SELECT 1 FROM jobs WHERE serial_key = $1 AND kind = $2 AND {} = $3",
            self.backend.payload_field("head_sha")
        );
        let found: Option<i64> = sqlx::query_scalar(&sql)
            .bind(serial_key)
            .bind(super::PLAN_JOB)
            .bind(head_sha)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// Whether the delivery `id` (X-GitHub-Delivery) was stored.
    pub async fn has_delivery(&self, id: &str) -> Result<bool, sqlx::Error> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM deliveries WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Inserts `job` for `delivery_id` (under `dedupe_key`, for a job queued by a job); `None` when
/// its identity or dedupe key was queued before.
async fn insert_job(
    backend: Backend,
    tx: &mut sqlx::AnyConnection,
    delivery_id: &str,
    job: &NewJob,
    dedupe_key: Option<&str>,
) -> Result<Option<i64>, sqlx::Error> {
    let now = now_ms();
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO jobs (delivery_id, kind, payload, identity, serial_key, dedupe_key, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(delivery_id)
    .bind(job.kind)
    .bind(&job.payload)
    .bind(job.identity.as_deref())
    .bind(job.serial_key.as_deref())
    .bind(dedupe_key)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else { return Ok(None) };
    // Older jobs of its serial key are superseded when a worker reaches them (`claim`). The
    // one SQLite writer also marks them here, in the delivery's transaction (no extra commit);
    // on PostgreSQL a delivery's transaction locks no row but its own, so replicas storing
    // deliveries of one pull request never wait on each other.
    if let (Some(key), Backend::Sqlite) = (&job.serial_key, backend) {
        sqlx::query(
            "UPDATE jobs SET state = 'superseded', last_error = $1, updated_at = $2 \
             WHERE serial_key = $3 AND state = 'queued' AND id < $4",
        )
        .bind(format!("superseded by job {id}"))
        .bind(now)
        .bind(key)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    // Replicas listening wake up when this transaction commits.
    backend.announce_jobs(&mut *tx).await?;
    Ok(Some(id))
}

impl Backend {
    /// A text field of a job's JSON payload, where a job keeps it (`request.PATH`, else `PATH`).
    fn payload_field(self, path: &str) -> String {
        match self {
            Backend::Sqlite => {
                format!(
                    "CAST(COALESCE(json_extract(payload, '$.request.{path}'), json_extract(payload, '$.{path}')) AS TEXT)"
                )
            }
            Backend::Postgres => {
                let keys = path.replace('.', ",");
                format!("COALESCE(payload::jsonb #>> '{{request,{keys}}}', payload::jsonb #>> '{{{keys}}}')")
            }
        }
    }
}

/// This process among the replicas: host, process id and a random part (a restarted process
/// with a reused id is still another owner).
fn replica_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let random = crate::clock::random_hex();
    format!("{}:{}:{}", host.trim(), std::process::id(), &random[..8])
}

pub mod deploy_pages;
mod deploys;
mod group_commit;
mod lifecycle;
pub mod objects;
mod queue;
mod schema;
pub use deploys::{DeployFacts, DeployRecord, Fence, FencedError, LockOutcome};
pub use lifecycle::Interrupted;
pub use queue::{Expired, MAX_ABANDONED, Renewal};

#[cfg(test)]
mod tests;
