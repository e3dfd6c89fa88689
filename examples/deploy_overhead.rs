//! The App's overhead on a `/deploy`: from the comment's delivery to the deploy's start (the
//! GitHub deployment marked in_progress), excluding build and SSH. Runs `fleet serve` against
//! the OpenAPI-checked fake GitHub on loopback; each `/deploy creo live --force` goes through
//! the whole path — signature, durable enqueue, the command job (pull request, registry at the
//! head through the contents API, permission, team lookup, 👀, reply), the deploy job (lock in
//! SQLite, deployment, status). The server's SSH port is closed, so each deploy then fails fast
//! and the next one starts; requests are sequential.
//!
//! cargo build --release --bin fleet
//! cargo run --release --example deploy_overhead -- [FLEET_BIN] [COUNT]

#[path = "../tests/support/fake_github.rs"]
mod fake_github;

#[path = "support/replicas.rs"]
mod replicas;
#[path = "support/stats.rs"]
mod stats;

use std::process::Command;
use std::time::{Duration, Instant};

use stats::percentile;

use fake_github::deploy::FakePull;
use fake_github::{FakeGitHub, app_key};
use serde_json::json;

const SECRET: &str = "overhead-secret";
const REPO: &str = "acme/monorepo";
const HEAD: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bin = args.get(1).cloned().unwrap_or_else(|| "target/release/fleet".into());
    let count: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(30);
    let dir = tempfile::tempdir()?;
    let (key, public) = app_key(dir.path());
    let fake = FakeGitHub::start(1, &[5], &public).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let registry = format!(
        "registry \"acme\"\nfleet \"creo\" {{\n    path \"fleets/creo\"\n}}\nserver \"box\" {{\n    ssh-host \"127.0.0.1\"\n    ssh-port {closed}\n    deploy-path \"/tmp/nowhere\"\n}}\ndeployment {{\n    route fleet=\"creo\" stage=\"live\" server=\"box\"\n}}\ndeploy-policy \"live\" {{\n    permission \"maintain\"\n    teams \"acme/deployers\"\n}}\n"
    );
    let fleet = "project \"creo\"\nservice \"site\" {\n    image \"fleetflow/busybox:latest\"\n}\nstage \"live\"\n";
    {
        let mut w = fake.world();
        w.add_commit(
            REPO,
            HEAD,
            &[
                ("fleet-registry.kdl", &registry),
                ("fleets/creo/.fleetflow/fleet.kdl", fleet),
            ],
        );
        w.deploy.pulls.insert(
            (REPO.into(), 1),
            FakePull {
                head_sha: HEAD.into(),
                base_sha: HEAD.into(),
                head_repo: REPO.into(),
            },
        );
        w.deploy.permissions.insert("alice".into(), "write".into());
        w.deploy.team_members.push(("acme/deployers".into(), "alice".into()));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut child = Command::new(&bin)
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--github-api-url", &fake.url()])
        .args([
            "--database",
            &format!("sqlite://{}", dir.path().join("fleet.db").display()),
        ])
        .env("GITHUB_APP_ID", "1")
        .env("GITHUB_APP_PRIVATE_KEY", &key)
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("FLEET_SSH_CONNECT_TIMEOUT", "2")
        .env("RUST_LOG", "error")
        .spawn()?;
    let http = reqwest::Client::new();
    let start = Instant::now();
    while http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .is_err()
    {
        anyhow::ensure!(start.elapsed() < Duration::from_secs(20), "fleet serve did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut took = Vec::new();
    for i in 0..count {
        let id = {
            let mut w = fake.world();
            w.add_human_comment(REPO, 1, "/deploy creo live --force");
            w.comments.last().map(|c| c.id).unwrap_or(0)
        };
        let body = serde_json::to_vec(&json!({
            "action": "created",
            "issue": { "number": 1, "pull_request": { "url": "" } },
            "comment": { "id": id, "body": "/deploy creo live --force", "user": { "login": "alice", "type": "User" } },
            "repository": { "name": "monorepo", "owner": { "login": "acme" } },
            "installation": { "id": 5 },
        }))?;
        let sent = Instant::now();
        let base = format!("http://127.0.0.1:{port}");
        let status = replicas::deliver_signed(&http, &base, SECRET, "issue_comment", &format!("d-{i}"), body).await?;
        anyhow::ensure!(status == 202, "delivery refused: {status}");
        // Wait for this deploy to end (so the next starts unhindered); keep when it started.
        let started = loop {
            let done = {
                let w = fake.world();
                w.deploy
                    .deployments
                    .get(i)
                    .filter(|d| d.statuses.len() >= 2)
                    .map(|d| d.status_times[0])
            };
            if let Some(t) = done {
                break t;
            }
            anyhow::ensure!(sent.elapsed() < Duration::from_secs(30), "deploy {i} did not start");
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        took.push(started.duration_since(sent));
    }
    let _ = child.kill();
    let violations = fake.world().violations.clone();
    anyhow::ensure!(violations.is_empty(), "the fake rejected requests: {violations:?}");
    took.sort();
    println!(
        "/deploy overhead (delivery → deployment in_progress), {count} sequential: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        percentile(&took, 0.5).as_secs_f64() * 1000.0,
        percentile(&took, 0.9).as_secs_f64() * 1000.0,
        took.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
    Ok(())
}
