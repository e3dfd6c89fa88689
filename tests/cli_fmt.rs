//! `fleet fmt`: configuration files in their canonical form (src/config/format.rs), comments and
//! values kept, idempotent; `--check` changes nothing and exits 1 when a file would change.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use fleetflow::config::format::format_text;

fn kdl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            kdl_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "kdl") {
            out.push(path);
        }
    }
}

#[test]
fn every_fixture_formats_and_formatting_twice_changes_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    kdl_files(&root.join("fixtures"), &mut files);
    kdl_files(&root.join("tests/fleetflow_corpus"), &mut files);
    let mut formatted = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // Some fixtures are invalid on purpose (bad-input cases): only KDL documents count.
        let Ok(once) = format_text(&text) else { continue };
        assert_eq!(format_text(&once).unwrap(), once, "{}: not idempotent", file.display());
        let comments = |t: &str| t.lines().filter(|l| l.trim_start().starts_with("//")).count();
        assert_eq!(comments(&once), comments(&text), "{}: comments kept", file.display());
        formatted += 1;
    }
    assert!(formatted >= 20, "only {formatted} of {} files formatted", files.len());
}

#[test]
fn indentation_blank_lines_and_multiline_strings() {
    let messy = "project \"x\"\n\n\n\nservice \"a\" {\n        image \"b\"   \n\n  env {\n   K \"\"\"\n  keep  {\n  \"\"\"\n      }\n}\n// the stage\nstage \"l\" { service \"a\"; }\n";
    let want = "project \"x\"\n\nservice \"a\" {\n    image \"b\"\n\n    env {\n        K \"\"\"\n  keep  {\n  \"\"\"\n    }\n}\n\n// the stage\nstage \"l\" { service \"a\"; }\n";
    assert_eq!(format_text(messy).unwrap(), want);
    assert!(format_text("service \"a\" {").is_err(), "not KDL: refused");
    // Lines inside a string or a block comment pass as they are, blank ones included.
    let kept =
        "project \"x\"\n\ndesc \"\"\"\n  hello {\n\n  world\n  \"\"\"\n\n/*\n   note\n\n   more\n*/\nstage \"l\"\n";
    assert_eq!(format_text(kept).unwrap(), kept);
}

fn fleet(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("fleet").unwrap();
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("FLEET_REGISTRY_PATH");
    cmd
}

#[test]
fn check_says_which_files_and_fmt_rewrites_them() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("fleet-registry.kdl");
    std::fs::write(&registry, "registry \"r\"\nfleet \"web\" {\n  path \"web\"\n}\n").unwrap();
    let fleet_dir = dir.path().join("web/.fleetflow");
    std::fs::create_dir_all(&fleet_dir).unwrap();
    let fleet_file = fleet_dir.join("fleet.kdl");
    let messy = "// the web fleet\nproject \"web\"\nservice \"site\" {\n\timage \"nginx:1.25\"\n}\nstage \"local\" {\n service \"site\"\n}\n";
    std::fs::write(&fleet_file, messy).unwrap();

    let check = fleet(dir.path()).args(["fmt", "--check"]).assert().code(1);
    let said = String::from_utf8_lossy(&check.get_output().stdout).into_owned();
    assert!(
        said.contains("not formatted: ") && said.contains("fleet-registry.kdl"),
        "{said}"
    );
    assert!(said.contains("fleet.kdl"), "{said}");
    assert_eq!(
        std::fs::read_to_string(&fleet_file).unwrap(),
        messy,
        "--check changes nothing"
    );

    let json = fleet(dir.path())
        .args(["fmt", "--check", "--output", "json"])
        .assert()
        .code(1);
    let v: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    assert!(v.as_array().unwrap().iter().all(|f| f["changed"] == true), "{v}");

    fleet(dir.path()).arg("fmt").assert().success();
    let text = std::fs::read_to_string(&fleet_file).unwrap();
    assert_eq!(
        text,
        "// the web fleet\nproject \"web\"\n\nservice \"site\" {\n    image \"nginx:1.25\"\n}\n\nstage \"local\" {\n    service \"site\"\n}\n"
    );
    fleet(dir.path()).args(["fmt", "--check"]).assert().success();
    fleet(dir.path()).arg("validate").assert().success();

    // A link among a fleet's files is not followed (a checkout's link could point anywhere).
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "elsewhere   \"x\"\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), fleet_dir.join("linked.kdl")).unwrap();
    fleet(dir.path()).arg("fmt").assert().success();
    assert_eq!(std::fs::read_to_string(outside.path()).unwrap(), "elsewhere   \"x\"\n");
    let left: Vec<_> = std::fs::read_dir(&fleet_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 2, "no temporary file left: {left:?}");
}
