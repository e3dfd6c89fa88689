//! The probe's second finding, end to end: a pull request (a fork's would do) whose registry
//! holds ~25,000 slashdashes in a row aborted `fleet serve` (the KDL v1 fallback overflowed its
//! stack), and aborted it again at every restart. The real binary plans it: a failed check run
//! and a diagnostic, the process alive, and the next pull request planned as usual.

#[path = "support/databases.rs"]
mod databases;
#[path = "support/fake_github.rs"]
mod fake_github;
#[path = "support/serve_harness.rs"]
mod serve_harness;

use std::net::SocketAddr;
use std::time::Duration;

use serve_harness::*;

const HOSTILE: &str = "4444444444444444444444444444444444444444";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_overflowed_the_v1_parser_fails_its_plan_and_the_app_lives_on() {
    let h = Harness::new().await;
    let chain = format!("registry \"acme\"\nx true\n{}a\n", "/- ".repeat(25_000));
    h.fake.world().add_commit(
        REPO,
        HOSTILE,
        &[
            ("fleet-registry.kdl", chain.as_str()),
            (FLEET_PATH, &fleet("ghcr.io/acme/site:2", false)),
        ],
    );
    let port = free_port();
    let mut app = KillOnDrop(spawn_binary(&h, port));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_healthy(&h, addr).await;
    let (status, _) = h
        .deliver_signed(
            addr,
            "pull_request",
            "d-hostile",
            &pull_request("opened", 31, HOSTILE, BASE),
        )
        .await;
    assert_eq!(status, 202);
    h.wait_for("the hostile plan's check run", |w| completed(w, 1)).await;
    {
        let w = h.fake.world();
        let run = w
            .check_runs
            .iter()
            .find(|r| r.head_sha == HOSTILE)
            .expect("a check run");
        assert_eq!(run.conclusion.as_deref(), Some("failure"), "{run:?}");
    }
    assert!(app.0.try_wait().unwrap().is_none(), "fleet serve died");
    // The next pull request is planned as usual by the same process.
    let (status, _) = h
        .deliver_signed(addr, "pull_request", "d-next", &pull_request("opened", 32, HEAD, BASE))
        .await;
    assert_eq!(status, 202);
    h.wait_for("the next plan", |w| completed(w, 2)).await;
    {
        let w = h.fake.world();
        let next = w.check_runs.iter().find(|r| r.head_sha == HEAD).expect("a check run");
        assert_eq!(next.conclusion.as_deref(), Some("success"), "{next:?}");
    }
    assert!(app.0.try_wait().unwrap().is_none(), "fleet serve died");
    tokio::time::timeout(Duration::from_secs(5), h.metrics(addr))
        .await
        .expect("metrics answer");
    h.assert_no_violations();
}
