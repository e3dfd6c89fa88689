//! The command line's own definition, read from clap: every argument has a help line, each flag
//! letter and each option name means one thing across all commands, and help speaks to users
//! (no spec ids). Old spellings still work, with a deprecation line.

use std::collections::{BTreeMap, BTreeSet};

use assert_cmd::Command as Bin;
use clap::CommandFactory;
use fleetflow::cli::Cli;
use predicates::prelude::*;
use predicates::str::contains;

/// Every command with its path (`fleet registry deploy`).
fn commands() -> Vec<(String, clap::Command)> {
    fn walk(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, format!("{path} {}", sub.get_name()), out);
        }
        out.push((path, cmd.clone()));
    }
    let mut cli = Cli::command();
    cli.build();
    let mut out = Vec::new();
    walk(&cli, "fleet".into(), &mut out);
    out
}

fn visible_args(cmd: &clap::Command) -> impl Iterator<Item = &clap::Arg> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
}

#[test]
fn every_command_and_argument_has_a_help_line_without_spec_ids() {
    let mut missing = Vec::new();
    let mut spec_ids = Vec::new();
    for (path, cmd) in commands() {
        let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        if about.trim().is_empty() {
            missing.push(path.clone());
        }
        let mut texts = vec![about];
        for arg in visible_args(&cmd) {
            let help = arg
                .get_help()
                .or(arg.get_long_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            if help.trim().is_empty() {
                missing.push(format!("{path} {}", arg.get_id()));
            }
            texts.push(help);
        }
        for text in texts {
            if text.contains("seed 0") || text.contains("FS-0") {
                spec_ids.push(format!("{path}: {text}"));
            }
        }
    }
    assert!(missing.is_empty(), "no help line: {missing:#?}");
    assert!(spec_ids.is_empty(), "spec ids in help: {spec_ids:#?}");
}

#[test]
fn each_flag_letter_and_option_name_means_one_thing() {
    let mut letters: BTreeMap<char, BTreeSet<String>> = BTreeMap::new();
    let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, cmd) in commands() {
        for arg in visible_args(&cmd) {
            let Some(long) = arg.get_long() else { continue };
            if let Some(short) = arg.get_short() {
                letters.entry(short).or_default().insert(long.to_owned());
            }
            // A name's meaning: what it takes (its value's name), or a switch.
            let takes = arg
                .get_value_names()
                .map(|v| v.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| "a switch".into());
            let takes = if arg.get_num_args().is_some_and(|n| n.takes_values()) || arg.get_value_names().is_some() {
                takes
            } else {
                "a switch".into()
            };
            names.entry(long.to_owned()).or_default().insert(takes);
            let _ = &path;
        }
    }
    let twice: Vec<_> = letters.iter().filter(|(_, longs)| longs.len() > 1).collect();
    assert!(twice.is_empty(), "a letter with several meanings: {twice:?}");
    assert_eq!(
        letters.get(&'s').map(|l| l.iter().next().unwrap().as_str()),
        Some("service")
    );
    assert_eq!(
        letters.get(&'n').map(|l| l.iter().next().unwrap().as_str()),
        Some("tail")
    );
    let differ: Vec<_> = names.iter().filter(|(_, takes)| takes.len() > 1).collect();
    assert!(
        differ.is_empty(),
        "an option name that takes different things: {differ:?}"
    );
    assert_eq!(
        names["registry"],
        BTreeSet::from(["PATH".to_owned()]),
        "--registry is the registry file"
    );
}

#[test]
fn old_spellings_still_work_with_a_deprecation_line() {
    let dir = tempfile::tempdir().unwrap();
    // `-s STAGE` on plan: parsed as --stage (the run then fails on the empty directory, after parsing).
    Bin::cargo_bin("fleet")
        .unwrap()
        .current_dir(dir.path())
        .args(["plan", "-s", "live", "--base", "none"])
        .assert()
        .stderr(contains("warning: `fleet plan -s` is deprecated: use `--stage`"))
        .stderr(contains("unexpected argument").not());
    // `-n` on deploy means --service; unknown letters are still refused by clap.
    Bin::cargo_bin("fleet")
        .unwrap()
        .current_dir(dir.path())
        .args(["deploy", "live", "-n", "web", "--image-registry", "r.example/acme"])
        .assert()
        .stderr(contains("`fleet deploy -n` is deprecated: use `--service`"))
        .stderr(contains("unexpected argument").not());
}
