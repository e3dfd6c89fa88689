//! Plan-job throughput of `fleet serve` with one replica or several on one database: N pull
//! requests opened at once (each its own head, a 20-fleet monorepo whose fleets all changed),
//! spread over the replicas; the clock runs from the first delivery until the fake GitHub
//! (tests/support/fake_github.rs, on loopback) has every plan check run completed. Each replica
//! runs 2 workers. Prints plans per second.
//!
//! cargo build --release --bin fleet
//! cargo run --release --example plan_throughput -- [FLEET_BIN] [PULLS] [DATABASE] [REPLICAS]
//!
//! DATABASE is `sqlite` (one replica only) or a PostgreSQL server URL, on which a new database
//! is made for the run and dropped after it.

#[path = "../tests/support/fake_github.rs"]
mod fake_github;
#[path = "support/replicas.rs"]
mod replicas;

use std::time::{Duration, Instant};

use fake_github::{FakeGitHub, app_key, webhook_fixture};
use serde_json::json;

const SECRET: &str = "throughput-secret";
const REPO: &str = "acme/monorepo";
const BASE: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const FLEETS: usize = 20;

fn files(version: &str) -> Vec<(String, String)> {
    let mut registry = String::from("registry \"acme\"\n");
    let mut files = Vec::new();
    for n in 0..FLEETS {
        registry.push_str(&format!("fleet \"f{n}\" {{\n    path \"fleets/f{n}\"\n}}\n"));
        files.push((
            format!("fleets/f{n}/.fleetflow/fleet.kdl"),
            format!(
                "project \"f{n}\"\nservice \"site\" {{\n    image \"example/site:{version}\"\n}}\nstage \"live\"\n"
            ),
        ));
    }
    files.push(("fleet-registry.kdl".into(), registry));
    files
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bin = args.get(1).cloned().unwrap_or_else(|| "target/release/fleet".into());
    let pulls: u64 = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(300);
    let database = args.get(3).cloned().unwrap_or_else(|| "sqlite".into());
    let replicas: usize = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    anyhow::ensure!(database != "sqlite" || replicas == 1, "SQLite serves one replica");
    let dir = tempfile::tempdir()?;
    let (key, public) = app_key(dir.path());
    let fake = FakeGitHub::start(1, &[5], &public).await;
    {
        let mut w = fake.world();
        w.budget.limit = 1_000_000;
        let base = files("1");
        w.add_commit(
            REPO,
            BASE,
            &base.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect::<Vec<_>>(),
        );
        for n in 0..pulls {
            let head = files(&format!("2-{n}"));
            let head: Vec<(&str, &str)> = head.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
            w.add_commit(REPO, &format!("{n:040x}"), &head);
        }
    }
    let db = replicas::RunDatabase::create(&database, dir.path(), "throughput").await?;
    let (mut children, bases) = replicas::start(&bin, replicas, &db.url, &fake.url(), &key, SECRET).await?;
    let http = reqwest::Client::new();
    let t0 = Instant::now();
    for n in 0..pulls {
        let mut p = webhook_fixture("pull_request", "opened.payload.json");
        let (owner, name) = REPO.split_once('/').unwrap();
        p["installation"]["id"] = json!(5);
        p["repository"]["name"] = json!(name);
        p["repository"]["full_name"] = json!(REPO);
        p["repository"]["owner"]["login"] = json!(owner);
        p["number"] = json!(n + 1);
        p["pull_request"]["number"] = json!(n + 1);
        p["pull_request"]["head"]["sha"] = json!(format!("{n:040x}"));
        p["pull_request"]["base"]["sha"] = json!(BASE);
        let body = serde_json::to_vec(&p)?;
        let base = &bases[n as usize % replicas];
        let status = replicas::deliver_signed(&http, base, SECRET, "pull_request", &format!("pr-{n}"), body).await?;
        anyhow::ensure!(status == 202, "delivery {n}: {status}");
    }
    let delivered = t0.elapsed();
    loop {
        let done = fake
            .world()
            .check_runs
            .iter()
            .filter(|c| c.status == "completed")
            .count();
        if done as u64 >= pulls {
            break;
        }
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(600),
            "only {done} plans after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = t0.elapsed();
    replicas::stop(&mut children);
    let backend = db.backend();
    db.drop_database().await?;
    let violations = fake.world().violations.len();
    println!(
        "{pulls} plans ({FLEETS} fleets each) on {} with {replicas} replica(s) × 2 workers: {:.2} s ({:.1} plans/s; deliveries took {:.2} s); {violations} requests outside GitHub's description",
        backend,
        took.as_secs_f64(),
        pulls as f64 / took.as_secs_f64(),
        delivered.as_secs_f64()
    );
    Ok(())
}
