//! One pull request, planned by both front ends over the same core: the App (`fleet serve`'s
//! plan job, reading the files at the PR's base and head commits through the contents API of
//! the fake GitHub) and the Action (`fleet action` as the runner runs it, on a git checkout
//! with the same two commits, against another fake GitHub). Each posts its plan as the PR's
//! comment; the two bodies must be the same, byte for byte.

#[path = "support/action_runner.rs"]
mod action_runner;
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
