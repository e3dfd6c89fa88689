//! Configuration from a pull request is untrusted: no input may take the process down. The
//! KDL v1 fallback's parser recurses, so what it recurses on is bounded before it runs
//! (a stack overflow aborts the whole process, `fleet serve` included); diagnostics on very
//! long lines are shown clipped.

use assert_cmd::Command;
use fleetflow::config::kdl_v1::{MAX_SLASHDASHED_BLOCKS, TooDeep, too_deep};
use fleetflow::config::syntax::MAX_NESTING;
use fleetflow::config::{LoadError, LoadOptions, MemoryFiles, load_workspace};
use predicates::str::contains;

/// `fleet validate` on `text` as the registry: the exit code and stderr.
fn validate(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fleet-registry.kdl");
    std::fs::write(&path, text).expect("write");
    let out = Command::cargo_bin("fleet")
        .expect("binary")
        .env("NO_COLOR", "1")
        .args(["validate", "--no-verify"])
        .arg(&path)
        .output()
        .expect("run fleet");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn load_error(text: &str) -> String {
    let mut files = MemoryFiles::default();
    files.files.insert("fleet-registry.kdl".into(), text.into());
    match load_workspace(&files, "fleet-registry.kdl", LoadOptions::default()) {
        Ok(_) => panic!("loaded"),
        Err(LoadError::Config(c)) => c.diagnostics.brief().join("\n"),
        Err(other) => other.to_string(),
    }
}

/// The probe's input: ~25,000 slashdashes in a row (75 KB) overflowed the v1 parser's 64 MiB
/// stack and aborted the process (SIGABRT).
#[test]
fn a_slashdash_chain_is_refused_not_a_crash() {
    let chain = format!("registry \"r\"\nx true\n{}a\n", "/- ".repeat(25_000));
    let (code, stderr) = validate(&chain);
    assert_eq!(code, Some(1), "exit code (None = killed by a signal): {stderr}");
    assert!(stderr.contains("more than 32 slashdashes"), "{stderr}");
}

#[test]
fn every_construct_the_v1_parser_recurses_on_is_bounded() {
    let n = 20_000;
    let cases = [
        (format!("{}a", "/- ".repeat(n)), TooDeep::Slashdashes),
        (format!("{}a", "/-\n".repeat(n)), TooDeep::Slashdashes),
        (format!("a {}1", "/- ".repeat(n)), TooDeep::Slashdashes),
        (format!("a {}{{}}", "/- ".repeat(n)), TooDeep::Slashdashes),
        (format!("{}a", "/- /**/ ".repeat(n)), TooDeep::Slashdashes),
        (format!("a {}1", "/- \\\n".repeat(n)), TooDeep::Slashdashes),
        (format!("{}a", "/-\u{a0}".repeat(n)), TooDeep::Slashdashes),
        (format!("{}{}a", "/*".repeat(n), "*/".repeat(n)), TooDeep::Comments),
        (format!("{}{}", "a {".repeat(n), "}".repeat(n)), TooDeep::Braces),
        (
            format!("{}{}", "/- a {".repeat(n), "}".repeat(n)),
            TooDeep::SlashdashedBlocks,
        ),
    ];
    for (text, expected) in &cases {
        let found = too_deep(text, MAX_NESTING).map(|(_, what)| what);
        assert_eq!(found, Some(*expected), "{}…", &text[..40]);
        // Through the whole loader (v2 first, then the bounded v1): an error, in this process.
        let error = load_error(&format!("registry \"r\"\nx true\n{text}"));
        assert!(error.contains("invalid KDL"), "{error}");
    }
    // Separate slashdashed nodes and arguments do not nest: any number is fine.
    assert_eq!(too_deep(&"/- a\n".repeat(n), MAX_NESTING), None);
    assert_eq!(too_deep(&format!("a{}", " /- 1".repeat(n)), MAX_NESTING), None);
}

/// The v1 parser backtracks exponentially on slashdashed blocks inside slashdashed blocks (16
/// levels took 7 minutes on a thread left running after the deadline): a fifth is refused.
#[test]
fn nested_slashdashed_blocks_are_bounded() {
    let nest = |n: usize| format!("registry \"r\"\nx true\n{}{}", "n /- {\n".repeat(n), "}\n".repeat(n));
    let started = std::time::Instant::now();
    let four = fleetflow::config::kdl_v1::parse(&nest(MAX_SLASHDASHED_BLOCKS));
    assert!(four.is_ok(), "{:?}", four.err().map(|e| e.message));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let five = fleetflow::config::kdl_v1::parse(&nest(MAX_SLASHDASHED_BLOCKS + 1))
        .err()
        .map(|e| e.message);
    assert_eq!(
        five.as_deref(),
        Some("more than 4 slashdashed (`/-`) blocks nested in each other")
    );
}

/// The deepest input the scan lets through, every kind of recursion at its limit at once,
/// runs on the v1 thread's stack without overflowing it (a chain of slashdashes is not valid
/// v1, but the parser recurses on it all the same before it says so).
#[test]
fn the_deepest_accepted_v1_input_parses() {
    let comment = format!(
        "/*{} x {}*/",
        "/*".repeat(MAX_NESTING - 1),
        "*/".repeat(MAX_NESTING - 1)
    );
    let slashdashed = format!("{}n {{ {comment}\n", "/- ".repeat(MAX_NESTING));
    let plain = format!("n {{ {comment}\n");
    let text = format!(
        "registry \"r\"\nx true\n{}{}{}",
        slashdashed.repeat(MAX_SLASHDASHED_BLOCKS),
        plain.repeat(MAX_NESTING - MAX_SLASHDASHED_BLOCKS),
        "}\n".repeat(MAX_NESTING)
    );
    assert_eq!(too_deep(&text, MAX_NESTING), None);
    let message = fleetflow::config::kdl_v1::parse(&text).err().map(|e| e.message);
    assert_eq!(message.as_deref(), Some("expected valid node name"));
    let valid = format!(
        "registry \"r\"\nx true\n{}{}",
        "/- n {\n".repeat(MAX_SLASHDASHED_BLOCKS),
        "}\n".repeat(MAX_SLASHDASHED_BLOCKS)
    );
    assert_eq!(
        fleetflow::config::kdl_v1::parse(&valid).map(|nodes| nodes.len()).ok(),
        Some(2)
    );
}

/// miette's renderer panicked (exit 101) on a diagnostic past column 65,535.
#[test]
fn a_diagnostic_far_into_a_long_line_is_shown_clipped() {
    let text = format!(
        "registry \"r\"\nfleet \"web\" {{ description \"{}\" bogus=1 }}\n",
        "a".repeat(70_000)
    );
    let (code, stderr) = validate(&text);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("fleet-registry.kdl:2:70030"), "{stderr}");
    assert!(stderr.contains("bogus"), "{stderr}");
    assert!(
        stderr.lines().all(|l| l.chars().count() < 400),
        "a line was not clipped: {}",
        stderr.len()
    );
    // Context lines around a long line, and multi-byte text before the column, too.
    let text = format!(
        "registry \"r\"\n// {}\nfleet \"é{}\" bogus=1\n",
        "b".repeat(70_000),
        "é".repeat(40_000)
    );
    let (code, stderr) = validate(&text);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.lines().all(|l| l.chars().count() < 400),
        "a line was not clipped"
    );
}

#[test]
fn short_lines_render_as_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fleet-registry.kdl");
    std::fs::write(&path, "registry \"r\"\nfleet \"web\" {\n    pathh \"fleets/web\"\n}\n").expect("write");
    Command::cargo_bin("fleet")
        .expect("binary")
        .env("NO_COLOR", "1")
        .args(["validate", "--no-verify"])
        .arg(&path)
        .assert()
        .code(1)
        .stderr(contains("fleet-registry.kdl:3:5"))
        .stderr(contains("pathh \"fleets/web\""));
}

/// Found by the kdl_fleet fuzz target: a bad value after a key separated by a multi-byte
/// space (U+3000) panicked on a char boundary while wording the error (`fleet validate` exit 101).
#[test]
fn a_bad_value_after_a_unicode_space_is_a_diagnostic() {
    let (code, stderr) = validate("registry \"r\"\na\u{3000}b=0b2\n");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("`0b2` is not a valid number"), "{stderr}");
}

/// Found by the kdl_fleet fuzz target: the `kdl` crate's v1 parser panics (an index out of
/// bounds) on this line; it runs on its own thread, so the file gets a diagnostic and the
/// process lives on.
#[test]
fn a_panic_of_the_v1_parser_is_a_diagnostic() {
    let line = "nod00000000007784172466221693208.22\u{fffd}\u{fffd}\u{fffd}\u{fffd}6\u{fffd}26131\u{c}(true";
    let (code, stderr) = validate(&format!("registry \"r\"\n{line}"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("invalid KDL"), "{stderr}");
}
