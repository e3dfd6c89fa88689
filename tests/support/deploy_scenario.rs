//! The `fleet serve` deploy scenario: the real binary with two workers, the OpenAPI-checked
//! fake GitHub (fake_github.rs with fake_github_deploy.rs) seeded with a repository whose fleets
//! build and deploy on the test world (docker, the registry, sshd), and helpers that deliver
//! signed, real-fixture webhooks. Used with `mod support;`, `mod fake_github;` and
//! `#[path = "support/deploy_scenario.rs"] mod deploy_scenario;`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::fake_github::deploy::FakePull;
use crate::fake_github::{self, FakeGitHub, app_key};
#[allow(unused_imports)] // not every test file needs both
pub use crate::fake_github::{free_port, webhook_fixture as fixture};
use crate::support;
use fleetflow::webhook::sign;
use serde_json::{Value, json};

pub const SECRET: &str = "deploy-test-secret";
pub const APP_ID: u64 = 4343;
pub const INSTALLATION: u64 = 88;
pub const REPO: &str = "acme/monorepo";
pub const BASE: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const HEAD: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
/// Like HEAD, but the server's SSH port is closed.
pub const DEAD: &str = "dddddddddddddddddddddddddddddddddddddddd";
/// Like HEAD, but the registry drops the `deploy-policy "live"` block.
pub const LIFTED: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
/// Like HEAD, but the server `box` deploys to another path.
pub const MOVED: &str = "ffffffffffffffffffffffffffffffffffffffff";
pub const PR: u64 = 7;
pub const FORK_PR: u64 = 8;
pub const LIFTING_PR: u64 = 10;
pub const MOVING_PR: u64 = 11;

pub struct Scenario {
    pub world: support::TestWorld,
    pub project: String,
    pub fake: FakeGitHub,
    pub app: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    key: std::path::PathBuf,
    pub http: reqwest::Client,
    pub deliveries: std::sync::atomic::AtomicU32,
    /// What the App's environment sets besides the defaults (kept for restarts).
    app_env: Vec<(String, String)>,
    /// The job database every replica shares.
    database: String,
    /// Replicas besides the first (`app` at `addr`), on the same database.
    others: Vec<(Child, SocketAddr)>,
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let _ = self.app.kill();
        let _ = self.app.wait();
        for (child, _) in &mut self.others {
            let _ = child.kill();
            let _ = child.wait();
        }
        for project in [
            self.project.clone(),
            format!("{}-q", self.project),
            format!("{}-o", self.project),
        ] {
            self.world.remove_project(&project, "live");
        }
    }
}

pub fn registry_kdl(world: &support::TestWorld, deploy_path: &str, port: u16) -> String {
    format!(
        r#"registry "acme"

fleet "creo" {{
    path "fleets/creo"
}}
fleet "quiet" {{
    path "fleets/quiet"
}}
fleet "other" {{
    path "fleets/other"
}}

server "box" {{
    ssh-host "{host}"
    ssh-port {port}
    ssh-user "{user}"
    deploy-path "{deploy_path}"
}}

deployment {{
    route fleet="creo" stage="live" server="box" auto-deploy=#true
    route fleet="quiet" stage="live" server="box"
    route fleet="other" stage="live" server="box" auto-deploy=#true
}}

deploy-policy "live" {{
    permission "maintain"
    teams "acme/deployers"
}}
"#,
        host = world.ssh_host,
        user = world.ssh_user,
    )
}

pub fn creo_kdl(project: &str, marker: &str) -> String {
    format!(
        "project \"{project}\"\n\nservice \"site\" {{\n    build {{\n        context \".\"\n    }}\n    command \"sh\" \"-c\" \
         \"trap 'exit 0' TERM; cat /marker; while :; do sleep 1; done\"\n}}\n\nstage \"live\" {{\n    service \"site\"\n}}\n// {marker}\n"
    )
}

/// A fleet running the test world's busybox from its registry (pullable on the "server").
pub fn simple_kdl(project: &str, registry: &str) -> String {
    format!(
        "project \"{project}\"\nservice \"x\" {{\n    image \"{registry}/fleetflow/busybox:latest\"\n    command \"sh\" \"-c\" \
         \"trap 'exit 0' TERM; while :; do sleep 1; done\"\n}}\nstage \"live\"\n"
    )
}

/// The real `fleet serve` with two workers on `database`, deploying to the test world.
fn spawn_app(
    world: &support::TestWorld,
    fake: &FakeGitHub,
    database: &str,
    key: &std::path::Path,
    addr: SocketAddr,
    extra_env: &[(String, String)],
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_fleet"))
        .arg("serve")
        .args(["--listen", &addr.to_string()])
        .args(["--github-api-url", &fake.url()])
        .env("FLEET_DATABASE_URL", database)
        .args(["--workers", "2"])
        .env("GITHUB_APP_ID", APP_ID.to_string())
        .env("GITHUB_APP_PRIVATE_KEY", key)
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("FLEET_IMAGE_REGISTRY", format!("{}/acme", world.registry))
        .env("FLEET_REMOTE_BINARY", env!("CARGO_BIN_EXE_fleet"))
        .env("DOCKER_CONFIG", &world.docker_config)
        .env("FLEET_SSH_KEY", &world.ssh_key)
        .env("FLEET_SSH_KNOWN_HOSTS", &world.ssh_known_hosts)
        .env("FLEET_SSH_CONNECT_TIMEOUT", "3")
        .env("RUST_LOG", "info")
        .envs(extra_env.iter().map(|(k, v)| (k, v)))
        .spawn()
        .expect("fleet serve starts")
}

impl Scenario {
    pub async fn start() -> Scenario {
        Self::start_with(Vec::new()).await
    }

    /// [`Scenario::start`] with variables of the App's environment set or overridden.
    pub async fn start_with(app_env: Vec<(String, String)>) -> Scenario {
        Self::start_on(None, 1, app_env).await
    }

    /// [`Scenario::start_with`] on `database` (default: SQLite in the scenario's directory)
    /// with `replicas` processes of the App sharing it, each on its own address.
    pub async fn start_on(database: Option<String>, replicas: usize, app_env: Vec<(String, String)>) -> Scenario {
        let world = support::test_world();
        let project = support::unique("creo");
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = app_key(dir.path());
        let fake = FakeGitHub::start(APP_ID, &[INSTALLATION], &public).await;
        let deploy_path = dir.path().join("server");
        let dp = deploy_path.display().to_string();
        let dockerfile = "FROM fleetflow/busybox:latest\nCOPY marker /marker\n";
        let commit = |registry: String, marker: &str, quiet: &str| -> Vec<(String, String)> {
            vec![
                ("fleet-registry.kdl".into(), registry),
                ("fleets/creo/.fleetflow/fleet.kdl".into(), creo_kdl(&project, marker)),
                ("fleets/creo/Dockerfile".into(), dockerfile.into()),
                ("fleets/creo/marker".into(), format!("{marker}\n")),
                (
                    "fleets/quiet/.fleetflow/fleet.kdl".into(),
                    simple_kdl(&format!("{project}-q"), &world.registry) + quiet,
                ),
                (
                    "fleets/other/.fleetflow/fleet.kdl".into(),
                    simple_kdl(&format!("{project}-o"), &world.registry),
                ),
            ]
        };
        {
            let mut w = fake.world();
            let registry = registry_kdl(&world, &dp, world.ssh_port);
            let without_policy = registry[..registry.find("deploy-policy").unwrap()].to_owned();
            let moved = registry.replace(&dp, &format!("{dp}-elsewhere"));
            for (sha, files) in [
                // The default branch: its registry holds the deploy rules.
                ("main", commit(registry.clone(), "one", "")),
                (BASE, commit(registry.clone(), "one", "")),
                (HEAD, commit(registry.clone(), "two", "// changed\n")),
                (
                    DEAD,
                    commit(registry_kdl(&world, &dp, free_port()), "two", "// changed\n"),
                ),
                (LIFTED, commit(without_policy, "two", "// changed\n")),
                (MOVED, commit(moved, "two", "// changed\n")),
            ] {
                let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
                w.add_commit(REPO, sha, &files);
            }
            for (number, head, head_repo) in [
                (PR, HEAD, REPO),
                (FORK_PR, HEAD, "mallory/monorepo"),
                (9, DEAD, REPO),
                (LIFTING_PR, LIFTED, REPO),
                (MOVING_PR, MOVED, REPO),
            ] {
                w.deploy.pulls.insert(
                    (REPO.into(), number),
                    FakePull {
                        head_sha: head.into(),
                        base_sha: BASE.into(),
                        head_repo: head_repo.into(),
                    },
                );
            }
            w.deploy.permissions.insert("alice".into(), "write".into());
            w.deploy.permissions.insert("bob".into(), "read".into());
            w.deploy.permissions.insert("carol".into(), "write".into());
            w.deploy.permissions.insert("dana".into(), "admin".into());
            w.deploy.team_members.push(("acme/deployers".into(), "alice".into()));
        }
        let database = database.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("fleet.db").display()));
        let new_addr = || -> SocketAddr { format!("127.0.0.1:{}", free_port()).parse().unwrap() };
        let addr = new_addr();
        let app = spawn_app(&world, &fake, &database, &key, addr, &app_env);
        let others = (1..replicas.max(1))
            .map(|_| {
                let addr = new_addr();
                (spawn_app(&world, &fake, &database, &key, addr, &app_env), addr)
            })
            .collect();
        let s = Scenario {
            world,
            project,
            fake,
            app,
            addr,
            dir,
            key,
            http: reqwest::Client::new(),
            deliveries: Default::default(),
            app_env,
            database,
            others,
        };
        for addr in s.replica_addrs() {
            s.wait_healthy_at(addr).await;
        }
        s
    }

    /// SIGKILL: the app dies wherever it is.
    pub fn kill_app(&mut self) {
        self.app.kill().unwrap();
        self.app.wait().unwrap();
    }

    /// Starts the app again (after [`Scenario::kill_app`]) on the same address and database.
    pub async fn restart_app(&mut self) {
        self.app = spawn_app(
            &self.world,
            &self.fake,
            &self.database,
            &self.key,
            self.addr,
            &self.app_env,
        );
        self.wait_healthy().await;
    }

    pub async fn wait_healthy(&self) {
        self.wait_healthy_at(self.addr).await;
    }

    /// Every replica's address, the first one's first.
    pub fn replica_addrs(&self) -> Vec<SocketAddr> {
        std::iter::once(self.addr)
            .chain(self.others.iter().map(|(_, a)| *a))
            .collect()
    }

    /// Every replica's process id, the first one's first.
    pub fn replica_pids(&self) -> Vec<u32> {
        std::iter::once(self.app.id())
            .chain(self.others.iter().map(|(c, _)| c.id()))
            .collect()
    }

    /// The value of counter `name` in replica `n`'s `/metrics` (0 when absent).
    pub async fn metric(&self, n: usize, name: &str) -> f64 {
        let text = self
            .http
            .get(format!("http://{}/metrics", self.replica_addrs()[n]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// SIGKILL of replica `n` (0: the first).
    pub fn kill_replica(&mut self, n: usize) {
        let child = if n == 0 {
            &mut self.app
        } else {
            &mut self.others[n - 1].0
        };
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Starts replica `n` again on its address, and waits until it is healthy.
    pub async fn restart_replica(&mut self, n: usize) {
        let addr = self.replica_addrs()[n];
        let child = spawn_app(&self.world, &self.fake, &self.database, &self.key, addr, &self.app_env);
        if n == 0 {
            self.app = child;
        } else {
            self.others[n - 1].0 = child;
        }
        self.wait_healthy_at(addr).await;
    }

    /// Delivers `body`, signed, as `delivery` to replica `n`: its HTTP status, 0 when it did
    /// not answer (killed).
    pub async fn deliver_to(&self, n: usize, event: &str, delivery: &str, body: &[u8]) -> u16 {
        let sent = self
            .http
            .post(format!("http://{}/webhook", self.replica_addrs()[n]))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", delivery)
            .header("X-Hub-Signature-256", sign(SECRET, body))
            .header("Content-Type", "application/json")
            .body(body.to_vec())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        sent.map_or(0, |r| r.status().as_u16())
    }

    async fn wait_healthy_at(&self, addr: SocketAddr) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(r) = self.http.get(format!("http://{addr}/healthz")).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fleet serve did not become healthy");
    }

    /// The app's job database (`sqlite://…` unless started on another).
    pub fn db_url(&self) -> String {
        self.database.clone()
    }

    pub async fn deliver(&self, event: &str, body: Value) -> Value {
        let n = self.deliveries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (status, reply) = self
            .deliver_as(event, &format!("delivery-{n}"), &serde_json::to_vec(&body).unwrap())
            .await;
        assert_eq!(status, 202, "{reply}");
        reply
    }

    /// Delivers `body`, signed, as delivery `delivery`: (HTTP status, the JSON answer).
    pub async fn deliver_as(&self, event: &str, delivery: &str, body: &[u8]) -> (u16, Value) {
        let r = self
            .http
            .post(format!("http://{}/webhook", self.addr))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", delivery)
            .header("X-Hub-Signature-256", sign(SECRET, body))
            .header("Content-Type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// A `/deploy …` (or any) comment by `login` on pull request `number`.
    pub async fn comment(&self, number: u64, login: &str, body: &str) -> Value {
        let payload = self.comment_payload(number, login, body);
        self.deliver("issue_comment", payload).await
    }

    /// The `issue_comment` created payload of a new comment by `login` on pull request `number`.
    pub fn comment_payload(&self, number: u64, login: &str, body: &str) -> Value {
        let id = {
            let mut w = self.fake.world();
            w.add_human_comment(REPO, number, body);
            w.comments.last().unwrap().id
        };
        let mut p = fixture("issue_comment", "created.with-installation.payload.json");
        rewrite_repo(&mut p);
        p["issue"]["number"] = json!(number);
        p["issue"]["pull_request"] = json!({ "url": format!("https://api.github.com/repos/{REPO}/pulls/{number}") });
        p["comment"]["id"] = json!(id);
        p["comment"]["body"] = json!(body);
        p["comment"]["user"]["login"] = json!(login);
        p["comment"]["user"]["type"] = json!("User");
        p
    }

    pub async fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&fake_github::World) -> bool) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if done(&self.fake.world()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let w = self.fake.world();
        panic!(
            "timed out waiting for {what}; calls: {:?}\nviolations: {:?}\ncomments: {:#?}",
            w.calls,
            w.violations,
            w.comments.iter().map(|c| &c.body).collect::<Vec<_>>()
        );
    }

    pub fn bot_replies(&self, number: u64) -> Vec<String> {
        let w = self.fake.world();
        w.bot_comments(REPO, number).into_iter().map(|c| c.body).collect()
    }

    /// A first `/deploy creo live` hangs mid-run (its source download, held by `hang_tarball`;
    /// the command read the configuration from the one tarball let through), a second waits
    /// behind it. `hang_tarball = false` lets the first go on.
    pub async fn hold_a_deploy_with_another_waiting(&self) {
        {
            let mut w = self.fake.world();
            w.deploy.tarballs_before_hang = 1;
            w.deploy.hang_tarball = true;
        }
        self.comment(PR, "alice", "/deploy creo live --force").await;
        self.wait_for("the first deploy mid-run", Duration::from_secs(60), |w| {
            w.deploy
                .deployments
                .first()
                .is_some_and(|d| d.statuses == ["in_progress"])
        })
        .await;
        self.comment(PR, "alice", "/deploy creo live --force").await;
        self.wait_for("the second one queued behind it", Duration::from_secs(60), |w| {
            w.bot_comments(REPO, PR)
                .iter()
                .any(|c| c.body.contains("Queued behind deploy #"))
        })
        .await;
    }

    /// The "server"'s deploy-path.
    pub fn deploy_path(&self) -> std::path::PathBuf {
        self.dir.path().join("server")
    }

    pub fn running(&self) -> Vec<String> {
        self.world.running(&self.project)
    }

    pub fn assert_no_violations(&self) {
        self.fake.assert_no_violations();
    }
}

pub fn rewrite_repo(p: &mut Value) {
    let (owner, name) = REPO.split_once('/').unwrap();
    p["installation"]["id"] = json!(INSTALLATION);
    p["repository"]["name"] = json!(name);
    p["repository"]["full_name"] = json!(REPO);
    p["repository"]["owner"]["login"] = json!(owner);
}

pub fn deploy_finished(w: &fake_github::World, n: usize) -> bool {
    w.deploy
        .deployments
        .iter()
        .filter(|d| d.statuses.last().is_some_and(|s| s == "success" || s == "failure"))
        .count()
        >= n
}
