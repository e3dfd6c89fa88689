//! Old spellings of flags become today's, each with one deprecation line (`fleet` rewrites its
//! arguments before clap reads them: src/cli/old_spellings.rs).

use std::ffi::OsString;

use fleetflow::cli::old_spellings::upgrade;

fn run(args: &[&str]) -> (Vec<String>, Vec<String>) {
    let upgraded = upgrade(std::iter::once("fleet").chain(args.iter().copied()).map(OsString::from));
    let args = upgraded
        .args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    (args, upgraded.deprecations)
}

#[test]
fn old_spellings_become_todays_with_one_line_each() {
    let (args, notes) = run(&["build", "live", "-n", "web", "--registry", "ghcr.io/acme"]);
    assert_eq!(
        args,
        ["build", "live", "--service", "web", "--image-registry", "ghcr.io/acme"]
    );
    assert_eq!(
        notes,
        [
            "`fleet build -n` is deprecated: use `--service` (the old spelling goes away in a later release)",
            "`fleet build --registry` is deprecated: use `--image-registry` (the old spelling goes away in a later release)",
        ]
    );
    let (args, notes) = run(&["up", "--registry=r.example/acme"]);
    assert_eq!(args, ["up", "--image-registry=r.example/acme"]);
    assert_eq!(notes.len(), 1);
    let (args, notes) = run(&["stage", "up", "live", "--registry", "r.example/acme"]);
    assert_eq!(args, ["stage", "up", "live", "--image-registry", "r.example/acme"]);
    assert_eq!(notes[0].split(" is").next(), Some("`fleet stage up --registry`"));
    let (args, notes) = run(&["stage", "down", "live", "--registry", "x"]);
    assert_eq!((args.len(), notes.len()), (5, 0), "only `stage up` had it");
    let (args, _) = run(&["plan", "-s", "live"]);
    assert_eq!(args, ["plan", "--stage", "live"]);
    let (args, _) = run(&["apply", "-s", "live", "-y"]);
    assert_eq!(args, ["apply", "--stage", "live", "-y"]);
    let (args, notes) = run(&["--registry", "fixtures", "registry", "deploy", "web", "-s", "live"]);
    assert_eq!(
        args,
        ["--registry", "fixtures", "registry", "deploy", "web", "--stage", "live"]
    );
    assert_eq!(notes[0].split(" is").next(), Some("`fleet registry deploy -s`"));
}

#[test]
fn todays_spellings_and_other_commands_are_left_alone() {
    for args in [
        &["logs", "live", "-s", "db", "-n", "5"][..],
        &["restart", "live", "-s", "db"],
        &["--registry", "fixtures", "registry", "list"],
        &[
            "--color",
            "never",
            "-v",
            "deploy",
            "live",
            "-s",
            "web",
            "--image-registry",
            "x",
        ],
        &["build", "live", "--", "-n"],
        &["--registry", "fixtures"],
        &[],
    ] {
        let (out, notes) = run(args);
        assert_eq!(out, args, "{args:?}");
        assert!(notes.is_empty(), "{args:?}: {notes:?}");
    }
}
