use super::*;

/// A store in a new temporary directory (kept as long as the directory handle).
async fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("q.db").display()))
        .await
        .unwrap();
    (dir, store)
}

#[tokio::test]
async fn delivery_is_stored_once_and_a_crash_quarantines_while_a_graceful_stop_requeues() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    let store = Store::open(&url).await.unwrap();
    let first = store
        .store_delivery(
            "d1",
            "pull_request",
            Some("opened"),
            Some(&NewJob::new("plan", "{}".into())),
        )
        .await;
    assert!(matches!(first.unwrap(), Stored::New { job: Some(_) }));
    let again = store
        .store_delivery(
            "d1",
            "pull_request",
            Some("opened"),
            Some(&NewJob::new("plan", "{}".into())),
        )
        .await;
    assert_eq!(again.unwrap(), Stored::Duplicate);
    let job = store.claim().await.unwrap().unwrap();
    assert_eq!(job.attempts, 1);
    assert!(store.claim().await.unwrap().is_none());
    store.close().await;
    // "Crash": reopen with the job still running; it is quarantined, its lock released.
    let store = Store::open(&url).await.unwrap();
    assert!(matches!(
        store.try_lock("t", &job, "#1").await.unwrap(),
        LockOutcome::Acquired(_)
    ));
    let interrupted = store.recover_interrupted().await.unwrap();
    assert_eq!(interrupted.requeued, 0);
    assert_eq!(
        interrupted.quarantined.iter().map(|j| j.id).collect::<Vec<_>>(),
        [job.id]
    );
    assert!(store.claim().await.unwrap().is_none(), "never run again");
    let next = QueuedJob {
        id: job.id + 1,
        ..job.clone()
    };
    assert!(matches!(
        store.try_lock("t", &next, "#2").await.unwrap(),
        LockOutcome::Acquired(_)
    ));
    // A graceful stop: the running job goes back to the queue, its start not counted.
    let job = NewJob::new("plan", "{}".into());
    store
        .store_delivery("d2", "pull_request", None, Some(&job))
        .await
        .unwrap();
    let running = store.claim().await.unwrap().unwrap();
    assert_eq!(store.mark_stopping().await.unwrap(), 1);
    store.close().await;
    let store = Store::open(&url).await.unwrap();
    let interrupted = store.recover_interrupted().await.unwrap();
    assert_eq!((interrupted.requeued, interrupted.quarantined.len()), (1, 0));
    let again = store.claim().await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (running.id, 1));
    assert_eq!(store.requeue_running().await.unwrap(), 1);
    let counts = store.job_counts().await.unwrap();
    assert_eq!((counts.queued, counts.quarantined), (1, 1), "{counts:?}");
    assert_eq!(store.delivery_count().await.unwrap(), 2);
}

/// The store's futures are Send (workers run them on a multi-threaded runtime); a compile check.
#[allow(dead_code)]
fn store_futures_are_send(s: Store) {
    fn is_send<T: Send>(_: T) {}
    is_send(s.migrate());
    is_send(s.store_delivery("a", "b", None, None));
    is_send(s.claim());
    is_send(s.recover_interrupted());
    is_send(s.job_counts());
    is_send(Store::open("x"));
}

#[tokio::test]
async fn jobs_queued_by_a_job_are_queued_once_per_key_and_locks_have_one_holder() {
    let (_dir, store) = temp_store().await;
    store
        .store_delivery("d1", "issue_comment", Some("created"), None)
        .await
        .unwrap();
    let deploy = NewJob::new("deploy", "{}".into());
    let first = store.enqueue("d1", "deploy:web:live", &deploy).await.unwrap();
    assert!(first.is_some());
    // A retried command job: the same key is not queued again; another key is.
    assert_eq!(store.enqueue("d1", "deploy:web:live", &deploy).await.unwrap(), None);
    assert!(store.is_queued("d1", "deploy:web:live").await.unwrap());
    assert!(store.enqueue("d1", "deploy:api:live", &deploy).await.unwrap().is_some());
    assert_eq!(store.job_counts().await.unwrap().queued, 2);
    // One holder per target (a running claim); the holder may take it again.
    let a = store.claim().await.unwrap().unwrap();
    assert_eq!(Some(a.id), first);
    let LockOutcome::Acquired(fence) = store.try_lock("t", &a, "#a").await.unwrap() else {
        panic!("the first taker holds the lock")
    };
    assert_eq!(
        store.try_lock("t", &a, "#a").await.unwrap(),
        LockOutcome::Acquired(fence.clone())
    );
    let b = store.claim().await.unwrap().unwrap();
    assert_eq!(
        store.try_lock("t", &b, "#b").await.unwrap(),
        LockOutcome::HeldBy {
            job_id: a.id,
            holder: "#a".into()
        }
    );
    store.unlock(&fence).await.unwrap();
    let LockOutcome::Acquired(later) = store.try_lock("t", &b, "#b").await.unwrap() else {
        panic!("free once released")
    };
    assert!(later.token > fence.token, "tokens only grow: {later:?} after {fence:?}");
    // The released holder's writes do nothing now.
    assert!(store.record_deploy(&fence, "abc", "success").await.is_err());
    store.record_deploy(&later, "abc", "success").await.unwrap();
    // A deferred job keeps its attempts and says why it waits.
    assert!(store.defer(&a, std::time::Duration::ZERO, "waiting").await.unwrap());
    let again = store.claim().await.unwrap().unwrap();
    assert_eq!(
        (again.id, again.attempts, again.last_error.as_deref()),
        (a.id, 1, Some("waiting"))
    );
    // The earlier claim of it is fenced off: its end writes nothing.
    assert!(!store.finish(&a).await.unwrap());
    assert!(store.finish(&again).await.unwrap());
}

#[tokio::test]
async fn a_job_identity_is_queued_once_whatever_the_delivery() {
    let (_dir, store) = temp_store().await;
    let job = NewJob {
        identity: Some("command:acme/app#1:abc".into()),
        ..NewJob::new("command", "{}".into())
    };
    let first = store.store_delivery("d1", "issue_comment", None, Some(&job)).await;
    assert!(matches!(first.unwrap(), Stored::New { job: Some(_) }));
    let replay = store.store_delivery("d2", "issue_comment", None, Some(&job)).await;
    assert_eq!(replay.unwrap(), Stored::Duplicate);
    let other = NewJob {
        identity: Some("command:acme/app#1:def".into()),
        ..job.clone()
    };
    let edited = store.store_delivery("d3", "issue_comment", None, Some(&other)).await;
    assert!(matches!(edited.unwrap(), Stored::New { job: Some(_) }));
    assert_eq!(store.delivery_count().await.unwrap(), 2, "nothing kept of the replay");
    assert_eq!(store.jobs_of_kind("command").await.unwrap(), 2);
}

#[tokio::test]
async fn jobs_of_one_serial_key_run_one_at_a_time_and_the_newest_wins() {
    let (_dir, store) = temp_store().await;
    async fn queue(store: &Store, delivery: &str, job: &NewJob) {
        let stored = store.store_delivery(delivery, "test", None, Some(job)).await;
        assert!(matches!(stored.unwrap(), Stored::New { job: Some(_) }));
    }
    let plan = |head: &str| NewJob {
        serial_key: Some("plan:acme/app#1".into()),
        ..NewJob::new("plan", head.into())
    };
    queue(&store, "d1", &plan("h1")).await;
    let first = store.claim().await.unwrap().unwrap();
    queue(&store, "d2", &plan("h2")).await;
    queue(&store, "d3", &plan("h3")).await;
    queue(&store, "d4", &NewJob::new("push", "{}".into())).await;
    // h1 runs: h3 waits (h2 was superseded by it), the unrelated push job does not.
    let other = store.claim().await.unwrap().unwrap();
    assert_eq!(other.kind, "push");
    assert!(store.claim().await.unwrap().is_none());
    store.finish(&first).await.unwrap();
    let next = store.claim().await.unwrap().unwrap();
    assert_eq!(next.payload, "h3");
    // An older job back in the queue (a retry) is dropped: a newer one exists.
    store
        .fail(&next, "flaky", Some(std::time::Duration::ZERO))
        .await
        .unwrap();
    queue(&store, "d5", &plan("h5")).await;
    assert_eq!(store.claim().await.unwrap().unwrap().payload, "h5");
    let counts = store.job_counts().await.unwrap();
    assert_eq!((counts.superseded, counts.running), (2, 2), "{counts:?}");
}

/// Deliveries that arrive together are written in one transaction (group commit), each under
/// its own savepoint: a duplicate inside the batch rolls back alone, the rest are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_share_a_commit_and_a_duplicate_in_the_batch_rolls_back_alone() {
    let (_dir, store) = temp_store().await;
    let mut tasks = Vec::new();
    for n in 0..200 {
        let store = store.clone();
        // Every fourth delivery id is sent twice: one is new, the other a duplicate.
        let id = format!("d{}", if n % 4 == 3 { n - 1 } else { n });
        tasks.push(tokio::spawn(async move {
            let job = NewJob::new("plan", format!("{{\"n\":{n}}}"));
            store
                .store_delivery(&id, "pull_request", Some("opened"), Some(&job))
                .await
        }));
    }
    let mut new = 0;
    let mut duplicates = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Stored::New { job: Some(_) } => new += 1,
            Stored::Duplicate => duplicates += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((new, duplicates), (150, 50));
    assert_eq!(store.delivery_count().await.unwrap(), 150);
    assert_eq!(store.jobs_of_kind("plan").await.unwrap(), 150);
}
