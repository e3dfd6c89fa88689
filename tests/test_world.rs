//! Smoke tests of the test world (scripts/test-world.sh): the Docker engine,
//! the authenticated registry on 127.0.0.1:5000, the sshd on 127.0.0.1:2222
//! and the FROM-scratch busybox base image. They fail, never skip, when a
//! service is missing.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use support::{run, run_ok, test_world, text, unique};

/// Removes the listed local images when dropped (also when a test panics).
struct RemoveImages(Vec<String>);

impl Drop for RemoveImages {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = Command::new("docker").args(["rmi", "--force", image]).output();
        }
    }
}

/// `docker build -t tag -` with `dockerfile` on stdin (no build context).
fn docker_build(world: &support::TestWorld, tag: &str, dockerfile: &str) {
    let mut child = world
        .docker()
        .args(["build", "--network", "none", "-t", tag, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run docker build");
    child.stdin.take().unwrap().write_all(dockerfile.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "docker build -t {tag} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

fn image_exists(image: &str) -> bool {
    run(Command::new("docker").args(["image", "inspect", image]))
        .status
        .success()
}

#[test]
fn registry_push_rmi_pull_run_roundtrip() {
    let world = test_world();
    let tag = unique("roundtrip");
    let image = format!("{}/fleetflow-test/smoke:{tag}", world.registry);
    let _cleanup = RemoveImages(vec![image.clone()]);

    docker_build(
        &world,
        &image,
        &format!(
            "FROM {}\nRUN echo 'hello from {tag}' > /greeting\nCMD [\"cat\", \"/greeting\"]\n",
            world.base_image
        ),
    );
    run_ok(world.docker().args(["push", &image]));

    run_ok(world.docker().args(["rmi", &image]));
    assert!(!image_exists(&image), "{image} still present after docker rmi");

    let pulled = run_ok(world.docker().args(["pull", &image]));
    let (stdout, _) = text(&pulled);
    assert!(
        stdout.contains(&format!("Downloaded newer image for {image}")),
        "docker pull did not download {image}:\n{stdout}"
    );
    assert!(image_exists(&image), "{image} missing after docker pull");

    let ran = run_ok(world.docker().args(["run", "--rm", "--network", "none", &image]));
    let (stdout, _) = text(&ran);
    assert_eq!(stdout.trim(), format!("hello from {tag}"));
}

#[test]
fn a_tests_images_are_removed_from_dockerd_and_the_registry() {
    let world = test_world();
    let project = unique("gone");
    let image = format!("{}/fleetflow-test/{project}-live:latest", world.registry);
    docker_build(&world, &image, &format!("FROM {}\nCMD [\"true\"]\n", world.base_image));
    run_ok(world.docker().args(["push", &image]));
    let manifest = || {
        http_code(&[
            "-u",
            &format!("{}:{}", world.registry_user, world.registry_password),
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json",
            &format!(
                "http://{}/v2/fleetflow-test/{project}-live/manifests/latest",
                world.registry
            ),
        ])
    };
    assert_eq!(manifest(), "200");

    world.remove_images(&project);

    assert!(!image_exists(&image), "{image} left in dockerd");
    assert_eq!(manifest(), "404", "the manifest is deleted from the registry");
}

#[test]
fn registry_refuses_push_without_login() {
    let world = test_world();
    let tag = unique("anon");
    let image = format!("{}/fleetflow-test/anon:{tag}", world.registry);
    let _cleanup = RemoveImages(vec![image.clone()]);
    run_ok(Command::new("docker").args(["tag", &world.base_image, &image]));

    let empty_config = tempfile::tempdir().unwrap();
    let out = run(Command::new("docker")
        .env("DOCKER_CONFIG", empty_config.path())
        .args(["push", &image]));
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "push without login succeeded:\n{stdout}\n{stderr}"
    );
    let all = format!("{stdout}\n{stderr}").to_lowercase();
    assert!(
        all.contains("no basic auth credentials")
            || all.contains("unauthorized")
            || all.contains("authentication required"),
        "push without login failed, but not with an auth error:\n{stdout}\n{stderr}"
    );

    // And the registry itself answers 401 to an anonymous API call.
    let code = http_code(&[&format!("http://{}/v2/fleetflow-test/anon/tags/list", world.registry)]);
    assert_eq!(code, "401");
}

/// The HTTP status curl gets with `args` (the URL among them).
fn http_code(args: &[&str]) -> String {
    let out = run_ok(
        Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"])
            .args(args),
    );
    text(&out).0
}

#[test]
fn ssh_runs_docker_ps_with_pinned_host_key() {
    let world = test_world();
    let out = run_ok(world.ssh().arg("docker ps"));
    let (stdout, _) = text(&out);
    assert!(
        stdout.starts_with("CONTAINER ID"),
        "unexpected docker ps output over ssh:\n{stdout}"
    );

    // The pinned key is the one in the env file.
    let known = std::fs::read_to_string(&world.ssh_known_hosts).unwrap();
    assert!(
        known.contains(&format!(
            "[{}]:{} {}",
            world.ssh_host, world.ssh_port, world.ssh_host_key
        )),
        "known_hosts does not pin FLEET_TEST_SSH_HOST_KEY:\n{known}"
    );
}

/// `ssh … true` with this key and known_hosts fails, and stderr says `why`.
fn assert_ssh_refused(key: &Path, known_hosts: &Path, why: &str) {
    let world = test_world();
    let out = run(Command::new("ssh")
        .args(world.ssh_options_with(key, known_hosts))
        .arg(world.ssh_target())
        .arg("true"));
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "ssh succeeded:\n{stdout}\n{stderr}");
    assert!(stderr.contains(why), "ssh failed, but not with {why:?}:\n{stderr}");
}

#[test]
fn ssh_refuses_unknown_host_key() {
    let world = test_world();
    let dir = tempfile::tempdir().unwrap();
    let empty_known_hosts = dir.path().join("known_hosts");
    std::fs::write(&empty_known_hosts, "").unwrap();
    assert_ssh_refused(&world.ssh_key, &empty_known_hosts, "Host key verification failed");
}

#[test]
fn ssh_refuses_unknown_user_key() {
    let world = test_world();
    let dir = tempfile::tempdir().unwrap();
    let stranger = dir.path().join("id_ed25519");
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&stranger),
    );
    assert_ssh_refused(&stranger, &world.ssh_known_hosts, "Permission denied (publickey)");
}

#[test]
fn busybox_base_image_has_sh_and_wget() {
    let world = test_world();
    let out = run_ok(world.docker().args([
        "run",
        "--rm",
        "--network",
        "none",
        &world.base_image,
        "sh",
        "-c",
        "echo ok && wget --help 2>&1 | head -n 1 && ls /bin/httpd",
    ]));
    let (stdout, _) = text(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"ok"), "output:\n{stdout}");
    assert!(
        lines.get(1).is_some_and(|l| l.starts_with("BusyBox")),
        "wget --help did not answer:\n{stdout}"
    );
    assert_eq!(lines.get(2), Some(&"/bin/httpd"), "output:\n{stdout}");

    // FROM scratch: busybox is the only regular file in the image (docker
    // itself adds /.dockerenv and bind-mounts /etc/{hosts,hostname,resolv.conf}).
    let out = run_ok(world.docker().args([
        "run",
        "--rm",
        "--network",
        "none",
        &world.base_image,
        "find",
        "/",
        "-xdev",
        "-type",
        "f",
    ]));
    let files: Vec<String> = text(&out).0.lines().map(str::to_owned).collect();
    assert!(
        files.iter().any(|f| f == "/bin/busybox"),
        "no /bin/busybox in {}: {files:?}",
        world.base_image
    );
    assert!(
        files
            .iter()
            .all(|f| f == "/bin/busybox" || f == "/.dockerenv" || f.starts_with("/etc/")),
        "{} is not a bare busybox image: {files:?}",
        world.base_image
    );
}

#[test]
fn busybox_httpd_serves_wget_inside_a_container() {
    let world = test_world();
    let out = run_ok(world.docker().args([
        "run",
        "--rm",
        "--network",
        "none",
        &world.base_image,
        "sh",
        "-c",
        "mkdir /www && echo served-by-httpd > /www/index.html \
         && httpd -p 127.0.0.1:8080 -h /www \
         && wget -q -O - http://127.0.0.1:8080/",
    ]));
    assert_eq!(text(&out).0.trim(), "served-by-httpd");
}

/// The test world's PostgreSQL answers on 127.0.0.1 with its password, and refuses a wrong one.
#[tokio::test]
async fn postgres_answers_with_its_password_only() {
    use sqlx::Connection;
    let world = support::test_world();
    let mut db = sqlx::PgConnection::connect(&world.postgres_url)
        .await
        .expect("the test world's PostgreSQL accepts its own URL");
    let (version, database): (String, String) = sqlx::query_as("SELECT version(), current_database()")
        .fetch_one(&mut db)
        .await
        .expect("a query");
    assert!(version.starts_with("PostgreSQL "), "{version}");
    assert_eq!(database, "fleetflow");
    let listen: String = sqlx::query_scalar("SHOW listen_addresses")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(listen, "127.0.0.1", "loopback only");
    db.close().await.unwrap();
    let wrong = world.postgres_url.replacen("fleetflow:", "fleetflow:wrong", 1);
    let refused = sqlx::PgConnection::connect(&wrong).await;
    assert!(refused.is_err(), "a wrong password is refused");
}
