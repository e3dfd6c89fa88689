//! Stage 1 against the official KDL test suites: valid v2 accepted, nothing crashes, and every
//! input also goes through both lowerings (registry and fleet) without a panic.

use std::sync::Arc;

use fleetflow::config::load::lower_fleet_source;
use fleetflow::config::source::SourceFile;
use fleetflow::config::syntax::{KdlVersion, parse_document};
use fleetflow::config::{Diagnostics, LoadOptions, MemoryFiles, load_workspace};

#[path = "support/kdl_suite.rs"]
mod kdl_suite;
use kdl_suite::suite;

#[test]
fn every_valid_v2_case_is_accepted_as_v2() {
    let cases = suite("v2");
    assert_eq!(cases.iter().filter(|(_, v)| *v).count(), 241);
    let rejected: Vec<String> = cases
        .iter()
        .filter(|(_, valid)| *valid)
        .filter_map(|(path, _)| {
            let text = std::fs::read_to_string(path).expect("read");
            let file = Arc::new(SourceFile::from_text(path, &text));
            match parse_document(&file) {
                Ok(doc) if doc.version == KdlVersion::V2 => None,
                Ok(_) => Some(format!("{} (read as v1)", path.display())),
                Err(e) => Some(format!("{}: {}", path.display(), e.message)),
            }
        })
        .collect();
    assert!(rejected.is_empty(), "{rejected:#?}");
}

#[test]
fn invalid_v2_cases_fail_as_v2() {
    let invalid_accepted_as_v2: Vec<String> = suite("v2")
        .iter()
        .filter(|(_, valid)| !*valid)
        .filter_map(|(path, _)| {
            let text = std::fs::read(path).ok().and_then(|b| String::from_utf8(b).ok())?;
            let file = Arc::new(SourceFile::from_text(path, &text));
            match parse_document(&file) {
                Ok(doc) if doc.version == KdlVersion::V2 => Some(path.display().to_string()),
                _ => None,
            }
        })
        .collect();
    assert!(invalid_accepted_as_v2.is_empty(), "{invalid_accepted_as_v2:#?}");
}

#[test]
fn no_spec_input_crashes_either_lowering() {
    let mut seen = 0;
    for (path, _) in suite("v1").into_iter().chain(suite("v2")) {
        let Ok(text) = String::from_utf8(std::fs::read(&path).expect("read")) else {
            continue;
        };
        let mut diags = Diagnostics::default();
        let _ = lower_fleet_source(SourceFile::from_text(&path, &text), &mut diags);
        let mut files = MemoryFiles::default();
        files.files.insert("fleet-registry.kdl".into(), text.clone());
        let result = load_workspace(&files, "fleet-registry.kdl", LoadOptions::default());
        // Spec inputs are not registries: every one must come back as diagnostics, never Ok.
        assert!(result.is_err(), "{} loaded as a registry", path.display());
        seen += 1;
    }
    assert!(seen > 500, "both suites were read ({seen})");
}

#[test]
fn inputs_that_hang_or_crash_other_parsers_get_a_diagnostic() {
    // just-kdl 0.3 loops forever on the first, panics on the second.
    for text in [
        "node 1 2 /-\n{\"\"\"\n    child\n\n",
        "node #\"\"\"\n \u{a0}  hey\n  \"\"\"#",
    ] {
        let file = Arc::new(SourceFile::from_text("hostile.kdl", text));
        let started = std::time::Instant::now();
        let result = parse_document(&file);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(6),
            "bounded time for {text:?}"
        );
        assert!(result.is_err(), "{text:?} is invalid");
    }
}
