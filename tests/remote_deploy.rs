//! `fleet registry deploy/status/unlock` over the real sshd of the test world; the "remote"
//! is this machine, its deploy-path a temp dir.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use predicates::str::contains;
use support::{TestWorld, run_ok, test_world, unique};

struct Monorepo {
    dir: tempfile::TempDir,
    project: String,
    world: TestWorld,
}

const SERVICE: &str = "service \"web\" {\n    image \"fleetflow/busybox:latest\"\n    command \"sh\" \"-c\" \"trap 'exit 0' TERM; while :; do sleep 1; done\"\n    HEALTH}\nstage \"live\"\n";

impl Monorepo {
    /// A registry with one fleet routed to the test sshd; `server_extra` is spliced into the server.
    fn new(server_extra: &str, description: &str) -> Monorepo {
        let world = test_world();
        let project = unique("r");
        let dir = tempfile::tempdir().expect("tempdir");
        let m = Monorepo { dir, project, world };
        m.write_registry(server_extra, description);
        m.write_fleet("");
        m
    }

    fn deploy_path(&self) -> PathBuf {
        self.dir.path().join("remote dir 'x'")
    }

    fn write_registry(&self, server_extra: &str, description: &str) {
        let w = &self.world;
        let text = format!(
            "registry \"t\"\nfleet \"{p}\" {{\n    path \"fleets/{p}\"\n    description {desc}\n}}\nserver \"local\" {{\n    ssh-host \"{host}\"\n    ssh-port {port}\n    ssh-key \"{key}\"\n    deploy-path {dp}\n{server_extra}}}\ndeployment {{\n    route fleet=\"{p}\" stage=\"live\" server=\"local\"\n}}\n",
            p = self.project,
            desc = kdl_string(description),
            host = w.ssh_host,
            port = w.ssh_port,
            key = w.ssh_key.display(),
            dp = kdl_string(&self.deploy_path().display().to_string()),
        );
        std::fs::write(self.dir.path().join("fleet-registry.kdl"), text).expect("write");
    }

    fn write_fleet(&self, health: &str) {
        let fleet_dir = self.dir.path().join("fleets").join(&self.project).join(".fleetflow");
        std::fs::create_dir_all(&fleet_dir).expect("mkdir");
        let text = format!("project \"{}\"\n{}", self.project, SERVICE.replace("HEALTH", health));
        std::fs::write(fleet_dir.join("fleet.kdl"), text).expect("write");
    }

    fn fleet(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("fleet").expect("binary");
        cmd.current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("CI", "true")
            .env("USER", "tester");
        cmd.env("FLEET_SSH_KNOWN_HOSTS", &self.world.ssh_known_hosts)
            .env_remove("FLEET_REGISTRY_PATH");
        cmd
    }

    fn container_ids(&self) -> Vec<String> {
        let out = run_ok(self.world.docker().args([
            "ps",
            "-q",
            "--filter",
            &format!("label=io.fleetflow.project={}", self.project),
        ]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Monorepo {
    fn drop(&mut self) {
        self.world.remove_project(&self.project, "live");
    }
}

fn kdl_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn pinned(world: &TestWorld) -> String {
    format!("    ssh-host-key \"{}\"\n", world.ssh_host_key)
}

#[test]
fn deploys_end_to_end_then_a_redeploy_changes_nothing() {
    let world = test_world();
    let m = Monorepo::new(&pinned(&world), "plain");
    // Without --yes: the plan only.
    m.fleet()
        .args(["registry", "deploy", &m.project])
        .assert()
        .success()
        .stdout(contains(format!(
            "{p}:live → local  root@127.0.0.1:2222",
            p = m.project
        )))
        .stdout(contains("Nothing was run: add --yes to deploy."));
    assert!(!m.deploy_path().exists(), "a plan touches nothing");

    m.fleet()
        .args(["registry", "deploy", &m.project, "--yes", "--no-pull"])
        .assert()
        .success()
        .stdout(contains("[local] web      created"))
        .stdout(contains(format!("{}:live → local: ok", m.project)));
    let first = m.container_ids();
    assert_eq!(first.len(), 1, "the container runs");
    let remote = m.deploy_path();
    assert!(
        remote.join(&m.project).join(".fleetflow/fleet.kdl").is_file(),
        "config shipped"
    );
    assert!(remote.join(".fleetflow/bin/fleet").is_file(), "binary installed");
    assert!(
        !remote.join(format!(".fleetflow/locks/{}-live", m.project)).exists(),
        "lock released"
    );

    m.fleet()
        .args([
            "registry",
            "deploy",
            &m.project,
            "--yes",
            "--no-pull",
            "--stage",
            "live",
        ])
        .assert()
        .success()
        .stdout(contains("0 changed, 1 unchanged"))
        .stdout(contains("installed fleet").not());
    assert_eq!(m.container_ids(), first, "no-op redeploy");
    let audit = std::fs::read_to_string(remote.join(".fleetflow/audit.log")).expect("audit log");
    assert_eq!(audit.lines().count(), 2);
    assert!(
        audit
            .lines()
            .all(|l| l.contains("tester@") && l.contains(&format!("{}:live", m.project)) && l.contains("\tok\t")),
        "{audit}"
    );

    let status = m.fleet().args(["registry", "status"]).assert().success();
    let text = String::from_utf8_lossy(&status.get_output().stdout).into_owned();
    let expected = format!(
        "Fleet Registry: t\n\n  {:<w$} Stage    Server    Status\n  {:<w$} live     local     Running (1/1 services)\n",
        "Fleet",
        m.project,
        w = m.project.len().max(11)
    );
    assert_eq!(text, expected);
    let json = m
        .fleet()
        .args(["registry", "status", "--output", "json"])
        .assert()
        .success();
    let rows: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).expect("json");
    assert_eq!(rows[0]["running"], 1);
}

use predicates::prelude::PredicateBooleanExt;

#[test]
fn a_wrong_pinned_host_key_is_refused_before_any_command_runs() {
    let world = test_world();
    let other = tempfile::tempdir().expect("tempdir");
    run_ok(
        std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(other.path().join("k")),
    );
    let wrong = std::fs::read_to_string(other.path().join("k.pub")).expect("pub");
    let wrong: String = wrong.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let m = Monorepo::new(&format!("    ssh-host-key \"{wrong}\"\n"), "x");
    m.fleet()
        .args(["registry", "deploy", &m.project, "--yes", "--no-pull"])
        .assert()
        .code(1)
        .stdout(contains("host key of root@127.0.0.1:2222 does not match"));
    assert!(!m.deploy_path().exists(), "nothing ran on the server");
    let _ = world;
}

#[test]
fn an_unknown_host_key_without_a_pin_is_refused() {
    let m = Monorepo::new("", "x");
    let empty = tempfile::NamedTempFile::new().expect("temp");
    m.fleet()
        .env("FLEET_SSH_KNOWN_HOSTS", empty.path())
        .args(["registry", "deploy", &m.project, "--yes", "--no-pull"])
        .assert()
        .code(1)
        .stdout(contains("is not known: refusing to connect"));
    assert!(!m.deploy_path().exists());
}

#[test]
fn a_wrong_user_key_is_refused() {
    let world = test_world();
    let other = tempfile::tempdir().expect("tempdir");
    let key = other.path().join("id");
    run_ok(
        std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key),
    );
    let m = Monorepo::new(&pinned(&world), "x");
    let text = std::fs::read_to_string(m.dir.path().join("fleet-registry.kdl")).expect("read");
    std::fs::write(
        m.dir.path().join("fleet-registry.kdl"),
        text.replace(&world.ssh_key.display().to_string(), &key.display().to_string()),
    )
    .expect("write");
    m.fleet()
        .args(["registry", "deploy", &m.project, "--yes", "--no-pull"])
        .assert()
        .code(1)
        .stdout(contains("authentication to root@127.0.0.1:2222 failed"));
}

#[test]
fn a_closed_or_silent_port_fails_within_the_connect_timeout() {
    let world = test_world();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    for (port, what) in [(closed, "Connection refused"), (silent_port, "")] {
        let m = Monorepo::new(&pinned(&world), "x");
        let text = std::fs::read_to_string(m.dir.path().join("fleet-registry.kdl")).expect("read");
        std::fs::write(
            m.dir.path().join("fleet-registry.kdl"),
            text.replace("ssh-port 2222", &format!("ssh-port {port}")),
        )
        .expect("write");
        let started = Instant::now();
        m.fleet()
            .env("FLEET_SSH_CONNECT_TIMEOUT", "2")
            .args(["registry", "deploy", &m.project, "--yes", "--no-pull"])
            .assert()
            .code(1)
            .stdout(contains(format!("cannot reach root@127.0.0.1:{port}")))
            .stdout(contains(what));
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{port}: took {:?}",
            started.elapsed()
        );
        // Status says Unreachable for it.
        m.fleet()
            .env("FLEET_SSH_CONNECT_TIMEOUT", "2")
            .args(["registry", "status"])
            .assert()
            .code(1)
            .stdout(contains("Unreachable"));
    }
    drop(silent);
}

#[test]
fn a_held_lock_refuses_a_second_deploy_naming_the_holder_until_unlocked() {
    let world = test_world();
    let m = Monorepo::new(&pinned(&world), "x");
    // A deploy whose health takes a while holds the lock; a second one started meanwhile is refused.
    m.write_fleet("healthcheck {\n        test \"sh\" \"-c\" \"sleep 3\"\n        interval \"4s\"\n        timeout \"5s\"\n    }\n");
    let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("fleet"));
    first
        .current_dir(m.dir.path())
        .env("CI", "true")
        .env("USER", "first-deployer")
        .env("FLEET_SSH_KNOWN_HOSTS", &world.ssh_known_hosts);
    first.args(["registry", "deploy", &m.project, "--yes", "--no-pull"]);
    let mut child = first.stdout(std::process::Stdio::piped()).spawn().expect("spawn");
    let lock = m
        .deploy_path()
        .join(format!(".fleetflow/locks/{}-live/owner", m.project));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(lock.exists(), "the first deploy took the lock");
    m.fleet()
        .args(["registry", "deploy", &m.project, "--yes", "--no-pull"])
        .assert()
        .code(1)
        .stdout(contains(format!(
            "{}:live is being deployed on local by first-deployer@",
            m.project
        )));
    assert!(child.wait().expect("wait").success(), "the first deploy finished");
    assert!(!lock.exists(), "and released the lock");

    // A stale lock (a dead deploy) is removed with `fleet registry unlock`.
    std::fs::create_dir_all(lock.parent().expect("dir")).expect("mkdir");
    std::fs::write(&lock, "crashed@ci at 2026-01-01T00:00:00Z (commit abc)\n").expect("write");
    m.fleet()
        .args(["registry", "deploy", &m.project, "--yes", "--no-pull"])
        .assert()
        .code(1)
        .stdout(contains("by crashed@ci"));
    m.fleet()
        .args(["registry", "unlock", &m.project, "live"])
        .assert()
        .success()
        .stdout(contains("unlocked"));
    m.fleet()
        .args(["registry", "deploy", &m.project, "--yes", "--no-pull"])
        .assert()
        .success();
}

#[test]
fn quotes_and_command_substitution_in_config_change_nothing_on_the_remote() {
    let world = test_world();
    let marker = std::env::temp_dir().join(unique("pwned"));
    let description = format!(
        "it's \"quoted\" $(touch {m}) `touch {m}` ; touch {m}",
        m = marker.display()
    );
    let m = Monorepo::new(&pinned(&world), &description);
    m.fleet()
        .args(["registry", "deploy", &m.project, "--yes", "--no-pull"])
        .assert()
        .success();
    assert!(!marker.exists(), "nothing in the description ran");
    let audit = std::fs::read_to_string(m.deploy_path().join(".fleetflow/audit.log")).expect("audit");
    assert!(
        audit.contains(&description),
        "the description arrived verbatim: {audit}"
    );
    assert!(
        Path::new(&m.deploy_path()).join(&m.project).is_dir(),
        "a deploy-path with a space and a quote works"
    );
}

#[test]
fn stage_commands_run_on_the_server_for_a_routed_stage() {
    let world = test_world();
    let m = Monorepo::new(&pinned(&world), "x");
    let fleet_dir = m.dir.path().join("fleets").join(&m.project);
    let stage = |args: &[&str]| {
        let mut cmd = m.fleet();
        cmd.current_dir(&fleet_dir).arg("stage").args(args);
        cmd
    };
    stage(&["up", "live"])
        .assert()
        .success()
        .stdout(contains("[local] web      created"))
        .stdout(contains(format!("{}:live → local: ok", m.project)));
    assert_eq!(m.container_ids().len(), 1);
    stage(&["ps", "live"])
        .assert()
        .success()
        .stdout(contains("[local] live   web      running"));
    stage(&["status", "live"])
        .assert()
        .success()
        .stdout(contains("[local] Status: running"));
    stage(&["down", "live", "--destroy"])
        .assert()
        .code(2)
        .stderr(contains("manage cloud servers a fleet declares"));
    stage(&["down", "live"]).assert().success().stdout(contains("[local] "));
    assert!(m.container_ids().is_empty(), "stopped on the server");
}
