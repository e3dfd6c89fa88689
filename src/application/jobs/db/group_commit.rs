//! Group commit of deliveries: with `synchronous=FULL` every commit waits for an fsync, so the
//! deliveries that arrive while one commit is on its way to the disk are written together in
//! the next transaction (each under its own savepoint, so a duplicate rolls back alone) and
//! all acknowledged after that one fsync. The promise stays "on disk before the 2xx" at a
//! fraction of an fsync per delivery.

use tokio::sync::{mpsc, oneshot};

use super::{NewJob, Store, Stored, insert_job, now_ms};

/// Deliveries written in one transaction at most.
const MAX_BATCH: usize = 256;

/// One delivery waiting for its commit.
pub(super) struct Pending {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub job: Option<NewJob>,
    pub done: oneshot::Sender<Result<Stored, String>>,
}

/// Starts the writer of `store`'s deliveries; it ends when every sender is gone.
pub(super) fn start(store: Store) -> mpsc::Sender<Pending> {
    let (tx, mut rx) = mpsc::channel::<Pending>(4 * MAX_BATCH);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let pending = std::mem::take(&mut batch);
            match write(&store, &pending).await {
                Ok(results) => {
                    for (p, result) in pending.into_iter().zip(results) {
                        let _ = p.done.send(Ok(result));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for p in pending {
                        let _ = p.done.send(Err(message.clone()));
                    }
                }
            }
        }
    });
    tx
}

/// Writes `pending` in one transaction; each delivery's outcome, in order.
async fn write(store: &Store, pending: &[Pending]) -> Result<Vec<Stored>, sqlx::Error> {
    let now = now_ms();
    let mut tx = store.pool.begin().await?;
    let mut results = Vec::with_capacity(pending.len());
    for p in pending {
        let mut one = sqlx::Connection::begin(&mut *tx).await?;
        let inserted =
            sqlx::query("INSERT OR IGNORE INTO deliveries (id, event, action, received_at) VALUES (?, ?, ?, ?)")
                .bind(&p.delivery_id)
                .bind(&p.event)
                .bind(p.action.as_deref())
                .bind(now)
                .execute(&mut *one)
                .await?
                .rows_affected();
        if inserted == 0 {
            one.rollback().await?;
            results.push(Stored::Duplicate);
            continue;
        }
        let mut job_id = None;
        if let Some(job) = &p.job {
            let Some(id) = insert_job(&mut one, &p.delivery_id, job, None).await? else {
                // Its identity was queued before: a replay under a new delivery id.
                one.rollback().await?;
                results.push(Stored::Duplicate);
                continue;
            };
            job_id = Some(id);
        }
        one.commit().await?;
        results.push(Stored::New { job: job_id });
    }
    tx.commit().await?;
    Ok(results)
}
