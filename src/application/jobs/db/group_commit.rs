//! Group commit of deliveries: with `synchronous=FULL` every commit waits for an fsync, so the
//! deliveries that arrive while one commit is on its way to the disk are written together in
//! the next transaction (each under its own savepoint, so a duplicate rolls back alone) and
//! all acknowledged after that one fsync. The promise stays "on disk before the 2xx" at a
//! fraction of an fsync per delivery.

use tokio::sync::{mpsc, oneshot};

use super::{Backend, NewJob, Store, Stored, insert_job, now_ms};

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

/// Starts the writer of `store`'s deliveries; it ends with the runtime.
pub(super) fn start(store: Store) -> mpsc::Sender<Pending> {
    let (tx, mut rx) = mpsc::channel::<Pending>(4 * MAX_BATCH);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let pending = std::mem::take(&mut batch);
            match write(&store, &pending).await {
                Ok(results) => {
                    for (p, result) in pending.into_iter().zip(results) {
                        let _ = p.done.send(result.map_err(|e| e.to_string()));
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

/// Writes `pending` in one transaction; each delivery's outcome, in order. A delivery whose
/// statements fail is rolled back to its savepoint and fails alone; the transaction's own
/// failure (begin, commit) fails them all. Deliveries are written in the order of their ids, so
/// replicas writing batches that share ids (GitHub redelivering to another replica) take their
/// locks in one order; a deadlock PostgreSQL still reports rolls back that delivery alone and
/// writes it again.
async fn write(store: &Store, pending: &[Pending]) -> Result<Vec<Result<Stored, sqlx::Error>>, sqlx::Error> {
    let now = now_ms();
    let mut order: Vec<usize> = (0..pending.len()).collect();
    order.sort_by(|&a, &b| pending[a].delivery_id.cmp(&pending[b].delivery_id));
    let mut tx = store.pool.begin().await?;
    let mut results: Vec<Option<Result<Stored, sqlx::Error>>> = (0..pending.len()).map(|_| None).collect();
    for i in order {
        let mut tries = 0;
        let result = loop {
            tries += 1;
            let mut one = sqlx::Connection::begin(&mut *tx).await?;
            match write_one(store.backend, &mut one, &pending[i], now).await {
                Ok(Stored::New { job }) => {
                    one.commit().await?;
                    break Ok(Stored::New { job });
                }
                Ok(Stored::Duplicate) => {
                    one.rollback().await?;
                    break Ok(Stored::Duplicate);
                }
                Err(e) => {
                    one.rollback().await?;
                    if tries < 3 && is_deadlock(&e) {
                        continue;
                    }
                    break Err(e);
                }
            }
        };
        results[i] = Some(result);
    }
    tx.commit().await?;
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or(Err(sqlx::Error::RowNotFound)))
        .collect())
}

/// PostgreSQL's deadlock (40P01) and serialization (40001) failures: the statement may succeed
/// when run again.
fn is_deadlock(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40P01" | "40001")))
}

/// One delivery and its job; `Duplicate` when the delivery or the job's identity is known.
async fn write_one(
    backend: Backend,
    one: &mut sqlx::AnyConnection,
    p: &Pending,
    now: i64,
) -> Result<Stored, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO deliveries (id, event, action, received_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(&p.delivery_id)
    .bind(&p.event)
    .bind(p.action.as_deref())
    .bind(now)
    .execute(&mut *one)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(Stored::Duplicate);
    }
    let Some(job) = &p.job else {
        return Ok(Stored::New { job: None });
    };
    // `None`: its identity was queued before (a replay under a new delivery id).
    Ok(match insert_job(backend, one, &p.delivery_id, job, None).await? {
        Some(id) => Stored::New { job: Some(id) },
        None => Stored::Duplicate,
    })
}
