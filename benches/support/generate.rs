//! Generated configuration of a given size, shared by the benches and tests.

use std::fmt::Write;

/// The stages every generated fleet defines and routes.
pub const STAGES: [&str; 3] = ["dev", "pre", "live"];

/// A registry with `fleets` fleets, `servers` servers and three routes per fleet.
pub fn registry(fleets: usize, servers: usize) -> String {
    let mut out = String::from("// generated\nregistry \"generated-fleet\"\n\n");
    for i in 0..fleets {
        let _ = writeln!(
            out,
            "fleet \"fleet-{i:04}\" {{\n    path \"fleets/fleet-{i:04}\"\n    description \"Generated fleet number {i} for the benchmark\"\n}}\n"
        );
    }
    for s in 0..servers {
        let _ = writeln!(
            out,
            "server \"vps-{s:03}\" {{\n    provider \"sakura-cloud\"\n    plan core=4 memory=8\n    disk size=100 os=\"ubuntu-24.04\"\n    ssh-host \"10.0.{}.{}\"\n    ssh-user \"deploy\"\n    ssh-port 22\n    deploy-path \"/opt/apps\"\n}}\n",
            s / 250,
            s % 250 + 1
        );
    }
    out.push_str("deployment {\n");
    for i in 0..fleets {
        for (k, stage) in STAGES.iter().enumerate() {
            let _ = writeln!(
                out,
                "    route fleet=\"fleet-{i:04}\" stage=\"{stage}\" server=\"vps-{:03}\"",
                (i * 3 + k) % servers
            );
        }
    }
    out.push_str("}\n");
    out
}

/// A small fleet file defining every stage in [`STAGES`].
pub fn fleet_file(i: usize) -> String {
    format!(
        "project \"fleet-{i:04}\"\n\nservice \"db\" {{\n    image \"postgres:16\"\n    volume \"db-data:/var/lib/postgresql/data\"\n}}\n\nservice \"app\" {{\n    build \"./app\"\n    port 8080\n    env {{\n        DATABASE_URL \"postgres://db/app\"\n    }}\n    depends-on \"db\"\n}}\n\nstage \"dev\"\nstage \"pre\"\nstage \"live\"\n"
    )
}
