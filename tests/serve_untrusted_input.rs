//! What an unauthenticated client can make `fleet serve` keep: nothing from its headers (the
//! metrics name only known events, an unsigned request is `unverified`), and only a bounded
//! amount of memory for the bodies it sends before their signature is checked.

#[path = "support/fake_github.rs"]
mod fake_github;
#[path = "support/serve_harness.rs"]
mod serve_harness;

use serve_harness::*;

/// 300 unsigned requests, each with its own 60 KB event name, would add 18 MB of labels to
/// /metrics if the raw header were a label; none of them may show, and a signed event nobody
/// told us about is counted as `other`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_requests_leave_no_header_in_metrics_and_unknown_events_are_other() {
    let h = Harness::new().await;
    let app = h.start().await;
    const FLOOD: usize = 300;
    let names: Vec<String> = (0..FLOOD).map(|i| format!("ev{i:05}{}", "x".repeat(60_000))).collect();
    for batch in names.chunks(16) {
        let mut sends = tokio::task::JoinSet::new();
        for name in batch {
            let (http, url, name) = (h.http.clone(), format!("http://{}/webhook", app.addr), name.clone());
            sends.spawn(async move {
                http.post(url)
                    .header("X-GitHub-Event", name)
                    .header("X-GitHub-Delivery", "d-flood")
                    .header("X-Hub-Signature-256", format!("sha256={}", "0".repeat(64)))
                    .body("{}")
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            });
        }
        while let Some(status) = sends.join_next().await {
            assert_eq!(status.unwrap(), 401);
        }
    }
    let (status, reply) = h
        .deliver_signed(app.addr, "made_up_event", "d-unknown", b"{\"action\":\"poked\"}")
        .await;
    assert_eq!((status, reply["status"].as_str()), (202, Some("ignored")));
    let metrics = h.metrics(app.addr).await;
    assert!(metrics.len() < 16 * 1024, "/metrics grew to {} bytes", metrics.len());
    assert!(!metrics.contains("ev00"), "an unsigned request's event name is a label");
    assert!(
        metrics.contains(&format!(
            r#"fleet_webhook_deliveries_total{{event="unverified",result="unauthorized"}} {FLOOD}"#
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"fleet_webhook_deliveries_total{event="other",result="ignored"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains("made_up_event"), "{metrics}");
    app.shutdown().await;
}
