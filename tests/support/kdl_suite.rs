//! The official KDL test suites, vendored in fixtures/external/kdl-spec-tests (see its SOURCE.md).

use std::path::{Path, PathBuf};

/// `(input path, valid)` for every case of suite `version` ("v1" or "v2"), sorted: a case is
/// valid when `expected_kdl/` has a file of the same name.
pub fn suite(version: &str) -> Vec<(PathBuf, bool)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/external/kdl-spec-tests")
        .join(version);
    let mut cases: Vec<(PathBuf, bool)> = std::fs::read_dir(dir.join("input"))
        .expect("the KDL spec tests")
        .map(|e| {
            let path = e.expect("entry").path();
            let valid = dir.join("expected_kdl").join(path.file_name().expect("name")).is_file();
            (path, valid)
        })
        .collect();
    cases.sort();
    cases
}
