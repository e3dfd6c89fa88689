//! Taking jobs from the queue and holding them: a claim marks the oldest due job running under
//! a lease in this replica's name (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so replicas claiming at
//! once take different jobs); the worker renews the lease while the job runs; every write that
//! ends a job names the claim it holds, so a worker whose lease ran out (its replica paused,
//! its network lost) and whose job another replica took again changes nothing. Leases that ran
//! out are swept back into the queue; a job whose leases ran out [`MAX_ABANDONED`] times (it
//! may be what kills its replicas) is quarantined instead.

use std::time::Duration;

use sqlx::Row;

use super::{Backend, JOB_COLUMNS, MAX_ATTEMPTS, QueuedJob, REFUND_ATTEMPT, Store, job_from_row, now_ms};

/// How many times a job's lease may run out before it is quarantined rather than run again.
pub const MAX_ABANDONED: i64 = MAX_ATTEMPTS;

/// What renewing a job's lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Still held, for another lease.
    Held,
    /// Taken by another claim (the lease ran out): this worker must stop writing for it.
    Lost,
}

/// What a sweep of expired leases did.
#[derive(Debug, Default)]
pub struct Expired {
    /// Queued again for any replica.
    pub requeued: u64,
    /// Abandoned too often: never run again, to be reported.
    pub quarantined: Vec<QueuedJob>,
}

impl Store {
    fn lease_end(&self, now: i64) -> i64 {
        now + i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// Takes the oldest due queued job, marking it running under this replica's lease. A job
    /// whose serial key has a newer job (a plan of a later head) is dropped as superseded and
    /// the next one taken; one whose serial key has a job running waits. Each step locks one
    /// row, so replicas claiming at once never wait on each other's sets of rows.
    pub async fn claim(&self) -> Result<Option<QueuedJob>, sqlx::Error> {
        let skip_locked = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let claim = format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, claims = claims + 1, stop_requested = 0, \
                lease_owner = $2, lease_until = $3, updated_at = $1 \
             WHERE id = (SELECT id FROM jobs AS waiting WHERE state = 'queued' AND run_after <= $1 \
                AND (serial_key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs AS busy \
                    WHERE busy.serial_key = waiting.serial_key AND busy.state = 'running')) \
                ORDER BY id LIMIT 1{skip_locked}) \
             RETURNING {JOB_COLUMNS}, CASE WHEN EXISTS (SELECT 1 FROM jobs AS newer \
                WHERE newer.serial_key = jobs.serial_key AND newer.id > jobs.id) THEN 1 ELSE 0 END"
        );
        loop {
            let now = now_ms();
            let Some(row) = sqlx::query(&claim)
                .bind(now)
                .bind(&*self.replica)
                .bind(self.lease_end(now))
                .fetch_optional(&self.pool)
                .await?
            else {
                return Ok(None);
            };
            let job = job_from_row(&row);
            // The column after JOB_COLUMNS: whether a newer job of the same key waits.
            if row.try_get::<i64, _>(JOB_COLUMNS.split(',').count())? == 0 {
                return Ok(Some(job));
            }
            sqlx::query(
                "UPDATE jobs SET state = 'superseded', last_error = 'a newer job of the same key was queued', \
                 lease_owner = NULL, updated_at = $1 WHERE id = $2 AND claims = $3",
            )
            .bind(now)
            .bind(job.id)
            .bind(job.claim)
            .execute(&self.pool)
            .await?;
        }
    }

    /// Extends `job`'s lease by another lease from now, if this claim still holds it.
    pub async fn renew(&self, job: &QueuedJob) -> Result<Renewal, sqlx::Error> {
        let now = now_ms();
        let n = sqlx::query(
            "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND claims = $3 AND state = 'running' AND lease_until >= $4",
        )
        .bind(self.lease_end(now))
        .bind(job.id)
        .bind(job.claim)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(if n == 1 { Renewal::Held } else { Renewal::Lost })
    }

    /// Running jobs whose lease ran out (their replica died or stalls): queued again for any
    /// replica, or quarantined when that happened [`MAX_ABANDONED`] times.
    pub async fn sweep_expired(&self) -> Result<Expired, sqlx::Error> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(&format!(
            "UPDATE jobs SET state = 'quarantined', abandoned = abandoned + 1, \
             last_error = 'its lease ran out under {MAX_ABANDONED} replicas: quarantined, not retried', updated_at = $1 \
             WHERE state = 'running' AND lease_until < $1 AND abandoned + 1 >= $2 RETURNING {JOB_COLUMNS}"
        ))
        .bind(now)
        .bind(MAX_ABANDONED)
        .fetch_all(&mut *tx)
        .await?;
        let requeued = sqlx::query(&format!(
            "UPDATE jobs SET state = 'queued', abandoned = abandoned + 1, run_after = 0, lease_owner = NULL, \
             {REFUND_ATTEMPT}, last_error = 'its replica stopped renewing its lease: queued again', updated_at = $1 \
             WHERE state = 'running' AND lease_until < $1"
        ))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if requeued > 0 {
            self.backend.announce_jobs(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Expired {
            requeued,
            quarantined: rows.iter().map(job_from_row).collect(),
        })
    }

    /// Remembers the check run a job created, so a re-run completes that one.
    pub async fn set_check_run(&self, id: i64, check_run_id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE jobs SET check_run_id = $1 WHERE id = $2")
            .bind(check_run_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Remembers the build run a deploy job dispatched, so a re-run follows that one.
    pub async fn set_build_run(&self, id: i64, run_id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE jobs SET build_run_id = $1 WHERE id = $2")
            .bind(run_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends `job` as done; `false` when its claim no longer holds it (nothing was written).
    pub async fn finish(&self, job: &QueuedJob) -> Result<bool, sqlx::Error> {
        self.end(job, "done", 0, None, false).await
    }

    /// Queues `job` again after `delay`, or marks it failed for good; `false` when its claim
    /// no longer holds it.
    pub async fn fail(&self, job: &QueuedJob, error: &str, retry_after: Option<Duration>) -> Result<bool, sqlx::Error> {
        match retry_after {
            Some(d) => self.end(job, "queued", millis(d), Some(error), false).await,
            None => self.end(job, "failed", 0, Some(error), false).await,
        }
    }

    /// Puts `job` back in the queue for `wait` without counting this start as an attempt;
    /// `false` when its claim no longer holds it.
    pub async fn defer(&self, job: &QueuedJob, wait: Duration, why: &str) -> Result<bool, sqlx::Error> {
        self.end(job, "queued", millis(wait), Some(why), true).await
    }

    /// The one write that ends a claim: `state`, due again in `wait_ms`, `error` as its last
    /// error, its attempt given back when `refund`.
    async fn end(
        &self,
        job: &QueuedJob,
        state: &str,
        wait_ms: i64,
        error: Option<&str>,
        refund: bool,
    ) -> Result<bool, sqlx::Error> {
        let now = now_ms();
        let attempts = if refund { REFUND_ATTEMPT } else { "attempts = attempts" };
        let n = sqlx::query(&format!(
            "UPDATE jobs SET state = $1, run_after = $2, last_error = $3, {attempts}, \
             lease_owner = NULL, updated_at = $4 WHERE id = $5 AND claims = $6 AND state = 'running'"
        ))
        .bind(state)
        .bind(if wait_ms > 0 { now + wait_ms } else { 0 })
        .bind(error)
        .bind(now)
        .bind(job.id)
        .bind(job.claim)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 1 && state == "queued" {
            self.backend.announce_jobs(&self.pool).await?;
        }
        Ok(n == 1)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

impl Store {
    /// PostgreSQL: wakes `wake`'s waiters whenever any replica queues a job (LISTEN
    /// fleet_jobs), reconnecting when the connection drops; workers still poll as a fallback.
    /// Nothing on SQLite (one process: it wakes its own workers).
    pub fn listen_for_jobs(&self, wake: std::sync::Arc<tokio::sync::Notify>) -> Option<tokio::task::JoinHandle<()>> {
        if self.backend != Backend::Postgres {
            return None;
        }
        let url = self.url.clone();
        Some(tokio::spawn(async move {
            loop {
                let listened: Result<std::convert::Infallible, sqlx::Error> = async {
                    let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
                    listener.listen(JOBS_CHANNEL).await?;
                    loop {
                        listener.recv().await?;
                        // One job, one worker: the others stay asleep (a burst of
                        // notifications leaves one stored wake-up, not a stampede).
                        wake.notify_one();
                    }
                }
                .await;
                let Err(e) = listened;
                tracing::warn!("listening for new jobs: {e}; polling until reconnected");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }))
    }
}

/// The channel replicas announce queued jobs on.
const JOBS_CHANNEL: &str = "fleet_jobs";

impl Backend {
    /// PostgreSQL: tells every listening replica that jobs were queued (at the commit of the
    /// transaction `executor` is in, if any). Nothing on SQLite.
    pub(super) async fn announce_jobs<'c, E>(self, executor: E) -> Result<(), sqlx::Error>
    where
        E: sqlx::Executor<'c, Database = sqlx::Any>,
    {
        if self == Backend::Postgres {
            sqlx::query(&format!("NOTIFY {JOBS_CHANNEL}")).execute(executor).await?;
        }
        Ok(())
    }
}
