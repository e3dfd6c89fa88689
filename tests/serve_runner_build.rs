//! Builds on GitHub's runners (issue 17): with `builds "github-actions" workflow="…"` in the
//! default branch's registry, `/deploy` dispatches that workflow on the default branch with the
//! fleet, stage and commit (the fake GitHub holds to the REST description and GitHub's rules:
//! `actions: write`, declared inputs only), the test plays the runner — the real `fleet action`
//! in build mode on a checkout of the commit, pushing to the test registry and reporting its
//! digests on a check run —, and the App follows the run (the `workflow_run` webhook, or
//! polling without it), takes the digests, and deploys over SSH without building itself.

#[path = "support/action_runner.rs"]
mod action_runner;
#[path = "support/databases.rs"]
mod databases;
#[path = "support/deploy_scenario.rs"]
mod deploy_scenario;
#[path = "support/fake_github.rs"]
mod fake_github;
mod support;

use std::path::Path;
use std::time::Duration;

use deploy_scenario::*;
use fake_github::deploy::FakePull;
use serde_json::{Value, json};

const WORKFLOW: &str = "fleet-build.yml";
const RUNNER_PR: u64 = 30;

/// The scenario with the default branch building on runners, and pull request RUNNER_PR whose
/// head is a real commit of a git checkout (what the runner builds): (scenario, checkout, sha).
async fn runner_scenario(app_env: Vec<(String, String)>) -> (Scenario, tempfile::TempDir, String) {
    replicated_runner_scenario(None, 1, app_env).await
}

/// [`runner_scenario`] with `replicas` processes of the App on `database`.
async fn replicated_runner_scenario(
    database: Option<String>,
    replicas: usize,
    app_env: Vec<(String, String)>,
) -> (Scenario, tempfile::TempDir, String) {
    let s = Scenario::start_on(database, replicas, app_env).await;
    let checkout = tempfile::tempdir().unwrap();
    let sha = {
        let mut w = s.fake.world();
        let head = w.commits[&(REPO.to_owned(), HEAD.to_owned())].clone();
        for (path, text) in &head {
            let file = checkout.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        action_runner::git(checkout.path(), &["init", "-q", "-b", "feature"]);
        action_runner::git(checkout.path(), &["add", "-A"]);
        action_runner::git(checkout.path(), &["commit", "-q", "-m", "head"]);
        let sha = action_runner::git(checkout.path(), &["rev-parse", "HEAD"]);
        let files: Vec<(&str, &str)> = head.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        w.add_commit(REPO, &sha, &files);
        let mut main = w.commits[&(REPO.to_owned(), "main".to_owned())].clone();
        let registry = main.get_mut("fleet-registry.kdl").unwrap();
        registry.push_str(&format!("\nbuilds \"github-actions\" workflow=\"{WORKFLOW}\"\n"));
        let files: Vec<(&str, &str)> = main.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        w.add_commit(REPO, "main", &files);
        w.deploy.pulls.insert(
            (REPO.into(), RUNNER_PR),
            FakePull {
                head_sha: sha.clone(),
                base_sha: BASE.into(),
                head_repo: REPO.into(),
            },
        );
        w.actions.actions_write = true;
        let inputs = ["fleet", "stage", "sha"].map(str::to_owned).to_vec();
        w.actions.workflows.insert((REPO.into(), WORKFLOW.into()), inputs);
        w.add_user_token(action_runner::TOKEN, action_runner::ACTIONS_BOT);
        sha
    };
    (s, checkout, sha)
}

/// Waits for the App's dispatch; returns the run's id and inputs.
async fn dispatched(s: &Scenario) -> (u64, Value) {
    s.wait_for("the build workflow's dispatch", Duration::from_secs(60), |w| {
        !w.actions.runs.is_empty()
    })
    .await;
    let w = s.fake.world();
    let run = &w.actions.runs[0];
    assert_eq!((run.workflow.as_str(), run.git_ref.as_str()), (WORKFLOW, "main"));
    (run.id, run.inputs.clone())
}

/// The runner: the real `fleet action` in build mode on the checkout, as the documented
/// workflow runs it (the dispatch's inputs in the event, `push: true`).
fn run_the_action(s: &Scenario, checkout: &Path, run_id: u64, inputs: &Value) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(&event, json!({ "inputs": inputs }).to_string()).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_fleet"))
        .arg("action")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "workflow_dispatch")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_WORKSPACE", checkout)
        .env("GITHUB_REPOSITORY", REPO)
        .env("GITHUB_API_URL", s.fake.url())
        .env("GITHUB_RUN_ID", run_id.to_string())
        .env("GITHUB_SHA", "0000000000000000000000000000000000000000")
        .env("RUNNER_TEMP", dir.path())
        .env("INPUT_COMMAND", "build")
        .env("INPUT_PUSH", "true")
        .env("INPUT_REGISTRY", format!("{}/acme", s.world.registry))
        .env("INPUT_GITHUB-TOKEN", action_runner::TOKEN)
        .env("DOCKER_CONFIG", &s.world.docker_config)
        .output()
        .expect("fleet action runs")
}

fn finish_run(s: &Scenario, run_id: u64, conclusion: &str) {
    let mut w = s.fake.world();
    let run = w.actions.runs.iter_mut().find(|r| r.id == run_id).unwrap();
    run.status = "completed".into();
    run.conclusion = Some(conclusion.into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_builds_on_githubs_runners_and_deploys_the_digests_they_pushed() {
    // Polling every ten minutes: only the workflow_run webhook can end the wait in time.
    let (s, checkout, sha) = runner_scenario(vec![("FLEET_RUN_POLL".into(), "600".into())]).await;
    let accepted = s.comment(RUNNER_PR, "alice", "/deploy creo live\n").await;
    assert_eq!(accepted["status"], "queued", "{accepted}");
    let (run_id, inputs) = dispatched(&s).await;
    assert_eq!(inputs, json!({ "fleet": "creo", "stage": "live", "sha": sha }));

    let out = run_the_action(&s, checkout.path(), run_id, &inputs);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains(&format!("reported 2 pushed images on {sha}")), "{said}");
    let reported: Vec<Value> = {
        let w = s.fake.world();
        let check = (w.check_runs.iter())
            .find(|c| c.name == "fleetflow/images creo:live")
            .expect("the run reported its images");
        assert_eq!(
            (check.head_sha.as_str(), check.external_id.clone()),
            (sha.as_str(), Some(run_id.to_string()))
        );
        serde_json::from_str(check.text.as_deref().unwrap()).unwrap()
    };
    let tagged = format!("{}/acme/{}-live:sha-{}", s.world.registry, s.project, &sha[..7]);
    let pushed = reported
        .iter()
        .find(|i| i["image"] == tagged.as_str())
        .expect("the commit's tag");
    let digest = pushed["digest"].as_str().unwrap().to_owned();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");

    finish_run(&s, run_id, "success");
    let mut hook = fixture("workflow_run", "completed.payload.json");
    rewrite_repo(&mut hook);
    hook["workflow_run"]["id"] = json!(run_id);
    let told = s.deliver("workflow_run", hook).await;
    assert_eq!(told["status"], "accepted", "{told}");
    s.wait_for("the deploy", Duration::from_secs(120), |w| deploy_finished(w, 1))
        .await;

    {
        let w = s.fake.world();
        let d = &w.deploy.deployments[0];
        assert_eq!(d.statuses, ["in_progress", "success"], "{:?}", d.descriptions);
        // Looked at once after the webhook (not every poll interval: there was none).
        assert!(w.actions.run_reads[&run_id] <= 2, "{:?}", w.actions.run_reads);
        let reply = &w.bot_comments(REPO, RUNNER_PR)[0];
        let run_url = format!("https://github.com/{REPO}/actions/runs/{run_id}");
        assert!(reply.body.contains(&run_url), "{}", reply.body);
        assert!(reply.body.contains("✅ Deployed"), "{}", reply.body);
        // The App never built: every status it showed was the runners' build or the deploy.
        assert!(reply.history.iter().all(|b| !b.contains("🔨")), "{:#?}", reply.history);
        assert!(
            reply
                .history
                .iter()
                .any(|b| b.contains("Building images on GitHub's runners"))
        );
    }
    assert_eq!(s.running(), [format!("{}-live-site", s.project)]);
    // The server runs the digest the run pushed.
    let ran = std::process::Command::new("docker")
        .args(["inspect", "--format", "{{index .Config.Image}} {{.Image}}"])
        .arg(format!("{}-live-site", s.project))
        .output()
        .unwrap();
    let ran = String::from_utf8_lossy(&ran.stdout).to_string();
    let image_digests = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{json .RepoDigests}}"])
        .arg(ran.split_whitespace().nth(1).unwrap_or_default())
        .output()
        .unwrap();
    let digests = String::from_utf8_lossy(&image_digests.stdout);
    assert!(digests.contains(&digest), "runs {ran}, digests {digests}");
    s.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_build_run_deploys_nothing_and_links_the_run_found_by_polling() {
    // No webhook this time: the App looks every second.
    let (s, _checkout, _sha) = runner_scenario(vec![("FLEET_RUN_POLL".into(), "1".into())]).await;
    s.comment(RUNNER_PR, "alice", "/deploy creo live\n").await;
    let (run_id, _) = dispatched(&s).await;
    finish_run(&s, run_id, "failure");
    s.wait_for("the deploy's end", Duration::from_secs(60), |w| {
        w.bot_comments(REPO, RUNNER_PR).iter().any(|c| c.body.contains("❌"))
    })
    .await;
    let reply = s.bot_replies(RUNNER_PR).join("\n");
    assert!(reply.contains("the build run ended with `failure`"), "{reply}");
    assert!(reply.contains(&format!("actions/runs/{run_id}")), "{reply}");
    {
        let w = s.fake.world();
        assert_eq!(w.deploy.deployments[0].statuses, ["in_progress", "failure"]);
        assert_eq!(w.actions.runs.len(), 1, "dispatched once");
    }
    assert!(s.running().is_empty(), "nothing deployed");
    s.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_actions_write_the_reply_says_the_workflow_could_not_start() {
    let (s, _checkout, _sha) = runner_scenario(Vec::new()).await;
    s.fake.world().actions.actions_write = false;
    s.comment(RUNNER_PR, "alice", "/deploy creo live\n").await;
    s.wait_for("the deploy's end", Duration::from_secs(60), |w| {
        w.bot_comments(REPO, RUNNER_PR).iter().any(|c| c.body.contains("❌"))
    })
    .await;
    let reply = s.bot_replies(RUNNER_PR).join("\n");
    assert!(
        reply.contains("cannot start the build workflow `fleet-build.yml` on `main`"),
        "{reply}"
    );
    assert!(reply.contains("Resource not accessible by integration"), "{reply}");
    assert!(s.running().is_empty(), "nothing deployed");
    assert!(s.fake.world().actions.runs.is_empty());
}

/// The replica waiting for the build run dies: the one that claims the job next follows the
/// run the first dispatched (recorded with the job) — one run, one deployment, deployed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_while_waiting_for_the_run_leaves_the_next_claim_following_it() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let db = databases::TestDatabase::create(databases::Backend::Postgres, dir.path()).await;
    let env = vec![
        ("FLEET_JOB_LEASE".into(), "2".into()),
        ("FLEET_RUN_POLL".into(), "1".into()),
    ];
    let (mut s, checkout, _sha) = replicated_runner_scenario(Some(db.url.clone()), 2, env).await;
    s.comment(RUNNER_PR, "alice", "/deploy creo live\n").await;
    let (run_id, inputs) = dispatched(&s).await;
    let mut pg = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let (owner, recorded): (String, Option<i64>) =
        sqlx::query_as("SELECT lease_owner, build_run_id FROM jobs WHERE kind = 'deploy' AND state = 'running'")
            .fetch_one(&mut pg)
            .await
            .unwrap();
    assert_eq!(recorded, Some(run_id as i64), "the job records its run");
    let pid: u32 = owner.split(':').nth(1).unwrap().parse().unwrap();
    let holder = s.replica_pids().iter().position(|p| *p == pid).unwrap();
    s.kill_replica(holder);

    let out = run_the_action(&s, checkout.path(), run_id, &inputs);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    finish_run(&s, run_id, "success");
    s.wait_for("the deploy by the other replica", Duration::from_secs(120), |w| {
        deploy_finished(w, 1)
    })
    .await;
    let claims: i64 = sqlx::query_scalar("SELECT claims FROM jobs WHERE kind = 'deploy'")
        .fetch_one(&mut pg)
        .await
        .unwrap();
    assert_eq!(claims, 2, "claimed again after the kill");
    {
        let w = s.fake.world();
        assert_eq!(w.actions.runs.len(), 1, "no second dispatch");
        assert_eq!(w.deploy.deployments.len(), 1);
        assert_eq!(w.deploy.deployments[0].statuses.last().unwrap(), "success");
    }
    assert_eq!(s.running(), [format!("{}-live-site", s.project)]);
    s.assert_no_violations();
}

/// Plays the runner for the run the App dispatched: the Action builds, pushes and reports (the
/// run stays in progress: [`finish_run`] ends it).
async fn run_dispatched_build(s: &Scenario, checkout: &Path) -> (u64, String) {
    let (run_id, inputs) = dispatched(s).await;
    let out = run_the_action(s, checkout, run_id, &inputs);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let check = s
        .fake
        .world()
        .check_runs
        .iter()
        .find(|c| c.name == "fleetflow/images creo:live")
        .cloned();
    (run_id, check.and_then(|c| c.text).expect("the run reported its images"))
}

/// A merge deploys the same way: the pushed commit's registry (the default branch) builds on
/// the runners; the deploy's check run links the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_builds_on_the_runners_too_and_its_check_run_links_the_run() {
    let (s, checkout, sha) = runner_scenario(vec![("FLEET_RUN_POLL".into(), "1".into())]).await;
    {
        let mut w = s.fake.world();
        let main = w.commits[&(REPO.to_owned(), "main".to_owned())]["fleet-registry.kdl"].clone();
        w.commits
            .get_mut(&(REPO.to_owned(), sha.clone()))
            .unwrap()
            .insert("fleet-registry.kdl".into(), main);
    }
    let mut p = fixture("push", "with-installation.payload.json");
    rewrite_repo(&mut p);
    p["ref"] = json!("refs/heads/main");
    p["repository"]["default_branch"] = json!("main");
    p["before"] = json!(BASE);
    p["after"] = json!(sha);
    assert_eq!(s.deliver("push", p).await["status"], "queued");
    let (run_id, _) = run_dispatched_build(&s, checkout.path()).await;
    finish_run(&s, run_id, "success");
    s.wait_for("the merge deploy's check run", Duration::from_secs(120), |w| {
        (w.check_runs.iter()).any(|c| c.name == "fleetflow/deploy creo:live" && c.status == "completed")
    })
    .await;
    let w = s.fake.world();
    let check = (w.check_runs.iter())
        .find(|c| c.name == "fleetflow/deploy creo:live")
        .unwrap();
    assert_eq!(check.conclusion.as_deref(), Some("success"), "{:?}", check.summary);
    let summary = check.summary.clone().unwrap_or_default();
    assert!(summary.contains(&format!("actions/runs/{run_id}")), "{summary}");
    assert_eq!(w.actions.runs.len(), 1);
    drop(w);
    assert_eq!(s.running(), [format!("{}-live-site", s.project)]);
    s.assert_no_violations();
}

/// The tag was pushed again between the run and the pull: the server runs another digest than
/// the run reported, and the deploy fails saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_running_another_digest_than_the_run_pushed_fails_the_deploy() {
    let (s, checkout, _sha) = runner_scenario(vec![("FLEET_RUN_POLL".into(), "1".into())]).await;
    s.comment(RUNNER_PR, "alice", "/deploy creo live\n").await;
    // The report the App reads names another digest than the registry holds.
    let (run_id, text) = run_dispatched_build(&s, checkout.path()).await;
    let mut images: Vec<Value> = serde_json::from_str(&text).unwrap();
    let reported = format!("sha256:{}", "0".repeat(64));
    for image in &mut images {
        image["digest"] = json!(reported);
    }
    {
        let mut w = s.fake.world();
        let check = (w.check_runs.iter_mut())
            .find(|c| c.name == "fleetflow/images creo:live")
            .unwrap();
        check.text = Some(serde_json::to_string(&images).unwrap());
    }
    finish_run(&s, run_id, "success");
    s.wait_for("the deploy's end", Duration::from_secs(120), |w| {
        w.bot_comments(REPO, RUNNER_PR).iter().any(|c| c.body.contains("❌"))
    })
    .await;
    let reply = s.bot_replies(RUNNER_PR).join("\n");
    assert!(
        reply.contains(&format!("not {reported} that the build run pushed")),
        "{reply}"
    );
    assert_eq!(s.fake.world().deploy.deployments[0].statuses.last().unwrap(), "failure");
    s.assert_no_violations();
}

/// Only the workflow's own token writes as `github-actions`: a check run of the same name and
/// external id made by another App is not the run's report, and nothing deploys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_images_report_by_another_app_is_not_taken() {
    let (s, checkout, _sha) = runner_scenario(vec![("FLEET_RUN_POLL".into(), "1".into())]).await;
    s.comment(RUNNER_PR, "alice", "/deploy creo live\n").await;
    let (run_id, _) = run_dispatched_build(&s, checkout.path()).await;
    {
        let mut w = s.fake.world();
        let check = (w.check_runs.iter_mut())
            .find(|c| c.name == "fleetflow/images creo:live")
            .unwrap();
        check.app_slug = "someone-else".into();
    }
    finish_run(&s, run_id, "success");
    s.wait_for("the deploy's end", Duration::from_secs(60), |w| {
        w.bot_comments(REPO, RUNNER_PR).iter().any(|c| c.body.contains("❌"))
    })
    .await;
    let reply = s.bot_replies(RUNNER_PR).join("\n");
    assert!(reply.contains("reported no images"), "{reply}");
    assert!(s.running().is_empty(), "nothing deployed");
}
