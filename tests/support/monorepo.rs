//! A generated monorepo's configuration: a registry of `fleets` fleets under `fleets/fNNNN`,
//! each routed to one server, and fleet files with `services` services (tests/serve_scale.rs,
//! examples/plan_monorepo.rs).
#![allow(dead_code)]

use std::fmt::Write;

pub fn registry(fleets: usize) -> String {
    let mut kdl = String::from(
        "registry \"mono\"\n\nserver \"vps-01\" {\n    provider \"sakura-cloud\"\n    plan \"4core-8gb\"\n    ssh-host \"203.0.113.10\"\n}\n\n",
    );
    for i in 0..fleets {
        let _ = writeln!(kdl, "fleet \"f{i:04}\" {{\n    path \"fleets/f{i:04}\"\n}}");
    }
    kdl.push_str("\ndeployment {\n");
    for i in 0..fleets {
        let _ = writeln!(kdl, "    route fleet=\"f{i:04}\" stage=\"live\" server=\"vps-01\"");
    }
    kdl + "}\n"
}

/// Fleet `i`'s fleet.kdl: `services` services whose images are at `version`.
pub fn fleet(i: usize, version: usize, services: usize) -> String {
    let mut kdl = format!("project \"f{i:04}\"\n\n");
    for s in 0..services {
        let _ = writeln!(
            kdl,
            "service \"s{s}\" {{\n    image \"ghcr.io/mono/f{i:04}-s{s}:{version}\"\n    port {}\n}}\n",
            8000 + s
        );
    }
    kdl + "stage \"live\" {\n}\n"
}

pub fn fleet_path(i: usize) -> String {
    format!("fleets/f{i:04}/.fleetflow/fleet.kdl")
}
