//! Load test of `fleet serve`'s acknowledgement path on loopback: signed pull_request
//! deliveries at a fixed rate (open loop), each durably stored with its job before the 2xx.
//! Reports ack latency p50/p99/max, lost deliveries, and the server's RSS idle and after.
//!
//! cargo build --release --bin fleet
//! cargo run --release --example load_webhooks -- [FLEET_BIN] [RATE_PER_S] [SECONDS] [DATABASE] [REPLICAS]
//!
//! DATABASE is `sqlite` (a new file, the default) or the URL of a PostgreSQL server
//! (`postgres://USER:PASSWORD@HOST:PORT/DB`), on which a new database is made for the run and
//! dropped after it. REPLICAS processes of the App share it; deliveries go to them in turn.
//!
//! GitHub is pointed at a closed port, so the queued plan jobs fail fast and back off: the
//! numbers are for the webhook path (verify, parse, INSERT delivery + job, commit, reply).

#[path = "support/replicas.rs"]
mod replicas;
#[path = "support/stats.rs"]
mod stats;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stats::percentile;

use fleetflow::application::jobs::db::Store;
use fleetflow::webhook::sign;

const SECRET: &str = "load-secret";

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bin = args.get(1).cloned().unwrap_or_else(|| "target/release/fleet".into());
    let rate: u64 = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(500);
    let seconds: u64 = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(10);
    let total = rate * seconds;
    let database = args.get(4).cloned().unwrap_or_else(|| "sqlite".into());
    let replicas: usize = args.get(5).and_then(|v| v.parse().ok()).unwrap_or(1).max(1);

    let dir = tempfile::tempdir()?;
    let key = dir.path().join("app.pem");
    let ok = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .stderr(Stdio::null())
        .status()?;
    anyhow::ensure!(ok.success(), "openssl genrsa failed");
    let db = replicas::RunDatabase::create(&database, dir.path(), "load").await?;
    let db_url = db.url.clone();
    let (mut children, bases) = replicas::start(&bin, replicas, &db_url, "http://127.0.0.1:9", &key, SECRET).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_kib(children[0].id());

    let payload = std::fs::read(
        std::env::var("FLEET_PR_FIXTURE")
            .unwrap_or_else(|_| "../shared/fixtures-external/webhooks/pull_request/opened.payload.json".into()),
    )?;
    let signature = sign(SECRET, &payload);
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let t0 = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        tokio::time::sleep_until(t0 + interval * i as u32).await;
        let (http, url, body, sig) = (
            http.clone(),
            format!("{}/webhook", bases[i as usize % replicas]),
            payload.clone(),
            signature.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let r = http
                .post(url)
                .header("X-GitHub-Event", "pull_request")
                .header("X-GitHub-Delivery", format!("load-{i}"))
                .header("X-Hub-Signature-256", sig)
                .body(body)
                .send()
                .await;
            (sent.elapsed(), r.map(|r| r.status().as_u16()).unwrap_or(0))
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut failed = 0;
    for t in tasks {
        let (took, status) = t.await?;
        if status != 202 {
            failed += 1;
        }
        latencies.push(took);
    }
    let wall = t0.elapsed();
    let after = rss_kib(children[0].id());
    replicas::stop(&mut children);
    latencies.sort();
    let store = Store::open(&db_url).await?;
    let stored = store.delivery_count().await?;
    let jobs = store.job_counts().await?;
    store.close().await;
    let backend = db.backend();
    db.drop_database().await?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "deliveries: {total} at {rate}/s in {:.2} s, {backend}, {replicas} replica(s)",
        wall.as_secs_f64()
    );
    println!(
        "ack latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "non-202 answers: {failed}; stored deliveries: {stored}; lost: {}",
        total as i64 - stored
    );
    println!(
        "jobs: {} (queued {}, running {}, done {}, failed {})",
        jobs.queued + jobs.running + jobs.done + jobs.failed,
        jobs.queued,
        jobs.running,
        jobs.done,
        jobs.failed
    );
    println!(
        "server RSS (first replica): idle {} KiB, after load {} KiB",
        idle.unwrap_or(0),
        after.unwrap_or(0)
    );
    Ok(())
}
