//! Pieces the cloud tests without the test world share: a clock that never waits, and a fleet
//! text loaded as the workspace snapshot the plan engine takes.
//!
//! Use from a test file with `#[path = "support/cloud_fixture.rs"] mod cloud_fixture;`.
#![allow(dead_code)]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use fleetflow::clock::Clock;
use fleetflow::config::{LoadOptions, MemoryFiles, load_workspace};
use fleetflow::plan::Snapshot;

/// Never waits: records what it was asked to wait, and its `now` moves on by that much.
#[derive(Default)]
pub struct RecordingClock {
    pub slept: Mutex<Vec<Duration>>,
}

impl RecordingClock {
    /// What it was asked to wait, in order.
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap().clone()
    }
}

impl Clock for RecordingClock {
    fn now(&self) -> Instant {
        Instant::now() + self.slept.lock().unwrap().iter().sum::<Duration>()
    }
    fn sleep(&self, d: Duration) {
        self.slept.lock().unwrap().push(d);
    }
}

/// `fleet_text` as fleet `creo` of a registry, loaded in memory.
pub fn snapshot(fleet_text: &str) -> Snapshot {
    let mut files = MemoryFiles::default();
    files.files.insert(
        "fleet-registry.kdl".into(),
        "registry \"t\"\nfleet \"creo\" { path \"fleets/creo\"; }\n".into(),
    );
    files
        .files
        .insert("fleets/creo/.fleetflow/fleet.kdl".into(), fleet_text.to_owned());
    let workspace = match load_workspace(&files, "fleet-registry.kdl", LoadOptions::default()) {
        Ok(w) => w,
        Err(e) => panic!("fixture does not load: {e:?}"),
    };
    Snapshot::from_workspace(&workspace)
}
