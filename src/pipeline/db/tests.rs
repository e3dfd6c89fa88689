use super::*;

#[tokio::test]
async fn delivery_is_stored_once_and_jobs_recover() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    let store = Store::open(&url).await.unwrap();
    let first = store
        .store_delivery("d1", "pull_request", Some("opened"), Some(("plan", "{}")))
        .await;
    assert!(matches!(first.unwrap(), Stored::New { job: Some(_) }));
    let again = store
        .store_delivery("d1", "pull_request", Some("opened"), Some(("plan", "{}")))
        .await;
    assert_eq!(again.unwrap(), Stored::Duplicate);
    let job = store.claim().await.unwrap().unwrap();
    assert_eq!(job.attempts, 1);
    assert!(store.claim().await.unwrap().is_none());
    store.close().await;
    // "Crash": reopen with the job still running.
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.recover().await.unwrap(), 1);
    let job = store.claim().await.unwrap().unwrap();
    assert_eq!(job.attempts, 2);
    store.fail(job.id, "boom", None).await.unwrap();
    assert_eq!(store.job_counts().await.unwrap().failed, 1);
    assert_eq!(store.delivery_count().await.unwrap(), 1);
}

/// The store's futures are Send (workers run them on a multi-threaded runtime); a compile check.
#[allow(dead_code)]
fn store_futures_are_send(s: Store) {
    fn is_send<T: Send>(_: T) {}
    is_send(s.migrate());
    is_send(s.store_delivery("a", "b", None, None));
    is_send(s.claim());
    is_send(s.recover());
    is_send(s.job_counts());
    is_send(Store::open("x"));
}
