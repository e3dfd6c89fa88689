//! The stage lifecycle of seed 004 through the real `fleet` binary: `stage up dev` →
//! `stage down --suspend` → `stage up` → `stage down --destroy`, with the Sakura Cloud API
//! faked (tests/support/fake_sakura.rs) and SSH and Docker real: the created server's IP is
//! 127.0.0.1, so the test world's sshd plays the server. Also `fleet apply` and `fleet plan`
//! (drift) through the binary.

#[path = "support/fake_sakura.rs"]
mod fake_sakura;
mod support;

use std::path::PathBuf;

use fake_sakura::{Failure, FakeSakura};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use support::{TestWorld, run_ok, test_world, unique};

struct Workspace {
    dir: tempfile::TempDir,
    project: String,
    server: String,
    world: TestWorld,
    fake: FakeSakura,
}

impl Workspace {
    fn new() -> Workspace {
        let world = test_world();
        let project = unique("sl");
        let server = format!("{project}-01");
        let dir = tempfile::tempdir().expect("tempdir");
        let w = Workspace {
            dir,
            project,
            server,
            world,
            fake: FakeSakura::start(),
        };
        w.write("");
        w
    }

    fn fleet_dir(&self) -> PathBuf {
        self.dir.path().join("fleets/app")
    }

    /// A fleet-registry.kdl listing the fleet (`fleet plan` needs one).
    fn write_registry(&self) {
        let text = format!(
            "registry \"t\"\nfleet \"{}\" {{\n    path \"fleets/app\"\n}}\n",
            self.project
        );
        std::fs::write(self.dir.path().join("fleet-registry.kdl"), text).expect("registry");
    }

    fn remote_dir(&self) -> PathBuf {
        self.dir.path().join("remote")
    }

    /// The fleet: one service, stage `dev` with one Sakura server; `extra` goes into the stage.
    fn write(&self, extra: &str) {
        let w = &self.world;
        let text = format!(
            r#"project "{project}"
providers {{
    sakura-cloud {{ zone "tk1a" }}
}}
service "web" {{
    image "{image}"
    command "sh" "-c" "trap 'exit 0' TERM; while :; do sleep 1; done"
}}
stage "dev" {{
    server "{server}" {{
        provider "sakura-cloud"
        plan core=2 memory=4
        disk size=40 os="ubuntu-24.04"
        ssh-key "{key}.pub"
        ssh-port {port}
        ssh-host-key "{host_key}"
        deploy-path "{remote}"
    }}
{extra}}}
"#,
            project = self.project,
            image = w.base_image,
            server = self.server,
            key = w.ssh_key.display(),
            port = w.ssh_port,
            host_key = w.ssh_host_key,
            remote = self.remote_dir().display(),
        );
        let fleet_dir = self.fleet_dir().join(".fleetflow");
        std::fs::create_dir_all(&fleet_dir).expect("mkdir");
        std::fs::write(fleet_dir.join("fleet.kdl"), text).expect("write");
    }

    fn fleet(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("fleet").expect("binary");
        cmd.current_dir(self.fleet_dir())
            .env("NO_COLOR", "1")
            .env("CI", "true")
            .env("USER", "tester")
            .env("FLEET_SSH_KNOWN_HOSTS", &self.world.ssh_known_hosts)
            .env("FLEET_SSH_WAIT", "30")
            .env_remove("FLEET_REGISTRY_PATH")
            .env_remove("USACLOUD_PROFILE");
        for (k, v) in self.fake.env() {
            cmd.env(k, v);
        }
        cmd
    }

    fn running(&self) -> usize {
        let out = run_ok(self.world.docker().args([
            "ps",
            "-q",
            "--filter",
            &format!("label=io.fleetflow.project={}", self.project),
        ]));
        String::from_utf8_lossy(&out.stdout).lines().count()
    }

    fn all_containers(&self) -> usize {
        let out = run_ok(self.world.docker().args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=io.fleetflow.project={}", self.project),
        ]));
        String::from_utf8_lossy(&out.stdout).lines().count()
    }

    fn stdout(out: &assert_cmd::assert::Assert) -> String {
        String::from_utf8_lossy(&out.get_output().stdout).into_owned()
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let ids = self
            .world
            .docker()
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=io.fleetflow.project={}", self.project),
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for id in ids.lines() {
            let _ = self.world.docker().args(["rm", "-f", id]).output();
        }
        let _ = self
            .world
            .docker()
            .args(["network", "rm", &format!("{}-dev", self.project)])
            .output();
    }
}

#[test]
fn up_suspend_up_destroy() {
    let w = Workspace::new();

    // Without --yes and without a terminal, creating a server is refused.
    w.fleet()
        .args(["stage", "up", "dev"])
        .assert()
        .code(2)
        .stderr(contains("Add --yes"));
    assert!(w.fake.servers().is_empty(), "nothing created");

    let up = w.fleet().args(["stage", "up", "dev", "--yes"]).assert().success();
    let text = Workspace::stdout(&up);
    assert!(
        text.contains(&format!("/server.{} will be created", w.server)),
        "{text}"
    );
    assert!(text.contains("Apply complete: 1 change(s) applied."), "{text}");
    assert!(
        text.contains(&format!("{}:dev → {}: ok", w.project, w.server)),
        "{text}"
    );
    let server = w.fake.server_named(&w.server).expect("created");
    assert!(server.up && server.ip == "127.0.0.1");
    assert_eq!(w.running(), 1, "the container runs on the 'server'");
    assert!(w.remote_dir().join(&w.project).join(".fleetflow/fleet.kdl").is_file());

    // Idempotent: nothing changes the second time (and no confirmation is needed).
    let again = w.fleet().args(["stage", "up", "dev"]).assert().success();
    let text = Workspace::stdout(&again);
    assert!(text.contains("Infrastructure: no changes."), "{text}");
    assert!(text.contains("0 changed, 1 unchanged"), "{text}");
    assert_eq!(w.fake.servers().len(), 1);

    let status = w.fleet().args(["stage", "status", "dev"]).assert().success();
    let text = Workspace::stdout(&status);
    let expected = format!(
        "Stage: dev\nStatus: running\n\nInfrastructure:\n  Server: {}\n    Provider: sakura-cloud\n    Status: running\n    IP: 127.0.0.1\n    CPU: 2 cores\n    Memory: 4 GB\n\nServices:\n  ✓ web",
        w.server
    );
    assert!(text.starts_with(&expected), "{text}");
    let json = w
        .fleet()
        .args(["stage", "status", "dev", "--output", "json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).expect("json");
    assert_eq!(v["status"], "running");
    assert_eq!(v["infrastructure"][0]["ip"], "127.0.0.1");
    assert_eq!(v["services"][0]["service"], "web");

    // Suspend: containers stopped, the server powered off.
    w.fleet()
        .args(["stage", "down", "dev", "--suspend"])
        .assert()
        .success()
        .stdout(contains(format!("Server {}: powered off", w.server)));
    assert_eq!(w.running(), 0, "containers stopped");
    assert!(!w.fake.server_named(&w.server).expect("kept").up, "server off");
    w.fleet()
        .args(["stage", "status", "dev"])
        .assert()
        .success()
        .stdout(contains("Status: suspended"))
        .stdout(contains("Status: stopped"));

    // Up again: powered on, containers started; still one server.
    w.fleet()
        .args(["stage", "up", "dev"])
        .assert()
        .success()
        .stdout(contains(format!("Server {}: powered on", w.server)))
        .stdout(contains("will be created").not());
    assert!(w.fake.server_named(&w.server).expect("kept").up);
    assert_eq!(w.running(), 1, "started again");
    assert_eq!(w.fake.servers().len(), 1);

    // Destroy: refused without --yes (no terminal), then done.
    w.fleet()
        .args(["stage", "down", "dev", "--destroy"])
        .assert()
        .code(2)
        .stderr(contains("Add --yes"));
    assert_eq!(w.fake.servers().len(), 1, "nothing deleted");
    w.fleet()
        .args(["stage", "down", "dev", "--destroy", "--yes"])
        .assert()
        .success()
        .stdout(contains(format!("/server.{} will be destroyed", w.server)));
    assert!(
        w.fake.servers().is_empty() && w.fake.disks().is_empty(),
        "server and disk deleted"
    );
    assert_eq!(w.all_containers(), 0, "containers removed first");
    let state = std::fs::read_to_string(w.fleet_dir().join(".fleetflow/state.json")).expect("state");
    assert!(!state.contains(&w.server), "{state}");
    w.fleet()
        .args(["stage", "status", "dev"])
        .assert()
        .success()
        .stdout(contains("Status: not created"));
}

#[test]
fn apply_plan_drift_and_a_failure_that_the_next_run_converges() {
    let w = Workspace::new();
    w.write_registry();
    w.write(&format!(
        "    scale \"{}\" {{\n        min 1\n        max 2\n    }}\n",
        w.server
    ));
    let plan = w.fleet().args(["plan"]).assert().success();
    let text = Workspace::stdout(&plan);
    assert!(
        text.contains(&format!("/server.{} will be created", w.server)),
        "{text}"
    );

    // A 500 on every attempt to create: the apply fails, says how to continue, records nothing.
    w.fake.fail(Failure {
        method: Some("POST"),
        path_prefix: Some("/server"),
        count: 3,
        status: 500,
        ..Failure::default()
    });
    w.fleet()
        .args(["apply", "--stage", "dev", "--yes"])
        .assert()
        .code(1)
        .stderr(contains("scale is not supported yet"))
        .stderr(contains("apply failed at"))
        .stderr(contains("HTTP 500"))
        .stderr(contains("run again to continue"))
        .stderr(contains(fake_sakura::SECRET).not());
    assert!(w.fake.servers().is_empty());

    // The next run converges; a third has nothing to do.
    w.fleet()
        .args(["apply", "--stage", "dev", "--yes"])
        .assert()
        .success()
        .stdout(contains("Apply complete: 1 change(s) applied."));
    w.fleet()
        .args(["apply"])
        .assert()
        .success()
        .stdout(contains("No changes. Infrastructure is up to date."));

    // Drift: the plan is changed behind the tool's back; `fleet plan` shows it.
    w.fake.mutate(&w.server, |s| {
        s.cpu = 4;
        s.memory_mb = 8192;
    });
    let plan = w.fleet().args(["plan"]).assert().success();
    let text = Workspace::stdout(&plan);
    assert!(text.contains("\"4core-8gb\" -> \"2core-4gb\""), "{text}");
    assert!(
        String::from_utf8_lossy(&plan.get_output().stderr).contains("changed outside fleetflow"),
        "drift noted"
    );
    w.fleet()
        .args(["apply", "--yes"])
        .assert()
        .success()
        .stdout(contains("Apply complete"));
    assert_eq!(w.fake.server_named(&w.server).expect("server").cpu, 2);

    // A permanent error (403) is not retried and says what to do.
    w.fake.delete_behind_back(&w.server);
    w.fake.fail(Failure {
        method: Some("POST"),
        path_prefix: Some("/server"),
        count: 1,
        status: 403,
        ..Failure::default()
    });
    w.fleet()
        .args(["apply", "--yes"])
        .assert()
        .code(1)
        .stderr(contains("no longer exists"))
        .stderr(contains("lacks permission"));
    let posts = w.fake.calls().iter().filter(|c| *c == "POST /server").count();
    assert_eq!(posts, 5, "3 failed + 1 created + 1 refused");
}
