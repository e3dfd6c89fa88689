//! `fleet serve` end to end: real webhook payloads (octokit fixtures, rewritten), signed with a
//! test secret, into the real app; GitHub is a fake that rejects anything the OpenAPI subset
//! does not allow (tests/support/fake_github.rs).

#[path = "support/fake_github.rs"]
mod fake_github;
#[path = "support/serve_harness.rs"]
mod serve_harness;
#[path = "support/databases.rs"]
#[macro_use]
mod databases;

use std::time::Duration;

use databases::Backend;

on_both_backends!(
    pr_opened_then_synchronize_edits_the_one_comment,
    invalid_config_fails_the_check_with_annotations_at_the_lines,
    the_same_delivery_100_times_is_processed_once,
    bad_or_missing_signature_is_401_and_nothing_is_stored,
    every_fixture_parses_or_is_ignored_and_none_is_a_500,
    the_fake_rejects_what_the_subset_does_not_allow,
    github_enterprise_server_keeps_the_api_prefix_on_every_request,
    healthz_is_liveness_and_readyz_checks_the_database_schema,
);

use fake_github::fixtures_external;
use fleetflow::application::jobs::db::Store;
use fleetflow::plan::PLAN_MARKER;
use fleetflow::webhook::{parse_event, sign};
use serde_json::{Value, json};
use serve_harness::*;

async fn pr_opened_then_synchronize_edits_the_one_comment(backend: Backend) {
    let h = Harness::on(backend).await;
    h.fake
        .world()
        .add_human_comment(REPO, 5, &format!("{PLAN_MARKER} quoting the bot, not the bot"));
    let app = h.start().await;
    let (status, reply) = h
        .deliver_signed(
            app.addr,
            "pull_request",
            "d-open",
            &pull_request("opened", 5, HEAD, BASE),
        )
        .await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["status"], "queued");
    h.wait_for("the first plan", |w| completed(w, 1)).await;
    {
        let w = h.fake.world();
        let bot = w.bot_comments(REPO, 5);
        assert_eq!(bot.len(), 1, "one plan comment");
        assert!(bot[0].body.starts_with(PLAN_MARKER));
        assert!(bot[0].body.contains("ghcr.io/acme/site:2"), "{}", bot[0].body);
        assert_eq!(w.check_runs.len(), 1);
        let run = &w.check_runs[0];
        assert_eq!((run.name.as_str(), run.head_sha.as_str()), ("fleetflow/plan", HEAD));
        assert_eq!(run.conclusion.as_deref(), Some("success"));
        assert!(
            run.title.as_deref().unwrap().starts_with("Plan: 0 to add, 1 to change"),
            "{:?}",
            run.title
        );
        assert!(run.summary.as_deref().unwrap().contains("site"));
    }
    let (status, _) = h
        .deliver_signed(
            app.addr,
            "pull_request",
            "d-sync",
            &pull_request("synchronize", 5, HEAD2, BASE),
        )
        .await;
    assert_eq!(status, 202);
    h.wait_for("the second plan", |w| completed(w, 2)).await;
    {
        let w = h.fake.world();
        let bot = w.bot_comments(REPO, 5);
        assert_eq!(bot.len(), 1, "still one plan comment");
        assert_eq!(bot[0].edits, 1, "edited in place");
        assert!(bot[0].body.contains("worker"), "{}", bot[0].body);
        assert_eq!(w.comments.len(), 2, "the human's comment is left alone");
        assert!(w.comments.iter().any(|c| c.login == "octocat" && c.edits == 0));
        assert_eq!(w.check_runs[1].head_sha, HEAD2);
        assert_eq!(w.tokens_issued, 1, "the installation token is cached");
    }
    h.assert_no_violations();
    let metrics = h.settled_metrics(app.addr).await;
    assert!(
        metrics.contains(r#"fleet_webhook_deliveries_total{event="pull_request",result="queued"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"fleet_job_duration_seconds_count{kind="plan",result="done"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains("fleet_queue_depth 0"), "{metrics}");
    assert!(
        metrics.contains(r#"fleet_github_requests_total{method="PATCH",status="200"}"#),
        "{metrics}"
    );
    app.shutdown().await;
}

async fn invalid_config_fails_the_check_with_annotations_at_the_lines(backend: Backend) {
    let h = Harness::on(backend).await;
    // 60 unknown nodes (lines 3..=62) plus a stage the route needs missing: 61 errors, so
    // annotations go out as 50 with the completion and the rest in a follow-up update.
    let mut bad = String::from("project \"web\"\n\n");
    for i in 0..60 {
        bad.push_str(&format!("bogus{i} 1\n"));
    }
    h.fake
        .world()
        .add_commit(REPO, HEAD, &[("fleet-registry.kdl", REGISTRY), (FLEET_PATH, &bad)]);
    let app = h.start().await;
    let (status, _) = h
        .deliver_signed(
            app.addr,
            "pull_request",
            "d-bad",
            &pull_request("opened", 9, HEAD, BASE),
        )
        .await;
    assert_eq!(status, 202);
    h.wait_for("the failing check", |w| {
        w.check_runs.first().is_some_and(|r| r.annotations.len() >= 61)
    })
    .await;
    h.assert_no_violations();
    {
        let w = h.fake.world();
        let run = &w.check_runs[0];
        assert_eq!(run.conclusion.as_deref(), Some("failure"));
        assert_eq!(run.annotation_batches, vec![50, 11], "at most 50 per request");
        let at = |path: &str, line: u64| {
            run.annotations
                .iter()
                .any(|a| a["path"] == path && a["start_line"] == line && a["annotation_level"] == "failure")
        };
        assert!(at(FLEET_PATH, 3), "bogus0 is on line 3: {:?}", run.annotations.first());
        assert!(at(FLEET_PATH, 62));
        assert!(
            at("fleet-registry.kdl", 15),
            "the route naming a missing stage is on line 15"
        );
        assert!(run.title.as_deref().unwrap().contains("61 errors"), "{:?}", run.title);
        assert!(run.summary.as_deref().unwrap().contains(&format!("{FLEET_PATH}:3:1")));
        let bot = w.bot_comments(REPO, 9);
        assert_eq!(bot.len(), 1);
        assert!(bot[0].body.contains("Configuration invalid"));
    }
    app.shutdown().await;
}

async fn the_same_delivery_100_times_is_processed_once(backend: Backend) {
    let h = Harness::on(backend).await;
    let app = h.start().await;
    let body = pull_request("opened", 11, HEAD, BASE);
    let mut statuses = Vec::new();
    let sends: Vec<_> = (0..100)
        .map(|_| h.deliver_signed(app.addr, "pull_request", "d-same", &body))
        .collect();
    for s in sends {
        statuses.push(s.await.0);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 99);
    h.wait_for("the plan", |w| completed(w, 1)).await;
    tokio::time::sleep(Duration::from_millis(600)).await; // room for a wrong second run
    let store = Store::open(&h.db_url).await.unwrap();
    assert_eq!(store.delivery_count().await.unwrap(), 1);
    let counts = store.job_counts().await.unwrap();
    assert_eq!((counts.done, counts.queued, counts.running), (1, 0, 0));
    store.close().await;
    {
        let w = h.fake.world();
        assert_eq!(w.check_runs.len(), 1);
        assert_eq!(w.bot_comments(REPO, 11).len(), 1);
    }
    let metrics = h.metrics(app.addr).await;
    assert!(metrics.contains(r#"fleet_webhook_deliveries_total{event="pull_request",result="duplicate"} 99"#));
    h.assert_no_violations();
    app.shutdown().await;
}

async fn bad_or_missing_signature_is_401_and_nothing_is_stored(backend: Backend) {
    let h = Harness::on(backend).await;
    let app = h.start().await;
    let body = pull_request("opened", 12, HEAD, BASE);
    let (status, _) = h.deliver(app.addr, "pull_request", "d-nosig", &body, None).await;
    assert_eq!(status, 401);
    let (status, _) = h
        .deliver(
            app.addr,
            "pull_request",
            "d-wrong",
            &body,
            Some(sign("not-the-secret", &body)),
        )
        .await;
    assert_eq!(status, 401);
    let mut tampered = body.clone();
    tampered.push(b' ');
    let (status, _) = h
        .deliver(
            app.addr,
            "pull_request",
            "d-tamper",
            &tampered,
            Some(sign(SECRET, &body)),
        )
        .await;
    assert_eq!(status, 401);
    // The old secret of a rotation still verifies.
    let (status, _) = h
        .deliver(
            app.addr,
            "ping",
            "d-old",
            b"{\"zen\":\"x\",\"hook_id\":1}",
            Some(sign("old-secret", b"{\"zen\":\"x\",\"hook_id\":1}")),
        )
        .await;
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = Store::open(&h.db_url).await.unwrap();
    assert_eq!(store.delivery_count().await.unwrap(), 1, "only the ping");
    assert_eq!(store.job_counts().await.unwrap(), Default::default());
    store.close().await;
    // The only call is the start's look for missed deliveries (serve_missed.rs).
    let calls = h.fake.world().calls.clone();
    assert!(
        calls.iter().all(|c| c == "GET apps/list-webhook-deliveries"),
        "no GitHub call for unsigned deliveries: {calls:?}"
    );
    let metrics = h.metrics(app.addr).await;
    assert!(
        metrics.contains(r#"fleet_webhook_deliveries_total{event="unverified",result="unauthorized"} 3"#),
        "{metrics}"
    );
    app.shutdown().await;
}

async fn every_fixture_parses_or_is_ignored_and_none_is_a_500(backend: Backend) {
    let h = Harness::on(backend).await;
    let app = h.start().await;
    let root = fixtures_external().join("webhooks");
    let mut seen = 0;
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let event = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            let body = std::fs::read(&file).unwrap();
            let parsed = parse_event(&event, &body);
            assert!(parsed.is_ok(), "{}: {:?}", file.display(), parsed.err());
            let delivery = format!("fixture-{event}-{}", file.file_name().unwrap().to_string_lossy());
            let (status, reply) = h.deliver_signed(app.addr, &event, &delivery, &body).await;
            assert_eq!(status, 202, "{}: {reply}", file.display());
            seen += 1;
        }
    }
    assert_eq!(seen, 48);
    // An event nobody told us about: acknowledged, ignored, counted as `other`.
    let (status, reply) = h
        .deliver_signed(app.addr, "made_up_event", "d-unknown", b"{\"action\":\"poked\"}")
        .await;
    assert_eq!((status, reply["status"].as_str()), (202, Some("ignored")));
    let metrics = h.metrics(app.addr).await;
    assert!(
        metrics.contains(r#"fleet_webhook_deliveries_total{event="other",result="ignored"} 1"#),
        "{metrics}"
    );
    // A completed run may end a deploy's wait for its build (no job); a requested one is not
    // acted on.
    for (result, n) in [("accepted", 2), ("ignored", 2)] {
        let line = format!(r#"fleet_webhook_deliveries_total{{event="workflow_run",result="{result}"}} {n}"#);
        assert!(metrics.contains(&line), "{metrics}");
    }
    let completed = std::fs::read(root.join("workflow_run/completed.payload.json")).unwrap();
    match parse_event("workflow_run", &completed).unwrap() {
        fleetflow::event::Event::WorkflowRunCompleted { repo, run_id } => {
            assert_eq!((repo.to_string().as_str(), run_id), ("octo-org/octo-repo", 289782451));
        }
        other => panic!("{other:?}"),
    }
    assert!(!metrics.contains("result=\"error\""));
    app.shutdown().await;
}

/// The fake's gate itself: requests outside the subset are refused and recorded.
async fn the_fake_rejects_what_the_subset_does_not_allow(backend: Backend) {
    let h = Harness::on(backend).await;
    let url = h.fake.url();
    let post = |path: &str, body: Value| h.http.post(format!("{url}{path}")).json(&body).send();
    let r = post("/repos/acme/monorepo/check-runs", json!({ "name": "x" }))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422, "head_sha is required");
    let r = post(
        "/repos/acme/monorepo/check-runs",
        json!({ "name": "x", "head_sha": HEAD, "status": "running" }),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 422, "status is an enum");
    let many: Vec<Value> = (0..51)
        .map(|i| json!({ "path": "a", "start_line": i + 1, "end_line": i + 1, "annotation_level": "failure", "message": "m" }))
        .collect();
    let r = h
        .http
        .patch(format!("{url}/repos/acme/monorepo/check-runs/1"))
        .json(&json!({ "output": { "title": "t", "summary": "s", "annotations": many } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422, "at most 50 annotations per request");
    let r = h
        .http
        .delete(format!("{url}/repos/acme/monorepo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422, "not an operation of the subset");
    let r = h
        .http
        .get(format!("{url}/repos/acme/monorepo/issues/1/comments"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "no token");
    let violations = h.fake.world().violations.clone();
    assert_eq!(violations.len(), 5, "{violations:#?}");
}

/// GitHub Enterprise Server serves the API under `/api/v3`: `--github-api-url
/// https://HOST/api/v3` keeps that prefix on every request (tokens, trees, comments, checks).
async fn github_enterprise_server_keeps_the_api_prefix_on_every_request(backend: Backend) {
    let h = Harness::on(backend).await;
    h.fake.world().api_prefix = Some("/api/v3".into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = fleetflow::webhook::serve::ServeConfig {
        github_api_url: format!("{}/api/v3", h.fake.url()),
        ..h.config(addr)
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = tokio::spawn(fleetflow::webhook::serve::serve(config, listener, async {
        let _ = stopped.await;
    }));
    let (status, _) = h
        .deliver_signed(addr, "pull_request", "d-ghes", &pull_request("opened", 5, HEAD, BASE))
        .await;
    assert_eq!(status, 202);
    h.wait_for("the plan under /api/v3", |w| completed(w, 1)).await;
    let _ = stop.send(());
    app.await.unwrap().unwrap();
    let w = h.fake.world();
    assert_eq!(w.check_runs[0].conclusion.as_deref(), Some("success"));
    assert_eq!(w.bot_comments(REPO, 5).len(), 1);
    assert!(w.calls.iter().any(|c| c.contains("git/get-tree")), "{:?}", w.calls);
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

/// /healthz says the process answers; /readyz that deliveries can be stored: the database
/// answers and has this build's schema (an older binary on a newer database is not ready).
async fn healthz_is_liveness_and_readyz_checks_the_database_schema(backend: Backend) {
    let h = Harness::on(backend).await;
    let app = h.start().await;
    let get = |path: &str| {
        let url = format!("http://{}{path}", app.addr);
        let http = h.http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(get("/healthz").await, (200, "ok\n".to_owned()));
    assert_eq!(get("/readyz").await, (200, "ready\n".to_owned()));
    // A newer fleet migrated this database further: this one is live but not ready.
    let store = Store::open(&h.db_url).await.unwrap();
    let (_, want) = store.schema_version().await.unwrap();
    drop(store);
    sqlx::any::install_default_drivers();
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&h.db_url)
        .await
        .unwrap();
    sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)")
        .execute(&mut db)
        .await
        .unwrap();
    let (status, text) = get("/readyz").await;
    assert_eq!(status, 503, "{text}");
    assert_eq!(
        text,
        format!("database schema at version 999, this build needs {want}\n")
    );
    assert_eq!(get("/healthz").await.0, 200);
    app.shutdown().await;
}
