//! A captured, signed delivery replayed under new delivery ids must not run its command again:
//! command jobs are deduplicated on the comment (its id and a hash of its body), not only on
//! X-GitHub-Delivery. End to end on the deploy scenario (real binary, test world).

#[path = "support/deploy_scenario.rs"]
mod deploy_scenario;
#[path = "support/fake_github.rs"]
mod fake_github;
mod support;

use std::time::Duration;

use deploy_scenario::*;
use fleetflow::application::jobs::db::Store;
use fleetflow::application::jobs::{COMMAND_JOB, DEPLOY_JOB};

/// One `/deploy` comment delivery, sent five times with five delivery ids: the first is queued,
/// the four replays are acknowledged as duplicates; one command job, one reply, one deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_deploy_comment_under_new_delivery_ids_deploys_once() {
    let s = Scenario::start().await;
    let payload = serde_json::to_vec(&s.comment_payload(PR, "alice", "/deploy quiet live")).unwrap();
    let mut answers = Vec::new();
    for i in 0..5 {
        let (status, reply) = s.deliver_as("issue_comment", &format!("replay-{i}"), &payload).await;
        answers.push((status, reply["status"].as_str().unwrap_or_default().to_owned()));
    }
    assert_eq!(answers[0], (202, "queued".to_owned()), "{answers:?}");
    for answer in &answers[1..] {
        assert_eq!(answer, &(200, "duplicate".to_owned()), "{answers:?}");
    }
    s.wait_for("the deploy", Duration::from_secs(120), |w| deploy_finished(w, 1))
        .await;
    s.wait_for("the final reply", Duration::from_secs(10), |w| {
        w.bot_comments(REPO, PR).iter().any(|c| c.body.contains("Deployed"))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // room for a wrong second deploy
    assert_eq!(s.fake.world().deploy.deployments.len(), 1);
    assert_eq!(s.bot_replies(PR).len(), 1, "{:#?}", s.bot_replies(PR));
    let store = Store::open(&s.db_url()).await.unwrap();
    assert_eq!(store.jobs_of_kind(COMMAND_JOB).await.unwrap(), 1);
    assert_eq!(store.jobs_of_kind(DEPLOY_JOB).await.unwrap(), 1);
    store.close().await;
    s.assert_no_violations();
}
