use super::*;

fn entry(id: &str, commit: &str, outcome: EntryOutcome, images: &[(&str, &str)]) -> HistoryEntry {
    HistoryEntry {
        id: id.into(),
        kind: EntryKind::Deploy,
        project: "shop".into(),
        stage: "live".into(),
        commit: Some(commit.into()),
        by: "alice".into(),
        started: "2026-12-03T13:00:00Z".into(),
        seconds: 1.5,
        outcome,
        error: None,
        rollback_to: None,
        services: images
            .iter()
            .map(|(service, id)| ServiceImage {
                service: (*service).into(),
                image: format!("example/{service}:latest"),
                image_id: (*id).into(),
                repo_digest: None,
            })
            .collect(),
    }
}

/// v1, v2 ok; v3 failed (the engine put v2 back).
fn three() -> Vec<HistoryEntry> {
    vec![
        entry(
            "20261203T130000Z-0001",
            "aaaa1111",
            EntryOutcome::Ok,
            &[("web", "sha256:1")],
        ),
        entry(
            "20261203T130100Z-0002",
            "bbbb2222",
            EntryOutcome::Ok,
            &[("web", "sha256:2")],
        ),
        entry(
            "20261203T130200Z-0003",
            "cccc3333",
            EntryOutcome::Failed,
            &[("web", "sha256:2")],
        ),
    ]
}

#[test]
fn previous_is_the_last_success_with_other_images_than_what_runs() {
    let mut entries = three();
    let to = rollback_target(&entries, &RollbackTo::Previous).expect("a target");
    assert_eq!(to.id, "20261203T130000Z-0001", "v3 failed, v2 runs: previous is v1");
    // A redeploy of v2 (same images) does not make v2 the previous one.
    entries.push(entry(
        "20261203T130300Z-0004",
        "bbbb2222",
        EntryOutcome::Ok,
        &[("web", "sha256:2")],
    ));
    let to = rollback_target(&entries, &RollbackTo::Previous).expect("a target");
    assert_eq!(to.commit.as_deref(), Some("aaaa1111"));
}

#[test]
fn a_commit_prefix_or_an_id_names_a_successful_deploy() {
    let entries = three();
    let by_commit = rollback_target(&entries, &"BBBB".parse().expect("parses")).expect("found");
    assert_eq!(by_commit.id, "20261203T130100Z-0002");
    let by_id = rollback_target(&entries, &"20261203T130000Z-0001".parse().expect("parses")).expect("found");
    assert_eq!(by_id.commit.as_deref(), Some("aaaa1111"));
    // The failed deploy is no target.
    let err = rollback_target(&entries, &"cccc".parse().expect("parses")).expect_err("failed deploys are no target");
    let text = err.to_string();
    assert!(text.contains("has no successful deploy of `cccc`"), "{text}");
    assert!(
        text.contains("commit bbbb2222 (20261203T130100Z-0002)"),
        "names what there is: {text}"
    );
}

#[test]
fn nothing_to_go_back_to_is_said_plainly() {
    let err = rollback_target(&[], &RollbackTo::Previous).expect_err("empty");
    assert!(matches!(err, HistoryError::NoDeploys { .. }), "{err}");
    let one = vec![entry(
        "20261203T130000Z-0001",
        "aaaa",
        EntryOutcome::Ok,
        &[("web", "sha256:1")],
    )];
    let err = rollback_target(&one, &RollbackTo::Previous).expect_err("one deploy");
    assert!(
        err.to_string()
            .contains("no earlier successful deploy with other images"),
        "{err}"
    );
    for bad in ["", "prev", "abc", "$(id)", "12 34"] {
        assert!(bad.parse::<RollbackTo>().is_err(), "{bad:?} is refused");
    }
}

#[test]
fn the_newest_successes_are_kept() {
    let mut entries = three();
    for n in 4..=8 {
        entries.push(entry(
            &format!("id-{n}"),
            "dd",
            EntryOutcome::Ok,
            &[("web", "sha256:x")],
        ));
    }
    // id-4…id-8 redeploy one image set: its newest entry keeps it, and the older sets stay.
    assert_eq!(
        kept_ids(&entries, 5),
        ["id-8", "20261203T130100Z-0002", "20261203T130000Z-0001"]
    );
    assert_eq!(kept_ids(&entries, 2), ["id-8", "20261203T130100Z-0002"]);
    assert_eq!(
        kept_ids(&three(), 5),
        ["20261203T130100Z-0002", "20261203T130000Z-0001"]
    );
}

#[test]
fn keep_tags_are_valid_references() {
    let e = entry("20261203T130000Z-0001", "a", EntryOutcome::Ok, &[]);
    assert_eq!(e.keep_tag("web"), "fleetflow-keep/shop-live-web:20261203T130000Z-0001");
    assert_eq!(
        keep_repository("My_App", "Live!", "db"),
        "fleetflow-keep/my_app-live--db"
    );
}

#[test]
fn a_torn_line_is_skipped_and_counted_and_appends_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = HistoryFile::in_dir(dir.path(), "shop", "live");
    assert_eq!(file.read().expect("no file is no history").0, Vec::new());
    let entries = three();
    file.append(&entries[0]).expect("append");
    // A write cut short (a full disk), then more deploys.
    std::fs::write(
        &file.path,
        format!("{}{{\"id\":\"torn", std::fs::read_to_string(&file.path).expect("read")),
    )
    .expect("tear");
    let mut f = std::fs::OpenOptions::new().append(true).open(&file.path).expect("open");
    writeln!(f).expect("newline");
    file.append(&entries[1]).expect("append");
    let (read, skipped) = file.read().expect("read");
    assert_eq!(skipped, 1);
    assert_eq!(read, entries[..2].to_vec());
}

#[test]
fn the_default_directory_follows_the_environment() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| (*v).to_owned())
    };
    assert_eq!(
        HistoryFile::default_dir(&env(&[
            ("FLEET_HISTORY_DIR", "/srv/.fleetflow/history"),
            ("HOME", "/h")
        ])),
        PathBuf::from("/srv/.fleetflow/history")
    );
    assert_eq!(
        HistoryFile::default_dir(&env(&[("XDG_STATE_HOME", "/s"), ("HOME", "/h")])),
        PathBuf::from("/s/fleetflow/history")
    );
    assert_eq!(
        HistoryFile::default_dir(&env(&[("HOME", "/h")])),
        PathBuf::from("/h/.local/state/fleetflow/history")
    );
}

#[test]
fn a_second_previous_goes_further_back_not_forward_again() {
    // v1, v2, v3 (healthy this time), then a rollback to v2.
    let mut entries = three();
    entries[2].outcome = EntryOutcome::Ok;
    entries[2].services[0].image_id = "sha256:3".into();
    let mut rollback = entry(
        "20261203T130300Z-0004",
        "bbbb2222",
        EntryOutcome::Ok,
        &[("web", "sha256:2")],
    );
    rollback.kind = EntryKind::Rollback;
    rollback.rollback_to = Some("20261203T130100Z-0002".into());
    entries.push(rollback);
    let to = rollback_target(&entries, &RollbackTo::Previous).expect("a target");
    assert_eq!(
        to.commit.as_deref(),
        Some("aaaa1111"),
        "v2 runs after rolling back from v3: previous is v1"
    );
}
