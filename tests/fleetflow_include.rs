//! FleetFlow's `include "path-or-glob"` (src/config/include.rs): the files a fleet.kdl names are
//! lowered with it as one document — a stage names services an included file defines — and
//! every diagnostic still points into the file it is about.

use std::path::Path;

use fleetflow::config::LoadOptions;
use fleetflow::config::include::glob_match;
use fleetflow::config::load::{LoadError, MemoryFiles, load_fleet_file, load_workspace};

fn write(root: &Path, path: &str, text: &str) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

/// Diagnostics of loading `root/.fleetflow/fleet.kdl` as `file-suffix line:column severity message`.
fn said(root: &Path) -> Vec<String> {
    let items = match load_fleet_file(&root.join(".fleetflow/fleet.kdl")) {
        Ok(loaded) => loaded.warnings.items,
        Err(LoadError::Config(e)) => e.diagnostics.items,
        Err(e) => panic!("{e}"),
    };
    (items.iter())
        .map(|d| {
            let at = d.location();
            let file = d
                .file
                .display_name
                .rsplit(".fleetflow/")
                .next()
                .unwrap_or_default()
                .to_owned();
            format!("{file} {}:{} {:?} {d}", at.line, at.column, d.severity)
        })
        .collect()
}

#[test]
fn a_stage_runs_services_that_included_files_define() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        ".fleetflow/fleet.kdl",
        "project \"shop\"\ninclude \"services/*.kdl\"\ninclude \"stages.kdl\"\n",
    );
    write(
        root,
        ".fleetflow/services/db.kdl",
        "service \"db\" {\n    image \"postgres\"\n    version \"16\"\n}\n",
    );
    write(
        root,
        ".fleetflow/services/web.kdl",
        "service \"web\" {\n    image \"nginx:1.27\"\n    depends_on \"db\"\n}\n",
    );
    write(root, ".fleetflow/services/notes.txt", "not KDL, not matched\n");
    write(
        root,
        ".fleetflow/stages.kdl",
        "stage \"live\" {\n    service \"db\"\n    service \"web\"\n}\n",
    );
    let loaded = load_fleet_file(&root.join(".fleetflow/fleet.kdl")).expect("loads");
    let fleet = loaded.fleet;
    let live = fleet.stage("live").expect("the included stage");
    let images: Vec<(&str, Option<&str>)> = (live.services.iter())
        .map(|s| (s.name.value.as_str(), s.image.as_deref()))
        .collect();
    assert_eq!(images, [("db", Some("postgres:16")), ("web", Some("nginx:1.27"))]);
    assert_eq!(fleet.included, ["services/db.kdl", "services/web.kdl", "stages.kdl"]);
    // In a registry's workspace (files held in memory), the same.
    let mut files = MemoryFiles::default();
    files.files.insert(
        "fleet-registry.kdl".into(),
        "registry \"r\"\nfleet \"shop\" {\n    path \"shop\"\n}\n".into(),
    );
    for (path, text) in [
        (
            "shop/.fleetflow/fleet.kdl",
            "project \"shop\"\ninclude \"services/*.kdl\"\nstage \"live\" {\n    service \"db\"\n}\n",
        ),
        (
            "shop/.fleetflow/services/db.kdl",
            "service \"db\" {\n    image \"postgres:16\"\n}\n",
        ),
    ] {
        files.files.insert(path.into(), text.into());
    }
    let ws = load_workspace(&files, "fleet-registry.kdl", LoadOptions::default()).expect("loads");
    assert_eq!(
        ws.fleets["shop"].stage("live").unwrap().services[0].image.as_deref(),
        Some("postgres:16")
    );
}

#[test]
fn a_problem_in_an_included_file_is_said_at_its_own_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        ".fleetflow/fleet.kdl",
        "project \"p\"\ninclude \"more.kdl\"\nstage \"live\" {\n    service \"api\"\n}\n",
    );
    write(
        root,
        ".fleetflow/more.kdl",
        "// the API\nservice \"api\" {\n    image \"x\"\n    port 70000\n}\n",
    );
    let said = said(root);
    assert!(
        said.iter()
            .any(|s| s.starts_with("more.kdl 4:10 Error") && s.contains("a port must be between 1 and 65535")),
        "{said:#?}"
    );
}

/// (the include line, other files of .fleetflow/, where it is said, what).
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a str);

#[test]
fn includes_stay_in_the_fleet_and_say_what_is_wrong_where() {
    let cases: [Case; 5] = [
        (
            "include \"../secrets.kdl\"\n",
            &[],
            "fleet.kdl 2:9 Error",
            "leaves the fleet's .fleetflow/ directory",
        ),
        (
            "include \"missing.kdl\"\n",
            &[],
            "fleet.kdl 2:9 Error",
            "included file \"missing.kdl\" does not exist",
        ),
        (
            "include \"none/*.kdl\"\n",
            &[],
            "fleet.kdl 2:9 Warning",
            "matches no file",
        ),
        (
            "include \"a/*/b.kdl\"\n",
            &[],
            "fleet.kdl 2:9 Error",
            "only the last part of an include may be a glob",
        ),
        (
            "include \"one.kdl\"\n",
            &[("one.kdl", "include \"two.kdl\"\n")],
            "one.kdl 1:1 Error",
            "`include` is read in a fleet's fleet.kdl only",
        ),
    ];
    for (include, extra, at, what) in cases {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, ".fleetflow/fleet.kdl", &format!("project \"p\"\n{include}"));
        for (path, text) in extra {
            write(root, &format!(".fleetflow/{path}"), text);
        }
        let said = said(root);
        assert!(
            said.iter().any(|s| s.starts_with(at) && s.contains(what)),
            "{at} {what}: {said:#?}"
        );
    }
}

#[test]
fn globs_match_names_as_a_shell_does() {
    for (pattern, name, matches) in [
        ("*.kdl", "db.kdl", true),
        ("*.kdl", "db.kdl.bak", false),
        ("db-?.kdl", "db-1.kdl", true),
        ("db-?.kdl", "db-10.kdl", false),
        ("*", "anything", true),
        ("a*b*c", "aXXbYYc", true),
        ("a*b*c", "aXXbYY", false),
    ] {
        assert_eq!(glob_match(pattern, name), matches, "{pattern} {name}");
    }
}

/// A checkout's link to a file outside the fleet is not read: its text would otherwise show in
/// the diagnostics (a pull request naming a file of the machine it is checked out on).
#[test]
fn an_included_link_out_of_the_fleet_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "secret.txt", "password hunter2\n");
    write(root, ".fleetflow/fleet.kdl", "project \"p\"\ninclude \"leak.kdl\"\n");
    std::os::unix::fs::symlink(root.join("secret.txt"), root.join(".fleetflow/leak.kdl")).unwrap();
    let said = said(root).join("\n");
    assert!(
        said.contains("is a link out of the fleet's .fleetflow/ directory"),
        "{said}"
    );
    assert!(!said.contains("hunter2"), "{said}");
}

/// In a registry's checkout an include is held to its fleet's .fleetflow/, not to the
/// repository: a link to a file elsewhere in the checkout (the workspace of a CI job) is
/// refused; and a file starting with byte-order marks keeps its positions.
#[test]
fn in_a_registry_includes_stay_in_the_fleets_directory_and_byte_order_marks_move_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "fleet-registry.kdl",
        "registry \"r\"\nfleet \"web\" {\n    path \"web\"\n}\n",
    );
    write(root, "creds.json", "{\"token\": \"s3cret\"}\n");
    write(root, "web/.fleetflow/fleet.kdl", "project \"web\"\ninclude \"x.kdl\"\n");
    std::os::unix::fs::symlink(root.join("creds.json"), root.join("web/.fleetflow/x.kdl")).unwrap();
    let files = fleetflow::config::load::DirFiles {
        root: root.to_path_buf(),
    };
    let err = load_workspace(&files, "fleet-registry.kdl", LoadOptions::default())
        .unwrap_err()
        .to_string();
    let Err(LoadError::Config(e)) = load_workspace(&files, "fleet-registry.kdl", LoadOptions::default()) else {
        panic!("{err}");
    };
    let refused: Vec<String> = e.diagnostics.items.iter().map(|d| d.to_string()).collect();
    assert!(refused.iter().any(|s| s.contains("link out of")), "{refused:?}");
    assert!(!refused.iter().any(|s| s.contains("s3cret")), "{refused:?}");

    let bom = tempfile::tempdir().unwrap();
    write(
        bom.path(),
        ".fleetflow/fleet.kdl",
        "\u{feff}\u{feff}project \"p\"\ninclude \"a.kdl\"\nservice \"s\" image=\"x\" type=\"静的\"\n",
    );
    write(bom.path(), ".fleetflow/a.kdl", "service \"t\" {\n    image \"y\"\n}\n");
    let said = said(bom.path());
    assert!(said.iter().any(|s| s.starts_with("fleet.kdl 3:")), "{said:#?}");
}
