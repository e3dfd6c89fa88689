//! The `fleet serve` test harness: the app in-process or as the real binary, a fake GitHub
//! (tests/support/fake_github.rs) seeded with one repository and three commits, and real
//! webhook payloads signed with a test secret. Used by the serve_* test files with
//! `#[path = "support/serve_harness.rs"] mod serve_harness;` next to `mod fake_github;`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::fake_github::{self, FakeGitHub, app_key};
#[allow(unused_imports)] // not every test file needs both
pub use crate::fake_github::{free_port, webhook_fixture as fixture};
use fleetflow::application::jobs::DeploySettings;
use fleetflow::secret::Secret;
use fleetflow::ssh::OpensshConnector;
use fleetflow::webhook::serve::{ServeConfig, serve};
use fleetflow::webhook::sign;
use serde_json::{Value, json};

pub const SECRET: &str = "test-webhook-secret";
pub const APP_ID: u64 = 4242;
pub const INSTALLATION: u64 = 77;
pub const REPO: &str = "acme/monorepo";
pub const BASE: &str = "1111111111111111111111111111111111111111";
pub const HEAD: &str = "2222222222222222222222222222222222222222";
pub const HEAD2: &str = "3333333333333333333333333333333333333333";

pub const REGISTRY: &str = r#"registry "acme"

fleet "web" {
    path "fleets/web"
}

server "vps-01" {
    provider "sakura-cloud"
    plan "4core-8gb"
    ssh-host "203.0.113.10"
    deploy-path "/opt/apps"
}

deployment {
    route fleet="web" stage="live" server="vps-01"
}
"#;
pub const FLEET_PATH: &str = "fleets/web/.fleetflow/fleet.kdl";

pub fn fleet(image: &str, extra_service: bool) -> String {
    let extra = if extra_service {
        "\nservice \"worker\" {\n    image \"ghcr.io/acme/worker:1\"\n}\n"
    } else {
        ""
    };
    format!(
        "project \"web\"\n\nservice \"site\" {{\n    image \"{image}\"\n    port 8080\n}}\n{extra}\nstage \"live\" {{\n}}\n"
    )
}

pub struct Harness {
    /// Dropped before the directory (a PostgreSQL database of the test's own is dropped).
    _db: super::databases::TestDatabase,
    _dir: tempfile::TempDir,
    pub key: PathBuf,
    pub db_url: String,
    pub fake: FakeGitHub,
    pub http: reqwest::Client,
}

impl Harness {
    /// A harness on SQLite.
    pub async fn new() -> Harness {
        Harness::on(super::databases::Backend::Sqlite).await
    }

    /// A harness whose app keeps its jobs on `backend`.
    pub async fn on(backend: super::databases::Backend) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = app_key(dir.path());
        let fake = FakeGitHub::start(APP_ID, &[INSTALLATION], &public).await;
        {
            let mut w = fake.world();
            w.add_commit(
                REPO,
                BASE,
                &[
                    ("fleet-registry.kdl", REGISTRY),
                    (FLEET_PATH, &fleet("ghcr.io/acme/site:1", false)),
                ],
            );
            w.add_commit(
                REPO,
                HEAD,
                &[
                    ("fleet-registry.kdl", REGISTRY),
                    (FLEET_PATH, &fleet("ghcr.io/acme/site:2", false)),
                ],
            );
            w.add_commit(
                REPO,
                HEAD2,
                &[
                    ("fleet-registry.kdl", REGISTRY),
                    (FLEET_PATH, &fleet("ghcr.io/acme/site:2", true)),
                ],
            );
        }
        let db = super::databases::TestDatabase::create(backend, dir.path()).await;
        let db_url = db.url.clone();
        Harness {
            _db: db,
            _dir: dir,
            key,
            db_url,
            fake,
            http: reqwest::Client::new(),
        }
    }

    pub fn config(&self, listen: SocketAddr) -> ServeConfig {
        ServeConfig {
            listen,
            app_id: APP_ID,
            private_key: Secret::new(self.key.display().to_string()),
            webhook_secrets: vec![Secret::new("old-secret"), Secret::new(SECRET)],
            github_api_url: self.fake.url(),
            database_url: self.db_url.clone(),
            workers: 2,
            grace: Duration::from_secs(5),
            lease: Duration::from_secs(30),
            deploy: DeploySettings {
                connector: std::sync::Arc::new(OpensshConnector::default()),
                docker: fleetflow::docker::DockerCli::default(),
                image_registry: None,
                registry_login: None,
                fleet_binary: None,
                lock_poll: Duration::ZERO,
                pages: None,
                runs: Some(Default::default()),
            },
            operator_token: None,
        }
    }

    /// Starts the app in-process on a random port.
    pub async fn start(&self) -> RunningApp {
        self.start_with_workers(2).await
    }

    /// Starts the app in-process on a random port with `workers` workers.
    pub async fn start_with_workers(&self, workers: usize) -> RunningApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let config = ServeConfig {
            workers,
            ..self.config(addr)
        };
        let task = tokio::spawn(async move {
            serve(config, listener, async {
                let _ = rx.await;
            })
            .await
        });
        RunningApp {
            addr,
            stop: Some(tx),
            task,
        }
    }

    /// Posts a delivery; status 0 when the app did not answer (it died).
    pub async fn deliver(
        &self,
        addr: SocketAddr,
        event: &str,
        delivery: &str,
        body: &[u8],
        signature: Option<String>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("http://{addr}/webhook"))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", delivery)
            .header("Content-Type", "application/json")
            .body(body.to_vec());
        if let Some(sig) = signature {
            request = request.header("X-Hub-Signature-256", sig);
        }
        let Ok(response) = request.send().await else {
            return (0, Value::Null);
        };
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn deliver_signed(&self, addr: SocketAddr, event: &str, delivery: &str, body: &[u8]) -> (u16, Value) {
        self.deliver(addr, event, delivery, body, Some(sign(SECRET, body)))
            .await
    }

    pub async fn metrics(&self, addr: SocketAddr) -> String {
        self.http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The metrics once no job is running: a job's last GitHub call (what tests wait for)
    /// comes just before it is recorded as done.
    pub async fn settled_metrics(&self, addr: SocketAddr) -> String {
        for _ in 0..100 {
            let metrics = self.metrics(addr).await;
            if metrics.contains("fleet_jobs{state=\"running\"} 0") {
                return metrics;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("a job is still running after 5 s: {}", self.metrics(addr).await)
    }

    /// Waits until `done` holds for the fake's world.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&fake_github::World) -> bool) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if done(&self.fake.world()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let w = self.fake.world();
        panic!(
            "timed out waiting for {what}; calls: {:?}; violations: {:?}; check runs: {:?}",
            w.calls, w.violations, w.check_runs
        );
    }

    pub fn assert_no_violations(&self) {
        self.fake.assert_no_violations();
    }
}

pub struct RunningApp {
    pub addr: SocketAddr,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningApp {
    pub async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

/// A pull_request delivery from the real fixture, pointed at our repo, installation and commits.
pub fn pull_request(action: &str, number: u64, head: &str, base: &str) -> Vec<u8> {
    let mut p = fixture("pull_request", &format!("{action}.payload.json"));
    let (owner, name) = REPO.split_once('/').unwrap();
    p["installation"]["id"] = json!(INSTALLATION);
    p["repository"]["name"] = json!(name);
    p["repository"]["full_name"] = json!(REPO);
    p["repository"]["owner"]["login"] = json!(owner);
    p["number"] = json!(number);
    p["pull_request"]["number"] = json!(number);
    p["pull_request"]["head"]["sha"] = json!(head);
    p["pull_request"]["base"]["sha"] = json!(base);
    serde_json::to_vec(&p).unwrap()
}

pub fn completed(w: &fake_github::World, n: usize) -> bool {
    w.check_runs.iter().filter(|r| r.status == "completed").count() >= n
}

/// A server process killed when dropped, so a failing test leaves none behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn spawn_binary(h: &Harness, port: u16) -> Child {
    spawn_binary_with(h, port, &[])
}

/// The real `fleet serve` on `port`, with `extra` arguments (`--workers 1`, `--grace 1`).
pub fn spawn_binary_with(h: &Harness, port: u16, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_fleet"))
        .arg("serve")
        .args(extra)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--github-api-url", &h.fake.url()])
        .args(["--database", &h.db_url])
        .env("GITHUB_APP_ID", APP_ID.to_string())
        .env("GITHUB_APP_PRIVATE_KEY", &h.key)
        .env("GITHUB_WEBHOOK_SECRET", format!("rotated-out,{SECRET}"))
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("fleet serve starts")
}

pub async fn wait_healthy(h: &Harness, addr: SocketAddr) {
    if !answers_ok(h, &format!("http://{addr}/healthz"), Duration::from_secs(20)).await {
        panic!("fleet serve on {addr} did not become healthy");
    }
}

/// Whether a GET of `url` answers 2xx within `limit` (asked every 50 ms).
pub async fn answers_ok(h: &Harness, url: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(r) = h.http.get(url).send().await
            && r.status().is_success()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}
