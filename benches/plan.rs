//! The plan of two generated 1,000-fleet registries (200 servers, 3,000 routes, 6,000
//! services each): a base and a changed copy (images, env, builds, moved routes, resized
//! servers). Target: < 50 ms for snapshots + plan.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fleetflow::config::{LoadOptions, MemoryFiles, Workspace, load_workspace};
use fleetflow::plan::{COMMENT_LIMIT, Snapshot, plan, render_markdown, render_text};

#[path = "support/generate.rs"]
mod generate;

const FLEETS: usize = 1000;

fn workspace(registry: String, fleet: impl Fn(usize) -> String) -> Workspace {
    let mut files = MemoryFiles::default();
    files.files.insert("fleet-registry.kdl".into(), registry);
    for i in 0..FLEETS {
        files
            .files
            .insert(format!("fleets/fleet-{i:04}/.fleetflow/fleet.kdl"), fleet(i));
    }
    load_workspace(&files, "fleet-registry.kdl", LoadOptions::default()).expect("valid generated config")
}

/// The generated registry and fleets with some of everything changed.
fn changed() -> Workspace {
    let registry = generate::registry(FLEETS, 200)
        .replace("server=\"vps-007\"", "server=\"vps-199\"")
        .replacen("plan core=4 memory=8", "plan core=8 memory=16", 10);
    workspace(registry, |i| {
        let mut f = generate::fleet_file(i);
        if i % 10 == 0 {
            f = f.replace("postgres:16", "postgres:17");
        }
        if i % 25 == 0 {
            f = f.replace("DATABASE_URL", "LOG_LEVEL \"debug\"\n        DATABASE_URL");
        }
        if i % 50 == 0 {
            f = f.replace("build \"./app\"", "build \"./app2\"");
        }
        f
    })
}

fn bench(c: &mut Criterion) {
    let base = workspace(generate::registry(FLEETS, 200), generate::fleet_file);
    let head = changed();
    let mut group = c.benchmark_group("plan_1000_fleets");
    group.bench_function("snapshots_and_plan", |b| {
        b.iter(|| {
            let (old, new) = (Snapshot::from_workspace(&base), Snapshot::from_workspace(&head));
            black_box(plan(Some(&old), &new, None).changes.len())
        })
    });
    let (old, new) = (Snapshot::from_workspace(&base), Snapshot::from_workspace(&head));
    group.bench_function("plan", |b| {
        b.iter(|| black_box(plan(Some(&old), &new, None).changes.len()))
    });
    let result = plan(Some(&old), &new, None);
    assert!(result.changes.len() > 100, "{} changes", result.changes.len());
    group.bench_function("render_text", |b| {
        b.iter(|| black_box(render_text(&result, false).len()))
    });
    group.bench_function("render_markdown_65536", |b| {
        b.iter(|| black_box(render_markdown(&result, COMMENT_LIMIT).len()))
    });
    let everything = plan(None, &new, None);
    group.bench_function("render_markdown_everything_new", |b| {
        b.iter(|| black_box(render_markdown(&everything, COMMENT_LIMIT).len()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
