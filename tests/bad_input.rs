//! Bad configuration gets a clear, positioned diagnostic, every problem at once, and no panic.

use assert_cmd::Command;
use fleetflow::config::{ConfigDiagnostic, LoadError, LoadOptions, MemoryFiles, load_workspace};
use predicates::str::contains;

const FLEET_OK: &str = "service \"app\" {\n    image \"busybox\"\n}\nstage \"live\"\nstage \"local\"\n";

fn load(registry: &str, fleets: &[(&str, &str)]) -> Result<(), Vec<ConfigDiagnostic>> {
    let mut files = MemoryFiles::default();
    files.files.insert("fleet-registry.kdl".into(), registry.into());
    for (path, text) in fleets {
        files
            .files
            .insert(format!("{path}/.fleetflow/fleet.kdl"), (*text).into());
    }
    match load_workspace(&files, "fleet-registry.kdl", LoadOptions::default()) {
        Ok(_) => Ok(()),
        Err(LoadError::Config(c)) => Err(c.diagnostics.items),
        Err(other) => panic!("unexpected load error: {other}"),
    }
}

/// The diagnostics as `line:col message` lines.
fn errors(registry: &str, fleets: &[(&str, &str)]) -> Vec<String> {
    load(registry, fleets)
        .expect_err("configuration should be rejected")
        .iter()
        .map(|d| {
            let at = d.location();
            format!(
                "{}:{} {}{}",
                at.line,
                at.column,
                d.message,
                d.help.as_deref().map(|h| format!(" | {h}")).unwrap_or_default()
            )
        })
        .collect()
}

fn assert_one(registry: &str, fleets: &[(&str, &str)], position: &str, message: &str) {
    let found = errors(registry, fleets);
    assert!(
        found.iter().any(|e| e.starts_with(position) && e.contains(message)),
        "expected `{position} …{message}…` in {found:#?}"
    );
}

const BASE: &str =
    "registry \"r\"\nfleet \"web\" {\n    path \"fleets/web\"\n}\nserver \"vps-01\" {\n    ssh-host \"10.0.0.1\"\n}\n";

#[test]
fn registry_node_is_required_fs001() {
    assert_one("fleet \"web\" {\n    path \"fleets/web\"\n}\n", &[], "1:1", "FS-001");
}

#[test]
fn malformed_kdl_is_positioned() {
    assert_one(
        "registry \"r\"\nfleet \"web\" {\n    path \"fleets/web\n}\n",
        &[],
        "3:",
        "invalid KDL",
    );
    assert_one("registry \"r\"\n}\n", &[], "2:1", "invalid KDL");
}

#[test]
fn unknown_nodes_and_properties_suggest_the_right_name() {
    let text =
        format!("{BASE}deployment {{\n    route fleet=\"web\" stage=\"live\" servr=\"vps-01\"\n}}\nflet \"x\"\n");
    let found = errors(&text, &[("fleets/web", FLEET_OK)]);
    assert!(
        found
            .iter()
            .any(|e| e.starts_with("9:36 unknown property `servr`") && e.contains("did you mean `server`?")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|e| e.starts_with("11:1 unknown node `flet`") && e.contains("did you mean `fleet`?")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|e| e.contains("`route` is missing `server=`")),
        "{found:#?}"
    );
}

#[test]
fn wrong_types_name_the_expected_type() {
    let text = "registry \"r\"\nserver \"a\" {\n    ssh-port \"22\"\n    plan core=\"4\" memory=4\n}\n";
    assert_one(text, &[], "3:14", "`ssh-port` must be an integer, found a string");
    assert_one(text, &[], "4:15", "`core` must be an integer, found a string");
    assert_one(
        "registry 7\n",
        &[],
        "1:10",
        "`registry` must be a string, found an integer",
    );
}

#[test]
fn routes_fs003_unknown_fleet_stage_server_and_one_server_per_stage() {
    let text = format!(
        "{BASE}server \"vps-02\"\ndeployment {{\n    route fleet=\"wbe\" stage=\"live\" server=\"vps-01\"\n    route fleet=\"web\" stage=\"liv\" server=\"vps-01\"\n    route fleet=\"web\" stage=\"live\" server=\"vps-9\"\n    route fleet=\"web\" stage=\"local\" server=\"vps-01\"\n    route fleet=\"web\" stage=\"local\" server=\"vps-02\"\n    route fleet=\"web\" stage=\"local\" server=\"vps-01\"\n}}\n"
    );
    let found = errors(&text, &[("fleets/web", FLEET_OK)]);
    let expect = [
        "10:17 route names unknown fleet `wbe` | did you mean `web`?",
        "11:29 fleet `web` defines no stage `liv` | did you mean `live`?",
        "12:43 route names unknown server `vps-9`",
        "14:44 FS-003: web:local is already routed to `vps-01`",
        "15:5 route web:local → vps-01 is given twice",
    ];
    for e in expect {
        assert!(found.iter().any(|f| f.starts_with(e)), "missing {e:?} in {found:#?}");
    }
    assert_eq!(found.len(), expect.len(), "every problem exactly once: {found:#?}");
}

#[test]
fn duplicate_definitions_point_at_the_second() {
    let text = "registry \"r\"\nserver \"a\"\nserver \"a\"\nfleet \"f\" {\n    path \"p\"\n    path \"q\"\n}\n";
    let found = errors(text, &[("p", FLEET_OK)]);
    assert!(
        found.iter().any(|e| e.starts_with("3:8 server `a` is defined twice")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|e| e.starts_with("6:5 `path` is given twice")),
        "{found:#?}"
    );
}

#[test]
fn fleet_paths_may_not_escape_the_registry_directory() {
    for (path, why) in [
        ("../other", "leaves the registry's directory"),
        ("/etc", "is absolute"),
        ("a/../../b", "leaves"),
        ("", "is empty"),
    ] {
        let text = format!("registry \"r\"\nfleet \"f\" {{\n    path \"{path}\"\n}}\n");
        assert_one(&text, &[], "3:10", why);
    }
}

#[test]
fn names_that_would_be_unsafe_in_shells_and_paths_are_refused() {
    for name in [
        "My App",
        "a;rm -rf /",
        "$(reboot)",
        "it's",
        "a\\\"b",
        "-dash",
        "",
        "UPPER",
        &"x".repeat(64),
    ] {
        let text = format!("registry \"r\"\nfleet \"{name}\" {{\n    path \"p\"\n}}\n");
        let found = errors(&text, &[("p", FLEET_OK)]);
        assert!(
            found.iter().any(|e| e.starts_with("2:7 invalid fleet name")),
            "{name:?}: {found:#?}"
        );
    }
}

#[test]
fn service_problems_in_fleet_files_are_reported_together() {
    let fleet = "service \"api\" {\n    image \"x\"\n    depends-on \"db\" \"cache\"\n    restart \"sometimes\"\n    port 70000\n    volume \"nocolon\"\n}\nservice \"db\" {\n    image \"y\"\n    depends-on \"api\"\n}\nservice \"empty\" {\n    port 80\n}\nstage \"live\"\n";
    let text = "registry \"r\"\nfleet \"web\" {\n    path \"fleets/web\"\n}\n";
    let found = errors(text, &[("fleets/web", fleet)]);
    for e in [
        "3:21 `api` depends on unknown service `cache`",
        "4:13 `restart` must be one of",
        "5:10 a port must be between 1 and 65535",
        "6:12 invalid volume",
        "1:9 dependency cycle: api → db → api",
        "12:9 service `empty` has neither `image` nor `build`",
    ] {
        assert!(found.iter().any(|f| f.starts_with(e)), "missing {e:?} in {found:#?}");
    }
}

#[test]
fn empty_bom_and_crlf_files() {
    assert_one("", &[], "1:1", "the file is empty");
    assert_one("  \n// only a comment\n", &[], "1:1", "FS-001");
    // A byte-order mark and CRLF line endings are fine, and positions stay right.
    assert!(load("\u{feff}registry \"r\"\r\nserver \"a\"\r\n", &[]).is_ok());
    assert_one(
        "\u{feff}registry \"r\"\r\nserver \"a\" {\r\n    ssh-port \"x\"\r\n}\r\n",
        &[],
        "3:14",
        "must be an integer",
    );
}

#[test]
fn huge_and_deep_inputs_fail_cleanly() {
    let mut files = MemoryFiles::default();
    files.files.insert(
        "fleet-registry.kdl".into(),
        format!("registry \"r\"\n{}", "// padding\n".repeat(1_000_000)),
    );
    let err = load_workspace(&files, "fleet-registry.kdl", LoadOptions::default()).expect_err("too large");
    assert!(err.to_string().contains("limited to"), "{err}");
    let deep = format!("registry \"r\"\n{}", "a {".repeat(100_000));
    assert_one(&deep, &[], "2:", "nested deeper than 32 levels");
    let deep_v1 = format!(
        "registry \"r\"\nx true\n{}{}",
        "a {\n".repeat(5_000),
        "}\n".repeat(5_000)
    );
    assert_one(&deep_v1, &[], "", "nested deeper than 32 levels");
}

#[test]
fn cli_bad_input_exits_1_with_nothing_on_stdout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("empty.kdl", "".to_owned(), "the file is empty"),
        ("bad.kdl", "registry \"r\"\nfleet \"x\" {\n".to_owned(), "invalid KDL"),
        ("big.kdl", "// x\n".repeat(2_200_000), "limited to"),
    ];
    for (name, text, message) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        Command::cargo_bin("fleet")
            .expect("binary")
            .env("NO_COLOR", "1")
            .arg("validate")
            .arg(&path)
            .assert()
            .code(1)
            .stdout("")
            .stderr(contains(message));
    }
    let binary = dir.path().join("binary.kdl");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x41]).expect("write");
    Command::cargo_bin("fleet")
        .expect("binary")
        .arg("validate")
        .arg(&binary)
        .assert()
        .code(1)
        .stderr(contains("not UTF-8"));
}
