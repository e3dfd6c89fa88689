//! `fleet serve` deploys (issue 7): `/deploy` comments and merges, end to end. The App runs as
//! the real binary; GitHub is the OpenAPI-checked fake (tests/support/fake_github.rs with
//! fake_github_deploy.rs); docker, the registry and the "server" (sshd on this machine) are the
//! real test world. Webhook payloads are the real fixtures, rewritten to our repository.

#[path = "support/deploy_scenario.rs"]
mod deploy_scenario;
#[path = "support/fake_github.rs"]
mod fake_github;
mod support;

use std::time::Duration;

use deploy_scenario::*;
use serde_json::{Value, json};

/// `/deploy creo live` by a writer in the deployers team: images pushed to the registry, the
/// container running on the server, statuses in_progress → success, the one reply edited
/// through queued → building → deploying → result. The same SHA again does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_comment_builds_pushes_and_deploys_then_a_repeat_does_nothing() {
    let s = Scenario::start().await;
    let accepted = s.comment(PR, "alice", "Looks good.\n\n/deploy creo live\n").await;
    assert_eq!(accepted["status"], "queued", "{accepted}");
    s.wait_for("the deploy", Duration::from_secs(120), |w| deploy_finished(w, 1))
        .await;
    s.wait_for("the final reply", Duration::from_secs(10), |w| {
        w.bot_comments(REPO, PR)
            .iter()
            .any(|c| c.body.contains("Deployed") || c.body.contains("failed"))
    })
    .await;
    {
        let w = s.fake.world();
        let d = &w.deploy.deployments[0];
        assert_eq!(d.environment, "creo-live");
        assert_eq!(d.sha, HEAD);
        assert_eq!(d.statuses, ["in_progress", "success"], "{:?}", d.descriptions);
        let comment_id = w
            .comments
            .iter()
            .find(|c| c.body.contains("/deploy creo live"))
            .unwrap()
            .id;
        assert!(w.deploy.reactions.contains(&(comment_id, "eyes".into())));
        let replies = w.bot_comments(REPO, PR);
        assert_eq!(replies.len(), 1, "one reply per fleet+stage");
        let history = &replies[0].history;
        let step = |needle: &str| history.iter().position(|b| b.contains(needle));
        let (queued, building, deploying, done) =
            (step("Queued"), step("Building"), step("Deploying"), step("✅ Deployed"));
        assert!(
            queued < building && building < deploying && deploying < done && done.is_some(),
            "{history:#?}"
        );
        assert!(replies[0].body.contains("creo:live → box | ok"), "{}", replies[0].body);
    }
    assert_eq!(s.running(), [format!("{}-live-site", s.project)]);
    // The image is in the registry under the commit's tag.
    let tags = s
        .http
        .get(format!(
            "http://{}/v2/acme/{}-live/tags/list",
            s.world.registry, s.project
        ))
        .basic_auth(&s.world.registry_user, Some(&s.world.registry_password))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let tags: Vec<&str> = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tags.contains(&"sha-bbbbbbb") && tags.contains(&"latest"), "{tags:?}");
    // The same SHA again: a reply saying so, no new deployment.
    s.comment(PR, "alice", "/deploy creo live").await;
    s.wait_for("the repeat's reply", Duration::from_secs(30), |w| {
        w.bot_comments(REPO, PR).iter().any(|c| c.body.contains("already runs"))
    })
    .await;
    assert_eq!(s.fake.world().deploy.deployments.len(), 1);
    s.assert_no_violations();
}

/// Refusals and mistakes: one reply each, nothing built (no deployment, no source download).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_or_mistaken_commands_get_one_reply_and_run_nothing() {
    let s = Scenario::start().await;
    // Inside a code block or a quote: not a command; not even queued.
    for body in [
        "Try:\n```\n/deploy creo live\n```",
        "> /deploy creo live\n\nno thanks",
        "Use `/deploy creo live`",
    ] {
        let r = s.comment(PR, "alice", body).await;
        assert_eq!(r["status"], "accepted", "{body:?} → {r}");
    }
    // A read-only user: refused by permission and the registry's deploy-policy.
    s.comment(PR, "bob", "/deploy creo live").await;
    // A typo'd fleet: one reply with the suggestion.
    s.comment(PR, "alice", "/deploy creoo live").await;
    // From a fork: refused whoever asks.
    s.comment(FORK_PR, "alice", "/deploy creo live").await;
    s.wait_for("three replies", Duration::from_secs(30), |w| {
        w.bot_comments(REPO, PR).len() >= 2 && !w.bot_comments(REPO, FORK_PR).is_empty()
    })
    .await;
    let replies = s.bot_replies(PR);
    assert_eq!(replies.len(), 2, "{replies:#?}");
    let bob = replies.iter().find(|r| r.contains("@bob")).expect("a reply to bob");
    assert!(
        bob.contains("may not deploy to `live`") && bob.contains("deploy-policy"),
        "{bob}"
    );
    assert!(bob.contains("Nothing was run"), "{bob}");
    let typo = replies
        .iter()
        .find(|r| r.contains("creoo"))
        .expect("a reply to the typo");
    assert!(typo.contains("Did you mean `creo`?"), "{typo}");
    let fork = &s.bot_replies(FORK_PR)[0];
    assert!(fork.contains("mallory/monorepo") && fork.contains("fork"), "{fork}");
    assert!(s.fake.world().deploy.deployments.is_empty());
    assert_no_deploy_job(&s).await;
    assert!(s.fake.world().deploy.reactions.is_empty());
    assert!(s.running().is_empty());
    s.assert_no_violations();
}

/// Two `/deploy` for the same fleet+stage at once run one after the other: the second's reply
/// says behind whom it waits, and its deployment starts after the first one ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deploys_of_one_fleet_and_stage_are_serialized() {
    let s = Scenario::start().await;
    s.comment(PR, "alice", "/deploy creo live --force").await;
    s.comment(PR, "alice", "/deploy creo live --force").await;
    s.wait_for("both deploys", Duration::from_secs(180), |w| deploy_finished(w, 2))
        .await;
    assert!(
        s.metric(0, "fleet_deploy_lock_waits_total").await >= 1.0,
        "the wait is counted"
    );
    let w = s.fake.world();
    let ds = &w.deploy.deployments;
    assert_eq!(ds.len(), 2);
    for d in ds {
        assert_eq!(d.statuses, ["in_progress", "success"]);
    }
    let (first, second) = if ds[0].status_times[0] < ds[1].status_times[0] {
        (&ds[0], &ds[1])
    } else {
        (&ds[1], &ds[0])
    };
    assert!(
        first.status_times[1] <= second.status_times[0],
        "the second started before the first ended"
    );
    // The waiting one said whom it waits for once, not at every poll of the lock.
    let waits: Vec<usize> = w
        .bot_comments(REPO, PR)
        .iter()
        .map(|c| {
            c.history
                .iter()
                .filter(|b| b.contains("Queued behind deploy #"))
                .count()
        })
        .collect();
    assert!(waits.contains(&1) && waits.iter().all(|n| *n <= 1), "{waits:?}");
    drop(w);
    s.assert_no_violations();
}

/// A merge (push to the default branch) deploys only the changed fleets whose route opts in:
/// creo (changed, auto-deploy), not quiet (changed, no auto-deploy), not other (unchanged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_push_deploys_only_changed_opted_in_fleets() {
    let s = Scenario::start().await;
    let mut p = fixture("push", "with-installation.payload.json");
    rewrite_repo(&mut p);
    p["ref"] = json!("refs/heads/main");
    p["repository"]["default_branch"] = json!("main");
    p["before"] = json!(BASE);
    p["after"] = json!(HEAD);
    let r = s.deliver("push", p.clone()).await;
    assert_eq!(r["status"], "queued", "{r}");
    s.wait_for("the merge deploy", Duration::from_secs(120), |w| deploy_finished(w, 1))
        .await;
    s.wait_for("the deploy check run", Duration::from_secs(10), |w| {
        w.check_runs.iter().any(|c| c.status == "completed")
    })
    .await;
    // Give any other (wrong) deploy the time to show up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    {
        let w = s.fake.world();
        let envs: Vec<&str> = w.deploy.deployments.iter().map(|d| d.environment.as_str()).collect();
        assert_eq!(envs, ["creo-live"]);
        assert_eq!(w.deploy.deployments[0].statuses, ["in_progress", "success"]);
        let run = w
            .check_runs
            .iter()
            .find(|c| c.name == "fleetflow/deploy creo:live")
            .expect("a check run");
        assert_eq!(
            (run.head_sha.as_str(), run.conclusion.as_deref()),
            (HEAD, Some("success"))
        );
    }
    assert_eq!(s.running(), [format!("{}-live-site", s.project)]);
    // A push to another branch deploys nothing.
    p["ref"] = json!("refs/heads/feature");
    let r = s.deliver("push", p).await;
    assert_eq!(r["status"], "accepted", "{r}");
    s.assert_no_violations();
}

/// The server cannot be reached: the deployment fails and the reply names the server and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_failure_fails_the_deployment_and_the_reply_shows_server_and_error() {
    let s = Scenario::start().await;
    // The server is down on the default branch too (the pull request does not move it).
    {
        let mut w = s.fake.world();
        let dead = w.commits[&(REPO.to_owned(), DEAD.to_owned())].clone();
        w.commits.insert((REPO.into(), "main".into()), dead);
    }
    s.comment(9, "alice", "/deploy creo live").await;
    s.wait_for("the failed deploy", Duration::from_secs(120), |w| deploy_finished(w, 1))
        .await;
    s.wait_for("the final reply", Duration::from_secs(10), |w| {
        w.bot_comments(REPO, 9).iter().any(|c| c.body.contains("failed"))
    })
    .await;
    let w = s.fake.world();
    assert_eq!(w.deploy.deployments[0].statuses, ["in_progress", "failure"]);
    let reply = &w.bot_comments(REPO, 9)[0].body;
    assert!(reply.contains("❌ Deploy failed"), "{reply}");
    assert!(reply.contains("creo:live → box"), "{reply}");
    assert!(
        reply.to_lowercase().contains("connect"),
        "the SSH error is shown: {reply}"
    );
    drop(w);
    assert!(s.running().is_empty());
    s.assert_no_violations();
}

/// `/deploy live`: every fleet the pull request changes that routes `live` (creo and quiet, not
/// the unchanged other), each with its own reply and deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_stage_deploys_every_changed_fleet_of_the_stage() {
    let s = Scenario::start().await;
    s.comment(PR, "alice", "/deploy live").await;
    s.wait_for("two deploys", Duration::from_secs(180), |w| deploy_finished(w, 2))
        .await;
    let w = s.fake.world();
    let mut envs: Vec<(&str, &str)> = w
        .deploy
        .deployments
        .iter()
        .map(|d| (d.environment.as_str(), d.statuses.last().map_or("", String::as_str)))
        .collect();
    envs.sort();
    assert_eq!(envs, [("creo-live", "success"), ("quiet-live", "success")]);
    assert_eq!(w.bot_comments(REPO, PR).len(), 2, "one reply per fleet+stage");
    drop(w);
    assert_eq!(s.world.running(&format!("{}-q", s.project)).len(), 1);
    assert!(s.world.running(&format!("{}-o", s.project)).is_empty());
    s.assert_no_violations();
}

/// The probe's first finding: a writer's pull request deleted the `deploy-policy "live"`
/// block, then its author deployed it. The policy is the default branch's: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_cannot_lift_its_own_deploy_policy() {
    let s = Scenario::start().await;
    s.comment(LIFTING_PR, "carol", "/deploy creo live").await;
    s.wait_for("the refusal", Duration::from_secs(30), |w| {
        !w.bot_comments(REPO, LIFTING_PR).is_empty()
    })
    .await;
    let reply = &s.bot_replies(LIFTING_PR)[0];
    assert!(
        reply.contains("@carol") && reply.contains("may not deploy to `live`"),
        "{reply}"
    );
    assert!(reply.contains("Nothing was run"), "{reply}");
    assert!(s.fake.world().deploy.deployments.is_empty());
    assert_no_deploy_job(&s).await;
    assert!(s.running().is_empty());
    s.assert_no_violations();
}

/// Where a deploy goes (route, server: the host, key and path the App's key connects to) is
/// the default branch's too: a pull request that changes it needs admin to deploy, even from
/// someone the stage's policy lets deploy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_where_a_deploy_goes_needs_admin() {
    let s = Scenario::start().await;
    s.comment(MOVING_PR, "alice", "/deploy creo live").await;
    s.wait_for("the refusal", Duration::from_secs(30), |w| {
        !w.bot_comments(REPO, MOVING_PR).is_empty()
    })
    .await;
    let reply = s.bot_replies(MOVING_PR)[0].clone();
    assert!(
        reply.contains("changes who may deploy or where (`server \"box\"`)"),
        "{reply}"
    );
    assert!(reply.contains("needs admin permission"), "{reply}");
    assert!(reply.contains("rules on `main`"), "{reply}");
    assert!(s.fake.world().deploy.deployments.is_empty());
    // An admin may: the deploy runs, to where the pull request says.
    s.comment(MOVING_PR, "dana", "/deploy creo live").await;
    s.wait_for("the admin's deploy", Duration::from_secs(120), |w| {
        deploy_finished(w, 1)
    })
    .await;
    let w = s.fake.world();
    let d = &w.deploy.deployments[0];
    let replies: Vec<String> = w.bot_comments(REPO, MOVING_PR).into_iter().map(|c| c.body).collect();
    assert_eq!(
        d.statuses,
        ["in_progress", "success"],
        "{:?} {replies:#?}",
        d.descriptions
    );
    drop(w);
    assert_eq!(s.running().len(), 1);
    s.assert_no_violations();
}

/// Nothing got past the checks: no deploy job was queued, so no source was downloaded to build
/// (the command job reads the configuration, from blobs or the tarball, and nothing more).
async fn assert_no_deploy_job(s: &Scenario) {
    let store = fleetflow::application::jobs::db::Store::open(&s.db_url())
        .await
        .unwrap();
    let deploys = store
        .jobs_of_kind(fleetflow::application::jobs::DEPLOY_JOB)
        .await
        .unwrap();
    store.close().await;
    assert_eq!(deploys, 0, "no deploy job, so no source was downloaded");
}

/// A `/deploy` that waited behind another deploy of its fleet and stage runs after its pull
/// request was closed: it refuses, saying so, and deploys nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_whose_pull_request_closed_while_it_waited_is_refused() {
    let s = second_deploy_waiting().await;
    {
        let mut w = s.fake.world();
        w.deploy.closed_pulls.insert((REPO.to_owned(), PR));
        w.deploy.hang_tarball = false;
    }
    s.wait_for("the refusal", Duration::from_secs(180), |w| {
        w.bot_comments(REPO, PR)
            .iter()
            .any(|c| c.body.contains("was closed before this deploy ran"))
    })
    .await;
    s.wait_for("the first deploy's end", Duration::from_secs(180), |w| {
        deploy_finished(w, 1)
    })
    .await;
    let w = s.fake.world();
    assert_eq!(w.deploy.deployments.len(), 1, "the refused one created no deployment");
    let refusal = w
        .bot_comments(REPO, PR)
        .into_iter()
        .find(|c| c.body.contains("was closed before this deploy ran"))
        .unwrap();
    assert!(
        refusal.body.contains(&format!("pull request #{PR}")),
        "{}",
        refusal.body
    );
    drop(w);
    s.assert_no_violations();
}

/// A `/deploy` that waited while its pull request moved on deploys the commit it was given,
/// and its reply says the head has moved and how to deploy that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_whose_pull_request_moved_on_deploys_its_commit_and_says_so() {
    let s = second_deploy_waiting().await;
    let given = {
        let mut w = s.fake.world();
        let pull = w.deploy.pulls.get_mut(&(REPO.to_owned(), PR)).unwrap();
        let given = pull.head_sha.clone();
        pull.head_sha = "f00df00df00df00df00df00df00df00df00df00d".into();
        w.deploy.hang_tarball = false;
        given
    };
    s.wait_for("both deploys", Duration::from_secs(240), |w| deploy_finished(w, 2))
        .await;
    let w = s.fake.world();
    assert!(
        w.deploy.deployments.iter().all(|d| d.sha == given),
        "the commit /deploy was given"
    );
    let said = w.bot_comments(REPO, PR).iter().any(|c| {
        c.history
            .iter()
            .any(|b| b.contains("the pull request's head is now `f00df00`") && b.contains(&given[..7]))
    });
    assert!(said, "{:#?}", w.bot_comments(REPO, PR));
    drop(w);
    s.assert_no_violations();
}

/// A first `/deploy creo live` held mid-run, a second waiting behind it.
async fn second_deploy_waiting() -> Scenario {
    let s = Scenario::start().await;
    s.hold_a_deploy_with_another_waiting().await;
    s
}
