//! `fleet completions <shell>`: completion scripts generated from the command line's own
//! definition, so every command and option completes.

use assert_cmd::Command;

fn completions(shell: &str) -> String {
    let out = Command::cargo_bin("fleet")
        .unwrap()
        .args(["completions", shell])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bash_zsh_and_fish_scripts_name_the_commands_and_options() {
    let bash = completions("bash");
    assert!(
        bash.contains("_fleet()") && bash.contains("complete -F _fleet"),
        "{bash}"
    );
    for word in [
        "validate",
        "plan",
        "deploy",
        "serve",
        "stage",
        "--detailed-exitcode",
        "--image-registry-token",
    ] {
        assert!(bash.contains(word), "bash completes {word}");
    }
    let zsh = completions("zsh");
    assert!(zsh.starts_with("#compdef fleet"), "{zsh}");
    assert!(zsh.contains("--health-timeout"));
    let fish = completions("fish");
    assert!(
        fish.contains("complete -c fleet") && fish.contains("registry"),
        "{fish}"
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = Command::cargo_bin("fleet")
        .unwrap()
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values"));
}

#[test]
fn man_pages_come_from_the_same_definitions_as_help() {
    let out = Command::cargo_bin("fleet").unwrap().arg("man").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH fleet 1"), "{page}");
    for command in [
        "init",
        "validate",
        "plan",
        "deploy",
        "stage",
        "serve",
        "completions",
        "man",
    ] {
        assert!(
            page.contains(&format!("fleet\\-{command}(1)")),
            "{command} listed:\n{page}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("fleet")
        .unwrap()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for file in [
        "fleet.1",
        "fleet-build.1",
        "fleet-stage-up.1",
        "fleet-registry-deploy.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(text.contains(".SH OPTIONS") || text.contains(".SH NAME"), "{file}");
    }
    let build = std::fs::read_to_string(dir.path().join("fleet-build.1")).unwrap();
    assert!(
        build.contains("image\\-registry"),
        "the build page has --image-registry:\n{build}"
    );
}
