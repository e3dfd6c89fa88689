//! Parse + validate a generated registry of 1,000 fleets, 200 servers and 3,000 routes
//! (seed 000 asks < 10 ms for a registry), and the KDL parsers compared on the same text.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fleetflow::config::{LoadOptions, MemoryFiles, load_workspace};

#[path = "support/generate.rs"]
mod generate;
#[path = "support/just_kdl_tree.rs"]
mod just_kdl_tree;

fn registry_only(c: &mut Criterion) {
    let text = generate::registry(1000, 200);
    let mut files = MemoryFiles::default();
    files.files.insert("fleet-registry.kdl".into(), text.clone());
    let mut group = c.benchmark_group("registry_1000_fleets");
    group.bench_function("parse_validate_registry", |b| {
        b.iter(|| {
            let ws = load_workspace(&files, "fleet-registry.kdl", LoadOptions { verify_fleets: false }).expect("valid");
            black_box(ws.registry.routes.len())
        })
    });
    for i in 0..1000 {
        files.files.insert(
            format!("fleets/fleet-{i:04}/.fleetflow/fleet.kdl"),
            generate::fleet_file(i),
        );
    }
    group.bench_function("parse_validate_registry_and_1000_fleet_files", |b| {
        b.iter(|| {
            let ws = load_workspace(&files, "fleet-registry.kdl", LoadOptions::default()).expect("valid");
            black_box(ws.fleets.len())
        })
    });
    group.finish();
}

fn parsers(c: &mut Criterion) {
    let text = generate::registry(1000, 200);
    let mut group = c.benchmark_group("kdl_parsers_1000_fleets");
    group.sample_size(10);
    group.bench_function("fleetflow_kdl_v2", |b| {
        b.iter(|| black_box(fleetflow::config::kdl_v2::parse(&text).expect("valid").len()))
    });
    group.bench_function("just_kdl_v2_events", |b| {
        b.iter(|| black_box(just_kdl_tree::parse(&text).expect("valid").len()))
    });
    group.bench_function("kdl_crate_v2", |b| {
        b.iter(|| black_box(kdl::KdlDocument::parse_v2(&text).expect("valid").nodes().len()))
    });
    group.bench_function("kdl_crate_v1", |b| {
        b.iter(|| black_box(kdl::KdlDocument::parse_v1(&text).expect("valid").nodes().len()))
    });
    group.finish();
}

criterion_group!(benches, registry_only, parsers);
criterion_main!(benches);
