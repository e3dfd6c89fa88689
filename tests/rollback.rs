//! `fleet deploy`, `fleet rollback` and `fleet history` against the test world's real dockerd:
//! three releases of one image tag (the third fails its healthcheck), then a rollback to the
//! previous release runs the first one's image again, by id, without a build; the history says
//! all four. Prints the time of the rollback beside the same deploy forward.

mod support;

use std::path::Path;
use std::time::Instant;

use support::{Cleanup, TestWorld, run_ok, test_world};

struct Stage<'a> {
    world: &'a TestWorld,
    cleanup: Cleanup<'a>,
    dir: tempfile::TempDir,
}

impl<'a> Stage<'a> {
    fn new(world: &'a TestWorld) -> Self {
        let cleanup = Cleanup::project(world, "rb");
        let dir = tempfile::tempdir().expect("tempdir");
        let project = &cleanup.project;
        std::fs::create_dir_all(dir.path().join("app/.fleetflow")).expect("mkdir");
        let fleet = format!(
            r#"project "{project}"
service "web" {{
    image "{project}-web:latest"
    command "sh" "-c" "trap 'exit 0' TERM; while :; do sleep 1; done"
    healthcheck {{
        test "test" "-f" "/healthy"
        interval "1s"
        retries 1
    }}
}}
stage "live"
"#
        );
        std::fs::write(dir.path().join("app/.fleetflow/fleet.kdl"), fleet).expect("write");
        Stage { world, cleanup, dir }
    }

    /// A new `{project}-web:latest` (the previous one left untagged); its image id.
    fn build(&self, version: &str, healthy: bool) -> String {
        let ctx = self.dir.path().join(format!("ctx-{version}"));
        std::fs::create_dir_all(&ctx).expect("mkdir");
        std::fs::write(ctx.join("version"), version).expect("write");
        std::fs::write(ctx.join("healthy"), "").expect("write");
        let copy_healthy = if healthy { "COPY healthy /healthy\n" } else { "" };
        let dockerfile = format!("FROM {}\nCOPY version /version\n{copy_healthy}", self.world.base_image);
        std::fs::write(ctx.join("Dockerfile"), dockerfile).expect("write");
        let tag = format!("{}-web:latest", self.cleanup.project);
        run_ok(
            self.world
                .docker()
                .args(["build", "--force-rm", "-q", "-t", &tag])
                .arg(&ctx),
        );
        self.image_id(&tag)
    }

    fn image_id(&self, reference: &str) -> String {
        let out = run_ok(
            self.world
                .docker()
                .args(["image", "inspect", "--format", "{{.Id}}", reference]),
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn fleet(&self, commit: &str) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("fleet").expect("binary");
        cmd.current_dir(self.dir.path().join("app"))
            .env("NO_COLOR", "1")
            .env("CI", "true")
            .env("DOCKER_CONFIG", &self.world.docker_config)
            .env("FLEET_HISTORY_DIR", self.dir.path().join("history"))
            .env("FLEET_DEPLOY_COMMIT", commit)
            .env("FLEET_DEPLOY_BY", "tester")
            .env_remove("FLEET_REGISTRY_PATH");
        cmd
    }

    /// Runs `fleet deploy live`; whether it succeeded, and how long it took.
    fn deploy(&self, commit: &str) -> (bool, f64) {
        let began = Instant::now();
        let out = self
            .fleet(commit)
            .args(["deploy", "live", "--yes", "--no-pull", "--health-timeout", "20"])
            .output()
            .expect("runs");
        (out.status.success(), began.elapsed().as_secs_f64())
    }

    /// The image the running web container runs.
    fn running(&self) -> String {
        let name = format!("{}-live-web", self.cleanup.project);
        let out = run_ok(self.world.docker().args([
            "container",
            "inspect",
            "--format",
            "{{.Image}} {{.State.Running}} {{.State.Health.Status}}",
            &name,
        ]));
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let (image, state) = text.split_once(' ').expect("image and state");
        assert_eq!(state, "true healthy", "web runs, healthy");
        image.to_owned()
    }
}

fn history(stage: &Stage, dir: &Path) -> serde_json::Value {
    let out = stage
        .fleet("-")
        .current_dir(dir)
        .args(["history", "live", "--output", "json"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("history JSON")
}

#[test]
fn a_rollback_to_previous_after_a_failed_deploy_runs_the_first_image_again_without_a_build() {
    let world = test_world();
    let stage = Stage::new(&world);
    let v1 = stage.build("v1", true);
    assert!(stage.deploy("c1c1c1c1c1").0, "v1 deploys");
    assert_eq!(stage.running(), v1);
    let v2 = stage.build("v2", true);
    let (ok, forward) = stage.deploy("c2c2c2c2c2");
    assert!(ok, "v2 deploys");
    assert_eq!(stage.running(), v2);
    let _v3 = stage.build("v3", false);
    let (ok, _) = stage.deploy("c3c3c3c3c3");
    assert!(!ok, "v3 fails its healthcheck");
    assert_eq!(stage.running(), v2, "the engine put v2 back");

    let began = Instant::now();
    let out = stage
        .fleet("-")
        .args([
            "rollback",
            "live",
            "--to",
            "previous",
            "--yes",
            "--health-timeout",
            "20",
        ])
        .output()
        .expect("runs");
    let rollback = began.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("back to commit c1c1c1c1c1"), "{stderr}");
    assert!(!stderr.contains("build"), "no build: {stderr}");
    assert_eq!(
        stage.running(),
        v1,
        "v1's image runs again, though its tag moved on twice"
    );
    eprintln!("rollback: {rollback:.2} s from command to healthy; the same deploy forward (v1 → v2): {forward:.2} s");

    let json = history(&stage, &stage.dir.path().join("app"));
    let deploys = json["deploys"].as_array().expect("deploys");
    let seen: Vec<(String, String, String)> = deploys
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap_or("").to_owned();
            (s("kind"), s("outcome"), s("commit"))
        })
        .collect();
    let expect = |k: &str, o: &str, c: &str| (k.to_owned(), o.to_owned(), c.to_owned());
    assert_eq!(
        seen,
        [
            expect("deploy", "ok", "c1c1c1c1c1"),
            expect("deploy", "ok", "c2c2c2c2c2"),
            expect("deploy", "failed", "c3c3c3c3c3"),
            expect("rollback", "ok", "c1c1c1c1c1"),
        ]
    );
    assert_eq!(deploys[3]["services"][0]["image_id"], v1.as_str());
    assert_eq!(deploys[3]["rollback_to"], deploys[0]["id"]);
    assert!(deploys.iter().all(|d| d["by"] == "tester"));
    let keep = format!("fleetflow-keep/{}-live-web", stage.cleanup.project);
    let tags = run_ok(world.docker().args(["image", "ls", "--format", "{{.Tag}}", &keep]));
    assert_eq!(
        String::from_utf8_lossy(&tags.stdout).lines().count(),
        2,
        "one keep tag per kept image set: v1 (held by the rollback's entry) and v2"
    );
}

#[test]
fn a_routed_stage_rolls_back_on_its_server_and_keeps_its_history_there() {
    let world = test_world();
    let stage = Stage::new(&world);
    let project = &stage.cleanup.project;
    let root = stage.dir.path();
    let deploy_path = root.join("srv");
    let registry = format!(
        "registry \"t\"\nfleet \"{project}\" {{\n    path \"app\"\n}}\nserver \"box\" {{\n    ssh-host \"{host}\"\n    ssh-port {port}\n    ssh-key \"{key}\"\n    ssh-host-key \"{host_key}\"\n    deploy-path \"{dp}\"\n}}\ndeployment {{\n    route fleet=\"{project}\" stage=\"live\" server=\"box\"\n}}\n",
        host = world.ssh_host,
        port = world.ssh_port,
        key = world.ssh_key.display(),
        host_key = world.ssh_host_key,
        dp = deploy_path.display(),
    );
    std::fs::write(root.join("fleet-registry.kdl"), registry).expect("write");
    let fleet = |args: &[&str]| {
        let mut cmd = assert_cmd::Command::cargo_bin("fleet").expect("binary");
        cmd.current_dir(root)
            .env("NO_COLOR", "1")
            .env("CI", "true")
            .env("USER", "tester")
            .env("FLEET_SSH_KNOWN_HOSTS", &world.ssh_known_hosts)
            .env_remove("FLEET_REGISTRY_PATH")
            .env_remove("FLEET_HISTORY_DIR")
            .args(args);
        cmd.output().expect("runs")
    };
    let ok = |out: std::process::Output| {
        let (stdout, stderr) = support::text(&out);
        assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
        stdout + &stderr
    };
    let deploy = || {
        ok(fleet(&[
            "registry",
            "deploy",
            project,
            "--stage",
            "live",
            "--yes",
            "--no-pull",
        ]))
    };
    let v1 = stage.build("v1", true);
    deploy();
    let v2 = stage.build("v2", true);
    deploy();
    assert_eq!(stage.running(), v2);

    let said = ok(fleet(&["rollback", project, "live", "--yes"]));
    assert!(said.contains(&format!("{project}:live → box: ok")), "{said}");
    assert_eq!(stage.running(), v1, "the server runs v1's image again");

    let said = ok(fleet(&["history", project, "live"]));
    assert_eq!(said.matches(" deploy ").count(), 2, "{said}");
    assert_eq!(said.matches(" rollback ").count(), 1, "{said}");
    let json = fleet(&["history", project, "live", "--output", "json"]);
    assert!(json.status.success());
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("history JSON");
    assert_eq!(json["servers"][0]["server"], "box");
    assert_eq!(
        json["servers"][0]["deploys"].as_array().map(Vec::len),
        Some(3),
        "{json}"
    );
    let file = deploy_path.join(format!(".fleetflow/history/{project}-live.jsonl"));
    let lines = std::fs::read_to_string(&file).expect("the history is kept on the server");
    assert_eq!(lines.lines().count(), 3);
    assert_eq!(
        lines.matches(&format!("\"image\":\"{project}-web:latest\"")).count(),
        3,
        "{lines}"
    );
    assert!(lines.lines().all(|l| l.contains("\"by\":\"tester@")), "{lines}");
    // Naming the fleet twice is refused before anything runs.
    let out = fleet(&["rollback", project, "live", "--fleet", project]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn after_seven_deploys_the_images_of_the_last_five_are_kept_and_an_older_one_is_gone() {
    let world = test_world();
    let stage = Stage::new(&world);
    let ids: Vec<String> = (1..=7)
        .map(|n| {
            let id = stage.build(&format!("v{n}"), true);
            assert!(stage.deploy(&format!("{n}{n}{n}{n}abcd")).0, "deploy {n}");
            id
        })
        .collect();
    let present = |id: &str| {
        world
            .docker()
            .args(["image", "inspect", id])
            .output()
            .expect("docker runs")
            .status
            .success()
    };
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(present(id), n >= 2, "deploy {}'s image kept: {}", n + 1, n >= 2);
    }
    let out = stage
        .fleet("-")
        .args(["rollback", "live", "--to", "1111", "--yes"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the images of commit 1111abcd") && stderr.contains("nothing was changed"),
        "{stderr}"
    );
    assert_eq!(stage.running(), ids[6]);
    let out = stage
        .fleet("-")
        .args(["rollback", "live", "--to", "3333", "--yes"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stage.running(), ids[2], "the oldest kept deploy runs again");
}
