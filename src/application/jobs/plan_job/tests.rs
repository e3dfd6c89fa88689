use super::*;
use crate::config::{MemoryFiles, load_workspace};

#[test]
fn annotations_point_at_the_line() {
    let mut files = MemoryFiles::default();
    files.files.insert(
        "fleet-registry.kdl".into(),
        "registry \"r\"\n\nserver \"a\" {\n    bogus 1\n}\n".into(),
    );
    let Err(LoadError::Config(e)) = load_workspace(&files, "fleet-registry.kdl", LoadOptions::default()) else {
        panic!("expected an invalid configuration");
    };
    let a = annotation(&e.diagnostics.items[0]);
    assert_eq!(a["path"], "fleet-registry.kdl");
    assert_eq!(a["start_line"], 4);
    assert_eq!(a["annotation_level"], "failure");
    let md = diagnostics_markdown("bad", "0123456789", &e.diagnostics.items, 300);
    assert!(md.starts_with(PLAN_MARKER) && md.chars().count() <= 300);
}
