//! The registry's route workflows (`application::routes`: deploy, run, unlock, status) against
//! an in-memory SSH double (tests/support/memory_ssh.rs) that records every script a server is
//! asked to run and answers it through a small shell model: the order of the steps, the lock
//! around the fleet command, refused connections, failing steps and quoting, without sshd.

#[path = "support/memory_ssh.rs"]
mod memory_ssh;

use std::path::PathBuf;

use fleetflow::application::deploy::remote::{LocalBinary, RemoteDeployOptions, pack_config};
use fleetflow::application::deploy::remote_status;
use fleetflow::application::report::{RecordingReporter, WorkflowError};
use fleetflow::application::routes::{self, RouteTarget};
use fleetflow::config::Workspace;
use fleetflow::config::load::{LoadOptions, load_registry_file};
use fleetflow::ssh::quote;
use memory_ssh::{MemorySsh, Refusal, Step, words};

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Size of the stand-in `fleet` binary the deploys upload.
const BINARY_LEN: usize = 4096;
const DP: &str = "/srv/fleet";
const DESCRIPTION: &str = "the shop";

const FLEET: &str = "project \"shop\"\nservice \"web\" {\n    image \"example/web:1\"\n}\nservice \"api\" {\n    image \"example/api:1\"\n}\nstage \"live\"\nstage \"staging\"\n";

/// A registry in a temp dir: fleet `shop` (project `shop`, services web and api), servers `a`
/// (a.example) and `b` (b.example) deploying to `deploy_path`, and routes `shop:live → live_on`,
/// `shop:staging → staging_on`.
struct Registry {
    dir: tempfile::TempDir,
    ws: Workspace,
}

impl Registry {
    fn new(deploy_path: &str, description: &str, live_on: &str, staging_on: &str) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "registry \"t\"\nfleet \"shop\" {{\n    path \"fleets/shop\"\n    description {desc}\n}}\n\
             server \"a\" {{\n    ssh-host \"a.example\"\n    deploy-path {dp}\n}}\n\
             server \"b\" {{\n    ssh-host \"b.example\"\n    deploy-path {dp}\n}}\n\
             deployment {{\n    route fleet=\"shop\" stage=\"live\" server=\"{live_on}\"\n    \
             route fleet=\"shop\" stage=\"staging\" server=\"{staging_on}\"\n}}\n",
            desc = kdl_string(description),
            dp = kdl_string(deploy_path),
        );
        std::fs::write(dir.path().join("fleet-registry.kdl"), text).expect("write registry");
        let fleetflow = dir.path().join("fleets/shop/.fleetflow");
        std::fs::create_dir_all(&fleetflow).expect("mkdir");
        std::fs::write(fleetflow.join("fleet.kdl"), FLEET).expect("write fleet");
        // The `fleet` the servers get: a stand-in of known size (deploys take it as an input).
        std::fs::write(dir.path().join("fleet-binary"), vec![0x7f; BINARY_LEN]).expect("write binary");
        let ws = match load_registry_file(&dir.path().join("fleet-registry.kdl"), LoadOptions::default()) {
            Ok(ws) => ws,
            Err(e) => panic!("fixture does not load: {e:?}"),
        };
        Registry { dir, ws }
    }

    /// `shop:live → a`, `shop:staging → b`, deploying to [`DP`].
    fn two_servers() -> Registry {
        Registry::new(DP, DESCRIPTION, "a", "b")
    }

    fn fleet_dir(&self) -> PathBuf {
        self.dir.path().join("fleets/shop")
    }

    fn binary_path(&self) -> PathBuf {
        self.dir.path().join("fleet-binary")
    }

    fn plans(&self, stage: Option<&str>) -> Vec<RouteTarget> {
        let args = RemoteDeployOptions {
            pull: true,
            ..Default::default()
        };
        routes::plans(&self.ws, "shop", stage, &args).expect("plans")
    }

    fn deploy(&self, ssh: &MemorySsh, reporter: &RecordingReporter) -> Result<(), WorkflowError> {
        let path = self.binary_path();
        let binary = LocalBinary {
            version: VERSION,
            path: &path,
        };
        routes::deploy_routes(
            reporter,
            ssh,
            &binary,
            &self.plans(None),
            &self.fleet_dir(),
            Some("abc123".into()),
        )
    }
}

fn kdl_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn lock_dir(deploy_path: &str, stage: &str) -> String {
    format!("{deploy_path}/.fleetflow/locks/shop-{stage}")
}

fn bin(deploy_path: &str) -> String {
    format!("{deploy_path}/.fleetflow/bin/fleet")
}

/// The summary's line for the route `label` (`shop:live → a`).
fn result_line(reporter: &RecordingReporter, label: &str) -> String {
    let lines = reporter.lines();
    let summaries: Vec<&String> = lines.iter().filter(|l| l.starts_with("say: \n")).collect();
    assert_eq!(summaries.len(), 1, "one summary: {lines:#?}");
    summaries[0]
        .lines()
        .find(|l| l.starts_with(&format!("{label}: ")))
        .unwrap_or_else(|| panic!("no result for {label}: {lines:#?}"))
        .to_owned()
}

/// The fields of an audit line: when, who, fleet:stage, commit=…, result, description.
fn audit_fields(line: &str) -> Vec<String> {
    line.split('\t').map(str::to_owned).collect()
}

fn position(haystack: &[String], needle: &[&str]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.iter().zip(needle).all(|(a, b)| a == b))
}

#[test]
fn deploys_a_fleet_to_two_routes_on_two_servers_under_their_locks() {
    let reg = Registry::two_servers();
    let ssh = MemorySsh::with_servers(&["a", "b"]);
    ssh.set_installed("a", Some(VERSION));
    let reporter = RecordingReporter::default();

    reg.deploy(&ssh, &reporter).expect("both routes deploy");

    // a has this version installed: lock+ship, then the deploy; b gets the binary in between.
    assert_eq!(ssh.steps("a"), [Step::LockAndShip, Step::Deploy]);
    assert_eq!(ssh.steps("b"), [Step::LockAndShip, Step::InstallBinary, Step::Deploy]);
    let archive = pack_config(&reg.fleet_dir()).expect("pack");
    for server in ["a", "b"] {
        let calls = ssh.calls(server);
        assert_eq!(
            calls[0].stdin_len,
            Some(archive.len()),
            "{server}: the config archive on stdin"
        );
        assert!(calls.iter().all(|c| c.status == 0), "{server}: {calls:#?}");
        assert!(
            calls.last().is_some_and(|c| c.streaming),
            "the deploy streams its output"
        );
        assert_eq!(ssh.connects(server), 1);
        let shipped = ssh.shipped(server);
        assert_eq!(shipped.get(".fleetflow/fleet.kdl").map(String::as_str), Some(FLEET));
    }
    assert_eq!(
        ssh.calls("b")[1].stdin_len,
        Some(BINARY_LEN),
        "the given binary uploaded to b"
    );
    assert_eq!(ssh.installed("b").as_deref(), Some(VERSION));

    for (server, stage) in [("a", "live"), ("b", "staging")] {
        let lock = lock_dir(DP, stage);
        // The lock script takes the lock; the deploy script runs the command, then releases it.
        let take = words(&ssh.calls(server)[0].script);
        assert!(position(&take, &["if", "mkdir", &lock]).is_some(), "{take:?}");
        let deploy = words(&ssh.calls(server).last().expect("deploy").script);
        let command = position(&deploy, &[&bin(DP), "deploy", stage, "--yes"]).expect("fleet command");
        let release = position(&deploy, &["rm", "-rf", &lock]).expect("unlock");
        assert!(command < release, "{deploy:?}");
        // The double saw it the same way: the command ran under the lock, none is left.
        let runs = ssh.fleet_runs(server);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].argv, [bin(DP), "deploy".into(), stage.into(), "--yes".into()]);
        assert_eq!(runs[0].locks_held, [lock]);
        assert!(ssh.locks(server).is_empty(), "{server}: lock released");
        let audit = ssh.audit(server);
        assert_eq!(audit.len(), 1, "{audit:?}");
        let f = audit_fields(&audit[0]);
        assert_eq!(
            f[2..],
            [
                format!("shop:{stage}"),
                "commit=abc123".into(),
                "ok".into(),
                DESCRIPTION.into()
            ]
        );
    }

    let lines = reporter.lines();
    for expected in [
        "[a] web      created".to_owned(),
        "[b] web      created".to_owned(),
        "[b] 1 changed, 0 unchanged".to_owned(),
        format!("[b] installed fleet {VERSION} in {}", bin(DP)),
    ] {
        assert!(lines.contains(&expected), "{expected:?} in {lines:#?}");
    }
    assert!(
        !lines.iter().any(|l| l.starts_with("[a] installed")),
        "a's binary is current"
    );
    assert!(result_line(&reporter, "shop:live → a").starts_with("shop:live → a: ok ("));
    assert!(result_line(&reporter, "shop:staging → b").starts_with("shop:staging → b: ok ("));
}

#[test]
fn a_refused_host_key_fails_only_its_route() {
    let reg = Registry::two_servers();
    let ssh = MemorySsh::with_servers(&["a", "b"]);
    ssh.refuse("b", Refusal::HostKeyMismatch);
    let reporter = RecordingReporter::default();

    let result = reg.deploy(&ssh, &reporter);

    assert!(
        matches!(result, Err(WorkflowError::Routes { failed: 1, total: 2 })),
        "{result:?}"
    );
    let b = result_line(&reporter, "shop:staging → b");
    assert!(
        b.starts_with("shop:staging → b: FAILED: host key of root@b.example:22 does not match"),
        "{b}"
    );
    assert!(ssh.calls("b").is_empty(), "nothing ran on b");
    assert_eq!(ssh.connects("b"), 1);
    assert!(result_line(&reporter, "shop:live → a").starts_with("shop:live → a: ok ("));
    assert_eq!(ssh.steps("a"), [Step::LockAndShip, Step::InstallBinary, Step::Deploy]);
    assert_eq!(ssh.fleet_runs("a").len(), 1);
    assert!(ssh.locks("a").is_empty());
}

#[test]
fn a_failing_fleet_command_fails_its_route_and_still_releases_the_lock() {
    let reg = Registry::two_servers();
    let ssh = MemorySsh::with_servers(&["a", "b"]);
    ssh.fail("b", Step::Deploy, 1, "Error: image example/web:1 not found");
    let reporter = RecordingReporter::default();

    let result = reg.deploy(&ssh, &reporter);

    assert!(
        matches!(result, Err(WorkflowError::Routes { failed: 1, total: 2 })),
        "{result:?}"
    );
    // The remote's error text reaches the reporter as b's output; the route's result names the
    // exit status (it does not repeat the text).
    let lines = reporter.lines();
    assert!(
        lines.contains(&"[b] Error: image example/web:1 not found".to_owned()),
        "{lines:#?}"
    );
    let b = result_line(&reporter, "shop:staging → b");
    assert!(
        b.starts_with("shop:staging → b: FAILED: `fleet deploy` on b exited with status 1"),
        "{b}"
    );
    // The unlock runs in the deploy's own shell whatever the command did: no further round trip.
    assert_eq!(ssh.steps("b"), [Step::LockAndShip, Step::InstallBinary, Step::Deploy]);
    assert_eq!(ssh.calls("b")[2].status, 1);
    assert!(ssh.locks("b").is_empty(), "b's lock released: {:?}", ssh.locks("b"));
    let audit = ssh.audit("b");
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit_fields(&audit[0])[4], "failed: exit 1");
    assert!(result_line(&reporter, "shop:live → a").starts_with("shop:live → a: ok ("));
    assert!(ssh.locks("a").is_empty());
}

#[test]
fn a_failing_binary_upload_fails_its_route_with_the_remote_error_audited_and_unlocked() {
    let reg = Registry::two_servers();
    let ssh = MemorySsh::with_servers(&["a", "b"]);
    ssh.fail("b", Step::InstallBinary, 1, "cat: write error: No space left on device");
    let reporter = RecordingReporter::default();

    let result = reg.deploy(&ssh, &reporter);

    assert!(
        matches!(result, Err(WorkflowError::Routes { failed: 1, total: 2 })),
        "{result:?}"
    );
    let error = "upload of the fleet binary failed on b: cat: write error: No space left on device (exit 1)";
    assert_eq!(
        result_line(&reporter, "shop:staging → b"),
        format!("shop:staging → b: FAILED: {error}")
    );
    assert_eq!(
        ssh.steps("b"),
        [Step::LockAndShip, Step::InstallBinary, Step::AuditUnlock]
    );
    assert!(ssh.fleet_runs("b").is_empty(), "no deploy without the binary");
    assert!(ssh.locks("b").is_empty(), "b's lock released");
    let audit = ssh.audit("b");
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit_fields(&audit[0])[4], format!("failed: {error}"));
    assert_eq!(ssh.fleet_runs("a").len(), 1);
}

/// Found by this test: in `lock_and_ship` the ship is one `&&` chain under `set -e`, and
/// `set -e` does not fire for a command of an AND-OR list other than the last, so a failed
/// `tar -x` (or `mktemp`, `mv`) used to be swallowed: the lock was cleared, the script exited 0
/// and the route deployed with the old configuration (confirmed with dash on the recorded
/// script). The failure now ends the script through its unlock trap.
#[test]
fn a_failing_config_unpack_fails_its_route_and_releases_the_lock() {
    let reg = Registry::two_servers();
    let ssh = MemorySsh::with_servers(&["a", "b"]);
    ssh.fail("b", Step::LockAndShip, 2, "tar: Unexpected EOF in archive");
    let reporter = RecordingReporter::default();

    let result = reg.deploy(&ssh, &reporter);

    let b = result_line(&reporter, "shop:staging → b");
    assert_eq!(
        b,
        "shop:staging → b: FAILED: upload of .fleetflow/ failed on b: tar: Unexpected EOF in archive (exit 2)"
    );
    assert!(
        matches!(result, Err(WorkflowError::Routes { failed: 1, total: 2 })),
        "{result:?}"
    );
    assert!(ssh.fleet_runs("b").is_empty(), "no deploy with an unshipped config");
    assert!(ssh.locks("b").is_empty(), "the trap released the lock");
}

#[test]
fn a_held_lock_refuses_its_route_naming_the_holder_and_keeps_the_lock() {
    let reg = Registry::two_servers();
    let ssh = MemorySsh::with_servers(&["a", "b"]);
    let holder = "crashed@ci at 2026-01-01T00:00:00Z (commit abc)";
    ssh.hold_lock("a", &lock_dir(DP, "live"), holder);
    let reporter = RecordingReporter::default();

    let result = reg.deploy(&ssh, &reporter);

    assert!(
        matches!(result, Err(WorkflowError::Routes { failed: 1, total: 2 })),
        "{result:?}"
    );
    assert_eq!(
        result_line(&reporter, "shop:live → a"),
        format!(
            "shop:live → a: FAILED: shop:live is being deployed on a by {holder}; wait for it, or \
             `fleet registry unlock shop live` if that deploy is dead"
        )
    );
    assert_eq!(ssh.steps("a"), [Step::LockAndShip]);
    assert_eq!(ssh.calls("a")[0].status, 3);
    assert!(
        ssh.shipped("a").is_empty(),
        "nothing unpacked under someone else's lock"
    );
    assert!(ssh.fleet_runs("a").is_empty());
    assert_eq!(
        ssh.locks("a").get(&lock_dir(DP, "live")).map(String::as_str),
        Some(holder)
    );
    assert_eq!(ssh.fleet_runs("b").len(), 1);
}

#[test]
fn two_routes_on_one_server_share_one_connection_and_take_their_own_locks() {
    let reg = Registry::new(DP, DESCRIPTION, "a", "a");
    let ssh = MemorySsh::with_servers(&["a", "b"]);
    ssh.set_installed("a", Some(VERSION));
    let reporter = RecordingReporter::default();

    reg.deploy(&ssh, &reporter).expect("both routes deploy");

    assert_eq!(ssh.connects("a"), 1, "one connection for both routes");
    assert!(ssh.calls("b").is_empty());
    let mut steps = ssh.steps("a");
    steps.sort();
    assert_eq!(
        steps,
        [Step::LockAndShip, Step::LockAndShip, Step::Deploy, Step::Deploy]
    );
    let mut runs: Vec<(String, Vec<String>)> = ssh
        .fleet_runs("a")
        .into_iter()
        .map(|r| (r.argv[2].clone(), r.locks_held))
        .collect();
    runs.sort();
    assert_eq!(runs.len(), 2);
    for (stage, held) in &runs {
        assert!(
            held.contains(&lock_dir(DP, stage)),
            "{stage} ran under its lock: {held:?}"
        );
    }
    assert!(ssh.locks("a").is_empty());
}

#[test]
fn unlock_tries_every_route_and_names_the_server_it_could_not_reach() {
    let reg = Registry::two_servers();
    let ssh = MemorySsh::with_servers(&["a", "b"]);
    ssh.hold_lock("a", &lock_dir(DP, "live"), "dead@ci");
    ssh.hold_lock("b", &lock_dir(DP, "staging"), "dead@ci");
    // a is the first route: b is still unlocked after it failed.
    ssh.refuse("a", Refusal::Unreachable("Connection refused".into()));
    let reporter = RecordingReporter::default();

    let result = routes::unlock(&reporter, &ssh, &reg.plans(None));

    match result {
        Err(WorkflowError::Failed(e)) => assert_eq!(e, "cannot reach root@a.example:22: Connection refused"),
        other => panic!("expected a's failure, got {other:?}"),
    }
    assert_eq!(ssh.steps("b"), [Step::Unlock]);
    assert!(ssh.locks("b").is_empty(), "b unlocked");
    assert!(ssh.calls("a").is_empty());
    assert_eq!(ssh.locks("a").len(), 1, "a could not be reached");
    assert_eq!(
        reporter.lines(),
        ["say: unlocked shop:staging on b (held by dead@ci)\n"]
    );

    // Again: b has no lock any more, and says so instead of "unlocked".
    let reporter = RecordingReporter::default();
    let b_only: Vec<_> = reg.plans(None).into_iter().filter(|(p, _)| p.server == "b").collect();
    routes::unlock(&reporter, &ssh, &b_only).unwrap();
    assert_eq!(
        reporter.lines(),
        ["say: shop:staging on b was not locked; nothing to remove\n"]
    );
}

#[test]
fn route_statuses_read_each_servers_containers_or_say_why_it_is_unreachable() {
    let reg = Registry::two_servers();
    let ssh = MemorySsh::with_servers(&["a", "b"]);
    ssh.add_container("a", "shop", "live", "running");
    ssh.add_container("a", "shop", "live", "running");
    ssh.add_container("a", "shop", "staging", "running");
    ssh.add_container("a", "other", "live", "exited");
    ssh.refuse("b", Refusal::Unreachable("No route to host".into()));

    let rows = routes::route_statuses(&ssh, &reg.ws);

    assert_eq!(rows.len(), 2);
    let live = &rows[0];
    assert_eq!(
        (live.fleet.as_str(), live.stage.as_str(), live.server.as_str()),
        ("shop", "live", "a")
    );
    assert_eq!(live.status, "Running (2/2 services)");
    assert_eq!((live.running, live.services, live.error.as_deref()), (2, 2, None));
    let staging = &rows[1];
    assert_eq!((staging.stage.as_str(), staging.server.as_str()), ("staging", "b"));
    assert_eq!(staging.status, "Unreachable");
    assert_eq!(staging.running, 0);
    assert_eq!(
        staging.error.as_deref(),
        Some("cannot reach root@b.example:22: No route to host")
    );
    assert_eq!(ssh.steps("a"), [Step::Status], "one docker ps per server");
}

#[test]
fn an_unreachable_server_is_said_once_however_many_routes_it_carries() {
    let row = |stage: &str, server: &str, error: Option<&str>| remote_status::RouteStatus {
        fleet: "shop".into(),
        stage: stage.into(),
        server: server.into(),
        status: if error.is_some() { "Unreachable" } else { "Stopped" }.into(),
        running: 0,
        services: 1,
        error: error.map(str::to_owned),
    };
    let rows = [
        row("live", "b", Some("cannot reach root@b.example:22: No route to host")),
        row("dev", "a", None),
        row("staging", "b", Some("cannot reach root@b.example:22: No route to host")),
        row("pre", "c", Some("cannot reach root@c.example:22: Connection refused")),
    ];
    assert_eq!(
        remote_status::unreachable_servers(&rows),
        [
            "b: cannot reach root@b.example:22: No route to host",
            "c: cannot reach root@c.example:22: Connection refused"
        ]
    );
}

#[test]
fn route_statuses_report_stopped_routes_and_a_failing_docker() {
    let reg = Registry::two_servers();
    let ssh = MemorySsh::with_servers(&["a", "b"]);
    ssh.fail(
        "a",
        Step::Status,
        1,
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock",
    );
    ssh.add_container("b", "shop", "staging", "exited");

    let rows = routes::route_statuses(&ssh, &reg.ws);

    assert_eq!(rows[0].status, "Unreachable");
    assert_eq!(
        rows[0].error.as_deref(),
        Some("docker ps failed on a: Cannot connect to the Docker daemon at unix:///var/run/docker.sock")
    );
    assert_eq!((rows[1].status.as_str(), rows[1].running), ("Stopped", 0));
    assert_eq!(rows[1].error, None);
}

#[test]
fn a_routed_stage_runs_its_fleet_command_on_its_server() {
    let reg = Registry::two_servers();
    let ssh = MemorySsh::with_servers(&["a", "b"]);
    ssh.set_fleet_output("a", &["live   web      running"]);
    let routed =
        || routes::routed_stage(&reg.ws, reg.dir.path(), Some("shop"), &reg.fleet_dir(), "live").expect("routed");
    let reporter = RecordingReporter::default();

    let path = reg.binary_path();
    let binary = LocalBinary {
        version: VERSION,
        path: &path,
    };
    routes::run_routed(&reporter, &ssh, &binary, routed(), &["ps".into(), "live".into()], false).expect("ps");

    assert_eq!(ssh.steps("a"), [Step::FleetCommand], "no lock, no upload for a read");
    let runs = ssh.fleet_runs("a");
    assert_eq!(runs[0].argv, [bin(DP), "ps".into(), "live".into()]);
    assert!(runs[0].locks_held.is_empty());
    assert!(ssh.calls("b").is_empty(), "only the live route");
    assert!(reporter.lines().contains(&"[a] live   web      running".to_owned()));
    assert!(result_line(&reporter, "shop:live → a").starts_with("shop:live → a: ok ("));

    // `stage up` ships and deploys under the lock, running `fleet up live` there.
    routes::run_routed(&reporter, &ssh, &binary, routed(), &["up".into(), "live".into()], true).expect("up");
    assert_eq!(
        ssh.steps("a")[1..],
        [Step::LockAndShip, Step::InstallBinary, Step::Deploy]
    );
    let runs = ssh.fleet_runs("a");
    assert_eq!(runs[1].argv, [bin(DP), "up".into(), "live".into()]);
    assert_eq!(runs[1].locks_held, [lock_dir(DP, "live")]);
    assert!(ssh.locks("a").is_empty());
}

#[test]
fn a_deploy_path_and_description_with_spaces_and_quotes_reach_the_scripts_only_quoted() {
    let dp = "/srv/fleet apps/it's here";
    let description = "it's \"quoted\" $(touch /tmp/pwned) `id` ; echo pwned";
    let reg = Registry::new(dp, description, "a", "b");
    let ssh = MemorySsh::with_servers(&["a", "b"]);
    let reporter = RecordingReporter::default();

    reg.deploy(&ssh, &reporter).expect("deploys");

    for (server, stage) in [("a", "live"), ("b", "staging")] {
        let calls = ssh.calls(server);
        assert_eq!(calls.len(), 3, "{calls:#?}");
        for call in &calls {
            // A value holding `'` can only appear as `'…'\''…'`: never verbatim.
            assert!(!call.script.contains(dp), "unquoted deploy path in {}", call.script);
            assert!(
                !call.script.contains(description),
                "unquoted description in {}",
                call.script
            );
        }
        let lock = lock_dir(dp, stage);
        let take = &calls[0].script;
        assert!(
            take.contains(&format!("if mkdir {} 2>/dev/null", quote(&lock))),
            "{take}"
        );
        assert!(position(&words(take), &["if", "mkdir", &lock]).is_some());
        let deploy = words(&calls[2].script);
        assert!(
            position(&deploy, &["cd", &format!("{dp}/shop"), "&&"]).is_none(),
            "`&&` is an operator"
        );
        assert!(
            position(&deploy, &["cd", &format!("{dp}/shop")]).is_some(),
            "{deploy:?}"
        );
        assert!(position(&deploy, &[&bin(dp), "deploy", stage, "--yes"]).is_some());
        assert!(position(&deploy, &["rm", "-rf", &lock]).is_some());
        // Run through the shell model: one lock, taken and released; the description
        // arrives verbatim (nothing in it was expanded).
        assert!(ssh.locks(server).is_empty(), "{:?}", ssh.locks(server));
        assert_eq!(ssh.fleet_runs(server)[0].locks_held, [lock]);
        let audit = ssh.audit(server);
        assert_eq!(audit_fields(&audit[0])[4..], ["ok".to_owned(), description.to_owned()]);
    }
    assert!(
        reporter
            .lines()
            .contains(&format!("[a] installed fleet {VERSION} in {}", bin(dp))),
        "{:#?}",
        reporter.lines()
    );
}
