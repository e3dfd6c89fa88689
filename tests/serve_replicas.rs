//! examples/replicas/compose.yaml for real (issue 16): the App's container image (the
//! Dockerfile's `serve` stage, built by scripts/action-image.sh --target serve) twice, behind
//! haproxy (scripts/proxy-image.sh) with the example's haproxy.cfg, on a database of the test
//! world's PostgreSQL, started with docker-compose. Deliveries sent to the one URL are spread
//! over both replicas and each is planned once; a replica killed with SIGKILL loses no delivery
//! sent to the URL meanwhile, and comes back by itself (restart: unless-stopped).

#[path = "support/databases.rs"]
mod databases;
#[path = "support/fake_github.rs"]
mod fake_github;
#[path = "support/serve_harness.rs"]
mod serve_harness;
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use databases::Backend;
use fleetflow::plan::PLAN_MARKER;
use serve_harness::*;
use support::{run, run_ok, text};

const SERVE_IMAGE: &str = "fleetflow/serve:test-replicas";
const PULLS_BEFORE: u64 = 20;
const PULLS_DURING: u64 = 20;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn compose_file() -> PathBuf {
    root().join("examples/replicas/compose.yaml")
}

/// The `image=` line a build script printed.
fn built_image(script: &str, args: &[&str]) -> String {
    let out = run_ok(Command::new("bash").arg(root().join(script)).args(args));
    let (stdout, _) = text(&out);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("image="))
        .unwrap_or_else(|| panic!("{script} printed no image= line:\n{stdout}"))
        .to_owned()
}

/// The compose project: taken down, with its containers and the images this test built, when
/// dropped — also when the test fails.
struct Project {
    name: String,
    env: Vec<(String, String)>,
    images: Vec<String>,
}

impl Project {
    fn compose(&self) -> Command {
        let mut cmd = Command::new("docker-compose");
        cmd.args(["--project-name", &self.name, "--file"])
            .arg(compose_file())
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// The id of a service's container.
    fn container(&self, service: &str) -> String {
        let out = run_ok(self.compose().args(["ps", "-q", service]));
        let id = text(&out).0.trim().to_owned();
        assert!(!id.is_empty(), "no container for {service}");
        id
    }

    fn inspect(&self, service: &str, format: &str) -> String {
        let out = run_ok(Command::new("docker").args(["inspect", "-f", format, &self.container(service)]));
        text(&out).0.trim().to_owned()
    }

    fn logs(&self) -> String {
        let out = run(self.compose().args(["logs", "--no-color", "--tail", "40"]));
        let (stdout, stderr) = text(&out);
        format!("{stdout}{stderr}")
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose().args(["down", "--timeout", "5"]).output();
        for image in &self.images {
            let _ = Command::new("docker").args(["rmi", image]).output();
        }
    }
}

async fn wait_ready(h: &Harness, addr: SocketAddr, project: &Project) {
    if !answers_ok(h, &format!("http://{addr}/readyz"), Duration::from_secs(60)).await {
        panic!("{addr} not ready in 60 s; logs:\n{}", project.logs());
    }
}

/// Deliveries a replica received, from its /metrics (all events and results).
async fn deliveries_received(h: &Harness, addr: SocketAddr) -> f64 {
    h.metrics(addr)
        .await
        .lines()
        .filter(|l| l.starts_with("fleet_webhook_deliveries_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Delivers `pulls`, each body padded to at least `size` bytes (a field GitHub does not send).
async fn deliver_pulls(
    h: &Harness,
    proxy: SocketAddr,
    pulls: std::ops::RangeInclusive<u64>,
    size: usize,
    project: &Project,
) {
    for n in pulls {
        let mut payload: serde_json::Value = serde_json::from_slice(&pull_request("opened", n, HEAD, BASE)).unwrap();
        payload["fleetflow_test_padding"] = serde_json::json!("x".repeat(size));
        let (status, body) = h
            .deliver_signed(
                proxy,
                "pull_request",
                &format!("replicas-{n}"),
                &serde_json::to_vec(&payload).unwrap(),
            )
            .await;
        assert!(
            (200..300).contains(&status),
            "delivery {n} through the proxy: {status} {body}\nlogs:\n{}",
            project.logs()
        );
    }
}

fn key_file(path: &Path) -> String {
    std::fs::canonicalize(path).unwrap().display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_behind_one_url_plan_every_delivery_once_and_survive_a_sigkill() {
    let _world = support::test_world();
    let h = Harness::on(Backend::Postgres).await;
    let serve_image = built_image(
        "scripts/action-image.sh",
        &[
            "--fleet",
            env!("CARGO_BIN_EXE_fleet"),
            "--target",
            "serve",
            "--tag",
            SERVE_IMAGE,
        ],
    );
    let proxy_image = built_image("scripts/proxy-image.sh", &[]);
    let ssh_dir = tempfile::tempdir().unwrap();
    let (proxy_port, port_1, port_2) = (free_port(), free_port(), free_port());
    let env = [
        ("FLEET_SERVE_IMAGE", serve_image.clone()),
        ("FLEET_PROXY_IMAGE", proxy_image.clone()),
        ("FLEET_DATABASE_URL", h.db_url.clone()),
        ("GITHUB_APP_ID", APP_ID.to_string()),
        ("GITHUB_WEBHOOK_SECRET", SECRET.to_owned()),
        ("GITHUB_APP_PRIVATE_KEY_FILE", key_file(&h.key)),
        ("GITHUB_API_URL", h.fake.url()),
        ("FLEET_SSH_DIR", ssh_dir.path().display().to_string()),
        ("FLEET_PROXY_LISTEN", format!("127.0.0.1:{proxy_port}")),
        ("FLEET_REPLICA_1_PORT", port_1.to_string()),
        ("FLEET_REPLICA_2_PORT", port_2.to_string()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let project = Project {
        name: format!("fleetflow-replicas-{}", std::process::id()),
        env: env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        images: vec![serve_image, proxy_image],
    };
    run_ok(project.compose().args(["up", "-d", "--no-build"]));

    let proxy: SocketAddr = format!("127.0.0.1:{proxy_port}").parse().unwrap();
    let replicas: [SocketAddr; 2] = [
        format!("127.0.0.1:{port_1}").parse().unwrap(),
        format!("127.0.0.1:{port_2}").parse().unwrap(),
    ];
    for addr in replicas {
        wait_ready(&h, addr, &project).await;
    }
    wait_ready(&h, proxy, &project).await;
    // Both are up: haproxy marks a server up after one good check (rise 1, every second).
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // One URL, both replicas: round robin spreads the deliveries; each pull request is planned once.
    deliver_pulls(&h, proxy, 1..=PULLS_BEFORE, 0, &project).await;
    h.wait_for("the first pull requests planned", |w| {
        completed(w, PULLS_BEFORE as usize)
    })
    .await;
    let received = [
        deliveries_received(&h, replicas[0]).await,
        deliveries_received(&h, replicas[1]).await,
    ];
    assert!(
        received[0] > 0.0 && received[1] > 0.0,
        "both replicas take deliveries: {received:?}"
    );
    assert_eq!(received[0] + received[1], PULLS_BEFORE as f64, "{received:?}");

    // SIGKILL of replica 1's process (a crash, not a `docker stop`), then more deliveries at once,
    // large ones: a delivery that meets the dead replica is retried only if haproxy holds it whole.
    let pid = project.inspect("replica-1", "{{.State.Pid}}");
    run_ok(Command::new("kill").args(["-KILL", &pid]));
    deliver_pulls(
        &h,
        proxy,
        PULLS_BEFORE + 1..=PULLS_BEFORE + PULLS_DURING,
        600_000,
        &project,
    )
    .await;
    let total = (PULLS_BEFORE + PULLS_DURING) as usize;
    h.wait_for("every pull request planned", |w| completed(w, total)).await;

    // Docker restarts the killed replica; it is ready again behind the same URL.
    wait_ready(&h, replicas[0], &project).await;
    let restarts: u32 = project.inspect("replica-1", "{{.RestartCount}}").parse().unwrap();
    assert!(restarts >= 1, "replica-1 was restarted after SIGKILL");

    // Exactly once: one plan comment on each pull request, one finished check run each.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let w = h.fake.world();
    for n in 1..=PULLS_BEFORE + PULLS_DURING {
        let bot = w.bot_comments(REPO, n);
        assert_eq!(bot.len(), 1, "pull request #{n}: {} plan comments", bot.len());
        assert!(bot[0].body.starts_with(PLAN_MARKER), "#{n}: {}", bot[0].body);
    }
    let finished = w.check_runs.iter().filter(|r| r.status == "completed").count();
    assert_eq!(finished, total, "one finished check run per pull request");
    assert!(
        w.violations.is_empty(),
        "requests off the REST description: {:?}",
        w.violations
    );
}
