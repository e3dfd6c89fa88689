//! The job database's schema: versioned migrations, applied in order at start-up, each once and
//! in its own transaction, written once for both backends. PostgreSQL gets the same statements
//! with its types ([`Backend::ddl`]), and replicas starting together migrate one at a time
//! (an advisory lock held by the migrating transaction).

use super::{Backend, Store, now_ms};

/// Schema versions, applied in order at startup (each once, in a transaction).
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
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
    (
        8,
        // Leases (replicas): a running job is held by `lease_owner` until `lease_until`, renewed
        // while it runs; `claims` counts its claims and fences a holder whose lease ran out
        // (its writes name the claim they hold); `abandoned` counts leases that ran out under
        // it. A deploy lock belongs to one claim of a job and carries a fencing token that only
        // grows per target (`lock_tokens`).
        "ALTER TABLE jobs ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
    ALTER TABLE jobs ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN abandoned INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_leases ON jobs(state, lease_until);
    ALTER TABLE deploy_locks ADD COLUMN job_claim INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE deploy_locks ADD COLUMN token INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE lock_tokens (
        target TEXT PRIMARY KEY,
        token INTEGER NOT NULL
    );",
    ),
    (
        9,
        // Each deploy job's steps and log lines, redacted, for its page (webhook/pages.rs);
        // `seq` orders them within the job, across its claims.
        "CREATE TABLE deploy_log (
        job_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        line TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
    );",
    ),
    (
        10,
        // The App's deploy history: which job, who asked, how long it took, and for a
        // rollback what it went back to (`sha` is then `rollback:<to>`).
        "ALTER TABLE deploys ADD COLUMN job_id INTEGER;
    ALTER TABLE deploys ADD COLUMN requested_by TEXT;
    ALTER TABLE deploys ADD COLUMN duration_ms INTEGER;
    ALTER TABLE deploys ADD COLUMN commit_sha TEXT;",
    ),
    (
        11,
        // What each server recorded for the deploy: `[{"server", "services": [{service, image,
        // image_id, repo_digest}]}]` (the images a rollback runs).
        "ALTER TABLE deploys ADD COLUMN images TEXT;",
    ),
    (
        12,
        // Old deploy log lines are forgotten by age.
        "CREATE INDEX deploy_log_at ON deploy_log(at);",
    ),
    (
        13,
        // The build run on GitHub's runners a deploy job dispatched: a later claim of the job
        // (its replica died while it waited) follows that run instead of starting another.
        "ALTER TABLE jobs ADD COLUMN build_run_id INTEGER;",
    ),
];

/// The advisory lock key replicas take while migrating (PostgreSQL).
const MIGRATION_LOCK: i64 = 0x0066_6c65_6574_6462;

impl Backend {
    /// `sql` (written for SQLite) in this backend's types: identity columns, 64-bit integers,
    /// byte strings.
    pub(super) fn ddl(self, sql: &str) -> String {
        match self {
            Backend::Sqlite => sql.to_owned(),
            Backend::Postgres => sql
                .replace(
                    "INTEGER PRIMARY KEY AUTOINCREMENT",
                    "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                )
                .replace("INTEGER", "BIGINT")
                .replace("BLOB", "BYTEA"),
        }
    }
}

impl Store {
    /// Applies the migrations this database lacks.
    pub(super) async fn migrate(&self) -> Result<(), sqlx::Error> {
        for (version, sql) in std::iter::once((0, "")).chain(MIGRATIONS.iter().copied()) {
            let mut tx = self.pool.begin().await?;
            if self.backend == Backend::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(MIGRATION_LOCK)
                    .execute(&mut *tx)
                    .await?;
            }
            if version == 0 {
                let create =
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER)";
                sqlx::query(&self.backend.ddl(create)).execute(&mut *tx).await?;
                tx.commit().await?;
                continue;
            }
            let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_none() {
                for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                    sqlx::query(&self.backend.ddl(statement)).execute(&mut *tx).await?;
                }
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(version)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// The schema version the database is at, and the one this build migrates to.
    pub async fn schema_version(&self) -> Result<(i64, i64), sqlx::Error> {
        let have: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await?;
        let want = MIGRATIONS.last().map_or(0, |(v, _)| *v);
        Ok((have.unwrap_or(0), want))
    }
}
