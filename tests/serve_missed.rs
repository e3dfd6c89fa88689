//! Deliveries missed while the App was down (issue 16): GitHub keeps them as failed and does
//! not send them again by itself. At start the App lists its failed deliveries and asks again
//! for each one it never stored; the redelivered event is processed; a restart asks for nothing
//! already stored.

#[path = "support/fake_github.rs"]
mod fake_github;
#[path = "support/serve_harness.rs"]
mod serve_harness;
#[path = "support/databases.rs"]
#[macro_use]
mod databases;

use databases::Backend;
use fake_github::hooks::Missed;
use fleetflow::webhook::serve::serve;
use serve_harness::*;

/// Runs the App on `listener` until the returned sender fires.
fn run_app(
    h: &Harness,
    listener: tokio::net::TcpListener,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = h.config(addr);
    let task = tokio::spawn(async move {
        serve(config, listener, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (stop, task)
}

on_both_backends!(
    a_delivery_missed_while_down_is_redelivered_at_start_and_processed_once,
    an_open_pull_request_without_a_plan_is_planned_at_start_once,
);

fn sweeps(w: &fake_github::World) -> usize {
    w.calls
        .iter()
        .filter(|c| c.ends_with("apps/list-webhook-deliveries"))
        .count()
}

async fn a_delivery_missed_while_down_is_redelivered_at_start_and_processed_once(backend: Backend) {
    let h = Harness::on(backend).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    {
        let mut w = h.fake.world();
        w.hooks.failed.push(Missed {
            id: 901,
            guid: "missed-while-down-1".into(),
            event: "pull_request".into(),
            body: pull_request("opened", 5, HEAD, BASE),
            status_code: 502,
        });
        // One the App refused on purpose (400) is not asked for again.
        w.hooks.failed.push(Missed {
            id: 902,
            guid: "refused-1".into(),
            event: "pull_request".into(),
            body: b"{not json".to_vec(),
            status_code: 400,
        });
        w.hooks.target = Some((format!("http://{addr}/webhook"), SECRET.into()));
    }
    let (stop, task) = run_app(&h, listener);
    h.wait_for("the missed pull request's plan", |w| completed(w, 1)).await;
    let _ = stop.send(());
    task.await.unwrap();
    {
        let w = h.fake.world();
        assert_eq!(w.hooks.attempts, [901], "asked once");
        assert_eq!(w.check_runs[0].conclusion.as_deref(), Some("success"));
        assert_eq!(w.bot_comments(REPO, 5).len(), 1);
    }
    // A restart lists the same failed delivery, but its event is stored: nothing is asked.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, task) = run_app(&h, listener);
    h.wait_for("the second start's sweep", |w| sweeps(w) >= 2).await;
    let _ = stop.send(());
    task.await.unwrap();
    let w = h.fake.world();
    assert_eq!(w.hooks.attempts, [901], "not asked again");
    assert_eq!(w.check_runs.len(), 1, "processed once");
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

/// A pull request opened while the App was down, whose delivery GitHub no longer lists as
/// failed: at start the App finds it open, in a repository it has planned for, with no
/// `fleetflow/plan` check run on its head, and plans it — once; a closed one and one already
/// planned are left alone.
async fn an_open_pull_request_without_a_plan_is_planned_at_start_once(backend: Backend) {
    use fake_github::deploy::FakePull;
    let h = Harness::on(backend).await;
    let pull = |head: &str| FakePull {
        head_sha: head.into(),
        base_sha: BASE.into(),
        head_repo: REPO.into(),
    };
    // While the App runs: pull request 5 is opened and planned.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, task) = run_app(&h, listener);
    h.fake.world().deploy.pulls.insert((REPO.into(), 5), pull(HEAD));
    let (status, _) = h
        .deliver_signed(addr, "pull_request", "d-5", &pull_request("opened", 5, HEAD, BASE))
        .await;
    assert_eq!(status, 202);
    h.wait_for("the plan of pull request 5", |w| completed(w, 1)).await;
    let _ = stop.send(());
    task.await.unwrap();
    // While it is down: 6 is opened (its delivery is lost), 7 is opened and closed.
    {
        let mut w = h.fake.world();
        w.deploy.pulls.insert((REPO.into(), 6), pull(HEAD2));
        w.deploy.pulls.insert((REPO.into(), 7), pull(HEAD2));
        w.deploy.closed_pulls.insert((REPO.into(), 7));
    }
    for start in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stop, task) = run_app(&h, listener);
        if start == 0 {
            h.wait_for("the plan of pull request 6", |w| completed(w, 2)).await;
        } else {
            h.wait_for("the second start's look at the pull requests", |w| {
                w.calls.iter().filter(|c| c.ends_with("pulls/list")).count() >= 2
            })
            .await;
            // Give a wrongly queued plan the time to show.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        let _ = stop.send(());
        task.await.unwrap();
    }
    let w = h.fake.world();
    let runs: Vec<(&str, &str)> = w
        .check_runs
        .iter()
        .map(|c| (c.head_sha.as_str(), c.name.as_str()))
        .collect();
    assert_eq!(
        runs,
        [(HEAD, "fleetflow/plan"), (HEAD2, "fleetflow/plan")],
        "6 planned once, 5 not again"
    );
    assert_eq!(w.bot_comments(REPO, 6).len(), 1);
    assert!(
        w.bot_comments(REPO, 7).is_empty(),
        "a closed pull request is not planned"
    );
    drop(w);
    h.assert_no_violations();
}
