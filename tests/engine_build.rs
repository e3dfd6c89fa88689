//! `fleet build` against the real engine and the authenticated registry of the test world.

mod support;

use std::path::Path;

use fleetflow::application::image_build::credentials::{CredentialSource, find_credentials, registry_host};
use fleetflow::application::image_build::{BuildOptions, plan_builds};
use fleetflow::config::load::load_fleet_file;
use fleetflow::docker::{Builder, argv};
use predicates::str::contains;
use support::{Cleanup, TestWorld, run, run_ok, test_world};

fn fleet_dir(world: &TestWorld, project: &str, dockerfile_extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join(".fleetflow")).expect("mkdir");
    std::fs::create_dir_all(root.join("app")).expect("mkdir");
    std::fs::write(
        root.join(".fleetflow/fleet.kdl"),
        format!(
            "project \"{project}\"\nservice \"app\" {{\n    build {{\n        context \"./app\"\n        args {{\n            BASE \"{}\"\n        }}\n    }}\n    command \"sh\" \"-c\" \"cat /hello.txt; trap 'exit 0' TERM; while :; do sleep 1; done\"\n}}\nstage \"local\"\nstage \"live\"\n",
            world.base_image
        ),
    )
    .expect("write");
    std::fs::write(
        root.join("app/Dockerfile"),
        format!("ARG BASE\nFROM ${{BASE}}\nCOPY hello.txt /hello.txt\n{dockerfile_extra}"),
    )
    .expect("write");
    std::fs::write(root.join("app/hello.txt"), "hello from a built image\n").expect("write");
    dir
}

fn fleet(dir: &Path, docker_config: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("fleet").expect("binary");
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env("CI", "true")
        .env("DOCKER_CONFIG", docker_config)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/monorepo")
        .env_remove("FLEET_IMAGE_REGISTRY");
    cmd
}

#[test]
fn live_build_pushes_to_the_registry_with_stored_credentials_and_skips_unchanged_inputs() {
    let world = test_world();
    let cleanup = Cleanup::project(&world, "b");
    let project = cleanup.project.clone();
    let dir = fleet_dir(&world, &project, "");
    let registry = format!("{}/fleetflow-test", world.registry);
    let out = fleet(dir.path(), &world.docker_config)
        .args(["build", "live", "--push", "--image-registry", &registry])
        .assert()
        .success()
        .stderr(contains(
            "docker buildx is not available; using `docker build --platform` and `docker push` instead",
        ));
    let image = format!("{registry}/{project}-live:latest");
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_eq!(stdout, format!("app: built and pushed: {image}\n"));

    let labels = run_ok(
        world
            .docker()
            .args(["image", "inspect", "--format", "{{json .Config.Labels}}", &image]),
    );
    let labels: serde_json::Value = serde_json::from_slice(&labels.stdout).expect("labels");
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://github.com/acme/monorepo"
    );
    assert!(
        labels["org.opencontainers.image.created"]
            .as_str()
            .is_some_and(|c| c.starts_with("20"))
    );
    let arch = run_ok(
        world
            .docker()
            .args(["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", &image]),
    );
    assert_eq!(String::from_utf8_lossy(&arch.stdout).trim(), "linux/amd64");

    // The pushed image comes back from the registry.
    run_ok(world.docker().args(["rmi", &image]));
    run_ok(world.docker().args(["pull", &image]));
    let ran = run_ok(
        world
            .docker()
            .args(["run", "--rm", "--network", "none", &image, "cat", "/hello.txt"]),
    );
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "hello from a built image\n");

    // Same inputs: not rebuilt (pushed again, which the registry answers without uploading).
    fleet(dir.path(), &world.docker_config)
        .args(["build", "live", "--push", "--image-registry", &registry])
        .assert()
        .success()
        .stdout(format!("app: unchanged, pushed: {image}\n"));
    std::fs::write(dir.path().join("app/hello.txt"), "changed\n").expect("write");
    fleet(dir.path(), &world.docker_config)
        .args(["build", "live", "--image-registry", &registry])
        .assert()
        .success()
        .stdout(format!("app: built: {image}\n"));
}

#[test]
fn push_without_credentials_is_refused_with_an_auth_error() {
    let world = test_world();
    let cleanup = Cleanup::project(&world, "b");
    let project = cleanup.project.clone();
    let dir = fleet_dir(&world, &project, "");
    let empty = tempfile::tempdir().expect("tempdir");
    fleet(dir.path(), empty.path())
        .args([
            "build",
            "live",
            "--push",
            "--image-registry",
            &format!("{}/fleetflow-test", world.registry),
        ])
        .assert()
        .code(1)
        .stderr(contains("registry authentication failed"));
}

#[test]
fn a_failing_build_shows_its_output_and_deploys_nothing() {
    let world = test_world();
    let cleanup = Cleanup::project(&world, "b");
    let project = cleanup.project.clone();
    let dir = fleet_dir(
        &world,
        &project,
        &format!("RUN echo about-to-fail {project} && false\n"),
    );
    fleet(dir.path(), &world.docker_config)
        .args(["build", "local"])
        .assert()
        .code(1)
        .stderr(contains("app | about-to-fail"))
        .stderr(contains("build of `app` failed"));
    fleet(dir.path(), &world.docker_config)
        .args(["up", "local"])
        .assert()
        .code(1)
        .stderr(contains("nothing was deployed"));
    let ps = run(world.docker().args([
        "ps",
        "-aq",
        "--filter",
        &format!("label=io.fleetflow.project={project}"),
    ]));
    assert!(ps.stdout.is_empty(), "no container was created");
    // Nor left behind by the failed step (the classic builder keeps it without --force-rm).
    let all = run(world
        .docker()
        .args(["ps", "-a", "--no-trunc", "--format", "{{.Command}}"]));
    let left: Vec<_> = String::from_utf8_lossy(&all.stdout)
        .lines()
        .filter(|c| c.contains(&project))
        .map(str::to_owned)
        .collect();
    assert!(left.is_empty(), "the failed build left containers: {left:?}");
}

#[test]
fn a_build_of_a_changed_tree_tags_its_commit_dirty() {
    let world = test_world();
    let cleanup = Cleanup::project(&world, "b");
    let project = cleanup.project.clone();
    let dir = fleet_dir(&world, &project, "");
    let git = |args: &[&str]| {
        run_ok(
            std::process::Command::new("git")
                .current_dir(dir.path())
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args),
        )
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "fleet"]);
    let head = String::from_utf8_lossy(&git(&["rev-parse", "HEAD"]).stdout)
        .trim()
        .to_owned();
    let built = |dir: &Path| -> Vec<String> {
        let out = fleet(dir, &world.docker_config)
            .args(["build", "local", "--output", "json"])
            .assert()
            .success();
        let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
        json[0]["images"]
            .as_array()
            .expect("images")
            .iter()
            .map(|i| i.as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let sha = format!("{project}-local:sha-{}", &head[..7]);
    let clean = built(dir.path());
    assert!(clean.iter().any(|i| i.ends_with(&sha)), "{clean:?}");
    // An uncommitted change: the commit tag says it is not the commit.
    std::fs::write(dir.path().join("app/hello.txt"), "changed, not committed\n").expect("write");
    let dirty = built(dir.path());
    assert!(dirty.iter().any(|i| i.ends_with(&format!("{sha}-dirty"))), "{dirty:?}");
    assert!(!dirty.iter().any(|i| i.ends_with(&sha)), "{dirty:?}");
    for image in clean.iter().chain(&dirty) {
        let _ = world.docker().args(["rmi", "-f", image]).output();
    }
}

#[test]
fn up_builds_the_local_image_and_runs_it() {
    let world = test_world();
    let cleanup = Cleanup::project(&world, "b");
    let project = cleanup.project.clone();
    let dir = fleet_dir(&world, &project, "");
    fleet(dir.path(), &world.docker_config)
        .args(["up", "local"])
        .assert()
        .success()
        .stdout(contains("app      created"));
    let logs = run_ok(world.docker().args(["logs", &format!("{project}-local-app")]));
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "hello from a built image\n");
    fleet(dir.path(), &world.docker_config)
        .args(["down", "local", "--remove"])
        .assert()
        .success();
}

#[test]
fn the_live_buildx_argv_is_what_github_runners_need() {
    let dir = fleet_dir(&test_world(), "shop", "");
    let fleet = load_fleet_file(&dir.path().join(".fleetflow/fleet.kdl"))
        .expect("valid")
        .fleet;
    let options = BuildOptions {
        push: true,
        registry: Some("ghcr.io/acme".into()),
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        source_url: Some("https://github.com/acme/shop".into()),
        created: "2026-11-25T00:00:00Z".into(),
        ..BuildOptions::default()
    };
    let plans = plan_builds("shop", fleet.stage("live").expect("live"), dir.path(), &options, true).expect("plan");
    assert_eq!(plans[0].builder, Builder::Buildx);
    let args = argv::build(plans[0].builder, &plans[0].request);
    let context = dir.path().join("./app").display().to_string();
    let expected: Vec<String> = [
        "buildx",
        "build",
        "--platform",
        "linux/amd64",
        "--build-arg",
        "BASE=fleetflow/busybox:latest",
        "--label",
        &format!("io.fleetflow.build-inputs={}", plans[0].inputs_hash),
        "--label",
        "org.opencontainers.image.created=2026-11-25T00:00:00Z",
        "--label",
        "org.opencontainers.image.revision=0123456789abcdef0123456789abcdef01234567",
        "--label",
        "org.opencontainers.image.source=https://github.com/acme/shop",
        "--tag",
        "ghcr.io/acme/shop-live:latest",
        "--tag",
        "ghcr.io/acme/shop-live:sha-0123456",
        "--push",
        "--provenance=false",
        &context,
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(args, expected);
    // The local stage: native platform, classic builder, never pushed.
    let local = plan_builds("shop", fleet.stage("local").expect("local"), dir.path(), &options, true).expect("plan");
    assert_eq!(
        (
            local[0].builder,
            local[0].request.push,
            local[0].request.platform.as_deref()
        ),
        (Builder::Classic, false, None)
    );
    assert_eq!(local[0].request.tags[0], "shop-local:latest");
}

#[test]
fn credentials_come_from_docker_config_or_a_github_token() {
    let world = test_world();
    let none = |_: &str| None;
    assert_eq!(
        find_credentials(&world.registry, Some(&world.docker_config), &none),
        CredentialSource::Stored
    );
    let empty = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        find_credentials(&world.registry, Some(empty.path()), &none),
        CredentialSource::None
    );
    let env = |k: &str| match k {
        "GITHUB_TOKEN" => Some("ghs_secret".to_owned()),
        "GITHUB_ACTOR" => Some("octocat".to_owned()),
        _ => None,
    };
    match find_credentials("ghcr.io", Some(empty.path()), &env) {
        CredentialSource::Token(login) => {
            assert_eq!(
                (login.registry.as_str(), login.username.as_str()),
                ("ghcr.io", "octocat")
            );
            assert!(
                !format!("{login:?}").contains("ghs_secret"),
                "Debug never shows the token"
            );
        }
        other => panic!("expected a token login, got {other:?}"),
    }
    assert_eq!(registry_host("ghcr.io/acme/app:1"), "ghcr.io");
    assert_eq!(registry_host("127.0.0.1:5000/x/y"), "127.0.0.1:5000");
    assert_eq!(registry_host("busybox:latest"), "docker.io");
}

/// A docker CLI plugin that answers the plugin protocol and says who it is.
const FAKE_BUILDX: &str = r#"#!/bin/sh
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"fleetflow tests","Version":"v0.0.0-user","ShortDescription":"the user'"'"'s buildx"}'
  exit 0
fi
echo "user buildx: $*"
"#;

#[test]
fn logging_in_keeps_the_users_buildx_builders_and_other_credentials() {
    use fleetflow::application::image_build::credentials::private_config;
    use fleetflow::docker::{Docker, DockerCli};
    use std::os::unix::fs::PermissionsExt;
    let world = test_world();
    // The user's docker config: buildx installed per user, another registry's credentials, and
    // a credential store that is not installed here (logging in through it would fail).
    let user = tempfile::tempdir().expect("tempdir");
    let plugins = user.path().join("cli-plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("docker-buildx"), FAKE_BUILDX).unwrap();
    std::fs::set_permissions(plugins.join("docker-buildx"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(user.path().join("buildx/instances")).unwrap();
    let config = r#"{"auths":{"other.example":{"auth":"dXNlcjpwYXNz"}},"credsStore":"fleetflow-test-absent"}"#;
    std::fs::write(user.path().join("config.json"), config).unwrap();

    let private = private_config(Some(user.path()), &[world.registry.as_str()]).expect("private config");
    let docker = DockerCli {
        config_dir: Some(private.path().to_path_buf()),
        ..DockerCli::default()
    };
    assert!(docker.buildx_available(), "the user's buildx plugin is found");
    let out = std::process::Command::new("docker")
        .args(["buildx", "ls"])
        .env("DOCKER_CONFIG", private.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "user buildx: buildx ls");
    assert!(private.path().join("buildx/instances").is_dir(), "the user's builders");

    docker
        .login(&world.registry, &world.registry_user, &world.registry_password)
        .expect("the login bypasses the user's credential store for this registry only");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(private.path().join("config.json")).unwrap()).unwrap();
    assert!(
        written["auths"][world.registry.as_str()]["auth"].is_string(),
        "{written}"
    );
    assert_eq!(written["auths"]["other.example"]["auth"], "dXNlcjpwYXNz", "kept");
    assert_eq!(written["credsStore"], "fleetflow-test-absent", "kept for the others");
    assert_eq!(
        std::fs::read_to_string(user.path().join("config.json")).unwrap(),
        config,
        "untouched"
    );
}

/// A buildx push leaves nothing in the engine to read the digest from: buildx writes it to the
/// metadata file it is given (`containerimage.digest`, as `docker buildx build --metadata-file`
/// documents); a classic push's digest is the engine's `RepoDigests` entry of the repository.
#[test]
fn the_pushed_digest_comes_from_buildx_metadata_or_the_engines_repo_digests() {
    use fleetflow::application::image_build::{pushed_digest, repo_digest_of};
    use fleetflow::docker::BuildRequest;
    let request = BuildRequest {
        context: "ctx".into(),
        dockerfile: None,
        target: None,
        args: Default::default(),
        tags: vec!["ghcr.io/acme/shop-live:sha-0123456".into()],
        labels: Default::default(),
        platform: None,
        no_cache: false,
        push: true,
        metadata_file: Some("/tmp/meta.json".into()),
    };
    let args = argv::build(Builder::Buildx, &request);
    let at = args.iter().position(|a| a == "--metadata-file").expect("asked for");
    assert_eq!(args[at + 1], "/tmp/meta.json");
    assert_eq!(args.last().unwrap(), "ctx");
    assert!(!argv::build(Builder::Classic, &request).contains(&"--metadata-file".to_owned()));

    let digest = format!("sha256:{}", "ab".repeat(32));
    let metadata = format!(
        r#"{{"buildx.build.ref": "builder/builder0/x", "containerimage.descriptor": {{"mediaType": "application/vnd.oci.image.manifest.v1+json"}}, "containerimage.digest": "{digest}", "image.name": "ghcr.io/acme/shop-live:latest,ghcr.io/acme/shop-live:sha-0123456"}}"#
    );
    assert_eq!(pushed_digest(&metadata), Some(digest.clone()));
    assert_eq!(pushed_digest("{}"), None);
    assert_eq!(pushed_digest(r#"{"containerimage.digest": "md5:x"}"#), None);

    let repo_digests = vec![
        format!("127.0.0.1:5000/acme/other@sha256:{}", "cd".repeat(32)),
        format!("127.0.0.1:5000/acme/shop-live@{digest}"),
    ];
    for image in [
        "127.0.0.1:5000/acme/shop-live:sha-0123456",
        "127.0.0.1:5000/acme/shop-live",
    ] {
        assert_eq!(repo_digest_of(image, &repo_digests), Some(digest.clone()), "{image}");
    }
    assert_eq!(repo_digest_of("127.0.0.1:5000/acme/shop", &repo_digests), None);
}
