//! Jobs across a stop of the server. A graceful stop (SIGTERM) marks the running jobs
//! `stop_requested` and, once they finished or the grace ran out, puts the unfinished ones back
//! in the queue. A job still `running` at the next start without that mark was running when the
//! process died: it may be what killed it (an input that aborts the process would kill it at
//! every restart), so it is `quarantined` and never run again, and whatever deploy lock it
//! held is released. That holds for the one process of a SQLite database; on PostgreSQL other
//! replicas may be running the jobs found running, and jobs of a dead replica come back when
//! their lease runs out ([`Store::sweep_expired`]).

use super::{Backend, JOB_COLUMNS, QueuedJob, REFUND_ATTEMPT, Store, job_from_row, now_ms};

/// Puts running jobs back in the queue after a graceful stop, not counting the cut-off start as
/// an attempt (bind: now).
fn requeue_running_sql() -> String {
    format!(
        "UPDATE jobs SET state = 'queued', {REFUND_ATTEMPT}, stop_requested = 0, lease_owner = NULL, \
         last_error = 'interrupted by a graceful stop', updated_at = $1 WHERE state = 'running'"
    )
}

/// What start-up found of the jobs the last process left running.
#[derive(Debug, Default)]
pub struct Interrupted {
    /// Cut off by a graceful stop: queued again.
    pub requeued: u64,
    /// Running when the process died: quarantined, to be reported to their pull requests.
    pub quarantined: Vec<QueuedJob>,
}

impl Store {
    /// Sorts out the jobs a previous process left running (call once, before any worker runs).
    pub async fn recover_interrupted(&self) -> Result<Interrupted, sqlx::Error> {
        if self.backend == Backend::Postgres {
            return Ok(Interrupted::default());
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let requeued = sqlx::query(&format!("{} AND stop_requested = 1", requeue_running_sql()))
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let rows = sqlx::query(&format!(
            "UPDATE jobs SET state = 'quarantined', \
             last_error = 'the server died while running it: quarantined, not retried', updated_at = $1 \
             WHERE state = 'running' RETURNING {JOB_COLUMNS}"
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let quarantined: Vec<QueuedJob> = rows.iter().map(job_from_row).collect();
        for job in &quarantined {
            sqlx::query("DELETE FROM deploy_locks WHERE job_id = $1")
                .bind(job.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Interrupted { requeued, quarantined })
    }

    /// A graceful stop began: the jobs this replica runs now are not crashes if the process dies before
    /// they end. Returns how many.
    pub async fn mark_stopping(&self) -> Result<u64, sqlx::Error> {
        let n = sqlx::query("UPDATE jobs SET stop_requested = 1 WHERE state = 'running' AND lease_owner = $1")
            .bind(&*self.replica)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n)
    }

    /// After a graceful stop's grace: the jobs this replica still runs go back to the queue (the
    /// interrupted start is not counted as an attempt). Returns how many.
    pub async fn requeue_running(&self) -> Result<u64, sqlx::Error> {
        let n = sqlx::query(&format!("{} AND lease_owner = $2", requeue_running_sql()))
            .bind(now_ms())
            .bind(&*self.replica)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n)
    }

    /// Remembers the GitHub deployment a deploy job created (failed if the job is quarantined).
    pub async fn set_deployment(&self, id: i64, deployment_id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE jobs SET deployment_id = $1 WHERE id = $2")
            .bind(deployment_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
