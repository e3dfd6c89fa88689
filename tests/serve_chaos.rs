//! Chaos (issue 16): three replicas of the real `fleet serve` on one PostgreSQL, 2,000 signed
//! deliveries spread over them — pull requests opened and synchronized, `/deploy` comments,
//! pushes, and GitHub's redeliveries of ones already acknowledged — while two replicas are
//! killed with SIGKILL at random moments and restarted. Every acknowledged delivery is
//! processed exactly once (counted on the fake GitHub: plan comments, check runs, deployments
//! and their statuses), two deploys of one fleet+stage never overlap, and no job is left
//! behind. A delivery a dead replica did not acknowledge is sent again to another, as GitHub's
//! redelivery (or the App's reconciliation) would.

#[path = "support/databases.rs"]
mod databases;
#[path = "support/deploy_scenario.rs"]
mod deploy_scenario;
#[path = "support/fake_github.rs"]
mod fake_github;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use databases::{Backend, TestDatabase};
use deploy_scenario::*;
use fleetflow::application::jobs::db::Store;
use fleetflow::plan::PLAN_MARKER;
use serde_json::json;

/// Pull requests, each opened at one head and synchronized to another.
const PULLS: u64 = 600;
/// `/deploy creo live --force` comments: real deploys, serialized by the lock.
const DEPLOYS: usize = 6;
/// Pushes to feature branches (no deploy).
const PUSHES: usize = 194;
/// Deliveries sent again under the delivery id of one already acknowledged.
const REDELIVERIES: usize = 600;
const FIRST_PULL: u64 = 1000;

/// xorshift64*: reproducible from the seed the test prints.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

fn head(pull: u64, second: bool) -> String {
    format!("{:039x}{}", pull, if second { 'b' } else { 'a' })
}

struct Delivery {
    event: &'static str,
    id: String,
    body: Vec<u8>,
}

fn pull_request(action: &str, number: u64, head: &str) -> Vec<u8> {
    let mut p = fixture("pull_request", &format!("{action}.payload.json"));
    rewrite_repo(&mut p);
    p["number"] = json!(number);
    p["pull_request"]["number"] = json!(number);
    p["pull_request"]["head"]["sha"] = json!(head);
    p["pull_request"]["base"]["sha"] = json!(BASE);
    serde_json::to_vec(&p).unwrap()
}

fn feature_push(n: usize) -> Vec<u8> {
    let mut p = fixture("push", "with-installation.payload.json");
    rewrite_repo(&mut p);
    p["ref"] = json!(format!("refs/heads/feature-{n}"));
    p["repository"]["default_branch"] = json!("main");
    p["before"] = json!(BASE);
    p["after"] = json!(HEAD);
    serde_json::to_vec(&p).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_lose_and_duplicate_nothing_while_two_are_killed() {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("chaos seed {seed} (CHAOS_SEED={seed} repeats this run)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(Backend::Postgres, dir.path()).await;
    let mut s = Scenario::start_on(Some(db.url.clone()), 3, vec![("FLEET_JOB_LEASE".into(), "3".into())]).await;
    {
        let mut w = s.fake.world();
        // An installation on an organisation with many repositories and users: GitHub's
        // largest non-Enterprise budget.
        w.budget.limit = 12_500;
        let files: Vec<(String, String)> = w.commits[&(REPO.to_owned(), HEAD.to_owned())]
            .clone()
            .into_iter()
            .collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        for pull in FIRST_PULL..FIRST_PULL + PULLS {
            w.add_commit(REPO, &head(pull, false), &files);
            w.add_commit(REPO, &head(pull, true), &files);
        }
    }
    // The deliveries, in an order where each pull request's synchronize follows its opening.
    let mut deliveries: Vec<Delivery> = Vec::new();
    for pull in FIRST_PULL..FIRST_PULL + PULLS {
        for (action, second) in [("opened", false), ("synchronize", true)] {
            deliveries.push(Delivery {
                event: "pull_request",
                id: format!("pr-{pull}-{action}"),
                body: pull_request(action, pull, &head(pull, second)),
            });
        }
    }
    for n in 0..PUSHES {
        deliveries.push(Delivery {
            event: "push",
            id: format!("push-{n}"),
            body: feature_push(n),
        });
    }
    for n in 0..DEPLOYS {
        let payload = s.comment_payload(PR, "alice", "/deploy creo live --force");
        deliveries.push(Delivery {
            event: "issue_comment",
            id: format!("deploy-{n}"),
            body: serde_json::to_vec(&payload).unwrap(),
        });
    }
    // Shuffle, then put each synchronize back after its opening.
    for i in (1..deliveries.len()).rev() {
        deliveries.swap(i, rng.below(i + 1));
    }
    let mut order: BTreeMap<u64, usize> = BTreeMap::new();
    for i in 0..deliveries.len() {
        if let Some(pull) = deliveries[i].id.strip_prefix("pr-").and_then(|r| r.split('-').next()) {
            let pull: u64 = pull.parse().unwrap();
            match order.get(&pull) {
                Some(&j) if deliveries[i].id.ends_with("opened") => deliveries.swap(i, j),
                _ => {
                    order.insert(pull, i);
                }
            }
        }
    }
    // Redeliveries of acknowledged ones, spread through the run.
    let total = deliveries.len() + REDELIVERIES;
    assert_eq!(total, 2_000);
    // Replicas 1 and 2 are each killed twice at random moments, and restarted 100 deliveries
    // later (replica 0 stays: GitHub always has somewhere to deliver).
    let mut kills: BTreeMap<usize, usize> = BTreeMap::new();
    for replica in [1, 2, 1, 2] {
        let mut at = 100 + rng.below(1_700);
        while kills.range(at.saturating_sub(120)..at + 120).next().is_some() {
            at = 100 + rng.below(1_700);
        }
        kills.insert(at, replica);
    }
    let restarts: BTreeMap<usize, usize> = kills.iter().map(|(at, r)| (at + 100, *r)).collect();
    let mut acked: Vec<usize> = Vec::new();
    let mut acked_ids: BTreeSet<String> = BTreeSet::new();
    let (mut sent, mut refused, mut duplicates) = (0, 0, 0);
    let mut next = deliveries.iter().enumerate();
    let started = Instant::now();
    while sent < total {
        if let Some(&replica) = kills.get(&sent) {
            eprintln!("SIGKILL replica {replica} after {sent} deliveries");
            s.kill_replica(replica);
        }
        if let Some(&replica) = restarts.get(&sent) {
            s.restart_replica(replica).await;
        }
        // One in four sends is a redelivery once something was acknowledged.
        let (index, redelivery) = if !acked.is_empty() && rng.below(4) == 0 && sent - acked_ids.len() < REDELIVERIES {
            (acked[rng.below(acked.len())], true)
        } else if let Some((i, _)) = next.next() {
            (i, false)
        } else if !acked.is_empty() {
            (acked[rng.below(acked.len())], true)
        } else {
            unreachable!()
        };
        let d = &deliveries[index];
        // To a random replica; one that does not acknowledge (dead) gets it sent elsewhere.
        let mut replica = rng.below(3);
        loop {
            let status = s.deliver_to(replica, d.event, &d.id, &d.body).await;
            if (200..300).contains(&status) {
                break;
            }
            refused += 1;
            assert!(status == 0 || status >= 500, "{} answered {status}", d.id);
            replica = (replica + 1) % 3;
        }
        if redelivery {
            duplicates += 1;
        } else {
            acked.push(index);
            acked_ids.insert(d.id.clone());
        }
        sent += 1;
    }
    eprintln!(
        "sent {sent} deliveries ({duplicates} redeliveries) in {:.1} s; {refused} not acknowledged by a dead replica and sent again",
        started.elapsed().as_secs_f64()
    );
    let store = Store::open(&db.url).await.unwrap();
    let settled = Instant::now();
    loop {
        let counts = store.job_counts().await.unwrap();
        let finished = deploy_finished(&s.fake.world(), DEPLOYS);
        if counts.queued == 0 && counts.running == 0 && finished {
            break;
        }
        assert!(
            settled.elapsed() < Duration::from_secs(600),
            "jobs left behind after 10 minutes: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "settled {:.1} s after the last delivery",
        settled.elapsed().as_secs_f64()
    );
    // Every acknowledged delivery stored once (besides those the App makes itself: the plans
    // a restarted replica's sweep queues for open pull requests without one); none failed,
    // none quarantined.
    let stored: Vec<String> = {
        use sqlx::Connection;
        let mut pg = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar("SELECT id FROM deliveries WHERE id NOT LIKE 'sweep:%'")
            .fetch_all(&mut pg)
            .await
            .unwrap()
    };
    assert_eq!(stored.into_iter().collect::<BTreeSet<_>>(), acked_ids);
    let reclaimed: Vec<(String, i64)> = {
        use sqlx::Connection;
        let mut pg = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_as("SELECT kind, COUNT(*) FROM jobs WHERE abandoned > 0 GROUP BY kind ORDER BY kind")
            .fetch_all(&mut pg)
            .await
            .unwrap()
    };
    eprintln!("jobs claimed again after their replica was killed: {reclaimed:?}");
    let counts = store.job_counts().await.unwrap();
    assert_eq!((counts.failed, counts.quarantined), (0, 0), "{counts:?}");
    {
        let w = s.fake.world();
        // Each pull request: one plan comment, one completed plan check run on its last head, at
        // most one on its first (a newer head supersedes a plan not started yet).
        for pull in FIRST_PULL..FIRST_PULL + PULLS {
            let plans: Vec<_> = w
                .bot_comments(REPO, pull)
                .into_iter()
                .filter(|c| c.body.contains(PLAN_MARKER))
                .collect();
            assert_eq!(plans.len(), 1, "pull request #{pull}: {} plan comments", plans.len());
            let runs = |second: bool| {
                let sha = head(pull, second);
                w.check_runs
                    .iter()
                    .filter(|r| r.head_sha == sha && r.name == "fleetflow/plan")
                    .map(|r| r.status.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(runs(true), ["completed"], "pull request #{pull}'s last head");
            assert!(
                runs(false).len() <= 1,
                "pull request #{pull}'s first head: {:?}",
                runs(false)
            );
        }
        // The deploys: each exactly once, each ended once and well, never two at once.
        let deploys: Vec<&fake_github::deploy::FakeDeployment> = w.deploy.deployments.iter().collect();
        assert_eq!(
            deploys.len(),
            DEPLOYS,
            "{:?}",
            deploys.iter().map(|d| &d.statuses).collect::<Vec<_>>()
        );
        let mut spans = Vec::new();
        for d in &deploys {
            assert_eq!(d.environment, "creo-live");
            let ends: Vec<usize> = (0..d.statuses.len())
                .filter(|&i| d.statuses[i] == "success" || d.statuses[i] == "failure")
                .collect();
            assert_eq!(ends.len(), 1, "{:?}", d.statuses);
            assert_eq!(d.statuses[ends[0]], "success", "{:?}", d.descriptions);
            let start = (0..ends[0])
                .rev()
                .find(|&i| d.statuses[i] == "in_progress")
                .expect("started");
            spans.push((d.status_times[start], d.status_times[ends[0]]));
        }
        spans.sort();
        for pair in spans.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "two deploys of creo:live overlapped");
        }
        assert!(w.violations.is_empty(), "{:?}", w.violations);
    }
    let deploy_count = store
        .deploys()
        .await
        .unwrap()
        .iter()
        .filter(|d| d.result == "success")
        .count();
    assert_eq!(deploy_count, DEPLOYS);
}

/// Sends `signal` (STOP, CONT) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// A replica paused (SIGSTOP) past its lease while it deploys: the other replica takes the
/// job and the fleet+stage's lock over with a higher fencing token and finishes the deploy;
/// the paused one, woken, is refused — nothing it does after counts: one deployment, one
/// success, one recorded deploy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_paused_past_its_lease_is_fenced_off_when_it_wakes() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(Backend::Postgres, dir.path()).await;
    let s = Scenario::start_on(Some(db.url.clone()), 2, vec![("FLEET_JOB_LEASE".into(), "2".into())]).await;
    s.comment(PR, "alice", "/deploy creo live --force").await;
    s.wait_for("the deploy to start", Duration::from_secs(60), |w| {
        w.deploy
            .deployments
            .iter()
            .any(|d| d.statuses.iter().any(|st| st == "in_progress"))
    })
    .await;
    let mut pg = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let owner: String = sqlx::query_scalar("SELECT lease_owner FROM jobs WHERE kind = 'deploy' AND state = 'running'")
        .fetch_one(&mut pg)
        .await
        .unwrap();
    let pid: u32 = owner.split(':').nth(1).unwrap().parse().unwrap();
    let paused = s
        .replica_pids()
        .iter()
        .position(|p| *p == pid)
        .expect("the holder is one of the replicas");
    signal(pid, "STOP");
    eprintln!("paused replica {paused} (pid {pid}) while it deploys");
    s.wait_for(
        "the other replica to finish the deploy",
        Duration::from_secs(120),
        |w| deploy_finished(w, 1),
    )
    .await;
    signal(pid, "CONT");
    // Woken: its next renewal finds the job taken, and whatever it still had to write is refused.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (state, claims): (String, i64) = sqlx::query_as("SELECT state, claims FROM jobs WHERE kind = 'deploy'")
        .fetch_one(&mut pg)
        .await
        .unwrap();
    assert_eq!(
        (state.as_str(), claims),
        ("done", 2),
        "claimed again by the other replica"
    );
    let token: i64 = sqlx::query_scalar("SELECT token FROM lock_tokens")
        .fetch_one(&mut pg)
        .await
        .unwrap();
    assert!(token >= 2, "the lock was taken over with a higher token ({token})");
    let recorded: Vec<(String, String)> = sqlx::query_as("SELECT sha, result FROM deploys")
        .fetch_all(&mut pg)
        .await
        .unwrap();
    assert_eq!(recorded, [(HEAD.to_owned(), "success".to_owned())]);
    {
        let w = s.fake.world();
        assert_eq!(w.deploy.deployments.len(), 1, "the taker went on with the deployment");
        let d = &w.deploy.deployments[0];
        let ends = d
            .statuses
            .iter()
            .filter(|st| *st == "success" || *st == "failure")
            .count();
        assert_eq!(
            (ends, d.statuses.last().map(String::as_str)),
            (1, Some("success")),
            "{:?}",
            d.statuses
        );
        assert!(w.violations.is_empty(), "{:?}", w.violations);
    }
    // The taker's /metrics shows what it did: the lease it swept, the renewals of its own.
    let taker = 1 - paused;
    assert!(s.metric(taker, "fleet_leases_expired_total").await >= 1.0);
    assert!(s.metric(taker, "fleet_lease_renewals_total").await >= 1.0);
    // The paused replica is alive and serves again.
    let health = s
        .http
        .get(format!("http://{}/healthz", s.replica_addrs()[paused]))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
}
