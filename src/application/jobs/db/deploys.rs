//! Deploy bookkeeping in the job database: one deploy per fleet+stage at a time (a lock row
//! owned by a job), jobs queued by other jobs, waiting without spending an attempt, and the
//! last SHA each fleet+stage got.

use std::time::Duration;

use sqlx::Row;

use super::{NewJob, Store, insert_job, now_ms};

/// Whether a job got a fleet+stage's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    Acquired,
    /// Held by another job; its holder text (`#12 abc1234 by @alice`).
    HeldBy {
        job_id: i64,
        holder: String,
    },
}

impl Store {
    /// Queues `job` on behalf of `delivery_id` (a job spawned by another job) under `key`,
    /// unique per delivery; `None` when that key was queued already (a retried job).
    pub async fn enqueue(&self, delivery_id: &str, key: &str, job: &NewJob) -> Result<Option<i64>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let id = insert_job(&mut tx, delivery_id, job, Some(key)).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Whether `key` was queued for `delivery_id` already.
    pub async fn is_queued(&self, delivery_id: &str, key: &str) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE delivery_id = ? AND dedupe_key = ?")
            .bind(delivery_id)
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Takes the lock of `target` for job `job_id` (again, if it already holds it).
    pub async fn try_lock(&self, target: &str, job_id: i64, holder: &str) -> Result<LockOutcome, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT OR IGNORE INTO deploy_locks (target, job_id, holder, acquired_at) VALUES (?, ?, ?, ?)")
            .bind(target)
            .bind(job_id)
            .bind(holder)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT job_id, holder FROM deploy_locks WHERE target = ?")
            .bind(target)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        let owner: i64 = row.get(0);
        Ok(if owner == job_id {
            LockOutcome::Acquired
        } else {
            LockOutcome::HeldBy {
                job_id: owner,
                holder: row.get(1),
            }
        })
    }

    /// Releases `target` if `job_id` holds it.
    pub async fn unlock(&self, target: &str, job_id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM deploy_locks WHERE target = ? AND job_id = ?")
            .bind(target)
            .bind(job_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Puts a running job back in the queue for `wait` without counting this start as an attempt.
    pub async fn defer(&self, id: i64, wait: Duration, why: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0), run_after = ?, last_error = ?, \
             updated_at = ? WHERE id = ?",
        )
        .bind(now_ms() + wait.as_millis() as i64)
        .bind(why)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records how a deploy of `sha` to `target` ended (`success` or `failure`).
    pub async fn record_deploy(&self, target: &str, sha: &str, result: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO deploys (target, sha, result, finished_at) VALUES (?, ?, ?, ?)")
            .bind(target)
            .bind(sha)
            .bind(result)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The SHA of the last successful deploy of `target`.
    pub async fn last_deployed(&self, target: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT sha FROM deploys WHERE target = ? AND result = 'success' ORDER BY id DESC LIMIT 1")
            .bind(target)
            .fetch_optional(&self.pool)
            .await
    }
}

/// One recorded deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRecord {
    pub target: String,
    pub sha: String,
    pub result: String,
}

impl DeployRecord {
    /// The fleet and stage of the target (`owner/name:fleet:stage`).
    pub fn fleet_and_stage(&self) -> (&str, &str) {
        let mut parts = self.target.rsplitn(3, ':');
        let stage = parts.next().unwrap_or_default();
        (parts.next().unwrap_or_default(), stage)
    }
}

impl Store {
    /// Every recorded deploy, oldest first.
    pub async fn deploys(&self) -> Result<Vec<DeployRecord>, sqlx::Error> {
        let rows = sqlx::query("SELECT target, sha, result FROM deploys ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| DeployRecord {
                target: r.get(0),
                sha: r.get(1),
                result: r.get(2),
            })
            .collect())
    }
}
