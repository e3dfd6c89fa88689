//! `fleet deploy/up/down/ps/logs` against the real Docker engine of the test world.

mod support;

use std::collections::BTreeMap;

use support::{TestWorld, run_ok, test_world, unique};

/// A fleet in a temp dir with a unique project name, removed (containers too) on drop.
struct Fleet {
    dir: tempfile::TempDir,
    project: String,
    world: TestWorld,
}

impl Fleet {
    fn new(kdl_body: &str) -> Fleet {
        let world = test_world();
        let project = unique("t");
        let dir = tempfile::tempdir().expect("tempdir");
        let fleet = Fleet { dir, project, world };
        fleet.write(kdl_body);
        fleet
    }

    fn write(&self, body: &str) {
        std::fs::create_dir_all(self.dir.path().join(".fleetflow")).expect("mkdir");
        let text = format!(
            "project \"{}\"\n{}",
            self.project,
            body.replace("BASE", &self.world.base_image)
        );
        std::fs::write(self.dir.path().join(".fleetflow/fleet.kdl"), text).expect("write");
    }

    fn fleet(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("fleet").expect("binary");
        cmd.current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("CI", "true")
            .env("DOCKER_CONFIG", &self.world.docker_config)
            .env_remove("FLEET_REGISTRY_PATH");
        cmd
    }

    /// service → (id, started_at, running, health) of this project's containers.
    fn containers(&self) -> BTreeMap<String, (String, String, bool, String)> {
        let ids = run_ok(self.world.docker().args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=io.fleetflow.project={}", self.project),
        ]));
        let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        if ids.is_empty() {
            return BTreeMap::new();
        }
        let out = run_ok(self.world.docker().arg("inspect").args(&ids));
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("inspect json");
        list.iter()
            .filter(|c| !c["Name"].as_str().unwrap_or("").ends_with("-previous"))
            .map(|c| {
                let state = &c["State"];
                (
                    c["Config"]["Labels"]["io.fleetflow.service"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                    (
                        c["Id"].as_str().unwrap_or("").to_owned(),
                        state["StartedAt"].as_str().unwrap_or("").to_owned(),
                        state["Running"].as_bool().unwrap_or(false),
                        state["Health"]["Status"].as_str().unwrap_or("none").to_owned(),
                    ),
                )
            })
            .collect()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.fleet().args(["down", "live", "--remove"]).ok();
        let _ = self.fleet().args(["down", "local", "--remove"]).ok();
        self.world.remove_images(&self.project);
    }
}

const THREE: &str = r#"
service "db" {
    image "BASE"
    command "sh" "-c" "trap 'exit 0' TERM; echo db ready; while :; do sleep 1; done"
}
service "api" {
    image "BASE"
    command "sh" "-c" "trap 'exit 0' TERM; echo api up; while :; do sleep 1; done"
    env {
        MODE "one"
    }
    depends-on "db"
}
service "web" {
    image "BASE"
    command "sh" "-c" "trap 'exit 0' TERM; while :; do sleep 1; done"
    depends-on "api"
    healthcheck {
        test "true"
        interval "1s"
        retries 3
    }
}
stage "live"
"#;

#[test]
fn deploy_starts_in_dependency_order_and_a_no_change_redeploy_restarts_nothing() {
    let f = Fleet::new(THREE);
    f.fleet()
        .args(["deploy", "live", "--yes", "--no-pull"])
        .assert()
        .success();
    let first = f.containers();
    assert_eq!(first.len(), 3, "{first:?}");
    assert!(first.values().all(|c| c.2), "all running: {first:?}");
    assert_eq!(first["web"].3, "healthy");
    assert!(
        first["db"].1 < first["api"].1 && first["api"].1 < first["web"].1,
        "start order db → api → web: {first:?}"
    );

    let out = f
        .fleet()
        .args(["deploy", "live", "--yes", "--no-pull"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("0 changed, 3 unchanged"), "{text}");
    let second = f.containers();
    for s in ["db", "api", "web"] {
        assert_eq!(
            (&first[s].0, &first[s].1),
            (&second[s].0, &second[s].1),
            "{s} kept its container and start time"
        );
    }

    // Change one service: only it is recreated.
    f.write(&THREE.replace("MODE \"one\"", "MODE \"two\""));
    let out = f
        .fleet()
        .args(["deploy", "live", "--yes", "--no-pull"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("api      recreated"), "{text}");
    let third = f.containers();
    assert_ne!(third["api"].0, second["api"].0, "api recreated");
    assert_eq!(third["db"].0, second["db"].0, "db untouched");
    assert_eq!(third["web"].0, second["web"].0, "web untouched");
    let env = run_ok(
        f.world
            .docker()
            .args(["exec", &format!("{}-live-api", f.project), "sh", "-c", "echo $MODE"]),
    );
    assert_eq!(String::from_utf8_lossy(&env.stdout).trim(), "two");
}

#[test]
fn an_unhealthy_new_container_rolls_back_to_the_previous_one() {
    let f = Fleet::new(THREE);
    f.fleet()
        .args(["deploy", "live", "--yes", "--no-pull"])
        .assert()
        .success();
    let before = f.containers();
    f.write(
        &THREE
            .replace("test \"true\"", "test \"false\"")
            .replace("retries 3", "retries 1"),
    );
    let out = f
        .fleet()
        .args(["deploy", "live", "--yes", "--no-pull", "--health-timeout", "20"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("`web` did not become healthy"), "{stderr}");
    assert!(stderr.contains("Rolled back: web back on"), "{stderr}");
    let after = f.containers();
    assert_eq!(after["web"].0, before["web"].0, "the previous web container is back");
    assert!(after["web"].2, "and running");
    assert_eq!(after["web"].3, "healthy", "and healthy again");
    assert_eq!(after["db"].0, before["db"].0);
    let all = run_ok(f.world.docker().args([
        "ps",
        "-a",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("label=io.fleetflow.project={}", f.project),
    ]));
    assert_eq!(
        String::from_utf8_lossy(&all.stdout).lines().count(),
        3,
        "no leftover containers"
    );
}

#[test]
fn ps_logs_down_and_restart() {
    let f = Fleet::new(THREE);
    f.fleet().args(["up", "live"]).assert().success();
    let out = f.fleet().args(["ps", "live"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("STAGE  SERVICE  STATUS") && lines[0].ends_with("PORTS  CREATED"),
        "{text}"
    );
    assert!(lines[1].starts_with("live   api      running"), "{text}");
    assert!(lines[3].starts_with("live   web      running (healthy)"), "{text}");
    // -v shows every docker command run.
    f.fleet()
        .args(["-v", "ps", "live"])
        .assert()
        .success()
        .stderr(predicates::str::contains("docker ps --all --quiet"));
    let json = f.fleet().args(["ps", "--output", "json"]).assert().success();
    let rows: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(3));
    assert_eq!(rows[0]["container"], format!("{}-live-api", f.project));

    f.fleet()
        .args(["logs", "live", "-s", "db"])
        .assert()
        .success()
        .stdout("db ready\n");
    let all = f.fleet().args(["logs", "live", "-n", "5"]).assert().success();
    let text = String::from_utf8_lossy(&all.get_output().stdout).into_owned();
    assert!(
        text.contains("db | db ready") && text.contains("api | api up"),
        "{text}"
    );

    let before = f.containers();
    f.fleet()
        .args(["restart", "live", "-s", "db"])
        .assert()
        .success()
        .stdout(predicates::str::contains("restarted db"));
    let after = f.containers();
    assert_ne!(before["db"].1, after["db"].1, "db restarted");
    assert_eq!(before["api"].1, after["api"].1, "api not restarted");

    f.fleet().args(["down", "live"]).assert().success();
    assert!(f.containers().values().all(|c| !c.2), "stopped");
    f.fleet()
        .args(["stage", "status", "live"])
        .assert()
        .success()
        .stdout(predicates::str::contains("Status: stopped"));
    f.fleet().args(["stage", "up", "live"]).assert().success();
    assert!(f.containers().values().all(|c| c.2), "started again");
    f.fleet().args(["down", "live", "--remove"]).assert().success();
    assert!(f.containers().is_empty(), "removed");
}

#[test]
fn bad_input_gets_one_clear_line() {
    let f = Fleet::new(THREE);
    f.fleet()
        .args(["deploy", "nope", "--yes"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("has no stage `nope`; its stages are: live"));
    f.fleet()
        .args(["deploy", "live", "--yes", "-s", "dbb"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "stage `live` has no service `dbb` (did you mean `db`?); its services are: db, api, web",
        ));
    // No terminal and no --yes: refuse.
    f.fleet()
        .args(["deploy", "live"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("Add --yes"));
    // No daemon: one actionable line.
    let out = f
        .fleet()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["deploy", "live", "--yes"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("the Docker daemon is not running or not reachable"),
        "{stderr}"
    );
    // An image that cannot be pulled: nothing is created.
    f.write("service \"x\" {\n    image \"127.0.0.1:5000/fleetflow-test/does-not-exist:1\"\n}\nstage \"live\"\n");
    f.fleet()
        .args(["deploy", "live", "--yes"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("not found"));
    assert!(f.containers().is_empty());
}

#[test]
fn a_taken_port_fails_cleanly_and_restores_the_old_container() {
    let f = Fleet::new(
        "service \"web\" {\n    image \"BASE\"\n    command \"sh\" \"-c\" \"trap 'exit 0' TERM; while :; do sleep 1; done\"\n}\nstage \"live\"\n",
    );
    f.fleet()
        .args(["deploy", "live", "--yes", "--no-pull"])
        .assert()
        .success();
    let before = f.containers();
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = blocker.local_addr().expect("addr").port();
    f.write(&format!("service \"web\" {{\n    image \"BASE\"\n    command \"sh\" \"-c\" \"trap 'exit 0' TERM; while :; do sleep 1; done\"\n    port host={port} container=80 host-ip=\"127.0.0.1\"\n}}\nstage \"live\"\n"));
    let out = f
        .fleet()
        .args(["deploy", "live", "--yes", "--no-pull"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("failed to start") && stderr.contains("Rolled back: web back on"),
        "{stderr}"
    );
    let after = f.containers();
    assert_eq!(after["web"].0, before["web"].0);
    assert!(after["web"].2);
    drop(blocker);
}

#[test]
fn two_stages_of_one_project_deploy_concurrently_on_their_own_networks() {
    let f = Fleet::new(&THREE.replace("stage \"live\"", "stage \"live\"\nstage \"local\""));
    let spawn = |stage: &str| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("fleet"))
            .current_dir(f.dir.path())
            .env("CI", "true")
            .env("DOCKER_CONFIG", &f.world.docker_config)
            .args(["deploy", stage, "--yes", "--no-pull"])
            .output()
            .expect("spawn")
    };
    let (live, local) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn("live"));
        let b = s.spawn(|| spawn("local"));
        (a.join().expect("live"), b.join().expect("local"))
    });
    assert!(live.status.success(), "{}", String::from_utf8_lossy(&live.stderr));
    assert!(local.status.success(), "{}", String::from_utf8_lossy(&local.stderr));
    // Each stage resolves `db` to its own container.
    let nets = run_ok(f.world.docker().args([
        "network",
        "ls",
        "--format",
        "{{.Name}}",
        "--filter",
        &format!("name={}-", f.project),
    ]));
    let mut names: Vec<String> = String::from_utf8_lossy(&nets.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![format!("{}-live", f.project), format!("{}-local", f.project)]
    );
}
