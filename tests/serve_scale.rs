//! The App at monorepo scale (issue 15): a generated 1,000-fleet monorepo, a pull request
//! opened, then 20 synchronize pushes each changing one fleet. Every plan comment and check
//! run is right, and the requests each event costs — read off the fake GitHub's rate-limit
//! counter — stay within a handful whatever the number of fleets; the whole run stays far
//! inside the installation's hourly budget.

#[path = "support/databases.rs"]
mod databases;
#[path = "support/fake_github.rs"]
mod fake_github;
#[path = "support/monorepo.rs"]
mod monorepo;
#[path = "support/serve_harness.rs"]
mod serve_harness;

use fleetflow::plan::PLAN_MARKER;
use monorepo::{fleet, fleet_path, registry};
use serve_harness::*;

const FLEETS: usize = 1_000;
const PUSHES: usize = 20;

fn sha(n: usize) -> String {
    format!("{n:040x}")
}

/// The monorepo with fleet `i` at `versions[i]`, plus source files the configuration does
/// not need (the tree lists them; they are never fetched one by one).
fn commit_files(versions: &[usize]) -> Vec<(String, String)> {
    let mut files = vec![("fleet-registry.kdl".to_owned(), registry(FLEETS))];
    for (i, v) in versions.iter().enumerate() {
        files.push((fleet_path(i), fleet(i, *v, 1)));
        files.push((
            format!("fleets/f{i:04}/src/main.rs"),
            format!("fn main() {{ /* {i} */ }}\n"),
        ));
    }
    files
}

fn add(h: &Harness, commit: &str, versions: &[usize]) {
    let files = commit_files(versions);
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    h.fake.world().add_commit(REPO, commit, &refs);
}

/// Requests counted against the installation's budget, and every request (also the App's
/// own, authenticated with its JWT: tokens, GET /app).
fn counted(h: &Harness) -> (u64, usize) {
    let w = h.fake.world();
    (w.budget.total(), w.calls.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_fleets_cost_a_handful_of_requests_per_event() {
    let h = Harness::new().await;
    let base = sha(0xb000);
    let mut versions = vec![1; FLEETS];
    add(&h, &base, &versions);
    // Commits: the pull request's first head changes fleet 0; each push changes one more.
    let mut heads = Vec::new();
    for push in 0..=PUSHES {
        versions[push * 7 % FLEETS] += 1;
        let head = sha(0xc000 + push);
        add(&h, &head, &versions);
        heads.push((head, versions.clone()));
    }
    let app = h.start().await;
    // The start's look for missed deliveries is not part of any event.
    h.wait_for("the start's sweep", |w| {
        w.calls.iter().any(|c| c.ends_with("apps/list-webhook-deliveries"))
    })
    .await;
    let mut per_event = Vec::new();
    for (n, (head, versions)) in heads.iter().enumerate() {
        let before = counted(&h);
        let action = if n == 0 { "opened" } else { "synchronize" };
        let (status, reply) = h
            .deliver_signed(
                app.addr,
                "pull_request",
                &format!("d-{n}"),
                &pull_request(action, 9, head, &base),
            )
            .await;
        assert_eq!(status, 202, "{reply}");
        h.wait_for(&format!("plan {n}"), |w| completed(w, n + 1)).await;
        let after = counted(&h);
        per_event.push((after.0 - before.0, after.1 - before.1));
        let w = h.fake.world();
        let run = w.check_runs.last().unwrap();
        assert_eq!(run.head_sha, *head);
        assert_eq!(run.conclusion.as_deref(), Some("success"), "{:?}", run.summary);
        let changed = versions.iter().filter(|v| **v > 1).count();
        assert!(
            run.title
                .as_deref()
                .unwrap()
                .starts_with(&format!("Plan: 0 to add, {changed} to change")),
            "event {n}: {:?}",
            run.title
        );
        let ours = w.bot_comments(REPO, 9);
        assert_eq!(ours.len(), 1, "one plan comment");
        assert!(ours[0].body.starts_with(PLAN_MARKER));
        // The newest change shows in the comment.
        let newest = heads[n]
            .1
            .iter()
            .enumerate()
            .find(|(i, v)| **v > 1 && *i == n * 7 % FLEETS);
        if let Some((i, v)) = newest {
            assert!(
                ours[0].body.contains(&format!("ghcr.io/mono/f{i:04}-s0:{v}")),
                "event {n}"
            );
        }
    }
    app.shutdown().await;
    h.assert_no_violations();
    let w = h.fake.world();
    let total = w.budget.total();
    eprintln!(
        "serve_scale: {FLEETS} fleets; requests per event (installation budget, all): first {:?}, \
         later {:?}; total {total} (trees {}, blobs {}, tarballs {}); budget refusals {}",
        per_event[0],
        &per_event[1..],
        w.git.trees_served,
        w.git.blobs_served,
        w.deploy.tarballs_served,
        w.budget.refused
    );
    assert!(per_event[0].1 <= 10, "the first event cost {:?} requests", per_event[0]);
    for (n, cost) in per_event.iter().enumerate().skip(1) {
        assert!(cost.1 <= 5, "push {n} cost {cost:?} requests");
    }
    assert_eq!(w.budget.refused, 0);
    assert!(total < w.budget.limit, "within the hourly budget");
}
