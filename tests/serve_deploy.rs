//! `fleet serve` deploys (issue 7): `/deploy` comments and merges, end to end. The App runs as
//! the real binary; GitHub is the OpenAPI-checked fake (tests/support/fake_github.rs with
//! fake_github_deploy.rs); docker, the registry and the "server" (sshd on this machine) are the
//! real test world. Webhook payloads are the real fixtures, rewritten to our repository.

#[path = "support/fake_github.rs"]
mod fake_github;
mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use fake_github::deploy::FakePull;
use fake_github::{FakeGitHub, app_key, fixtures_external};
use fleetflow::webhook::sign;
use serde_json::{Value, json};

const SECRET: &str = "deploy-test-secret";
const APP_ID: u64 = 4343;
const INSTALLATION: u64 = 88;
const REPO: &str = "acme/monorepo";
const BASE: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const HEAD: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
/// Like HEAD, but the server's SSH port is closed.
const DEAD: &str = "dddddddddddddddddddddddddddddddddddddddd";
/// Like HEAD, but the registry drops the `deploy-policy "live"` block.
const LIFTED: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
/// Like HEAD, but the server `box` deploys to another path.
const MOVED: &str = "ffffffffffffffffffffffffffffffffffffffff";
const PR: u64 = 7;
const FORK_PR: u64 = 8;
const LIFTING_PR: u64 = 10;
const MOVING_PR: u64 = 11;

struct Scenario {
    world: support::TestWorld,
    project: String,
    fake: FakeGitHub,
    app: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
    deliveries: std::sync::atomic::AtomicU32,
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let _ = self.app.kill();
        let _ = self.app.wait();
        for project in [
            self.project.clone(),
            format!("{}-q", self.project),
            format!("{}-o", self.project),
        ] {
            self.world.remove_project(&project, "live");
        }
    }
}

fn registry_kdl(world: &support::TestWorld, deploy_path: &str, port: u16) -> String {
    format!(
        r#"registry "acme"

fleet "creo" {{
    path "fleets/creo"
}}
fleet "quiet" {{
    path "fleets/quiet"
}}
fleet "other" {{
    path "fleets/other"
}}

server "box" {{
    ssh-host "{host}"
    ssh-port {port}
    ssh-user "{user}"
    deploy-path "{deploy_path}"
}}

deployment {{
    route fleet="creo" stage="live" server="box" auto-deploy=#true
    route fleet="quiet" stage="live" server="box"
    route fleet="other" stage="live" server="box" auto-deploy=#true
}}

deploy-policy "live" {{
    permission "maintain"
    teams "acme/deployers"
}}
"#,
        host = world.ssh_host,
        user = world.ssh_user,
    )
}

fn creo_kdl(project: &str, marker: &str) -> String {
    format!(
        "project \"{project}\"\n\nservice \"site\" {{\n    build {{\n        context \".\"\n    }}\n    command \"sh\" \"-c\" \
         \"trap 'exit 0' TERM; cat /marker; while :; do sleep 1; done\"\n}}\n\nstage \"live\" {{\n    service \"site\"\n}}\n// {marker}\n"
    )
}

/// A fleet running the test world's busybox from its registry (pullable on the "server").
fn simple_kdl(project: &str, registry: &str) -> String {
    format!(
        "project \"{project}\"\nservice \"x\" {{\n    image \"{registry}/fleetflow/busybox:latest\"\n    command \"sh\" \"-c\" \
         \"trap 'exit 0' TERM; while :; do sleep 1; done\"\n}}\nstage \"live\"\n"
    )
}

impl Scenario {
    async fn start() -> Scenario {
        let world = support::test_world();
        let project = support::unique("creo");
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = app_key(dir.path());
        let fake = FakeGitHub::start(APP_ID, &[INSTALLATION], &public).await;
        let deploy_path = dir.path().join("server");
        let dp = deploy_path.display().to_string();
        let dockerfile = "FROM fleetflow/busybox:latest\nCOPY marker /marker\n";
        let commit = |registry: String, marker: &str, quiet: &str| -> Vec<(String, String)> {
            vec![
                ("fleet-registry.kdl".into(), registry),
                ("fleets/creo/.fleetflow/fleet.kdl".into(), creo_kdl(&project, marker)),
                ("fleets/creo/Dockerfile".into(), dockerfile.into()),
                ("fleets/creo/marker".into(), format!("{marker}\n")),
                (
                    "fleets/quiet/.fleetflow/fleet.kdl".into(),
                    simple_kdl(&format!("{project}-q"), &world.registry) + quiet,
                ),
                (
                    "fleets/other/.fleetflow/fleet.kdl".into(),
                    simple_kdl(&format!("{project}-o"), &world.registry),
                ),
            ]
        };
        {
            let mut w = fake.world();
            let registry = registry_kdl(&world, &dp, world.ssh_port);
            let without_policy = registry[..registry.find("deploy-policy").unwrap()].to_owned();
            let moved = registry.replace(&dp, &format!("{dp}-elsewhere"));
            for (sha, files) in [
                // The default branch: its registry holds the deploy rules.
                ("main", commit(registry.clone(), "one", "")),
                (BASE, commit(registry.clone(), "one", "")),
                (HEAD, commit(registry.clone(), "two", "// changed\n")),
                (
                    DEAD,
                    commit(registry_kdl(&world, &dp, closed_port()), "two", "// changed\n"),
                ),
                (LIFTED, commit(without_policy, "two", "// changed\n")),
                (MOVED, commit(moved, "two", "// changed\n")),
            ] {
                let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
                w.add_commit(REPO, sha, &files);
            }
            for (number, head, head_repo) in [
                (PR, HEAD, REPO),
                (FORK_PR, HEAD, "mallory/monorepo"),
                (9, DEAD, REPO),
                (LIFTING_PR, LIFTED, REPO),
                (MOVING_PR, MOVED, REPO),
            ] {
                w.deploy.pulls.insert(
                    (REPO.into(), number),
                    FakePull {
                        head_sha: head.into(),
                        base_sha: BASE.into(),
                        head_repo: head_repo.into(),
                    },
                );
            }
            w.deploy.permissions.insert("alice".into(), "write".into());
            w.deploy.permissions.insert("bob".into(), "read".into());
            w.deploy.permissions.insert("carol".into(), "write".into());
            w.deploy.permissions.insert("dana".into(), "admin".into());
            w.deploy.team_members.push(("acme/deployers".into(), "alice".into()));
        }
        let port = closed_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let app = Command::new(env!("CARGO_BIN_EXE_fleet"))
            .arg("serve")
            .args(["--listen", &addr.to_string()])
            .args(["--github-api-url", &fake.url()])
            .args([
                "--database",
                &format!("sqlite://{}", dir.path().join("fleet.db").display()),
            ])
            .args(["--workers", "2"])
            .env("GITHUB_APP_ID", APP_ID.to_string())
            .env("GITHUB_APP_PRIVATE_KEY", &key)
            .env("GITHUB_WEBHOOK_SECRET", SECRET)
            .env("FLEET_IMAGE_REGISTRY", format!("{}/acme", world.registry))
            .env("FLEET_REMOTE_BINARY", env!("CARGO_BIN_EXE_fleet"))
            .env("DOCKER_CONFIG", &world.docker_config)
            .env("FLEET_SSH_KEY", &world.ssh_key)
            .env("FLEET_SSH_KNOWN_HOSTS", &world.ssh_known_hosts)
            .env("FLEET_SSH_CONNECT_TIMEOUT", "3")
            .env("RUST_LOG", "info")
            .spawn()
            .expect("fleet serve starts");
        let s = Scenario {
            world,
            project,
            fake,
            app,
            addr,
            _dir: dir,
            http: reqwest::Client::new(),
            deliveries: Default::default(),
        };
        s.wait_healthy().await;
        s
    }

    async fn wait_healthy(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(r) = self.http.get(format!("http://{}/healthz", self.addr)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fleet serve did not become healthy");
    }

    async fn deliver(&self, event: &str, body: Value) -> Value {
        let body = serde_json::to_vec(&body).unwrap();
        let n = self.deliveries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let r = self
            .http
            .post(format!("http://{}/webhook", self.addr))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", format!("delivery-{n}"))
            .header("X-Hub-Signature-256", sign(SECRET, &body))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
        r.json().await.unwrap()
    }

    /// A `/deploy …` (or any) comment by `login` on pull request `number`.
    async fn comment(&self, number: u64, login: &str, body: &str) -> Value {
        let id = {
            let mut w = self.fake.world();
            w.add_human_comment(REPO, number, body);
            w.comments.last().unwrap().id
        };
        let mut p = fixture("issue_comment", "created.with-installation.payload.json");
        rewrite_repo(&mut p);
        p["issue"]["number"] = json!(number);
        p["issue"]["pull_request"] = json!({ "url": format!("https://api.github.com/repos/{REPO}/pulls/{number}") });
        p["comment"]["id"] = json!(id);
        p["comment"]["body"] = json!(body);
        p["comment"]["user"]["login"] = json!(login);
        p["comment"]["user"]["type"] = json!("User");
        self.deliver("issue_comment", p).await
    }

    async fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&fake_github::World) -> bool) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if done(&self.fake.world()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let w = self.fake.world();
        panic!(
            "timed out waiting for {what}; calls: {:?}\nviolations: {:?}\ncomments: {:#?}",
            w.calls,
            w.violations,
            w.comments.iter().map(|c| &c.body).collect::<Vec<_>>()
        );
    }

    fn bot_replies(&self, number: u64) -> Vec<String> {
        let w = self.fake.world();
        w.bot_comments(REPO, number).into_iter().map(|c| c.body).collect()
    }

    fn running(&self) -> Vec<String> {
        self.world.running(&self.project)
    }

    fn assert_no_violations(&self) {
        let w = self.fake.world();
        assert!(
            w.violations.is_empty(),
            "requests the OpenAPI subset rejects: {:#?}",
            w.violations
        );
    }
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn fixture(event: &str, file: &str) -> Value {
    let path: PathBuf = fixtures_external().join("webhooks").join(event).join(file);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn rewrite_repo(p: &mut Value) {
    let (owner, name) = REPO.split_once('/').unwrap();
    p["installation"]["id"] = json!(INSTALLATION);
    p["repository"]["name"] = json!(name);
    p["repository"]["full_name"] = json!(REPO);
    p["repository"]["owner"]["login"] = json!(owner);
}

fn deploy_finished(w: &fake_github::World, n: usize) -> bool {
    w.deploy
        .deployments
        .iter()
        .filter(|d| d.statuses.last().is_some_and(|s| s == "success" || s == "failure"))
        .count()
        >= n
}

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
    let w = s.fake.world();
    assert!(w.deploy.deployments.is_empty());
    assert_eq!(w.deploy.tarballs_served, 0, "no source was downloaded");
    assert!(w.deploy.reactions.is_empty());
    drop(w);
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
    let w = s.fake.world();
    assert!(w.deploy.deployments.is_empty());
    assert_eq!(w.deploy.tarballs_served, 0, "no source was downloaded");
    drop(w);
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
    assert_eq!(w.deploy.deployments[0].statuses, ["in_progress", "success"]);
    drop(w);
    assert_eq!(s.running().len(), 1);
    s.assert_no_violations();
}
