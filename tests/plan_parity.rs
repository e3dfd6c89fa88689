//! One pull request, planned by both front ends over the same core: the App (`fleet serve`'s
//! plan job, reading the files at the PR's base and head commits through the contents API of
//! the fake GitHub) and the Action (`fleet action` as the runner runs it, on a git checkout
//! with the same two commits, against another fake GitHub). Each posts its plan as the PR's
//! comment; the two bodies must be the same, byte for byte.
//! A second pull request changes infrastructure the repository's committed
//! `.fleetflow/state.json` records: both front ends must plan with that state.

#[path = "support/action_runner.rs"]
mod action_runner;
#[path = "support/databases.rs"]
mod databases;
#[path = "support/fake_github.rs"]
mod fake_github;
#[path = "support/serve_harness.rs"]
mod serve_harness;

use std::path::Path;

use fleetflow::plan::PLAN_MARKER;

/// The pull request's number in both deliveries (the Action's event fixture says 2).
const NUMBER: u64 = 2;

/// Every file of commit `sha` of the checkout at `ws`: (path from the repository root, text),
/// as the contents API serves them for that commit.
fn files_at(ws: &Path, sha: &str) -> Vec<(String, String)> {
    action_runner::git(ws, &["ls-tree", "-r", "--name-only", sha])
        .lines()
        .map(|path| {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(ws)
                .args(["show", &format!("{sha}:{path}")])
                .output()
                .expect("git show");
            assert!(out.status.success(), "git show {sha}:{path}");
            let text = String::from_utf8(out.stdout).unwrap_or_else(|_| panic!("{path} is not text"));
            (path.to_owned(), text)
        })
        .collect()
}

/// The Action tests' repository (the web fleet's live port changes), with a second commit on
/// the PR so every kind of change shows: a service added to one fleet, a setting of another
/// fleet's stage changed, and a stage (with its service) removed.
fn pull_request_repo() -> action_runner::Repo {
    let mut repo = action_runner::Repo::new(false);
    let ws = repo.ws();
    let jobs = ws.join("fleets/jobs/.fleetflow/fleet.kdl");
    let text = std::fs::read_to_string(&jobs).unwrap();
    let text = text.replacen(
        "\nstage \"local\"",
        "\nservice \"cleaner\" {\n    image \"fleetflow/busybox:latest\"\n    command \"sh\" \"-c\" \"sleep 3600\"\n}\n\nstage \"local\"",
        1,
    );
    assert!(text.contains("cleaner"));
    std::fs::write(&jobs, text).unwrap();
    let api = ws.join("fleets/api/.fleetflow/fleet.kdl");
    let text = std::fs::read_to_string(&api).unwrap();
    assert!(text.contains("LOG_LEVEL \"warn\""));
    std::fs::write(&api, text.replace("LOG_LEVEL \"warn\"", "LOG_LEVEL \"error\"")).unwrap();
    let web = ws.join("fleets/web/.fleetflow/fleet.kdl");
    let text = std::fs::read_to_string(&web).unwrap();
    let local = "stage \"local\" {\n    service \"site\"\n}\n\n";
    assert!(text.contains(local), "{text}");
    std::fs::write(&web, text.replace(local, "")).unwrap();
    action_runner::git(
        &ws,
        &[
            "commit",
            "-q",
            "-am",
            "jobs: cleaner; api: quieter; web: no local stage",
        ],
    );
    repo.head = action_runner::git(&ws, &["rev-parse", "HEAD"]);
    repo
}

/// The plan comment the App posts for the PR, with its repository holding `repo`'s commits.
async fn app_comment(repo: &action_runner::Repo) -> String {
    use serve_harness::{Harness, REPO, completed, pull_request};
    let h = Harness::new().await;
    {
        let mut w = h.fake.world();
        for sha in [&repo.base, &repo.head] {
            let files = files_at(&repo.ws(), sha);
            let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
            w.add_commit(REPO, sha, &files);
        }
    }
    let app = h.start().await;
    let body = pull_request("opened", NUMBER, &repo.head, &repo.base);
    let (status, reply) = h.deliver_signed(app.addr, "pull_request", "d-parity", &body).await;
    assert_eq!(status, 202, "{reply}");
    h.wait_for("the App's plan", |w| completed(w, 1)).await;
    let comment = {
        let w = h.fake.world();
        assert!(w.violations.is_empty(), "{:?}", w.violations);
        let run = &w.check_runs[0];
        assert_eq!(run.head_sha, repo.head);
        assert_eq!(run.conclusion.as_deref(), Some("success"), "{:?}", run.summary);
        let bot = w.bot_comments(REPO, NUMBER);
        assert_eq!(bot.len(), 1, "{:?}", w.comments);
        bot[0].body.clone()
    };
    app.shutdown().await;
    comment
}

/// The plan comment the Action posts for the PR, run on `repo`'s checkout at its head.
async fn action_comment(repo: &action_runner::Repo) -> String {
    use action_runner::{ACTIONS_BOT, Invocation, fake, get, pr_event, report};
    let (fake, _keys) = fake().await;
    let event = pr_event(repo);
    assert_eq!(event["pull_request"]["number"], NUMBER);
    let (out, outputs, summary) = Invocation::new(repo, "pull_request", &event, &fake.url()).run().await;
    assert!(out.status.success(), "{}", report(&out));
    assert_eq!(get(&outputs, "plan-has-changes"), "true");
    let w = fake.world();
    assert!(w.violations.is_empty(), "{:?}", w.violations);
    let ours: Vec<_> = w.comments.iter().filter(|c| c.login == ACTIONS_BOT).collect();
    assert_eq!(ours.len(), 1, "{:?}", w.comments);
    assert_eq!(ours[0].issue, NUMBER);
    // The step summary is the same markdown, with a closing newline.
    assert_eq!(summary, format!("{}\n", ours[0].body));
    ours[0].body.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_and_the_action_post_the_same_plan_for_the_same_pull_request() {
    let repo = pull_request_repo();
    let app = app_comment(&repo).await;
    let action = action_comment(&repo).await;
    assert!(app.starts_with(PLAN_MARKER), "{app}");
    // The plan covers every kind of change, so the comparison is not of two trivial plans.
    for shown in [
        "28081",
        "cleaner",
        "LOG_LEVEL",
        "web:local/service.site will be destroyed",
    ] {
        assert!(app.contains(shown), "{shown} missing from\n{app}");
    }
    assert_eq!(
        app, action,
        "the App's plan comment (left) and the Action's (right) differ"
    );
}

/// The jobs fleet's `dev` stage at the base: a Sakura Cloud server and a DNS zone with one
/// literal record (declared, but never applied: the state does not record it).
const DEV_BASE: &str = r#"
providers {
    sakura-cloud { zone "tk1a" }
    cloudflare { account-id "0123456789abcdef" }
}

stage "dev" {
    server "jobs-dev-01" {
        provider "sakura-cloud"
        plan core=2 memory=4
        disk size=40 os="ubuntu-24.04"
    }
    dns "jobs.example.net" {
        record "www" type="CNAME" value="jobs.example.net" ttl=300
    }
}
"#;

/// The server as the provider recorded it when it was applied.
const SERVER_IP: &str = "203.0.113.7";
const STATE: &str = r#"{
  "version": 1,
  "resources": [
    {
      "address": "jobs:dev/server.jobs-dev-01",
      "provider": "sakura-cloud",
      "id": "113600000001",
      "attributes": {
        "core": "2",
        "disk-size": "40",
        "ip": "203.0.113.7",
        "memory": "4",
        "os": "ubuntu-24.04",
        "power": "up"
      },
      "created_at": "2024-01-01T00:00:00Z"
    }
  ]
}
"#;

/// A pull request on infrastructure the repository records: the base declares the jobs
/// fleet's `dev` server (and a DNS record never applied); the head gives the server more memory,
/// adds an A record pointing at its address, and commits `.fleetflow/state.json` (beside the
/// registry) recording the applied server with its attributes.
fn recorded_infrastructure_repo() -> action_runner::Repo {
    let mut repo = action_runner::Repo::new(false);
    let ws = repo.ws();
    let jobs = ws.join("fleets/jobs/.fleetflow/fleet.kdl");
    let text = std::fs::read_to_string(&jobs).unwrap();
    std::fs::write(&jobs, format!("{text}{DEV_BASE}")).unwrap();
    action_runner::git(&ws, &["commit", "-q", "-am", "jobs: dev server"]);
    repo.base = action_runner::git(&ws, &["rev-parse", "HEAD"]);
    let text = std::fs::read_to_string(&jobs).unwrap();
    let record = "record \"www\"";
    assert!(text.contains("plan core=2 memory=4") && text.contains(record));
    let text = text.replace("plan core=2 memory=4", "plan core=2 memory=8").replace(
        record,
        "record \"api\" type=\"A\" value=server.jobs-dev-01.ip proxied=#true\n        record \"www\"",
    );
    std::fs::write(&jobs, text).unwrap();
    std::fs::create_dir_all(ws.join(".fleetflow")).unwrap();
    std::fs::write(ws.join(".fleetflow/state.json"), STATE).unwrap();
    action_runner::git(&ws, &["add", "-A"]);
    action_runner::git(
        &ws,
        &["commit", "-q", "-m", "jobs: dev server memory 8, api record; state"],
    );
    repo.head = action_runner::git(&ws, &["rev-parse", "HEAD"]);
    repo
}

/// The configuration of `repo` at commit `sha` (from a worktree checked out under `into`), as
/// the Action loads its checkout.
fn snapshot_at(repo: &action_runner::Repo, sha: &str, into: &Path) -> fleetflow::plan::Snapshot {
    let tree = into.join(sha);
    action_runner::git(
        &repo.ws(),
        &["worktree", "add", "-q", "--detach", tree.to_str().unwrap(), sha],
    );
    let registry = tree.join("fleet-registry.kdl");
    let workspace = fleetflow::config::load::load_registry_file(&registry, fleetflow::config::LoadOptions::default())
        .unwrap_or_else(|e| panic!("{sha}: {e}"));
    fleetflow::plan::Snapshot::from_workspace(&workspace)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_and_the_action_plan_with_the_state_the_pull_request_records() {
    use fleetflow::plan::state::State;
    use fleetflow::plan::{COMMENT_LIMIT, plan, render_markdown};
    use fleetflow::state_store::StateStore;
    let repo = recorded_infrastructure_repo();
    let app = app_comment(&repo).await;
    let action = action_comment(&repo).await;
    assert_eq!(
        app, action,
        "the App's plan comment (left) and the Action's (right) differ"
    );

    // The same plan in-process, with and without the recorded state.
    let trees = tempfile::tempdir().unwrap();
    let base = snapshot_at(&repo, &repo.base, trees.path());
    let head = snapshot_at(&repo, &repo.head, trees.path());
    let state: State = StateStore::new(trees.path().join(&repo.head).join(".fleetflow"))
        .load_if_exists()
        .expect("the committed state reads")
        .expect("the head commits a state");
    assert_eq!(state, State::parse(STATE).unwrap());
    let with_state = render_markdown(&plan(Some(&base), &head, Some(&state)), COMMENT_LIMIT);
    let without = render_markdown(&plan(Some(&base), &head, None), COMMENT_LIMIT);
    assert_ne!(with_state, without, "the state does not change the plan");
    assert_eq!(app, with_state, "the posted plan is not the one with the state");

    // How the state changes it: the new record takes the server's recorded address, and the
    // record the state does not hold is still to be created; the server's change is the same.
    let resized = "jobs:dev/server.jobs-dev-01 will be updated in-place";
    for shown in [resized, r#"plan = "2core-4gb" -> "2core-8gb""#] {
        assert!(with_state.contains(shown), "{shown}:\n{with_state}");
        assert!(without.contains(shown), "{shown}:\n{without}");
    }
    assert!(
        with_state.contains("Plan: 2 to add, 1 to change, 0 to destroy."),
        "{with_state}"
    );
    assert!(
        without.contains("Plan: 1 to add, 1 to change, 0 to destroy."),
        "{without}"
    );
    assert!(with_state.contains(&format!("= \"{SERVER_IP}\"")), "{with_state}");
    assert!(!with_state.contains("known after apply"), "{with_state}");
    assert!(!without.contains(SERVER_IP), "{without}");
    assert!(without.contains("= (known after apply)"), "{without}");
    let www = "jobs:dev/dns-record.jobs.example.net/www will be created";
    assert!(with_state.contains(www), "{with_state}");
    assert!(!with_state.contains("Not applied yet"), "{with_state}");
    // Without a state nothing counts as applied: what the base declares (the record, the
    // server) is listed apart as what `fleet apply` would also make.
    let (changes, unapplied) = without.split_once("**Not applied yet:**").expect("listed apart");
    assert!(!changes.contains("dns-record.jobs.example.net/www"), "{without}");
    assert!(
        unapplied.contains("`+ jobs:dev/dns-record.jobs.example.net/www` will be created"),
        "{without}"
    );
    assert!(
        unapplied.contains("`+ jobs:dev/server.jobs-dev-01` will be created"),
        "{without}"
    );
}
