//! What an unauthenticated client can make `fleet serve` keep: nothing from its headers (the
//! metrics name only known events, an unsigned request is `unverified`), and only a bounded
//! amount of memory for the bodies it sends before their signature is checked.

#[path = "support/databases.rs"]
mod databases;
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

/// The server's peak resident memory (`VmHWM`), in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status");
    kib / 1024.0
}

/// 16 unsigned 25 MiB posts at once buffered whole would take 400 MiB (306 MB RSS measured):
/// the bodies awaiting their signature check share a fixed budget, so the peak stays far
/// below that; each flood request is refused (401, or 503 with Retry-After when it waited too
/// long for budget), and a small signed delivery sent meanwhile is still accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_unsigned_25_mib_posts_stay_within_the_body_budget() {
    let h = Harness::new().await;
    let port = free_port();
    let child = KillOnDrop(spawn_binary(&h, port));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_healthy(&h, addr).await;
    let before = peak_rss_mib(child.0.id());
    let big = axum::body::Bytes::from(vec![b'{'; 25 * 1024 * 1024]);
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (http, url, body) = (h.http.clone(), format!("http://{addr}/webhook"), big.clone());
        flood.spawn(async move {
            let r = http
                .post(url)
                .header("X-GitHub-Event", "push")
                .header("X-GitHub-Delivery", format!("d-big-{i}"))
                .header("X-Hub-Signature-256", format!("sha256={}", "0".repeat(64)))
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.headers().contains_key("retry-after"))
        });
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let ping = b"{\"zen\":\"x\",\"hook_id\":1}";
    let (status, reply) = h.deliver_signed(addr, "ping", "d-small", ping).await;
    assert_eq!(status, 202, "a small delivery during the flood: {reply}");
    let mut statuses = Vec::new();
    while let Some(done) = flood.join_next().await {
        let (status, retry_after) = done.unwrap();
        assert!(status == 401 || (status == 503 && retry_after), "{status}");
        statuses.push(status);
    }
    let peak = peak_rss_mib(child.0.id());
    drop(child);
    eprintln!("fleet serve peak RSS: {before:.1} MiB idle, {peak:.1} MiB after the flood; {statuses:?}");
    assert!(
        statuses.contains(&401),
        "some flood bodies were read and refused: {statuses:?}"
    );
    assert!(peak < 120.0, "peak RSS {peak:.1} MiB (idle {before:.1} MiB)");
}
