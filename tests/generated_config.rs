//! Generated configuration of benchmark size loads cleanly (the bench measures the same input).

use fleetflow::config::{LoadError, LoadOptions, MemoryFiles, load_workspace};

#[path = "../benches/support/generate.rs"]
mod generate;

fn explain(e: LoadError) -> String {
    match e {
        LoadError::Config(c) => c
            .diagnostics
            .items
            .iter()
            .take(5)
            .map(|d| format!("{}: {}\n", d.position(), d.message))
            .collect(),
        other => other.to_string(),
    }
}

#[test]
fn generated_registry_of_1000_fleets_validates_with_its_fleet_files() {
    let mut files = MemoryFiles::default();
    files
        .files
        .insert("fleet-registry.kdl".into(), generate::registry(1000, 200));
    let registry_only = load_workspace(&files, "fleet-registry.kdl", LoadOptions { verify_fleets: false })
        .unwrap_or_else(|e| panic!("{}", explain(e)));
    assert_eq!(registry_only.registry.fleets.len(), 1000);
    assert_eq!(registry_only.registry.servers.len(), 200);
    assert_eq!(registry_only.registry.routes.len(), 3000);
    for i in 0..1000 {
        files.files.insert(
            format!("fleets/fleet-{i:04}/.fleetflow/fleet.kdl"),
            generate::fleet_file(i),
        );
    }
    let full = load_workspace(&files, "fleet-registry.kdl", LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", explain(e)));
    assert_eq!(full.fleets.len(), 1000);
    assert!(full.fleets.values().all(|f| f.stages.len() == 3));
}
