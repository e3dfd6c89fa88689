//! `fleet serve` against GitHub's rate limit (the fake keeps the budget as GitHub documents it):
//! a job that spends its installation's budget mid-run waits for the reset and completes, no
//! attempt lost; /metrics says what is left.

#[path = "support/fake_github.rs"]
mod fake_github;
#[path = "support/serve_harness.rs"]
mod serve_harness;
#[path = "support/databases.rs"]
#[macro_use]
mod databases;

use databases::Backend;
use std::time::Duration;

on_both_backends!(a_job_that_runs_out_of_budget_waits_for_the_reset_and_completes);

use fleetflow::application::jobs::db::Store;
use fleetflow::plan::PLAN_MARKER;
use serve_harness::*;

async fn a_job_that_runs_out_of_budget_waits_for_the_reset_and_completes(backend: Backend) {
    let h = Harness::on(backend).await;
    {
        let mut w = h.fake.world();
        // A plan needs more than this: it runs out mid-job, every window.
        w.budget.limit = 3;
        w.budget.window = Duration::from_secs(2);
    }
    let app = h.start().await;
    let (status, _) = h
        .deliver_signed(app.addr, "pull_request", "d-1", &pull_request("opened", 5, HEAD, BASE))
        .await;
    assert_eq!(status, 202);
    h.wait_for("the plan, across budget windows", |w| completed(w, 1)).await;
    let metrics = h.metrics(app.addr).await;
    app.shutdown().await;
    {
        let w = h.fake.world();
        assert!(w.budget.refused >= 1, "the budget ran out at least once");
        let run = &w.check_runs[0];
        assert_eq!(run.conclusion.as_deref(), Some("success"), "{:?}", run.summary);
        let ours = w.bot_comments(REPO, 5);
        assert_eq!(ours.len(), 1);
        assert!(ours[0].body.starts_with(PLAN_MARKER) && ours[0].body.contains("ghcr.io/acme/site:2"));
    }
    h.assert_no_violations();
    assert!(
        metrics.contains(&format!(
            "fleet_github_rate_limit_remaining{{installation=\"{INSTALLATION}\"}}"
        )),
        "{metrics}"
    );
    let store = Store::open(&h.db_url).await.unwrap();
    let (state, attempts, _) = store.job_state(1).await.unwrap().unwrap();
    store.close().await;
    assert_eq!(state, "done");
    assert!(attempts <= 1, "waiting for the reset spent no attempt ({attempts})");
}
