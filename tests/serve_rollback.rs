//! `/rollback` through `fleet serve`: the same permission and policy rules as `/deploy`, no
//! build, a GitHub deployment, and the rollback in the server's history. GitHub is the
//! OpenAPI-checked fake; docker, the registry and the server (sshd) are the real test world.

#[path = "support/deploy_scenario.rs"]
mod deploy_scenario;
#[path = "support/fake_github.rs"]
mod fake_github;
mod support;

use std::time::Duration;

use deploy_scenario::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_comment_runs_the_recorded_images_again_and_a_reader_is_refused() {
    let s = Scenario::start().await;
    s.comment(PR, "alice", "/deploy creo live").await;
    s.wait_for("the deploy", Duration::from_secs(120), |w| deploy_finished(w, 1))
        .await;

    // A reader: refused by the same rules as /deploy; nothing runs.
    s.comment(PR, "bob", "/rollback creo live").await;
    // A word that names no deploy: one reply.
    s.comment(PR, "alice", "/rollback creo live $(id)").await;
    s.wait_for("two replies", Duration::from_secs(30), |w| {
        w.bot_comments(REPO, PR)
            .iter()
            .filter(|c| c.body.contains("@bob") || c.body.contains("$(id)"))
            .count()
            >= 2
    })
    .await;
    let replies = s.bot_replies(PR);
    let bob = replies.iter().find(|r| r.contains("@bob")).expect("a reply to bob");
    assert!(
        bob.contains("may not deploy to `live`") && bob.contains("Nothing was run"),
        "{bob}"
    );
    let bad = replies
        .iter()
        .find(|r| r.contains("$(id)"))
        .expect("a reply to the bad word");
    assert!(bad.contains("is neither `previous` nor a commit"), "{bad}");
    assert_eq!(
        s.fake.world().deploy.deployments.len(),
        1,
        "no deployment for a refusal"
    );

    // A writer: the commit's recorded images run again; nothing is built.
    s.comment(PR, "alice", "/rollback creo live bbbbbbb").await;
    s.wait_for("the rollback", Duration::from_secs(120), |w| deploy_finished(w, 2))
        .await;
    s.wait_for("the rollback's final reply", Duration::from_secs(10), |w| {
        w.bot_comments(REPO, PR)
            .iter()
            .any(|c| c.body.contains("✅ Rolled `live` back to `bbbbbbb`"))
    })
    .await;
    {
        let w = s.fake.world();
        let d = &w.deploy.deployments[1];
        assert_eq!(d.environment, "creo-live");
        assert_eq!(d.statuses, ["in_progress", "success"], "{:?}", d.descriptions);
        let reply = w
            .bot_comments(REPO, PR)
            .into_iter()
            .find(|c| c.body.contains("Roll back `creo` → `live`** to `bbbbbbb`"))
            .expect("the rollback's reply");
        assert!(
            !reply.history.iter().any(|b| b.contains("Building")),
            "{:#?}",
            reply.history
        );
        assert!(
            reply.history.iter().any(|b| b.contains("nothing is built")),
            "{:#?}",
            reply.history
        );
        assert!(reply.body.contains("creo:live → box | ok"), "{}", reply.body);
    }
    assert_eq!(s.running(), [format!("{}-live-site", s.project)]);
    let history = s
        .deploy_path()
        .join(format!(".fleetflow/history/{}-live.jsonl", s.project));
    let lines = std::fs::read_to_string(&history).expect("the server keeps the history");
    let kinds: Vec<String> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("JSON")["kind"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, ["deploy", "rollback"], "{lines}");
    assert!(lines.contains(&format!("\"commit\":\"{HEAD}\"")), "{lines}");
    s.assert_no_violations();
}
