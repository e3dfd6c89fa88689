//! The job store as several replicas see it, on both backends: claims that never collide,
//! leases that run out and come back, fencing tokens that refuse a holder whose lease ran out,
//! deliveries deduplicated across replicas, and (PostgreSQL) replicas woken by NOTIFY.

#[path = "support/databases.rs"]
#[macro_use]
mod databases;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use databases::{Backend, TestDatabase};
use fleetflow::application::jobs::db::{LockOutcome, MAX_ABANDONED, NewJob, Renewal, Store, Stored};

on_both_backends!(
    replicas_claim_every_job_once,
    a_lease_that_runs_out_is_claimed_again_and_fences_the_old_claim,
    a_deploy_lock_passes_on_with_a_higher_token_and_refuses_the_stale_holder,
    a_job_abandoned_too_often_is_quarantined,
    a_delivery_sent_to_two_replicas_is_stored_once,
);

/// Two replicas (two stores on one database) and the directory that keeps it.
async fn replicas(backend: Backend, lease: Duration) -> (tempfile::TempDir, TestDatabase, Store, Store) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(backend, dir.path()).await;
    let a = Store::open(&db.url).await.unwrap().with_lease(lease);
    let b = Store::open(&db.url).await.unwrap().with_lease(lease);
    assert_ne!(a.replica(), b.replica());
    (dir, db, a, b)
}

async fn queue(store: &Store, delivery: &str, job: &NewJob) -> i64 {
    match store.store_delivery(delivery, "test", None, Some(job)).await.unwrap() {
        Stored::New { job: Some(id) } => id,
        other => panic!("{delivery} not queued: {other:?}"),
    }
}

async fn replicas_claim_every_job_once(backend: Backend) {
    let (_dir, _db, a, b) = replicas(backend, Duration::from_secs(30)).await;
    for n in 0..120 {
        queue(&a, &format!("d{n}"), &NewJob::new("plan", format!("{n}"))).await;
    }
    // Four claimers on each replica, claiming as fast as they can.
    let mut tasks = Vec::new();
    for store in [
        a.clone(),
        a.clone(),
        a.clone(),
        a.clone(),
        b.clone(),
        b.clone(),
        b.clone(),
        b.clone(),
    ] {
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) = store.claim().await.unwrap() {
                mine.push(job.id);
                assert!(store.finish(&job).await.unwrap());
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    let mut per_replica = Vec::new();
    for t in tasks {
        let mine = t.await.unwrap();
        per_replica.push(mine.len());
        for id in mine {
            assert!(seen.insert(id), "job {id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 120, "every job claimed: {per_replica:?}");
    assert_eq!(a.job_counts().await.unwrap().done, 120);
}

async fn a_lease_that_runs_out_is_claimed_again_and_fences_the_old_claim(backend: Backend) {
    let (_dir, _db, a, b) = replicas(backend, Duration::from_millis(600)).await;
    let id = queue(&a, "d1", &NewJob::new("deploy", "{}".into())).await;
    let first = a.claim().await.unwrap().unwrap();
    assert_eq!(a.renew(&first).await.unwrap(), Renewal::Held);
    // Nothing ran out yet: the sweep leaves it to its holder.
    assert_eq!(b.sweep_expired().await.unwrap().requeued, 0);
    assert!(b.claim().await.unwrap().is_none());
    // Replica A stops renewing (paused, or its network lost).
    tokio::time::sleep(Duration::from_millis(800)).await;
    let swept = b.sweep_expired().await.unwrap();
    assert_eq!((swept.requeued, swept.quarantined.len()), (1, 0));
    let second = b.claim().await.unwrap().unwrap();
    assert_eq!((second.id, second.claim), (id, first.claim + 1));
    assert_eq!(
        second.attempts, first.attempts,
        "a lost lease does not spend an attempt"
    );
    // A wakes: its lease is gone and nothing it writes about the job counts.
    assert_eq!(a.renew(&first).await.unwrap(), Renewal::Lost);
    assert!(!a.finish(&first).await.unwrap());
    assert!(!a.fail(&first, "late", None).await.unwrap());
    assert_eq!(a.job_state(id).await.unwrap().unwrap().0, "running");
    assert!(b.finish(&second).await.unwrap());
    assert_eq!(a.job_state(id).await.unwrap().unwrap().0, "done");
}

async fn a_deploy_lock_passes_on_with_a_higher_token_and_refuses_the_stale_holder(backend: Backend) {
    let (_dir, _db, a, b) = replicas(backend, Duration::from_millis(600)).await;
    queue(&a, "d1", &NewJob::new("deploy", "one".into())).await;
    queue(&a, "d2", &NewJob::new("deploy", "two".into())).await;
    let one = a.claim().await.unwrap().unwrap();
    let LockOutcome::Acquired(old) = a.try_lock("acme/app:web:live", &one, "#1").await.unwrap() else {
        panic!("a free lock is taken")
    };
    let two = b.claim().await.unwrap().unwrap();
    // While A holds it, B waits and is told for whom.
    assert_eq!(
        b.try_lock("acme/app:web:live", &two, "#2").await.unwrap(),
        LockOutcome::HeldBy {
            job_id: one.id,
            holder: "#1".into()
        }
    );
    // A stalls past its lease; B renews its own and takes the lock over.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(b.renew(&two).await.unwrap(), Renewal::Held);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let LockOutcome::Acquired(new) = b.try_lock("acme/app:web:live", &two, "#2").await.unwrap() else {
        panic!("a lock whose holder's lease ran out is taken over")
    };
    assert!(new.token > old.token, "{new:?} after {old:?}");
    // A wakes: it can neither record its deploy nor release B's lock.
    let refused = a.record_deploy(&old, "aaa", "success").await.unwrap_err();
    assert!(refused.to_string().contains("taken over"), "{refused}");
    a.unlock(&old).await.unwrap();
    assert!(b.holds(&new).await.unwrap(), "B's lock survives A's release");
    b.record_deploy(&new, "bbb", "success").await.unwrap();
    assert_eq!(
        a.last_deployed("acme/app:web:live").await.unwrap().as_deref(),
        Some("bbb")
    );
    assert_eq!(a.deploys().await.unwrap().len(), 1);
}

async fn a_job_abandoned_too_often_is_quarantined(backend: Backend) {
    let (_dir, _db, a, _b) = replicas(backend, Duration::from_millis(200)).await;
    let id = queue(&a, "d1", &NewJob::new("plan", "{}".into())).await;
    for round in 1..=MAX_ABANDONED {
        let job = a.claim().await.unwrap().expect("queued again after each lost lease");
        assert_eq!(job.id, id);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let swept = a.sweep_expired().await.unwrap();
        if round < MAX_ABANDONED {
            assert_eq!((swept.requeued, swept.quarantined.len()), (1, 0), "round {round}");
        } else {
            assert_eq!(swept.quarantined.iter().map(|j| j.id).collect::<Vec<_>>(), [id]);
        }
    }
    assert!(a.claim().await.unwrap().is_none());
    assert_eq!(a.job_counts().await.unwrap().quarantined, 1);
}

async fn a_delivery_sent_to_two_replicas_is_stored_once(backend: Backend) {
    let (_dir, _db, a, b) = replicas(backend, Duration::from_secs(30)).await;
    let mut tasks = Vec::new();
    for n in 0..50 {
        for store in [a.clone(), b.clone()] {
            tasks.push(tokio::spawn(async move {
                let job = NewJob::new("plan", "{}".into());
                store.store_delivery(&format!("d{n}"), "test", None, Some(&job)).await
            }));
        }
    }
    let mut new = 0;
    for t in tasks {
        if let Stored::New { .. } = t.await.unwrap().unwrap() {
            new += 1;
        }
    }
    assert_eq!(new, 50);
    assert_eq!(
        (a.delivery_count().await.unwrap(), b.job_counts().await.unwrap().queued),
        (50, 50)
    );
}

/// PostgreSQL: a replica's workers wake when another replica queues a job (LISTEN/NOTIFY),
/// long before any poll would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_queued_by_one_replica_wakes_the_others() {
    let (_dir, _db, a, b) = replicas(Backend::Postgres, Duration::from_secs(30)).await;
    let wake = Arc::new(tokio::sync::Notify::new());
    let listener = b.listen_for_jobs(Arc::clone(&wake)).expect("PostgreSQL listens");
    // Until the listener is subscribed, a notification may pass unseen: queue until one wakes.
    let woken = async {
        for n in 0.. {
            let notified = wake.notified();
            queue(&a, &format!("d{n}"), &NewJob::new("plan", "{}".into())).await;
            if tokio::time::timeout(Duration::from_millis(500), notified).await.is_ok() {
                return n;
            }
        }
        unreachable!()
    };
    let n = tokio::time::timeout(Duration::from_secs(10), woken)
        .await
        .expect("a NOTIFY reaches the other replica");
    assert!(n < 5, "woken only after {n} jobs");
    listener.abort();
}
