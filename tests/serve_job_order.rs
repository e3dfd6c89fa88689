//! Jobs that must not run side by side: plan jobs of one pull request run one at a time and
//! the latest head wins.

#[path = "support/fake_github.rs"]
mod fake_github;
#[path = "support/serve_harness.rs"]
mod serve_harness;
#[path = "support/databases.rs"]
#[macro_use]
mod databases;

use databases::Backend;
use std::time::Duration;

use fleetflow::application::jobs::PLAN_JOB;
use fleetflow::application::jobs::db::Store;
use fleetflow::plan::PLAN_MARKER;
use serve_harness::*;

const HEAD3: &str = "4444444444444444444444444444444444444444";
const HEAD4: &str = "5555555555555555555555555555555555555555";

on_both_backends!(plan_jobs_of_one_pull_request_run_one_at_a_time_and_the_latest_head_wins);

/// Four pushes to one pull request delivered at once to four workers, while GitHub is slow:
/// one plan comment, and it shows the last head; the plan jobs of older heads still queued
/// when a newer one came are dropped.
async fn plan_jobs_of_one_pull_request_run_one_at_a_time_and_the_latest_head_wins(backend: Backend) {
    let h = Harness::on(backend).await;
    {
        let mut w = h.fake.world();
        for (sha, image) in [(HEAD3, "ghcr.io/acme/site:3"), (HEAD4, "ghcr.io/acme/site:4")] {
            w.add_commit(
                REPO,
                sha,
                &[("fleet-registry.kdl", REGISTRY), (FLEET_PATH, &fleet(image, false))],
            );
        }
        w.hang_contents = true;
    }
    let app = h.start_with_workers(4).await;
    let pushes = [
        ("opened", HEAD),
        ("synchronize", HEAD2),
        ("synchronize", HEAD3),
        ("synchronize", HEAD4),
    ];
    for (i, (action, head)) in pushes.iter().enumerate() {
        let body = pull_request(action, 31, head, BASE);
        let (status, reply) = h
            .deliver_signed(app.addr, "pull_request", &format!("d-push-{i}"), &body)
            .await;
        assert_eq!(status, 202, "{reply}");
    }
    h.wait_for("a plan job mid-run", |w| {
        w.calls.iter().any(|c| c.contains("checks/create"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await; // idle workers would take the rest now
    h.fake.world().hang_contents = false;
    h.wait_for("the plan of the last head", |w| {
        w.check_runs
            .iter()
            .any(|r| r.head_sha == HEAD4 && r.status == "completed")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await; // room for a wrong later run
    {
        let w = h.fake.world();
        let bot = w.bot_comments(REPO, 31);
        assert_eq!(bot.len(), 1, "one plan comment: {:#?}", bot);
        assert!(bot[0].body.starts_with(PLAN_MARKER));
        assert!(
            bot[0].body.contains("ghcr.io/acme/site:4"),
            "the last head: {}",
            bot[0].body
        );
        let heads: Vec<&str> = w.check_runs.iter().map(|r| r.head_sha.as_str()).collect();
        assert_eq!(heads.last(), Some(&HEAD4), "{heads:?}");
        assert!(w.check_runs.iter().all(|r| r.status == "completed"), "{heads:?}");
    }
    let store = Store::open(&h.db_url).await.unwrap();
    let counts = store.job_counts().await.unwrap();
    assert_eq!((counts.queued, counts.running), (0, 0), "{counts:?}");
    assert!(counts.done < 4, "the older heads' queued jobs were dropped: {counts:?}");
    assert_eq!(store.jobs_of_kind(PLAN_JOB).await.unwrap(), 4);
    store.close().await;
    h.assert_no_violations();
    app.shutdown().await;
}
