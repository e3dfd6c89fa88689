use super::*;

#[test]
fn misses_are_noted_then_served() {
    let mut files = FetchedFiles::default();
    files.files.insert(
        "fleet-registry.kdl".into(),
        Some(b"registry \"r\"\nfleet \"web\" { path \"fleets/web\" }\n".to_vec()),
    );
    let first = load_workspace(&files, REGISTRY_FILE, LoadOptions::default());
    assert!(first.is_err());
    let wanted = files.take_wanted();
    assert_eq!(
        wanted.into_iter().collect::<Vec<_>>(),
        vec!["fleets/web/.fleetflow/fleet.kdl".to_owned()]
    );
    files.files.insert(
        "fleets/web/.fleetflow/fleet.kdl".into(),
        Some(b"project \"web\"\nservice \"site\" { image \"nginx\" }\n".to_vec()),
    );
    let ws = load_workspace(&files, REGISTRY_FILE, LoadOptions::default()).unwrap();
    assert!(ws.fleets.contains_key("web"));
    assert!(files.take_wanted().is_empty());
}
