//! `fleet validate` and `fleet registry list` as users run them.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::str::contains;

const SEEDS: &str = "fixtures/seed-examples";

fn seeds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(SEEDS)
}

fn fleet() -> Command {
    let mut cmd = Command::cargo_bin("fleet").expect("binary");
    cmd.env_remove("FLEET_REGISTRY_PATH").env("NO_COLOR", "1");
    cmd
}

#[test]
fn every_seed_example_but_002_08_validates() {
    let mut checked = 0;
    for entry in std::fs::read_dir(seeds()).expect("seed examples") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "kdl") || path.ends_with("002-08.kdl") {
            continue;
        }
        // 000-01 names fleets whose directories are not beside it: FS-002 is skipped with
        // --no-verify (the full check runs in `seed_registry_validates_with_its_fleets`).
        fleet()
            .args(["validate", "--no-verify"])
            .arg(&path)
            .assert()
            .success()
            .stdout(contains("ok: "));
        checked += 1;
    }
    assert_eq!(checked, 9, "nine seed examples besides 002-08");
}

#[test]
fn seed_registry_validates_with_its_fleets_and_fails_fs002_without_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(seeds().join("000-01.kdl"), dir.path().join("fleet-registry.kdl")).expect("copy");
    fleet()
        .current_dir(dir.path())
        .arg("validate")
        .assert()
        .code(1)
        .stdout("")
        .stderr(contains("FS-002: fleet `creo` has no .fleetflow/fleet.kdl"))
        .stderr(contains("fleet-registry.kdl:6:10"))
        .stderr(contains("--no-verify"));
    for name in ["creo", "bikeboy"] {
        let fleet_dir = dir.path().join("fleets").join(name).join(".fleetflow");
        std::fs::create_dir_all(&fleet_dir).expect("mkdir");
        std::fs::write(
            fleet_dir.join("fleet.kdl"),
            "service \"app\" {\n    image \"busybox\"\n}\nstage \"live\"\n",
        )
        .expect("write");
    }
    fleet()
        .current_dir(dir.path())
        .arg("validate")
        .assert()
        .success()
        .stdout(contains("2 fleets, 1 server, 2 routes"));
}

#[test]
fn mixed_kdl_versions_002_08_points_at_the_token_and_says_the_fix() {
    fleet()
        .arg("validate")
        .arg(seeds().join("002-08.kdl"))
        .assert()
        .code(1)
        .stdout("")
        .stderr(contains("002-08.kdl:24:67"))
        .stderr(contains("write `proxied=#true`"));
}

#[test]
fn validate_json_reports_positions() {
    let out = fleet()
        .args(["validate", "--output", "json"])
        .arg(seeds().join("002-08.kdl"))
        .assert()
        .code(1);
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    assert_eq!(json["valid"], false);
    let d = &json["diagnostics"][0];
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(24), Some(67)));
    assert_eq!(d["severity"], "error");
}

const FS005_LIST: &str = "\
Fleet Registry: chronista-fleet

Fleets:
  creo       fleets/creo        Creo Memories - 永続記憶サービス
  bikeboy    fleets/bikeboy     BikeBoy - 調査エージェント

Servers:
  vps-01     sakura-cloud       4core-8gb

Routes:
  creo:live       → vps-01
  bikeboy:live    → vps-01
";

#[test]
fn registry_list_prints_the_fs005_layout() {
    fleet()
        .args(["registry", "list", "--registry"])
        .arg(seeds().join("000-01.kdl"))
        .assert()
        .success()
        .stdout(FS005_LIST);
}

#[test]
fn registry_list_of_the_fixtures_text_and_json() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let text = fleet()
        .current_dir(root.join("fleets/web"))
        .args(["registry", "list"])
        .assert()
        .success();
    insta::assert_snapshot!(String::from_utf8_lossy(&text.get_output().stdout));
    let out = fleet()
        .env("FLEET_REGISTRY_PATH", &root)
        .args(["registry", "list", "--output", "json"])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    assert_eq!(json["name"], "sample-fleet");
    assert_eq!(json["fleets"].as_array().map(Vec::len), Some(3));
    assert_eq!(json["servers"][0]["ssh_port"], 2222);
    assert_eq!(
        json["routes"][2],
        serde_json::json!({"fleet": "jobs", "stage": "live", "server": "vps-01", "auto_deploy": false})
    );
}

#[test]
fn fixtures_validate_from_the_repository_root() {
    fleet()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["validate", "fixtures"])
        .assert()
        .success()
        .stdout(contains("registry \"sample-fleet\": 3 fleets, 1 server, 3 routes"))
        .stdout(contains(
            "fleets/api/.fleetflow/fleet.kdl — project \"api\", stages: local, live; 2 services",
        ));
}

#[test]
fn no_registry_anywhere_says_where_it_looked() {
    let dir = tempfile::tempdir().expect("tempdir");
    fleet()
        .current_dir(dir.path())
        .args(["registry", "list"])
        .assert()
        .code(2)
        .stderr(contains("no fleet-registry.kdl found; looked in"))
        .stderr(contains("--registry PATH or set FLEET_REGISTRY_PATH"));
    fleet()
        .current_dir(dir.path())
        .arg("validate")
        .assert()
        .code(2)
        .stderr(contains("no .fleetflow/fleet.kdl was found either"));
}

#[test]
fn without_a_registry_validate_uses_the_nearest_fleet_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("app/src");
    std::fs::create_dir_all(&sub).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("app/.fleetflow")).expect("mkdir");
    std::fs::write(
        dir.path().join("app/.fleetflow/fleet.kdl"),
        "project \"app\"\nservice \"web\" {\n    image \"nginx\"\n}\n",
    )
    .expect("write");
    fleet()
        .current_dir(&sub)
        .arg("validate")
        .assert()
        .success()
        .stdout(contains("project \"app\""));
}

#[test]
fn help_and_version_work_everywhere() {
    fleet()
        .arg("--version")
        .assert()
        .success()
        .stdout(contains(env!("CARGO_PKG_VERSION")));
    for args in [
        &["--help"][..],
        &["validate", "--help"],
        &["registry", "--help"],
        &["registry", "list", "--help"],
    ] {
        fleet().args(args).assert().success().stdout(contains("Usage: fleet"));
    }
    fleet().arg("frobnicate").assert().code(2);
}

/// A fleet whose stage `live` runs `site` but not `db`, which `site` depends on, and whose
/// restart policy is misspelt.
fn fleet_with_rough_edges() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join(".fleetflow")).expect("mkdir");
    std::fs::write(
        dir.path().join(".fleetflow/fleet.kdl"),
        "project \"edges\"\n\nservice \"db\" {\n    image \"postgres:16\"\n}\n\nservice \"site\" {\n    image \"nginx:1\"\n    depends-on \"db\"\n    restart \"unles-stopped\"\n}\n\nstage \"live\" {\n    service \"site\"\n}\n",
    )
    .expect("write");
    dir
}

#[test]
fn a_dependency_left_out_of_the_stage_and_a_misspelt_policy_say_what_to_do() {
    let dir = fleet_with_rough_edges();
    fleet()
        .current_dir(dir.path())
        .arg("validate")
        .assert()
        .code(1)
        .stderr(contains(
            "stage `live` runs `site`, which depends on `db`, but `db` is not in the stage",
        ))
        .stderr(contains("add `service \"db\"` to stage `live`"))
        .stderr(contains("fleet.kdl:9:16"))
        .stderr(contains("did you mean `unless-stopped`?"))
        .stderr(contains("fleet.kdl:10:13"));
}

#[test]
fn an_unknown_service_of_logs_or_restart_lists_the_stages_services() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join(".fleetflow")).expect("mkdir");
    std::fs::write(
        dir.path().join(".fleetflow/fleet.kdl"),
        "project \"names\"\n\nservice \"site\" {\n    image \"nginx:1\"\n}\n\nservice \"worker\" {\n    image \"nginx:1\"\n}\n\nstage \"local\" {\n}\n",
    )
    .expect("write");
    for args in [&["logs", "-s", "sit"][..], &["restart", "-s", "sit"]] {
        fleet()
            .current_dir(dir.path())
            .args(args)
            .assert()
            .code(2)
            .stderr(contains(
                "stage `local` has no service `sit` (did you mean `site`?); its services are: site, worker",
            ));
    }
}

#[test]
fn at_the_registry_root_a_stage_command_finds_the_fleet_that_has_the_stage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::write(
        root.join("fleet-registry.kdl"),
        "registry \"r\"\n\nfleet \"shop\" {\n    path \"fleets/shop\"\n}\n\nfleet \"blog\" {\n    path \"fleets/blog\"\n}\n",
    )
    .expect("write");
    for (name, stages) in [
        ("shop", "stage \"dev\" {\n}\nstage \"live\" {\n}\n"),
        ("blog", "stage \"live\" {\n}\n"),
    ] {
        let fleet_dir = root.join("fleets").join(name).join(".fleetflow");
        std::fs::create_dir_all(&fleet_dir).expect("mkdir");
        std::fs::write(
            fleet_dir.join("fleet.kdl"),
            format!("project \"{name}\"\n\nservice \"{name}-web\" {{\n    image \"nginx:1\"\n}}\n\n{stages}"),
        )
        .expect("write");
    }
    // Only shop has `dev`: the command acts on shop (its services are listed).
    fleet()
        .current_dir(root)
        .args(["logs", "dev", "-s", "nope"])
        .assert()
        .code(2)
        .stderr(contains(
            "stage `dev` has no service `nope`; its services are: shop-web",
        ));
    // Both have `live`: say which, and how to pick.
    fleet()
        .current_dir(root)
        .args(["stage", "down", "live", "--yes"])
        .assert()
        .code(2)
        .stderr(contains("fleets blog, shop all have a stage `live`: pass --fleet NAME"));
    fleet()
        .current_dir(root)
        .args(["stage", "status", "pre"])
        .assert()
        .code(2)
        .stderr(contains("no fleet of"))
        .stderr(contains("has a stage `pre`; its fleets are: blog, shop"));
}
