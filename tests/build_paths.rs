//! A pull request's fleet file decides what is sent as a build context: contexts and
//! Dockerfiles stay inside the fleet's directory, in the text of the configuration and again,
//! symbolic links resolved, in the tree being built (the probe put the first line of a host
//! file into a PR reply through `dockerfile "/etc/passwd"`).

use std::path::Path;

use assert_cmd::Command;
use fleetflow::application::image_build::{BuildError, BuildOptions, plan_builds};
use fleetflow::config::load::load_fleet_file;

fn fleet_file(dir: &Path, build: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join(".fleetflow")).expect("mkdir");
    let path = dir.join(".fleetflow/fleet.kdl");
    std::fs::write(
        &path,
        format!("project \"shop\"\nservice \"app\" {{\n    {build}\n}}\nstage \"live\"\n"),
    )
    .expect("write");
    path
}

fn validate(build: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fleet_file(dir.path(), build);
    let out = Command::cargo_bin("fleet")
        .expect("binary")
        .env("NO_COLOR", "1")
        .arg("validate")
        .arg(&path)
        .output()
        .expect("run");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn contexts_and_dockerfiles_outside_the_fleet_fail_validation_with_a_position() {
    for (build, expected) in [
        ("build \"/etc\"", "build context \"/etc\" is absolute"),
        (
            "build \"../../../../etc\"",
            "build context \"../../../../etc\" leaves the fleet's directory",
        ),
        (
            "build { context \"/root/.ssh\"; }",
            "build context \"/root/.ssh\" is absolute",
        ),
        (
            "build { dockerfile \"/etc/passwd\"; }",
            "dockerfile \"/etc/passwd\" is absolute",
        ),
        (
            "build { context \"app\"; dockerfile \"../../Dockerfile\"; }",
            "dockerfile \"app/../../Dockerfile\" leaves the fleet's directory",
        ),
    ] {
        let (code, stderr) = validate(build);
        assert_eq!(code, Some(1), "{build}: {stderr}");
        assert!(stderr.contains(expected), "{build}: {stderr}");
        assert!(stderr.contains("fleet.kdl:3:"), "{build}: {stderr}");
    }
}

#[test]
fn paths_that_stay_inside_are_fine() {
    for build in [
        "build \"./site\"",
        "build \"site/../site\"",
        "build { context \"app\"; dockerfile \"../Dockerfile\"; }",
        "build { dockerfile \"docker/Dockerfile.live\"; }",
    ] {
        let (code, stderr) = validate(build);
        assert_eq!(code, Some(0), "{build}: {stderr}");
    }
}

/// Symbolic links in the tree (a pull request can commit them) are followed before building.
#[test]
fn a_context_or_dockerfile_linked_outside_is_refused_where_the_build_runs() {
    let options = BuildOptions {
        push: true,
        registry: Some("ghcr.io/acme".into()),
        created: "2026-12-01T00:00:00Z".into(),
        ..BuildOptions::default()
    };
    let cases = [
        ("build \"site\"", "site", "/etc", "build context `site`"),
        (
            "build \"app\"",
            "app/Dockerfile",
            "/etc/passwd",
            "dockerfile `app/Dockerfile`",
        ),
        (
            "build { context \"app\"; dockerfile \"docker/live\"; }",
            "app/docker/live",
            "/etc/passwd",
            "dockerfile `app/docker/live`",
        ),
    ];
    for (build, link, target, expected) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let fleet = load_fleet_file(&fleet_file(dir.path(), build)).expect("valid").fleet;
        let at = dir.path().join(link);
        std::fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, &at).expect("symlink");
        let stage = fleet.stage("live").expect("live");
        match plan_builds("shop", stage, dir.path(), &options, true) {
            Err(e @ BuildError::OutsideFleet { .. }) => {
                let text = e.to_string();
                assert!(text.contains(expected), "{text}");
                assert!(text.contains("resolves outside the fleet's directory"), "{text}");
                assert!(!text.contains("root:"), "{text}");
            }
            Err(other) => panic!("{build}: expected OutsideFleet, got {other}"),
            Ok(_) => panic!("{build}: planned a build through a link to {target}"),
        }
    }
    // A link that stays inside is followed as usual.
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = load_fleet_file(&fleet_file(dir.path(), "build \"app\""))
        .expect("valid")
        .fleet;
    std::fs::create_dir_all(dir.path().join("shared")).expect("mkdir");
    std::fs::write(dir.path().join("shared/Dockerfile"), "FROM scratch\n").expect("write");
    std::os::unix::fs::symlink("shared", dir.path().join("app")).expect("symlink");
    let plans = plan_builds("shop", fleet.stage("live").expect("live"), dir.path(), &options, true).expect("inside");
    assert_eq!(plans.len(), 1);
}
