//! The real `fleet serve` stopped mid-job. A death (SIGKILL) under a job quarantines that job
//! at the next start: it is not run again (a job whose input kills the process would kill it
//! at every restart), its pull request is told so, and the jobs queued behind it run. A
//! graceful stop (SIGTERM, even when a SIGKILL follows within the grace) is not a crash: the
//! interrupted job runs again after the restart.

#[path = "support/databases.rs"]
mod databases;
#[path = "support/fake_github.rs"]
mod fake_github;
#[path = "support/serve_harness.rs"]
mod serve_harness;

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::Duration;

use fleetflow::application::jobs::db::{JobCounts, Store};
use fleetflow::plan::PLAN_MARKER;
use serve_harness::*;

/// Starts the binary on a free port with `extra` arguments and waits until it is healthy.
async fn start_binary(h: &Harness, extra: &[&str]) -> (KillOnDrop, SocketAddr, u16) {
    let port = free_port();
    let child = KillOnDrop(spawn_binary_with(h, port, extra));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_healthy(h, addr).await;
    (child, addr, port)
}

/// Delivers the opening of pull request `number` at `head` and waits until its plan job is
/// mid-run (its check run created, the contents request hanging).
async fn open_and_hang(h: &Harness, addr: SocketAddr, number: u64, head: &str) {
    let before = h
        .fake
        .world()
        .calls
        .iter()
        .filter(|c| c.contains("checks/create"))
        .count();
    let (status, _) = h
        .deliver_signed(
            addr,
            "pull_request",
            &format!("d-open-{number}"),
            &pull_request("opened", number, head, BASE),
        )
        .await;
    assert_eq!(status, 202);
    h.wait_for("the job to be mid-run", |w| {
        w.calls.iter().filter(|c| c.contains("checks/create")).count() > before
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
}

fn signal(child: &Child, name: &str) {
    let sent = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {name}");
}

/// SIGTERM, and the exit status 0 of a clean stop.
fn stop_gracefully(child: &mut KillOnDrop) {
    signal(&child.0, "-TERM");
    let status = wait_exit(&mut child.0, Duration::from_secs(15));
    assert!(status.is_some_and(|s| s.success()), "exits 0 on SIGTERM: {status:?}");
}

/// The job counts in the app's database (read while the app is stopped or running).
async fn job_counts(h: &Harness) -> JobCounts {
    let store = Store::open(&h.db_url).await.unwrap();
    let counts = store.job_counts().await.unwrap();
    store.close().await;
    counts
}

/// A SIGKILL while a plan job waits on GitHub, with another pull request's job queued behind
/// it on the one worker; then a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_killed_the_server_is_quarantined_and_the_job_behind_it_runs() {
    let h = Harness::new().await;
    h.fake.world().hang_contents = true;
    let (mut child, addr, port) = start_binary(&h, &["--workers", "1"]).await;
    open_and_hang(&h, addr, 41, HEAD).await;
    let (status, _) = h
        .deliver_signed(
            addr,
            "pull_request",
            "d-open-42",
            &pull_request("opened", 42, HEAD2, BASE),
        )
        .await;
    assert_eq!(status, 202);
    child.0.kill().unwrap(); // SIGKILL: the process dies under the job
    child.0.wait().unwrap();
    let counts = job_counts(&h).await;
    assert_eq!((counts.running, counts.queued), (1, 1), "{counts:?}");
    h.fake.world().hang_contents = false;
    let mut child = KillOnDrop(spawn_binary_with(&h, port, &["--workers", "1"]));
    wait_healthy(&h, addr).await;
    h.wait_for("the second pull request's plan", |w| {
        w.check_runs
            .iter()
            .any(|r| r.head_sha == HEAD2 && r.conclusion.as_deref() == Some("success"))
    })
    .await;
    h.wait_for("the quarantine reply", |w| !w.bot_comments(REPO, 41).is_empty())
        .await;
    {
        let w = h.fake.world();
        let reply = &w.bot_comments(REPO, 41)[0].body;
        assert!(
            reply.contains("stopped the server") && reply.contains("will not be retried"),
            "{reply}"
        );
        assert!(reply.contains("push a new commit"), "how to retry: {reply}");
        let quarantined_run: Vec<_> = w.check_runs.iter().filter(|r| r.head_sha == HEAD).collect();
        assert_eq!(quarantined_run.len(), 1, "no second run of the quarantined job");
        assert_eq!(quarantined_run[0].conclusion.as_deref(), Some("failure"));
        assert!(!w.bot_comments(REPO, 41).iter().any(|c| c.body.starts_with(PLAN_MARKER)));
        assert!(w.bot_comments(REPO, 42)[0].body.starts_with(PLAN_MARKER));
    }
    let metrics = h.metrics(addr).await;
    assert!(metrics.contains(r#"fleet_jobs{state="quarantined"} 1"#), "{metrics}");
    h.assert_no_violations();
    stop_gracefully(&mut child);
    let counts = job_counts(&h).await;
    assert_eq!(
        (counts.quarantined, counts.done, counts.running, counts.queued),
        (1, 1, 0, 0),
        "{counts:?}"
    );
}

/// A SIGTERM mid-job (cut off after a one-second grace), then a SIGTERM followed by a SIGKILL
/// within the grace; then a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_mid_job_is_not_a_crash_and_the_job_runs_after_restart() {
    let h = Harness::new().await;
    h.fake.world().hang_contents = true;
    // SIGTERM with a one-second grace: the job is cut off and put back in the queue.
    let (mut child, addr, port) = start_binary(&h, &["--grace", "1"]).await;
    open_and_hang(&h, addr, 43, HEAD).await;
    stop_gracefully(&mut child);
    // SIGTERM then SIGKILL within the grace (a supervisor's stop timeout): still not a crash.
    let mut child = KillOnDrop(spawn_binary_with(&h, port, &["--grace", "30"]));
    wait_healthy(&h, addr).await;
    open_and_hang(&h, addr, 44, HEAD2).await;
    signal(&child.0, "-TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let counts = job_counts(&h).await;
    assert_eq!(counts.quarantined, 0, "{counts:?}");
    h.fake.world().hang_contents = false;
    let mut child = KillOnDrop(spawn_binary(&h, port));
    wait_healthy(&h, addr).await;
    h.wait_for("both plans", |w| completed(w, 2)).await;
    {
        let w = h.fake.world();
        assert_eq!(
            w.check_runs.len(),
            2,
            "each re-run completes the check run it had created"
        );
        assert!(w.check_runs.iter().all(|r| r.conclusion.as_deref() == Some("success")));
        assert_eq!(w.bot_comments(REPO, 43).len(), 1);
        assert_eq!(w.bot_comments(REPO, 44).len(), 1);
    }
    h.assert_no_violations();
    stop_gracefully(&mut child);
    let counts = job_counts(&h).await;
    assert_eq!(
        (counts.done, counts.quarantined, counts.running),
        (2, 0, 0),
        "{counts:?}"
    );
}

/// Every delivery answered 2xx is in the database after a SIGKILL that comes right after the
/// last answer, while more deliveries are still arriving: the acknowledgement is given only
/// once the delivery is committed (synchronous=FULL, group commit), and an unanswered one was
/// never promised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_delivery_survives_a_sigkill_right_after_its_2xx() {
    const SENT: u64 = 120;
    let h = Harness::new().await;
    h.fake.world().hang_contents = true;
    let (mut child, addr, _port) = start_binary(&h, &["--workers", "1"]).await;
    let h = std::sync::Arc::new(h);
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let senders: Vec<_> = (0..4u64)
        .map(|lane| {
            let (h, acked) = (h.clone(), acked.clone());
            tokio::spawn(async move {
                for n in (lane..SENT).step_by(4) {
                    let id = format!("d-kill-{n}");
                    let body = pull_request("opened", 500 + n, HEAD, BASE);
                    match h.deliver_signed(addr, "pull_request", &id, &body).await.0 {
                        0 => return, // the server is gone
                        202 => acked.lock().unwrap().push(id),
                        _ => {}
                    }
                }
            })
        })
        .collect();
    // Kill once half have been answered, with the others still coming.
    while acked.lock().unwrap().len() < (SENT / 2) as usize {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let acked: Vec<String> = acked.lock().unwrap().clone();
    for s in senders {
        let _ = s.await;
    }
    let store = Store::open(&h.db_url).await.unwrap();
    let mut lost = Vec::new();
    for id in &acked {
        if !store.has_delivery(id).await.unwrap() {
            lost.push(id.clone());
        }
    }
    store.close().await;
    assert!(acked.len() >= (SENT / 2) as usize);
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?} of {}", acked.len());
}
