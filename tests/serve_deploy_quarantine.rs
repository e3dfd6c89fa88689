//! A deploy job the process died under is quarantined at the next start: its deployment and
//! its reply comment end as failed (saying it stopped the server and how to retry), and its
//! fleet+stage lock is released, so the next `/deploy` runs. End to end on the deploy scenario
//! (real binary, test world); the source download hangs to hold the job mid-run.

#[path = "support/deploy_scenario.rs"]
mod deploy_scenario;
#[path = "support/fake_github.rs"]
mod fake_github;
mod support;

use std::time::Duration;

use deploy_scenario::*;
use fleetflow::application::jobs::db::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_the_server_died_under_fails_its_deployment_and_reply_and_frees_the_lock() {
    let mut s = Scenario::start().await;
    // The command job reads the configuration from one tarball; the deploy's source download hangs.
    s.fake.world().deploy.tarballs_before_hang = 1;
    s.fake.world().deploy.hang_tarball = true;
    s.comment(PR, "alice", "/deploy quiet live").await;
    s.wait_for("the deploy to be mid-run", Duration::from_secs(60), |w| {
        w.deploy
            .deployments
            .first()
            .is_some_and(|d| d.statuses == ["in_progress"])
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.kill_app();
    s.fake.world().deploy.hang_tarball = false;
    s.restart_app().await;
    s.wait_for("the quarantined deploy's reply", Duration::from_secs(30), |w| {
        w.bot_comments(REPO, PR)
            .iter()
            .any(|c| c.body.contains("stopped the server"))
    })
    .await;
    {
        let w = s.fake.world();
        assert_eq!(w.deploy.deployments[0].statuses, ["in_progress", "failure"]);
        let replies = w.bot_comments(REPO, PR);
        assert_eq!(replies.len(), 1, "the one reply, edited");
        let reply = &replies[0].body;
        assert!(reply.contains("will not be retried"), "{reply}");
        assert!(reply.contains("/deploy quiet live"), "how to retry: {reply}");
    }
    let store = Store::open(&s.db_url()).await.unwrap();
    assert_eq!(store.job_counts().await.unwrap().quarantined, 1);
    store.close().await;
    // The lock of quiet:live went with the quarantine: the next request deploys.
    s.comment(PR, "alice", "/deploy quiet live").await;
    s.wait_for("the second deploy", Duration::from_secs(120), |w| {
        w.deploy
            .deployments
            .get(1)
            .is_some_and(|d| d.statuses.last().is_some_and(|st| st == "success"))
    })
    .await;
    assert_eq!(s.fake.world().deploy.deployments.len(), 2);
    s.assert_no_violations();
}
