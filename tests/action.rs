//! `fleet action` run as the GitHub runner runs a Docker action: GITHUB_* and INPUT_* variables
//! (hyphens kept), an event file, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, against the
//! OpenAPI-checked fake GitHub (tests/support/fake_github.rs) with a workflow token.

#[path = "support/action_runner.rs"]
mod action_runner;
#[path = "support/fake_github.rs"]
mod fake_github;
mod support;

use action_runner::*;

use fake_github::fixtures_external;
use fleetflow::plan::PLAN_MARKER;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_request_plan_writes_outputs_summary_and_one_comment_edited_on_rerun() {
    let repo = Repo::new(false);
    let (fake, _keys) = fake().await;
    let event = pr_event(&repo);

    let (out, outputs, summary) = Invocation::new(&repo, "pull_request", &event, &fake.url()).run().await;
    assert!(out.status.success(), "{}", report(&out));
    assert_eq!(get(&outputs, "plan-has-changes"), "true");
    assert!(get(&outputs, "plan-summary").contains("1 to change"), "{outputs:?}");
    let images: Value = serde_json::from_str(get(&outputs, "images")).unwrap();
    assert!(images.is_array());
    let deployed: Value = serde_json::from_str(get(&outputs, "deployed")).unwrap();
    assert_eq!(deployed, Value::Array(vec![]));
    assert!(summary.starts_with(PLAN_MARKER), "{summary}");
    assert!(summary.contains("28081"), "{summary}");

    let first = {
        let w = fake.world();
        assert!(w.violations.is_empty(), "{:?}", w.violations);
        let ours: Vec<_> = w.comments.iter().filter(|c| c.login == ACTIONS_BOT).cloned().collect();
        assert_eq!(ours.len(), 1, "{:?}", w.comments);
        assert_eq!(ours[0].issue, 2);
        assert_eq!(ours[0].edits, 0);
        assert!(ours[0].body.starts_with(PLAN_MARKER));
        ours[0].id
    };

    // A second run (a new push to the PR) edits the same comment.
    let (out, _, _) = Invocation::new(&repo, "pull_request", &event, &fake.url()).run().await;
    assert!(out.status.success(), "{}", report(&out));
    let w = fake.world();
    assert!(w.violations.is_empty(), "{:?}", w.violations);
    assert_eq!(w.comments.len(), 1, "{:?}", w.comments);
    assert_eq!(w.comments[0].id, first);
    assert_eq!(w.comments[0].edits, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_false_posts_nothing() {
    let repo = Repo::new(false);
    let (fake, _keys) = fake().await;
    let (out, outputs, summary) = Invocation::new(&repo, "pull_request", &pr_event(&repo), &fake.url())
        .input("comment", "false")
        .run()
        .await;
    assert!(out.status.success(), "{}", report(&out));
    assert_eq!(get(&outputs, "plan-has-changes"), "true");
    assert!(summary.contains(PLAN_MARKER));
    let w = fake.world();
    assert!(
        w.calls.is_empty() && w.violations.is_empty(),
        "{:?} {:?}",
        w.calls,
        w.violations
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_error_becomes_an_error_annotation() {
    let repo = Repo::new(false);
    let web = repo.ws().join("fleets/web/.fleetflow/fleet.kdl");
    let text = std::fs::read_to_string(&web).unwrap();
    std::fs::write(&web, format!("{text}\nservice \"site\" {{\n    image 42\n}}\n")).unwrap();
    let (fake, _keys) = fake().await;
    let (out, _, _) = Invocation::new(&repo, "pull_request", &pr_event(&repo), &fake.url())
        .run()
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", report(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("::error file=fleets/web/.fleetflow/fleet.kdl,line="))
        .unwrap_or_else(|| panic!("no annotation\n{}", report(&out)));
    let rest = line.split_once(",line=").unwrap().1;
    let (line_no, rest) = rest.split_once(",col=").unwrap();
    let (col, message) = rest.split_once("::").unwrap();
    assert!(line_no.parse::<usize>().unwrap() > 1, "{line}");
    assert!(col.parse::<usize>().unwrap() >= 1, "{line}");
    assert!(!message.is_empty());
    assert!(fake.world().calls.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_default_branch_plans_auto_deploy_routes_with_dry_run() {
    let repo = Repo::new(true);
    let (fake, _keys) = fake().await;
    let (out, outputs, _) = Invocation::new(&repo, "push", &push_event(&repo, "refs/heads/main"), &fake.url())
        .input("dry-run", "true")
        .run()
        .await;
    assert_planned_web_deploy(&out, &outputs);

    // Another branch deploys nothing.
    let (out, outputs, _) = Invocation::new(&repo, "push", &push_event(&repo, "refs/heads/feature"), &fake.url())
        .input("dry-run", "true")
        .run()
        .await;
    assert!(out.status.success(), "{}", report(&out));
    assert!(stdout(&out).contains("not the default branch"), "{}", report(&out));
    assert_eq!(get(&outputs, "deployed"), "[]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_comment_without_a_command_is_a_one_line_no_op() {
    let repo = Repo::new(false);
    let (fake, _keys) = fake().await;
    let path = fixtures_external().join("webhooks/issue_comment/created.payload.json");
    let event: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let (out, _, _) = Invocation::new(&repo, "issue_comment", &event, &fake.url()).run().await;
    assert!(out.status.success(), "{}", report(&out));
    assert_eq!(stdout(&out).lines().count(), 1, "{}", report(&out));
    assert!(stdout(&out).contains("no command"), "{}", report(&out));
    assert!(
        fake.world().calls.is_empty(),
        "a comment without a command calls nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_dispatch_deploys_the_given_route_and_rejects_unknown_ones() {
    let repo = Repo::new(false);
    let (fake, _keys) = fake().await;
    let event = serde_json::json!({ "inputs": { "fleet": "api", "stage": "live" }, "ref": "refs/heads/main" });
    let (out, outputs, _) = Invocation::new(&repo, "workflow_dispatch", &event, &fake.url())
        .input("dry-run", "true")
        .run()
        .await;
    assert!(out.status.success(), "{}", report(&out));
    assert!(stdout(&out).contains("Deploy plan for api"), "{}", report(&out));
    // The default image registry: ghcr.io/<owner>, lowercase.
    assert!(stdout(&out).contains("ghcr.io/codertocat"), "{}", report(&out));
    let deployed: Value = serde_json::from_str(get(&outputs, "deployed")).unwrap();
    assert_eq!(deployed[0]["fleet"], "api");
    assert_eq!(deployed[0]["status"], "planned");

    let (out, _, _) = Invocation::new(&repo, "workflow_dispatch", &event, &fake.url())
        .input("dry-run", "true")
        .input("fleet", "web")
        .input("stage", "nope")
        .run()
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", report(&out));
}

/// A deploy on merge over real SSH: the test world's sshd (this machine) is the server, and the
/// registry names neither a key nor a host key, so reaching it proves the Action's
/// `ssh-private-key` and `ssh-known-hosts` inputs are used. The server pulls the image from the
/// test world's registry (it is logged in, as a deploy server is) and the container runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_builds_pushes_and_deploys_the_changed_fleet_over_ssh_with_the_action_inputs() {
    let world = support::test_world();
    let project = support::unique("act");
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let deploy_path = dir.path().join("remote");
    let fleet_dir = ws.join("fleets").join(&project).join(".fleetflow");
    std::fs::create_dir_all(&fleet_dir).unwrap();
    let registry = format!(
        "registry \"t\"\nfleet \"{project}\" {{\n    path \"fleets/{project}\"\n}}\nfleet \"other\" {{\n    path \"fleets/other\"\n}}\nserver \"local\" {{\n    ssh-host \"{host}\"\n    ssh-port {port}\n    ssh-user \"{user}\"\n    deploy-path \"{dp}\"\n}}\ndeployment {{\n    route fleet=\"{project}\" stage=\"live\" server=\"local\" auto-deploy=#true\n    route fleet=\"other\" stage=\"live\" server=\"local\" auto-deploy=#true\n}}\n",
        host = world.ssh_host,
        port = world.ssh_port,
        user = world.ssh_user,
        dp = deploy_path.display(),
    );
    std::fs::write(ws.join("fleet-registry.kdl"), registry).unwrap();
    let fleet = |marker: &str| {
        format!(
            "project \"{project}\"\nservice \"web\" {{\n    build {{\n        context \".\"\n    }}\n    command \"sh\" \"-c\" \"trap 'exit 0' TERM; echo {marker}; while :; do sleep 1; done\"\n}}\nstage \"live\"\n"
        )
    };
    std::fs::write(fleet_dir.join("fleet.kdl"), fleet("one")).unwrap();
    std::fs::write(fleet_dir.join("../Dockerfile"), "FROM fleetflow/busybox:latest\n").unwrap();
    std::fs::create_dir_all(ws.join("fleets/other/.fleetflow")).unwrap();
    std::fs::write(
        ws.join("fleets/other/.fleetflow/fleet.kdl"),
        "project \"other\"\nservice \"x\" {\n    image \"fleetflow/busybox:latest\"\n}\nstage \"live\"\n",
    )
    .unwrap();
    git(&ws, &["init", "-q", "-b", "main"]);
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-q", "-m", "base"]);
    let base = git(&ws, &["rev-parse", "HEAD"]);
    std::fs::write(fleet_dir.join("fleet.kdl"), fleet("two")).unwrap();
    git(&ws, &["commit", "-q", "-am", "change"]);
    let head = git(&ws, &["rev-parse", "HEAD"]);
    let repo = Repo { dir, base, head };

    let (fake, _keys) = fake().await;
    let key = std::fs::read_to_string(&world.ssh_key).unwrap();
    let known = std::fs::read_to_string(&world.ssh_known_hosts).unwrap();
    let (out, outputs, _) = Invocation::new(&repo, "push", &push_event(&repo, "refs/heads/main"), &fake.url())
        .input("ssh-private-key", &key)
        .input("ssh-known-hosts", &known)
        .input("registry", &format!("{}/acme", world.registry))
        .env("DOCKER_CONFIG", &world.docker_config)
        .run()
        .await;
    let running = world.running(&project).len();
    world.remove_project(&project, "live");
    assert_eq!(out.status.code(), Some(0), "{}", report(&out));
    let text = stdout(&out);
    assert!(text.contains("[local] installed fleet"), "{}", report(&out));
    assert!(text.contains("[local] web      created"), "{}", report(&out));
    assert!(
        text.contains(&format!("{project}:live → local: ok")),
        "{}",
        report(&out)
    );
    assert_eq!(running, 1, "the container runs on the server");
    // Built from the checkout and pushed under the commit's tag, which the server ran.
    let images: Vec<String> = serde_json::from_str(get(&outputs, "images")).unwrap();
    let tag = format!("{}/acme/{project}-live:sha-{}", world.registry, &repo.head[..7]);
    assert!(images.contains(&tag), "{images:?}");
    // Only the changed fleet's auto-deploy route ran.
    let deployed: Value = serde_json::from_str(get(&outputs, "deployed")).unwrap();
    assert_eq!(
        deployed,
        serde_json::json!([{ "fleet": project, "stage": "live", "server": "local", "status": "deployed" }])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn command_build_builds_and_pushes_the_stage_images() {
    let world = support::test_world();
    let repo = Repo::new(false);
    let (fake, _keys) = fake().await;
    let cleanup = support::Cleanup::project(&world, "act");
    let pushed_to = cleanup.project.clone();
    let registry = format!("{}/fleetflow-test/{pushed_to}", world.registry);
    let event = serde_json::json!({ "inputs": {}, "ref": "refs/heads/main" });
    let (out, outputs, _) = Invocation::new(&repo, "workflow_dispatch", &event, &fake.url())
        .input("command", "build")
        .input("fleet", "web")
        .input("stage", "live")
        .input("push", "true")
        .input("registry", &registry)
        .env("DOCKER_CONFIG", &world.docker_config)
        .run()
        .await;
    assert!(out.status.success(), "{}", report(&out));
    let images: Value = serde_json::from_str(get(&outputs, "images")).expect("images is JSON");
    let image = format!("{registry}/web-live:latest");
    assert_eq!(images[0]["service"], "site");
    assert_eq!(images[0]["images"][0], image.as_str());
    assert_eq!(images[0]["pushed"], true);
    assert!(
        images[0]["images"][1].as_str().is_some_and(|t| t.contains(":sha-")),
        "{images}"
    );
    support::run_ok(world.docker().args(["rmi", &image]));
    support::run_ok(world.docker().args(["pull", &image]));
}
