//! `.fleetflow/state.json`: versioned schema, backup before every write, an atomic lock that
//! names its holder, and corrupt files reported without touching anything.

use std::sync::{Arc, Barrier};

use fleetflow::plan::state::{State, StateResource};
use fleetflow::state_store::{StateError, StateStore};

fn resource(address: &str, ip: &str) -> StateResource {
    StateResource {
        address: address.to_owned(),
        provider: Some("sakura-cloud".into()),
        id: Some("123456789".into()),
        attributes: [("ip".to_owned(), ip.to_owned())].into(),
        created_at: Some("2024-01-01T00:00:00Z".into()),
    }
}

fn store() -> (tempfile::TempDir, StateStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = StateStore::new(dir.path().join(".fleetflow"));
    (dir, store)
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn no_state_file_is_an_empty_version_1_state() {
    let (_dir, store) = store();
    assert!(!store.exists());
    let state = store.load().expect("empty");
    assert_eq!((state.version, state.resources.len()), (1, 0));
    assert_eq!(store.read_lock().expect("lock"), None);
}

#[test]
fn every_write_backs_up_the_previous_state_first() {
    let (_dir, store) = store();
    let lock = store.lock("alice@laptop", "apply").expect("lock");
    let mut state = State::default();
    state.upsert(resource("creo:dev/server.creo-dev-01", "192.0.2.10"));
    lock.write(&state).expect("first write");
    assert!(!store.backup_path().exists(), "nothing to back up yet");
    let first = read(&store.state_path());
    let json: serde_json::Value = serde_json::from_str(&first).expect("valid JSON");
    assert_eq!(json["version"], 1);
    assert_eq!(json["resources"][0]["address"], "creo:dev/server.creo-dev-01");
    assert_eq!(json["resources"][0]["attributes"]["ip"], "192.0.2.10");

    state.upsert(resource("creo:dev/server.creo-dev-01", "192.0.2.99"));
    state.upsert(resource("creo:dev/r2-bucket.files", ""));
    lock.write(&state).expect("second write");
    assert_eq!(
        read(&store.backup_path()),
        first,
        "the backup is the state before the write"
    );
    assert_eq!(store.load().expect("load"), state);
    assert_eq!(
        state.remove("creo:dev/r2-bucket.files").map(|r| r.address),
        Some("creo:dev/r2-bucket.files".into())
    );
    drop(lock);
    assert!(!store.lock_path().exists(), "dropping the lock releases it");
}

#[test]
fn a_corrupt_state_is_reported_and_neither_it_nor_its_backup_is_touched() {
    let (_dir, store) = store();
    std::fs::create_dir_all(&store.dir).expect("mkdir");
    let good_backup = "{\"version\": 1, \"resources\": []}\n";
    std::fs::write(store.backup_path(), good_backup).expect("backup");
    for corrupt in [
        "{\"version\": 1, \"resources\": [",
        "not json",
        "{\"resources\": []}",
        "\u{0}\u{1}",
    ] {
        std::fs::write(store.state_path(), corrupt).expect("state");
        let err = store.load().expect_err("corrupt");
        assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("state.json is corrupt"), "{message}");
        assert!(message.contains("state.json.backup"), "{message}");
        let lock = store.lock("bob", "apply").expect("lock");
        let err = lock.write(&State::default()).expect_err("refuses to write over it");
        assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
        drop(lock);
        assert_eq!(read(&store.state_path()), corrupt);
        assert_eq!(read(&store.backup_path()), good_backup);
    }
}

#[test]
fn other_versions_and_duplicate_addresses_are_refused() {
    let (_dir, store) = store();
    std::fs::create_dir_all(&store.dir).expect("mkdir");
    std::fs::write(store.state_path(), r#"{"version": 2, "resources": []}"#).expect("write");
    let message = store.load().expect_err("v2").to_string();
    assert!(message.contains("unsupported state version 2"), "{message}");
    let dup = r#"{"version": 1, "resources": [{"address": "a/server.x"}, {"address": "a/server.x"}]}"#;
    std::fs::write(store.state_path(), dup).expect("write");
    assert!(store.load().expect_err("dup").to_string().contains("appears twice"));
}

#[test]
fn concurrent_writers_one_wins_the_others_are_told_who_holds_the_lock() {
    const WRITERS: usize = 8;
    let (_dir, store) = store();
    let store = Arc::new(store);
    let (start, attempted) = (Arc::new(Barrier::new(WRITERS)), Arc::new(Barrier::new(WRITERS)));
    let threads: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (store, start, attempted) = (Arc::clone(&store), Arc::clone(&start), Arc::clone(&attempted));
            std::thread::spawn(move || {
                let holder = format!("writer-{i}@host");
                start.wait();
                let outcome = match store.lock(&holder, "apply") {
                    Ok(lock) => {
                        let mut state = lock.load().expect("load");
                        state.upsert(resource(&format!("f:s/server.by-{i}"), "192.0.2.1"));
                        lock.write(&state).expect("write");
                        attempted.wait(); // hold the lock until everyone has tried
                        return Ok(holder);
                    }
                    Err(e) => Err(e.to_string()),
                };
                attempted.wait();
                outcome
            })
        })
        .collect();
    let results: Vec<Result<String, String>> = threads.into_iter().map(|t| t.join().expect("thread")).collect();
    let winners: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for message in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(message.contains(&format!("locked by {}", winners[0])), "{message}");
        assert!(message.contains("`fleet state unlock`"), "{message}");
    }
    let text = read(&store.state_path());
    let state = State::parse(&text).expect("valid state");
    assert_eq!(state.resources.len(), 1);
    assert!(!store.lock_path().exists(), "released");
}

#[test]
fn a_stale_lock_names_its_holder_and_unlock_removes_it() {
    let (_dir, store) = store();
    std::fs::create_dir_all(&store.dir).expect("mkdir");
    let since = (chrono::Utc::now() - chrono::TimeDelta::hours(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let lock =
        serde_json::json!({"holder": "ci@runner-7", "operation": "apply", "created_at": since, "pid": 1, "id": "x"});
    std::fs::write(store.lock_path(), lock.to_string()).expect("lock");
    let message = store.lock("me", "apply").expect_err("locked").to_string();
    for part in [
        "locked by ci@runner-7",
        "for `apply`",
        "(3h 0m ago, probably stale)",
        "`fleet state unlock`",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    let removed = store.unlock().expect("unlock").expect("was held");
    assert_eq!(removed.holder, "ci@runner-7");
    assert_eq!(store.unlock().expect("again"), None);
    let fresh = store.lock("me", "apply").expect("free now");
    assert_eq!(fresh.info().holder, "me");
}

#[test]
fn a_lock_removed_under_its_holder_writes_nothing_and_leaves_the_new_lock_alone() {
    let (_dir, store) = store();
    let first = store.lock("first", "apply").expect("lock");
    store.unlock().expect("forced");
    let second = store.lock("second", "apply").expect("second");
    let err = first.write(&State::default()).expect_err("lost");
    assert!(matches!(err, StateError::LockLost { .. }), "{err}");
    assert!(!store.state_path().exists());
    drop(first);
    assert_eq!(
        store.read_lock().expect("read").map(|l| l.holder),
        Some("second".into())
    );
    drop(second);
    assert!(!store.lock_path().exists());
}

#[test]
fn an_unreadable_lock_still_blocks_and_says_how_to_remove_it() {
    let (_dir, store) = store();
    std::fs::create_dir_all(&store.dir).expect("mkdir");
    std::fs::write(store.lock_path(), "garbage").expect("lock");
    let message = store.lock("me", "apply").expect_err("locked").to_string();
    assert!(
        message.contains("unreadable lock.json") && message.contains("fleet state unlock"),
        "{message}"
    );
}
