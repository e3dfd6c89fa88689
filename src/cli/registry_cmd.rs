//! `fleet registry …`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{Console, Output, exit};
use crate::config::discovery::find_registry;
use crate::config::load::split_path;
use crate::config::{DirFiles, LoadOptions, Registry, load_workspace};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Path to fleet-registry.kdl (or its directory).
    #[arg(long, value_name = "PATH")]
    pub registry: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

pub fn list(console: &Console, registry_flag: Option<&Path>, args: &ListArgs) -> u8 {
    let path = match locate(registry_flag) {
        Ok(p) => p,
        Err(message) => {
            console.error(&message);
            return exit::USAGE;
        }
    };
    let (root, name) = split_path(&path);
    // Listing reads the registry only; `fleet validate` checks the fleets it points to.
    let workspace = match load_workspace(&DirFiles { root }, &name, LoadOptions { verify_fleets: false }) {
        Ok(w) => w,
        Err(e) => return console.report_load_error(&e),
    };
    console.print_diagnostics(&workspace.warnings);
    match args.output {
        Output::Text => console.print(&render_list(&workspace.registry)),
        Output::Json => console.print_json(&workspace.registry),
    }
    exit::OK
}

fn locate(flag: Option<&Path>) -> Result<PathBuf, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let env = std::env::var_os("FLEET_REGISTRY_PATH").map(PathBuf::from);
    find_registry(flag, env.as_deref(), &cwd)
        .map(|f| f.path().to_path_buf())
        .map_err(|e| e.to_string())
}

/// The FS-005 layout of `fleet registry list`.
pub fn render_list(registry: &Registry) -> String {
    let fleets: Vec<[&str; 3]> = registry
        .fleets
        .iter()
        .map(|f| {
            [
                f.name.value.as_str(),
                f.path.value.as_str(),
                f.description.as_deref().unwrap_or(""),
            ]
        })
        .collect();
    let plans: Vec<String> = registry
        .servers
        .iter()
        .map(|s| s.plan.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string))
        .collect();
    let servers: Vec<[&str; 3]> = registry
        .servers
        .iter()
        .zip(&plans)
        .map(|(s, plan)| {
            [
                s.name.value.as_str(),
                s.provider.as_deref().unwrap_or("-"),
                plan.as_str(),
            ]
        })
        .collect();
    // Names line up across both tables, as in the spec's example.
    let name_w = width(fleets.iter().chain(&servers).map(|r| r[0]), 10);
    let mut out = format!("Fleet Registry: {}\n", registry.name.value);
    table(&mut out, "Fleets", &fleets, name_w);
    table(&mut out, "Servers", &servers, name_w);
    if !registry.routes.is_empty() {
        let keys: Vec<String> = registry
            .routes
            .iter()
            .map(|r| format!("{}:{}", r.fleet.value, r.stage.value))
            .collect();
        let key_w = width(keys.iter().map(String::as_str), 15);
        out.push_str("\nRoutes:\n");
        for (key, r) in keys.iter().zip(&registry.routes) {
            out.push_str(&format!("  {key:<key_w$} → {}\n", r.server.value));
        }
    }
    out
}

/// A titled three-column table; the middle column is at least 18 wide.
fn table(out: &mut String, title: &str, rows: &[[&str; 3]], name_w: usize) {
    if rows.is_empty() {
        return;
    }
    let middle_w = width(rows.iter().map(|r| r[1]), 18);
    out.push_str(&format!("\n{title}:\n"));
    for [name, middle, last] in rows {
        let line = format!("  {name:<name_w$} {middle:<middle_w$} {last}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// Display width: the longest entry (in characters), at least `minimum`.
fn width<'a>(cells: impl Iterator<Item = &'a str>, minimum: usize) -> usize {
    cells.map(|c| c.chars().count()).max().unwrap_or(0).max(minimum)
}
