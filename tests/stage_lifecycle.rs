//! The stage lifecycle of seed 004 through the real `fleet` binary: `stage up dev` →
//! `stage down --suspend` → `stage up` → `stage down --destroy`, with the Sakura Cloud API
//! faked (tests/support/fake_sakura.rs) and SSH and Docker real: the created server's IP is
//! 127.0.0.1, so the test world's sshd plays the server. Also `fleet apply` and `fleet plan`
//! (drift) through the binary.

#[path = "support/cloud_world.rs"]
mod cloud_world;
#[path = "support/fake_cloudflare.rs"]
mod fake_cloudflare;
#[path = "support/fake_sakura.rs"]
mod fake_sakura;
mod support;

use std::ops::Deref;

use cloud_world::{CloudWorld, stdout};
use fake_sakura::Failure;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

/// Stage `dev` with the one server `<project>-01` (Sakura Cloud only).
struct Workspace {
    cloud: CloudWorld,
    server: String,
}

impl Deref for Workspace {
    type Target = CloudWorld;
    fn deref(&self) -> &CloudWorld {
        &self.cloud
    }
}

impl Workspace {
    fn new() -> Workspace {
        let cloud = CloudWorld::new("sl", &[]);
        let server = format!("{}-01", cloud.project);
        let w = Workspace { cloud, server };
        w.write("");
        w
    }

    /// The fleet, with `extra` in stage `dev`.
    fn write(&self, extra: &str) {
        self.write_fleet(&self.server, false, extra);
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
    assert!(w.sakura.servers().is_empty(), "nothing created");

    let up = w.fleet().args(["stage", "up", "dev", "--yes"]).assert().success();
    let text = stdout(&up);
    assert!(
        text.contains(&format!("/server.{} will be created", w.server)),
        "{text}"
    );
    assert!(text.contains("Apply complete: 1 change(s) applied."), "{text}");
    assert!(
        text.contains(&format!("{}:dev → {}: ok", w.project, w.server)),
        "{text}"
    );
    let server = w.sakura.server_named(&w.server).expect("created");
    assert!(server.up && server.ip == "127.0.0.1");
    assert_eq!(w.containers(false), 1, "the container runs on the 'server'");
    assert!(w.remote_dir().join(&w.project).join(".fleetflow/fleet.kdl").is_file());

    // Idempotent: nothing changes the second time (and no confirmation is needed).
    let again = w.fleet().args(["stage", "up", "dev"]).assert().success();
    let text = stdout(&again);
    assert!(text.contains("Infrastructure: no changes."), "{text}");
    assert!(text.contains("0 changed, 1 unchanged"), "{text}");
    assert_eq!(w.sakura.servers().len(), 1);

    let status = w.fleet().args(["stage", "status", "dev"]).assert().success();
    let text = stdout(&status);
    let expected = format!(
        "Stage: dev\nStatus: running\n\nInfrastructure:\n  Server: {}\n    Provider: sakura-cloud\n    Status: running\n    IP: 127.0.0.1\n    CPU: 2 cores\n    Memory: 4 GB\n\nServices:\n  ✓ web",
        w.server
    );
    assert!(text.starts_with(&expected), "{text}");
    let v = w.status_json();
    assert_eq!(v["status"], "running");
    assert_eq!(v["infrastructure"][0]["ip"], "127.0.0.1");
    assert_eq!(v["services"][0]["service"], "web");

    // Suspend: containers stopped, the server powered off.
    w.ok(
        &["stage", "down", "dev", "--suspend"],
        format!("Server {}: powered off", w.server),
    );
    assert_eq!(w.containers(false), 0, "containers stopped");
    assert!(!w.sakura.server_named(&w.server).expect("kept").up, "server off");
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
    assert!(w.sakura.server_named(&w.server).expect("kept").up);
    assert_eq!(w.containers(false), 1, "started again");
    assert_eq!(w.sakura.servers().len(), 1);

    // Destroy: refused without --yes (no terminal), then done.
    w.fleet()
        .args(["stage", "down", "dev", "--destroy"])
        .assert()
        .code(2)
        .stderr(contains("Add --yes"));
    assert_eq!(w.sakura.servers().len(), 1, "nothing deleted");
    w.ok(
        &["stage", "down", "dev", "--destroy", "--yes"],
        format!("/server.{} will be destroyed", w.server),
    );
    assert!(
        w.sakura.servers().is_empty() && w.sakura.disks().is_empty(),
        "server and disk deleted"
    );
    assert_eq!(w.containers(true), 0, "containers removed first");
    let state = w.state();
    assert!(!state.contains(&w.server), "{state}");
    w.ok(&["stage", "status", "dev"], "Status: not created");
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
    let text = stdout(&plan);
    assert!(
        text.contains(&format!("/server.{} will be created", w.server)),
        "{text}"
    );

    // A 500 on every attempt to create: the apply fails, says how to continue, records nothing.
    w.sakura.fail(Failure::post("/server", 500, 3));
    w.fleet()
        .args(["apply", "--stage", "dev", "--yes"])
        .assert()
        .code(1)
        .stderr(contains("scale is not supported yet"))
        .stderr(contains("apply failed at"))
        .stderr(contains("HTTP 500"))
        .stderr(contains("run again to continue"))
        .stderr(contains(fake_sakura::SECRET).not());
    assert!(w.sakura.servers().is_empty());

    // The next run converges; a third has nothing to do.
    w.ok(
        &["apply", "--stage", "dev", "--yes"],
        "Apply complete: 1 change(s) applied.",
    );
    w.ok(&["apply"], "No changes. Infrastructure is up to date.");

    // Drift: the plan is changed behind the tool's back; `fleet plan` shows it.
    w.sakura.mutate(&w.server, |s| {
        s.cpu = 4;
        s.memory_mb = 8192;
    });
    let plan = w.fleet().args(["plan"]).assert().success();
    let text = stdout(&plan);
    assert!(text.contains("\"4core-8gb\" -> \"2core-4gb\""), "{text}");
    assert!(
        String::from_utf8_lossy(&plan.get_output().stderr).contains("changed outside fleetflow"),
        "drift noted"
    );
    w.ok(&["apply", "--yes"], "Apply complete");
    assert_eq!(w.sakura.server_named(&w.server).expect("server").cpu, 2);

    // A permanent error (403) is not retried and says what to do.
    w.sakura.delete_behind_back(&w.server);
    w.sakura.fail(Failure::post("/server", 403, 1));
    w.fleet()
        .args(["apply", "--yes"])
        .assert()
        .code(1)
        .stderr(contains("no longer exists"))
        .stderr(contains("lacks permission"));
    let posts = w.sakura.calls().iter().filter(|c| *c == "POST /server").count();
    assert_eq!(posts, 5, "3 failed + 1 created + 1 refused");
}
