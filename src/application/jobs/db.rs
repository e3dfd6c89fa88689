//! The durable store: deliveries (keyed by X-GitHub-Delivery) and jobs, in SQLite.
//!
//! A delivery and its job are written in one transaction (`INSERT OR IGNORE` on the delivery
//! id, so a redelivery is acknowledged and not queued twice; a job with an identity — a
//! command's comment — is queued once whatever the delivery id, so a replayed body is too).
//! Jobs go queued → running → done | failed | superseded. A job found running at start-up
//! killed the process or died with it: it is `quarantined`, never run again (see
//! [`Store::recover_interrupted`]); jobs a graceful stop interrupts go back to the queue.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::event::RepoRef;

/// Schema versions, applied in order at startup (each once, in a transaction).
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        action TEXT,
        received_at INTEGER NOT NULL
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id TEXT NOT NULL REFERENCES deliveries(id),
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued',
        attempts INTEGER NOT NULL DEFAULT 0,
        run_after INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        check_run_id INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX jobs_queued ON jobs(state, run_after, id);",
    ),
    (
        2,
        "CREATE TABLE deploy_locks (
        target TEXT PRIMARY KEY,
        job_id INTEGER NOT NULL,
        holder TEXT NOT NULL,
        acquired_at INTEGER NOT NULL
    );
    CREATE TABLE deploys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        sha TEXT NOT NULL,
        result TEXT NOT NULL,
        finished_at INTEGER NOT NULL
    );
    CREATE INDEX deploys_target ON deploys(target, id);",
    ),
    (
        3,
        // Jobs queued by a job carry a key, unique per delivery: a retried job does not queue
        // the same work twice.
        "ALTER TABLE jobs ADD COLUMN dedupe_key TEXT;
    CREATE UNIQUE INDEX jobs_dedupe ON jobs(delivery_id, dedupe_key) WHERE dedupe_key IS NOT NULL;",
    ),
    (
        4,
        // What a job acts on, whatever delivery brought it (a command: its comment and a hash
        // of the comment's body): a signed body replayed under a new delivery id queues nothing.
        "ALTER TABLE jobs ADD COLUMN identity TEXT;
    CREATE UNIQUE INDEX jobs_identity ON jobs(identity) WHERE identity IS NOT NULL;",
    ),
    (
        5,
        // Jobs with one serial key (the plan jobs of one pull request) run one at a time, and a
        // newer one makes the older ones still queued `superseded`.
        "ALTER TABLE jobs ADD COLUMN serial_key TEXT;
    CREATE INDEX jobs_serial ON jobs(serial_key, state) WHERE serial_key IS NOT NULL;",
    ),
    (
        6,
        // stop_requested: the job was running when a graceful stop began (not a crash if the
        // process then dies); deployment_id: the GitHub deployment a deploy job created, to
        // fail it if the job is quarantined.
        "ALTER TABLE jobs ADD COLUMN stop_requested INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN deployment_id INTEGER;",
    ),
    (
        7,
        // What GitHub said that never changes (blobs, commit indexes), and each pull request's
        // plan comment (db/objects.rs).
        "CREATE TABLE objects (
        key TEXT PRIMARY KEY,
        bytes BLOB NOT NULL,
        size INTEGER NOT NULL,
        used_at INTEGER NOT NULL
    );
    CREATE INDEX objects_used ON objects(used_at);
    CREATE TABLE plan_comments (
        pull TEXT PRIMARY KEY,
        comment_id INTEGER NOT NULL,
        body_sha TEXT NOT NULL
    );",
    ),
];

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
}

/// The columns [`job_from_row`] reads, in its order.
const JOB_COLUMNS: &str = "id, kind, payload, attempts, check_run_id, delivery_id, last_error, deployment_id";

fn job_from_row(r: &sqlx::sqlite::SqliteRow) -> QueuedJob {
    QueuedJob {
        id: r.get(0),
        kind: r.get(1),
        payload: r.get(2),
        attempts: r.get(3),
        check_run_id: r.get(4),
        delivery_id: r.get(5),
        last_error: r.get(6),
        deployment_id: r.get(7),
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
    /// the newest runs: queuing one supersedes the older ones still queued.
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

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    /// Where deliveries go to be written together (started on first use).
    writer: std::sync::Arc<std::sync::OnceLock<tokio::sync::mpsc::Sender<group_commit::Pending>>>,
}

impl Store {
    /// Opens (creating if needed) the database at `url` (`sqlite:///path` or `sqlite::memory:`)
    /// and applies the migrations.
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + FULL: every commit is fsynced before it returns, so an acknowledged delivery
            // survives a power cut, not only a crash of the process (NORMAL's promise).
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let store = Store {
            pool,
            writer: std::sync::Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER)")
            .execute(&self.pool)
            .await?;
        for &(version, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await?;
            let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_none() {
                for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
                    .bind(version)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
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

    /// Takes the oldest due queued job, marking it running. A job whose serial key has a newer
    /// job (a plan of a later head, queued while it waited for a retry) is dropped as
    /// superseded; one whose serial key has a job running waits.
    pub async fn claim(&self) -> Result<Option<QueuedJob>, sqlx::Error> {
        let now = now_ms();
        sqlx::query(
            "UPDATE jobs SET state = 'superseded', last_error = 'a newer job of the same key was queued', \
             updated_at = ?1 WHERE state = 'queued' AND serial_key IS NOT NULL \
             AND EXISTS (SELECT 1 FROM jobs newer WHERE newer.serial_key = jobs.serial_key AND newer.id > jobs.id)",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(&format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, stop_requested = 0, updated_at = ?1 \
             WHERE id = (SELECT id FROM jobs AS waiting WHERE state = 'queued' AND run_after <= ?1 \
                AND (serial_key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs AS busy \
                    WHERE busy.serial_key = waiting.serial_key AND busy.state = 'running')) \
                ORDER BY id LIMIT 1) \
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(job_from_row))
    }

    /// Remembers the check run a job created, so a re-run completes that one.
    pub async fn set_check_run(&self, id: i64, check_run_id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE jobs SET check_run_id = ? WHERE id = ?")
            .bind(check_run_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn finish(&self, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE jobs SET state = 'done', last_error = NULL, updated_at = ? WHERE id = ?")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Queues the job again after `delay`, or marks it failed for good.
    pub async fn fail(&self, id: i64, error: &str, retry_after: Option<Duration>) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let (state, run_after) = match retry_after {
            Some(d) => ("queued", now + d.as_millis() as i64),
            None => ("failed", 0),
        };
        sqlx::query("UPDATE jobs SET state = ?, run_after = ?, last_error = ?, updated_at = ? WHERE id = ?")
            .bind(state)
            .bind(run_after)
            .bind(error)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
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
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = ?")
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
        let row = sqlx::query("SELECT state, attempts, last_error FROM jobs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
    }

    /// The repositories (with their installation) the App has planned or deployed for: where
    /// the reconciliation sweep looks for pull requests without a plan.
    pub async fn known_repositories(&self) -> Result<Vec<(u64, RepoRef)>, sqlx::Error> {
        let field = |path: &str| {
            format!("COALESCE(json_extract(payload, '$.request.{path}'), json_extract(payload, '$.{path}'))")
        };
        let sql = format!(
            "SELECT DISTINCT {}, {}, {} FROM jobs WHERE kind IN (?, ?)",
            field("installation_id"),
            field("repo.owner"),
            field("repo.name")
        );
        let rows: Vec<(Option<i64>, Option<String>, Option<String>)> = sqlx::query_as(&sql)
            .bind(super::PLAN_JOB)
            .bind(super::PUSH_JOB)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(installation, owner, name)| {
                Some((
                    u64::try_from(installation?).ok()?,
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
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM jobs WHERE serial_key = ? AND kind = ? \
             AND COALESCE(json_extract(payload, '$.request.head_sha'), json_extract(payload, '$.head_sha')) = ?",
        )
        .bind(serial_key)
        .bind(super::PLAN_JOB)
        .bind(head_sha)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Whether the delivery `id` (X-GitHub-Delivery) was stored.
    pub async fn has_delivery(&self, id: &str) -> Result<bool, sqlx::Error> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM deliveries WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// The schema version the database is at, and the one this build migrates to.
    pub async fn schema_version(&self) -> Result<(i64, i64), sqlx::Error> {
        let have: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await?;
        let want = MIGRATIONS.last().map_or(0, |(v, _)| *v);
        Ok((have.unwrap_or(0), want))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Inserts `job` for `delivery_id` (under `dedupe_key`, for a job queued by a job); `None` when
/// its identity or dedupe key was queued before. Older queued jobs of its serial key are
/// superseded.
async fn insert_job(
    tx: &mut sqlx::SqliteConnection,
    delivery_id: &str,
    job: &NewJob,
    dedupe_key: Option<&str>,
) -> Result<Option<i64>, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "INSERT OR IGNORE INTO jobs (delivery_id, kind, payload, identity, serial_key, dedupe_key, created_at, \
         updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(delivery_id)
    .bind(job.kind)
    .bind(&job.payload)
    .bind(job.identity.as_deref())
    .bind(job.serial_key.as_deref())
    .bind(dedupe_key)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let id = done.last_insert_rowid();
    if let Some(key) = &job.serial_key {
        sqlx::query(
            "UPDATE jobs SET state = 'superseded', last_error = ?, updated_at = ? \
             WHERE serial_key = ? AND state = 'queued' AND id < ?",
        )
        .bind(format!("superseded by job {id}"))
        .bind(now)
        .bind(key)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(Some(id))
}

mod deploys;
mod group_commit;
mod lifecycle;
pub mod objects;
pub use deploys::{DeployRecord, LockOutcome};
pub use lifecycle::Interrupted;

#[cfg(test)]
mod tests;
