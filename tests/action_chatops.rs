//! `fleet action` on an `issue_comment`: the App's chat-ops with the workflow's token — same
//! parser, permission and deploy-policy rules, replies and deploy job — against the
//! OpenAPI-checked fake GitHub and the real test world (docker, registry, sshd).

#[path = "support/action_runner.rs"]
mod action_runner;
#[path = "support/fake_github.rs"]
mod fake_github;
mod support;

use action_runner::*;
use fake_github::deploy::FakePull;
use fake_github::fixtures_external;
use serde_json::{Value, json};

const REPO: &str = "Codertocat/Hello-World";

/// A one-commit repository with a fleet built from a Dockerfile, routed to the test world's
/// sshd; its files are also the fake's commit (contents and tarball come from there).
fn setup(world: &support::TestWorld, project: &str, fake: &fake_github::FakeGitHub) -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let deploy_path = dir.path().join("remote");
    let files: Vec<(String, String)> = vec![
        (
            "fleet-registry.kdl".into(),
            format!(
                "registry \"t\"\nfleet \"{project}\" {{\n    path \"fleets/{project}\"\n}}\nserver \"local\" {{\n    ssh-host \"{host}\"\n    ssh-port {port}\n    ssh-user \"{user}\"\n    deploy-path \"{dp}\"\n}}\ndeployment {{\n    route fleet=\"{project}\" stage=\"live\" server=\"local\"\n}}\n",
                host = world.ssh_host,
                port = world.ssh_port,
                user = world.ssh_user,
                dp = deploy_path.display(),
            ),
        ),
        (
            format!("fleets/{project}/.fleetflow/fleet.kdl"),
            format!(
                "project \"{project}\"\nservice \"web\" {{\n    build {{\n        context \".\"\n    }}\n    command \"sh\" \"-c\" \"trap 'exit 0' TERM; while :; do sleep 1; done\"\n}}\nstage \"live\"\n"
            ),
        ),
        (
            format!("fleets/{project}/Dockerfile"),
            "FROM fleetflow/busybox:latest\n".into(),
        ),
    ];
    for (path, text) in &files {
        let p = ws.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    git(&ws, &["init", "-q", "-b", "main"]);
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-q", "-m", "base"]);
    let head = git(&ws, &["rev-parse", "HEAD"]);
    {
        let mut w = fake.world();
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        w.add_commit(REPO, &head, &refs);
        // The default branch, whose registry holds the deploy rules.
        w.add_commit(REPO, "main", &refs);
        w.deploy.pulls.insert(
            (REPO.into(), 2),
            FakePull {
                head_sha: head.clone(),
                base_sha: head.clone(),
                head_repo: REPO.into(),
            },
        );
        w.deploy.permissions.insert("alice".into(), "write".into());
        w.deploy.permissions.insert("bob".into(), "read".into());
    }
    Repo {
        dir,
        base: head.clone(),
        head,
    }
}

fn comment_event(fake: &fake_github::FakeGitHub, login: &str, body: &str) -> Value {
    let id = {
        let mut w = fake.world();
        w.add_human_comment(REPO, 2, body);
        w.comments.last().unwrap().id
    };
    let path = fixtures_external().join("webhooks/issue_comment/created.payload.json");
    let mut event: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    event["issue"]["number"] = json!(2);
    event["issue"]["pull_request"] = json!({ "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/2" });
    event["comment"]["id"] = json!(id);
    event["comment"]["body"] = json!(body);
    event["comment"]["user"]["login"] = json!(login);
    event["comment"]["user"]["type"] = json!("User");
    event
}

fn replies(fake: &fake_github::FakeGitHub) -> Vec<String> {
    let w = fake.world();
    w.comments
        .iter()
        .filter(|c| c.login == ACTIONS_BOT)
        .map(|c| c.body.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_comment_builds_and_deploys_with_the_workflow_token_and_a_reader_is_refused() {
    let world = support::test_world();
    let project = support::unique("chat");
    let (fake, _keys) = fake().await;
    let repo = setup(&world, &project, &fake);
    let key = std::fs::read_to_string(&world.ssh_key).unwrap();
    let known = std::fs::read_to_string(&world.ssh_known_hosts).unwrap();

    // A reader: one reply saying why, nothing built.
    let event = comment_event(&fake, "bob", &format!("/deploy {project} live"));
    let (out, _, _) = Invocation::new(&repo, "issue_comment", &event, &fake.url()).run().await;
    assert!(out.status.success(), "{}", report(&out));
    let r = replies(&fake);
    assert_eq!(r.len(), 1, "{r:#?}");
    assert!(
        r[0].contains("@bob may not deploy to `live`") && r[0].contains("write permission"),
        "{}",
        r[0]
    );
    assert!(fake.world().deploy.deployments.is_empty());

    // A writer: built, pushed to the registry, deployed over SSH; the reply says so.
    let event = comment_event(&fake, "alice", &format!("Ship it\n/deploy {project} live"));
    let (out, outputs, _) = Invocation::new(&repo, "issue_comment", &event, &fake.url())
        .input("registry", &format!("{}/acme", world.registry))
        .input("ssh-private-key", &key)
        .input("ssh-known-hosts", &known)
        .env("DOCKER_CONFIG", &world.docker_config)
        .run()
        .await;
    let running = world.running(&project).len();
    world.remove_project(&project, "live");
    assert!(out.status.success(), "{}", report(&out));
    assert_eq!(running, 1, "the container runs on the server");
    let deployed: Value = serde_json::from_str(get(&outputs, "deployed")).unwrap();
    assert_eq!(deployed[0]["status"], "deployed", "{deployed}");
    assert_eq!(deployed[0]["fleet"], project.as_str());
    let w = fake.world();
    assert_eq!(w.deploy.deployments.len(), 1);
    assert_eq!(w.deploy.deployments[0].environment, format!("{project}-live"));
    assert_eq!(w.deploy.deployments[0].statuses, ["in_progress", "success"]);
    let last = w.comments.iter().rev().find(|c| c.login == ACTIONS_BOT).unwrap();
    assert!(last.body.contains("✅ Deployed"), "{}", last.body);
    assert!(w.violations.is_empty(), "{:#?}", w.violations);
}
