//! What the deploy pages read: a deploy job's log lines (written by the job as it runs), the
//! job itself, and the overview — the queue, the deploy locks and the recent deploys.

use sqlx::Row;

use super::{Store, now_ms};

/// A job as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageJob {
    pub id: i64,
    pub kind: String,
    /// `queued`, `running`, `done`, `failed`, `superseded`, `quarantined`.
    pub state: String,
    pub payload: String,
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

impl PageJob {
    /// Whether it will not change any more.
    pub fn ended(&self) -> bool {
        !matches!(self.state.as_str(), "queued" | "running")
    }
}

/// A held deploy lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLock {
    pub target: String,
    pub job_id: i64,
    pub holder: String,
    pub acquired_at: i64,
}

/// A finished deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedDeploy {
    pub target: String,
    /// What ran: the commit, or `rollback:<to>`.
    pub sha: String,
    pub result: String,
    pub finished_at: i64,
    /// Recorded since schema 10 (none for older rows).
    pub job_id: Option<i64>,
    pub requested_by: Option<String>,
    pub duration_ms: Option<i64>,
    /// JSON: what each server recorded (schema 11).
    pub images: Option<String>,
}

const PAGE_JOB_COLUMNS: &str = "id, kind, state, payload, last_error, created_at, updated_at";

fn page_job(r: &sqlx::any::AnyRow) -> PageJob {
    PageJob {
        id: r.get(0),
        kind: r.get(1),
        state: r.get(2),
        payload: r.get(3),
        last_error: r.get(4),
        created_at: r.get(5),
        updated_at: r.get(6),
    }
}

impl Store {
    /// The next free line number of `job_id`'s log (a job run again goes on after its lines).
    pub async fn next_log_seq(&self, job_id: i64) -> Result<i64, sqlx::Error> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM deploy_log WHERE job_id = $1")
            .bind(job_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(max.map_or(0, |m| m + 1))
    }

    /// Stores `lines` (numbered from `first_seq`) of `job_id`'s log in one statement; a line
    /// stored already is kept as it was.
    pub async fn append_log(&self, job_id: i64, first_seq: i64, lines: &[String]) -> Result<(), sqlx::Error> {
        if lines.is_empty() {
            return Ok(());
        }
        let rows: Vec<String> = (0..lines.len())
            .map(|n| format!("(${}, ${}, ${}, ${})", 4 * n + 1, 4 * n + 2, 4 * n + 3, 4 * n + 4))
            .collect();
        let sql = format!(
            "INSERT INTO deploy_log (job_id, seq, at, line) VALUES {} ON CONFLICT (job_id, seq) DO NOTHING",
            rows.join(", ")
        );
        let at = now_ms();
        let mut query = sqlx::query(&sql);
        for (n, line) in lines.iter().enumerate() {
            query = query.bind(job_id).bind(first_seq + n as i64).bind(at).bind(line);
        }
        query.execute(&self.pool).await.map(drop)
    }

    /// Forgets log lines stored before `before` (unix milliseconds).
    pub async fn forget_log_before(&self, before: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM deploy_log WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// `job_id`'s log lines after line `after` (all with -1), at most `limit`, in order.
    pub async fn log_after(&self, job_id: i64, after: i64, limit: i64) -> Result<Vec<(i64, String)>, sqlx::Error> {
        let rows = sqlx::query("SELECT seq, line FROM deploy_log WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
            .bind(job_id)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn page_job(&self, id: i64) -> Result<Option<PageJob>, sqlx::Error> {
        let row = sqlx::query(&format!("SELECT {PAGE_JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(page_job))
    }

    /// Deploy jobs queued or running, oldest first (at most 200).
    pub async fn active_deploys(&self, kind: &str) -> Result<Vec<PageJob>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {PAGE_JOB_COLUMNS} FROM jobs WHERE kind = $1 AND state IN ('queued', 'running') ORDER BY id LIMIT 200"
        ))
        .bind(kind)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(page_job).collect())
    }

    pub async fn held_locks(&self) -> Result<Vec<HeldLock>, sqlx::Error> {
        let rows = sqlx::query("SELECT target, job_id, holder, acquired_at FROM deploy_locks ORDER BY target")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| HeldLock {
                target: r.get(0),
                job_id: r.get(1),
                holder: r.get(2),
                acquired_at: r.get(3),
            })
            .collect())
    }

    /// The last `limit` finished deploys, newest first.
    pub async fn recent_deploys(&self, limit: i64) -> Result<Vec<FinishedDeploy>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT target, sha, result, finished_at, job_id, requested_by, duration_ms, images FROM deploys \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| FinishedDeploy {
                target: r.get(0),
                sha: r.get(1),
                result: r.get(2),
                finished_at: r.get(3),
                job_id: r.get(4),
                requested_by: r.get(5),
                duration_ms: r.get(6),
                images: r.get(7),
            })
            .collect())
    }
}
