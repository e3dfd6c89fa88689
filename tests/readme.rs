//! The README says only what is true of the command line: every `fleet …` it shows (in code
//! spans and in shell blocks) names commands that exist with options they take, the set-up
//! command runs on the sample, and the App's list of environment variables is the one its
//! options read.

use std::collections::BTreeSet;
use std::path::Path;

use assert_cmd::Command;
use clap::CommandFactory;
use fleetflow::cli::Cli;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md")
}

/// Every `fleet …` command line the README shows: inline code spans, and lines of its shell
/// blocks (continuations joined, `a && b` split).
fn command_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_shell = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_shell = !in_shell && line.trim() == "```sh";
            continue;
        }
        if in_shell {
            pending.push_str(line.trim_end_matches('\\'));
            pending.push(' ');
            if line.ends_with('\\') {
                continue;
            }
            for part in std::mem::take(&mut pending).split("&&") {
                if part.trim_start().starts_with("fleet ") {
                    lines.push(part.trim().to_owned());
                }
            }
            continue;
        }
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 1 && span.starts_with("fleet ") {
                lines.push(span.replace("\\|", "|"));
            }
        }
    }
    lines
}

/// The problems of one command line: a word that should be a command and is not, or an
/// option no command on its path takes.
fn check(root: &clap::Command, line: &str) -> Vec<String> {
    let mut path = vec![vec![root]];
    let mut problems = Vec::new();
    for raw in line.split_whitespace().skip(1) {
        if matches!(raw, "|" | ">" | ";" | "#") {
            break; // the shell's, not fleet's
        }
        let word = raw.trim_matches(|c: char| "[]()…,.:;".contains(c));
        let current = path.last().cloned().unwrap_or_default();
        if let Some(flag) = word.strip_prefix('-').filter(|w| !w.is_empty()) {
            let known = |c: &clap::Command| {
                c.get_arguments().any(|a| match flag.strip_prefix('-') {
                    Some(long) => {
                        let long = long.split('=').next().unwrap_or(long);
                        a.get_long() == Some(long) || a.get_all_aliases().is_some_and(|al| al.contains(&long))
                    }
                    None => flag.chars().all(|ch| a.get_short() == Some(ch)),
                })
            };
            if !path.iter().flatten().any(|c| known(c)) {
                let names: Vec<&str> = current.iter().map(|c| c.get_name()).collect();
                problems.push(format!("`{line}`: `{word}` is not an option of {names:?}"));
            }
            continue;
        }
        let subs: Vec<&clap::Command> = word
            .split('|')
            .filter_map(|name| current.iter().find_map(|c| c.find_subcommand(name)))
            .collect();
        if !subs.is_empty() && subs.len() == word.split('|').count() {
            path.push(subs);
        }
    }
    problems
}

#[test]
fn every_fleet_command_the_readme_shows_exists_with_the_options_it_shows() {
    let mut root = Cli::command();
    root.build();
    let text = readme();
    let lines = command_lines(&text);
    assert!(
        lines.len() > 60,
        "the README shows many commands; found {}",
        lines.len()
    );
    let problems: Vec<String> = lines.iter().flat_map(|l| check(&root, l)).collect();
    assert!(
        problems.is_empty(),
        "the README shows what the command line does not take:\n{}",
        problems.join("\n")
    );
    // The check itself: it catches an option that does not exist, and a spelling that is gone.
    assert!(!check(&root, "fleet build live --no-such-flag").is_empty());
    assert!(
        !check(&root, "fleet plan -s live").is_empty(),
        "`-s` is not plan's any more"
    );
}

#[test]
fn the_set_up_command_runs_on_the_sample() {
    let text = readme();
    let setup = text
        .lines()
        .find(|l| l.starts_with("cargo install --locked --path . && fleet "))
        .expect("the set-up command");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for part in setup.split("&&").skip(1) {
        let args: Vec<&str> = part.split_whitespace().skip(1).collect();
        let out = Command::cargo_bin("fleet")
            .unwrap()
            .current_dir(root)
            .env_remove("FLEET_REGISTRY_PATH")
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`fleet {}` failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_apps_environment_variables_are_the_ones_its_options_read() {
    let text = readme();
    let sentence = text
        .split("Every flag has an environment variable (")
        .nth(1)
        .and_then(|rest| rest.split(");").next())
        .expect("the sentence on the App's environment variables");
    let listed: BTreeSet<String> = sentence
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(str::to_owned)
        .collect();
    let mut root = Cli::command();
    root.build();
    let serve = root.find_subcommand("serve").expect("serve");
    let read: BTreeSet<String> = serve
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .filter(|e| e != "NO_COLOR")
        .collect();
    assert_eq!(listed, read, "README (left) and `fleet serve`'s options (right)");
    let flags: Vec<&str> = serve
        .get_arguments()
        .filter(|a| a.get_env().is_none() && !a.is_global_set())
        .map(|a| a.get_id().as_str())
        .filter(|id| !matches!(*id, "help" | "version"))
        .collect();
    assert!(
        flags.is_empty(),
        "options of `fleet serve` without an environment variable: {flags:?}"
    );
}

/// The build workflow the README shows is the example file, and it declares exactly the inputs
/// the App dispatches it with (GitHub refuses a dispatch with undeclared inputs).
#[test]
fn the_build_workflow_the_readme_shows_is_the_example_and_takes_the_apps_inputs() {
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows/examples/fleet-build.yml"),
    )
    .unwrap();
    assert!(
        readme().contains(&format!("```yaml\n{example}```")),
        "README shows the example as it is"
    );
    let declared: Vec<&str> = example
        .lines()
        .filter_map(|l| l.trim().split_once(": {").map(|(name, _)| name))
        .collect();
    assert_eq!(declared, ["fleet", "stage", "sha"]);
    for needed in [
        "packages: write",
        "checks: write",
        "ref: ${{ inputs.sha }}",
        "command: build",
        "push: true",
    ] {
        assert!(example.contains(needed), "{needed}");
    }
}
