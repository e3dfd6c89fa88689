//! Deploy bookkeeping in the job database: one deploy per fleet+stage at a time across every
//! replica (a lock row owned by one claim of a job, with a fencing token that only grows per
//! target), jobs queued by other jobs, waiting without spending an attempt, and the last SHA
//! each fleet+stage got.
//!
//! A lock is held only while its job's claim holds the job (running, lease not run out): a
//! replica that dies or stalls loses its locks with its leases, and the next deploy of that
//! target takes the lock with a higher token. Whatever a holder writes at the end — the deploy's
//! record, the lock's release — names its token and does nothing once the token is not the
//! lock's any more ([`Fence`]).

use sqlx::Row;

use super::{NewJob, QueuedJob, Store, insert_job, now_ms};

/// Whether a job got a fleet+stage's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    /// Held by this claim under `fence`.
    Acquired(Fence),
    /// Held by another job; its holder text (`#12 abc1234 by @alice`).
    HeldBy { job_id: i64, holder: String },
}

/// The lock of a target as one holder got it: its fencing token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub target: String,
    pub token: i64,
}

/// A holder's write refused: its lock was taken by a later holder (its lease ran out).
#[derive(Debug, thiserror::Error)]
pub enum FencedError {
    #[error("the deploy lock of {target} was taken over (token {token} is stale): this replica's lease ran out")]
    Stale { target: String, token: i64 },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A lock whose holder is still running it under a live lease (bind: now).
const LOCK_IS_LIVE: &str = "EXISTS (SELECT 1 FROM jobs j WHERE j.id = deploy_locks.job_id \
     AND j.claims = deploy_locks.job_claim AND j.state = 'running' AND j.lease_until >= $1)";

impl Store {
    /// Queues `job` on behalf of `delivery_id` (a job spawned by another job) under `key`,
    /// unique per delivery; `None` when that key was queued already (a retried job).
    pub async fn enqueue(&self, delivery_id: &str, key: &str, job: &NewJob) -> Result<Option<i64>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let id = insert_job(self.backend, &mut tx, delivery_id, job, Some(key)).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Whether `key` was queued for `delivery_id` already.
    pub async fn is_queued(&self, delivery_id: &str, key: &str) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE delivery_id = $1 AND dedupe_key = $2")
            .bind(delivery_id)
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Takes the lock of `target` for this claim of `job` (again, if this claim holds it); a
    /// lock whose holder lost its claim is taken over with the next token.
    pub async fn try_lock(&self, target: &str, job: &QueuedJob, holder: &str) -> Result<LockOutcome, sqlx::Error> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        // The token first: its row serialises takers of one target across replicas.
        let token: i64 = sqlx::query_scalar(
            "INSERT INTO lock_tokens (target, token) VALUES ($1, 1) \
             ON CONFLICT (target) DO UPDATE SET token = lock_tokens.token + 1 RETURNING token",
        )
        .bind(target)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "DELETE FROM deploy_locks WHERE target = $2 AND NOT {LOCK_IS_LIVE}"
        ))
        .bind(now)
        .bind(target)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO deploy_locks (target, job_id, job_claim, holder, acquired_at, token) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(target)
        .bind(job.id)
        .bind(job.claim)
        .bind(holder)
        .bind(now)
        .bind(token)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT job_id, job_claim, holder, token FROM deploy_locks WHERE target = $1")
            .bind(target)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        let (owner, claim): (i64, i64) = (row.get(0), row.get(1));
        Ok(if (owner, claim) == (job.id, job.claim) {
            LockOutcome::Acquired(Fence {
                target: target.to_owned(),
                token: row.get(3),
            })
        } else {
            LockOutcome::HeldBy {
                job_id: owner,
                holder: row.get(2),
            }
        })
    }

    /// Whether `fence` still holds its lock (its holder's lease has not run out).
    pub async fn holds(&self, fence: &Fence) -> Result<bool, sqlx::Error> {
        let found: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT 1 FROM deploy_locks WHERE target = $2 AND token = $3 AND {LOCK_IS_LIVE}"
        ))
        .bind(now_ms())
        .bind(&fence.target)
        .bind(fence.token)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Releases the lock `fence` holds (nothing when a later holder has it).
    pub async fn unlock(&self, fence: &Fence) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM deploy_locks WHERE target = $1 AND token = $2")
            .bind(&fence.target)
            .bind(fence.token)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records how a deploy of `sha` under `fence` ended (`success` or `failure`); refused
    /// when the lock is no longer the holder's.
    pub async fn record_deploy(&self, fence: &Fence, sha: &str, result: &str) -> Result<(), FencedError> {
        let facts = DeployFacts {
            ran: sha,
            commit: sha,
            result,
            job_id: None,
            requested_by: "",
            duration_ms: 0,
            images: None,
        };
        self.record_deploy_of(fence, &facts).await
    }

    /// [`Store::record_deploy`] with who asked, which job ran it and how long it took.
    pub async fn record_deploy_of(&self, fence: &Fence, facts: &DeployFacts<'_>) -> Result<(), FencedError> {
        let now = now_ms();
        let n = sqlx::query(&format!(
            "INSERT INTO deploys (target, sha, result, finished_at, job_id, requested_by, duration_ms, commit_sha, images) \
             SELECT $2, $4, $5, $1, $6, $7, $8, $9, $10 \
             WHERE EXISTS (SELECT 1 FROM deploy_locks WHERE target = $2 AND token = $3 AND {LOCK_IS_LIVE})"
        ))
        .bind(now)
        .bind(&fence.target)
        .bind(fence.token)
        .bind(facts.ran)
        .bind(facts.result)
        .bind(facts.job_id)
        .bind(facts.requested_by)
        .bind(facts.duration_ms)
        .bind(facts.commit)
        .bind(facts.images)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(FencedError::Stale {
                target: fence.target.clone(),
                token: fence.token,
            });
        }
        Ok(())
    }

    /// The SHA of the last successful deploy of `target`.
    pub async fn last_deployed(&self, target: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT sha FROM deploys WHERE target = $1 AND result = 'success' ORDER BY id DESC LIMIT 1")
            .bind(target)
            .fetch_optional(&self.pool)
            .await
    }
}

/// What the App records of a finished deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployFacts<'a> {
    /// What runs now: the commit, or `rollback:<to>` (a later `/deploy` of the commit runs).
    pub ran: &'a str,
    /// The commit the request named.
    pub commit: &'a str,
    pub result: &'a str,
    pub job_id: Option<i64>,
    pub requested_by: &'a str,
    pub duration_ms: i64,
    /// JSON: what each server recorded (see schema 11).
    pub images: Option<&'a str>,
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
