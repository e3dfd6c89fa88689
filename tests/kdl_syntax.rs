//! Stage 1 against the official KDL test suites: valid v2 accepted, nothing crashes, and every
//! input also goes through both lowerings (registry and fleet) without a panic.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fleetflow::config::load::lower_fleet_source;
use fleetflow::config::source::SourceFile;
use fleetflow::config::syntax::{KdlVersion, parse_document};
use fleetflow::config::{Diagnostics, LoadOptions, MemoryFiles, load_workspace};

fn suite(version: &str) -> Vec<(PathBuf, bool)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures-external/kdl-spec-tests")
        .join(version);
    let mut cases: Vec<(PathBuf, bool)> = std::fs::read_dir(dir.join("input"))
        .expect("spec tests")
        .map(|e| {
            let path = e.expect("entry").path();
            let valid = dir.join("expected_kdl").join(path.file_name().expect("name")).is_file();
            (path, valid)
        })
        .collect();
    cases.sort();
    cases
}

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
