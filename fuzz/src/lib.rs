//! What the fuzz targets share: fixed configuration files, loading fuzzed text through the real
//! loader (`load_workspace` over `MemoryFiles`), and exercising what is done with the result
//! (diagnostics as the App and the CLI show them, snapshots for the plan).

use fleetflow::console::{ColorChoice, Console};
use fleetflow::config::load::fleet_file_path;
use fleetflow::config::{LoadError, LoadOptions, MemoryFiles, Workspace, load_workspace};
use fleetflow::plan::Snapshot;

/// The fixed registry: the sample monorepo's (fleets web, api, jobs at fleets/*; routes *:live).
pub const REGISTRY: &str = include_str!("../../fixtures/fleet-registry.kdl");
/// The fixed fleet file (the sample's smallest: one service, stages local and live).
pub const FLEET: &str = include_str!("../../fixtures/fleets/jobs/.fleetflow/fleet.kdl");
/// Where the fixed registry's fleets live.
pub const FLEET_DIRS: [&str; 3] = ["fleets/web", "fleets/api", "fleets/jobs"];
/// The registry's file name, as the loader is given it.
pub const REGISTRY_FILE: &str = fleetflow::config::load::REGISTRY_FILE;

/// Fuzz input as configuration text: configuration files are UTF-8, and the loader reads them
/// as `&str`, so invalid bytes are replaced as a reader would.
pub fn text_of(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

fn files(registry: &str, fleets: &[(&str, &str)]) -> MemoryFiles {
    let mut files = MemoryFiles::default();
    files.files.insert(REGISTRY_FILE.to_owned(), registry.to_owned());
    for (dir, text) in fleets {
        files.files.insert(fleet_file_path("", dir), (*text).to_owned());
    }
    files
}

/// The `kdl` crate's v1 parser panics on some inputs (found here: an index out of bounds in
/// kdl-4.7.1's parser.rs); it runs on its own `kdl-v1` thread, whose death the loader turns into
/// a diagnostic (tests/hostile_config.rs). libFuzzer's hook aborts on every panic, so a panic on
/// that thread is let through; any other still aborts.
fn contain_v1_parser_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some("kdl-v1") {
                abort(info);
            }
        }));
    });
}

/// `registry` as fleet-registry.kdl, with [`FLEET`] at each of [`FLEET_DIRS`]. Fleets the
/// registry names elsewhere are missing: `verify_fleets` says whether that is an error.
pub fn load_registry(registry: &str, verify_fleets: bool) -> Result<Workspace, LoadError> {
    contain_v1_parser_panics();
    let fleets = FLEET_DIRS.map(|dir| (dir, FLEET));
    load_workspace(&files(registry, &fleets), REGISTRY_FILE, LoadOptions { verify_fleets })
}

/// `fleet` as fleets/web/.fleetflow/fleet.kdl under [`REGISTRY`] (the other fleets are [`FLEET`]).
pub fn load_fleet(fleet: &str) -> Result<Workspace, LoadError> {
    contain_v1_parser_panics();
    let fleets = [(FLEET_DIRS[0], fleet), (FLEET_DIRS[1], FLEET), (FLEET_DIRS[2], FLEET)];
    load_workspace(&files(REGISTRY, &fleets), REGISTRY_FILE, LoadOptions::default())
}

/// Does with a load's outcome what `fleet serve`, the Action and the CLI do: a snapshot of a
/// workspace; for errors every diagnostic's position and JSON (check-run annotations, replies)
/// and the first few rendered by miette as `fleet validate` prints them.
pub fn exercise(result: &Result<Workspace, LoadError>) {
    let diagnostics = match result {
        Ok(workspace) => {
            let snapshot = Snapshot::from_workspace(workspace);
            std::hint::black_box(snapshot.len());
            &workspace.warnings
        }
        Err(LoadError::Config(e)) => &e.diagnostics,
        Err(e) => {
            std::hint::black_box(e.to_string());
            return;
        }
    };
    std::hint::black_box(diagnostics.brief());
    for d in &diagnostics.items {
        std::hint::black_box((d.file.location(d.span.end), d.file.slice(&d.span), d.to_json()));
    }
    let console = Console::new(ColorChoice::Never);
    for d in diagnostics.items.iter().take(3) {
        std::hint::black_box(console.render(d));
    }
}

/// Splits `data` at the first NUL byte (which KDL text never holds): the plan target's
/// base and head. Without one, both are the whole input.
pub fn split_pair(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    }
}
