//! Deliveries missed while the App was down (issue 16): GitHub keeps them as failed and does
//! not send them again by itself. At start the App lists its failed deliveries and asks again
//! for each one it never stored; the redelivered event is processed; a restart asks for nothing
//! already stored.

#[path = "support/fake_github.rs"]
mod fake_github;
#[path = "support/serve_harness.rs"]
mod serve_harness;

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

fn sweeps(w: &fake_github::World) -> usize {
    w.calls
        .iter()
        .filter(|c| c.ends_with("apps/list-webhook-deliveries"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_missed_while_down_is_redelivered_at_start_and_processed_once() {
    let h = Harness::new().await;
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
