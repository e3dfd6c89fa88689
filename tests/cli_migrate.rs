//! `fleet migrate [PATH]`: a FleetFlow repository (tests/fleetflow_corpus/ files laid out as
//! FleetFlow users keep them) becomes a fleet registry — the diff shown first, nothing written
//! without a confirmation, what cannot be carried over listed with where it is — and the result
//! validates, plans and is already in `fleet fmt`'s canonical form.

use std::path::Path;

use assert_cmd::Command;

fn corpus(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fleetflow_corpus")
            .join(name),
    )
    .unwrap()
}

fn fleet(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::cargo_bin("fleet")
        .unwrap()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("FLEET_REGISTRY_PATH")
        .args(args)
        .write_stdin("")
        .output()
        .unwrap()
}

fn write(root: &Path, path: &str, text: &str) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

/// A FleetFlow repository: the top fleet in the older `flow.kdl` (not indented as `fleet fmt`
/// writes it), a second fleet with a server its live stage runs on, and a file FleetFlow reads
/// only with `-f`.
fn fleetflow_repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let messy = corpus("postgres.kdl").replace("\n    ", "\n  ");
    write(root, ".fleetflow/flow.kdl", &messy);
    write(root, "services/api/.fleetflow/fleet.kdl", &corpus("cloud.kdl"));
    write(root, "services/api/.fleetflow/cp.kdl", "project \"cp\"\n");
    dir
}

#[test]
fn migrate_shows_the_diff_and_what_it_cannot_carry_then_writes_only_when_confirmed() {
    let repo = fleetflow_repository();
    let root = repo.path();
    let asked = fleet(root, &["migrate"]);
    let said = String::from_utf8_lossy(&asked.stdout);
    let err = String::from_utf8_lossy(&asked.stderr);
    assert_eq!(asked.status.code(), Some(2), "no terminal to ask on: {err}");
    assert!(err.contains("Add --yes"), "{err}");
    assert!(!root.join("fleet-registry.kdl").exists(), "nothing written");
    for line in [
        "+++ b/fleet-registry.kdl",
        "+    path \"services/api\"",
        "+    route fleet=\"cloudy\" stage=\"live\" server=\"app-1\"",
        "+++ b/.fleetflow/fleet.kdl",
        "removes .fleetflow/flow.kdl (now fleet.kdl beside it)",
        "Not carried over:",
        "services/api/.fleetflow/cp.kdl: FleetFlow reads it only when named",
        "services/api/.fleetflow/fleet.kdl:16:5: FleetFlow's `tags` is read but not used",
        "server `app-1`: add `ssh-host`",
    ] {
        assert!(said.contains(line), "missing {line:?} in\n{said}");
    }

    let done = fleet(root, &["migrate", "--yes"]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert!(!root.join(".fleetflow/flow.kdl").exists());
    assert!(root.join(".fleetflow/fleet.kdl").exists());
    assert!(root.join("services/api/.fleetflow/cp.kdl").exists(), "left as it was");
    let registry = std::fs::read_to_string(root.join("fleet-registry.kdl")).unwrap();
    // Fleets are named by their `project`; the registry by the repository's directory.
    for line in [
        "fleet \"legacy\" {\n    path \".\"\n}",
        "fleet \"cloudy\" {\n    path \"services/api\"\n}",
    ] {
        assert!(registry.contains(line), "{line} in {registry}");
    }
    // The result is a fleetflow repository: it validates, plans, and is canonical.
    let validated = fleet(root, &["validate"]);
    assert!(
        validated.status.success(),
        "{}",
        String::from_utf8_lossy(&validated.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&validated.stdout).matches("ok: ").count(), 3);
    let planned = fleet(root, &["plan", "--base", "none", "--output", "json"]);
    assert!(planned.status.success(), "{}", String::from_utf8_lossy(&planned.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&planned.stdout).unwrap();
    assert!(plan["summary"]["add"].as_u64().unwrap() > 0, "{plan}");
    assert!(
        fleet(root, &["fmt", "--check"]).status.success(),
        "canonical as written"
    );
    // Once migrated, there is nothing to migrate.
    let again = fleet(root, &["migrate", "--yes"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has a fleet-registry.kdl"));
}

#[test]
fn every_corpus_file_round_trips_through_migrate_validate_and_plan() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleetflow_corpus");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let name = name.as_str();
        let repo = tempfile::tempdir().unwrap();
        write(repo.path(), ".fleetflow/flow.kdl", &corpus(name));
        write(repo.path(), "Dockerfile", "FROM scratch\n");
        let done = fleet(repo.path(), &["migrate", "--yes"]);
        assert!(
            done.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&done.stderr)
        );
        for args in [&["validate"][..], &["plan", "--base", "none"], &["fmt", "--check"]] {
            let out = fleet(repo.path(), args);
            assert!(
                out.status.success(),
                "{name} {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn a_fleet_file_with_errors_is_said_where_and_nothing_is_written() {
    let repo = tempfile::tempdir().unwrap();
    write(
        repo.path(),
        ".fleetflow/flow.kdl",
        "project \"p\"\nservice \"s\" {\n    tenant \"x\"\n}\n",
    );
    let out = fleet(repo.path(), &["migrate", "--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("flow.kdl:3:5"), "{err}");
    assert!(err.contains("unknown node `tenant`"), "{err}");
    assert!(!repo.path().join("fleet-registry.kdl").exists());
    assert!(repo.path().join(".fleetflow/flow.kdl").exists());
    // Nothing FleetFlow's under the path: said so.
    let empty = tempfile::tempdir().unwrap();
    let out = fleet(empty.path(), &["migrate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no .fleetflow/ directory"));
}

#[test]
fn a_fleet_file_rewritten_in_place_shows_what_changes_line_by_line() {
    let repo = tempfile::tempdir().unwrap();
    let messy = corpus("postgres.kdl").replace("\n    version", "\n  version");
    write(repo.path(), ".fleetflow/fleet.kdl", &messy);
    let out = fleet(repo.path(), &["migrate"]);
    let said = String::from_utf8_lossy(&out.stdout);
    for line in [
        "--- a/.fleetflow/fleet.kdl",
        "+++ b/.fleetflow/fleet.kdl",
        "-  version \"16\"",
        "+    version \"16\"",
        " service \"postgres\" {",
    ] {
        assert!(said.contains(line), "missing {line:?} in\n{said}");
    }
    assert!(!said.contains("removes"), "{said}");
    assert_eq!(
        std::fs::read_to_string(repo.path().join(".fleetflow/fleet.kdl")).unwrap(),
        messy,
        "unchanged until confirmed"
    );
}

/// The script that checks FleetFlow's own files (fetched by hand, not vendored) validates and
/// plans each file of a directory alone; run here on the corpus.
#[test]
fn the_upstream_check_script_validates_and_plans_each_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(root.join("scripts/fleetflow-upstream.sh"))
        .arg(root.join("tests/fleetflow_corpus"))
        .arg(env!("CARGO_BIN_EXE_fleet"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    let files = std::fs::read_dir(root.join("tests/fleetflow_corpus")).unwrap().count();
    assert_eq!(
        said.lines()
            .filter(|l| l.starts_with("ok ") && l.contains("| Plan: "))
            .count(),
        files,
        "{said}"
    );
}
