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
