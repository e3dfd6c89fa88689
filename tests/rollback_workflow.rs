//! Deploy history and rollback (`application::rollback`) on the in-memory engine: what is
//! recorded, which deploy `previous` and a commit name, that a rollback runs the recorded images
//! without a build, and that pruning keeps exactly what a rollback may need.

#[path = "support/memory_docker.rs"]
mod memory_docker;

use fleetflow::application::deploy::engine::DeployOptions;
use fleetflow::application::deploy::history::{EntryKind, EntryOutcome, HistoryEntry, HistoryFile, RollbackTo};
use fleetflow::application::deploy::progress::RecordedProgress;
use fleetflow::application::deploy_history::Recorder;
use fleetflow::application::local::{LocalDeploy, LocalFleet, deploy_stage, fleet_at};
use fleetflow::application::report::{RecordingReporter, WorkflowError};
use fleetflow::application::rollback::{LocalRollback, history, rollback_stage};
use memory_docker::{FakeClock, Fault, MemoryDocker};

const WEB: &str = r#"
project "shop"
service "db" {
    image "example/db:latest"
}
service "web" {
    image "example/web:latest"
    depends-on "db"
    healthcheck {
        test "true"
        interval "1s"
        retries 1
    }
}
stage "live"
"#;

struct World {
    dir: tempfile::TempDir,
    docker: MemoryDocker,
    fleet: LocalFleet,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("app/.fleetflow")).expect("mkdir");
        std::fs::write(dir.path().join("app/.fleetflow/fleet.kdl"), WEB).expect("write");
        let fleet = fleet_at(&dir.path().join("app/.fleetflow/fleet.kdl")).expect("loads");
        let docker = MemoryDocker::new();
        docker.add_image("example/db:latest", false);
        World { dir, docker, fleet }
    }

    fn recorder(&self, commit: &str) -> Recorder {
        Recorder {
            file: HistoryFile::in_dir(&self.dir.path().join("history"), "shop", "live"),
            keep: 5,
            commit: Some(commit.into()),
            by: "alice".into(),
        }
    }

    /// Builds a new `example/web:latest` (a new image id, the old one left dangling) and deploys it.
    fn release(&self, commit: &str) -> (String, Result<(), String>) {
        let id = self.docker.add_image("example/web:latest", true);
        let request = LocalDeploy {
            stage: "live",
            services: &[],
            image_registry: None,
            tag: "latest".into(),
            options: DeployOptions {
                pull: false,
                ..DeployOptions::default()
            },
            confirm: false,
            history: Some(self.recorder(commit)),
            rollback_to: None,
        };
        let report = deploy_stage(
            &RecordingReporter::default(),
            &self.docker,
            &FakeClock::default(),
            &self.fleet,
            &request,
            &mut RecordedProgress::default(),
            &mut |s, l| panic!("nothing is built ({s} | {l})"),
        )
        .expect("the deploy runs");
        (id, report.error.map_or(Ok(()), |e| Err(e.to_string())))
    }

    fn rollback(&self, to: &str) -> Result<Result<(), String>, WorkflowError> {
        let to: RollbackTo = to.parse().expect("a target");
        let request = LocalRollback {
            stage: "live",
            to: &to,
            options: DeployOptions::default(),
            confirm: false,
            history: self.recorder("ignored: a rollback records its target's commit"),
        };
        let report = rollback_stage(
            &RecordingReporter::default(),
            &self.docker,
            &FakeClock::default(),
            &self.fleet,
            &request,
            &mut RecordedProgress::default(),
        )?;
        Ok(report.error.map_or(Ok(()), |e| Err(e.to_string())))
    }

    fn web_image(&self) -> String {
        let web = self.docker.container_named("shop-live-web").expect("web runs");
        assert!(web.running, "web is running");
        web.image_id
    }

    fn entries(&self) -> Vec<HistoryEntry> {
        let reporter = RecordingReporter::default();
        let (_, json) = history(&reporter, &self.fleet, "live", &self.recorder("x")).expect("history");
        serde_json::from_value(json["deploys"].clone()).expect("entries")
    }
}

#[test]
fn v3_fails_and_rolls_itself_back_then_a_rollback_to_previous_runs_v1_without_a_build() {
    let w = World::new();
    let (v1, r1) = w.release("c1c1c1c1");
    let (v2, r2) = w.release("c2c2c2c2");
    assert_eq!((r1, r2), (Ok(()), Ok(())));
    assert_eq!(w.web_image(), v2);
    w.docker.fault("web", Fault::Unhealthy);
    let (_v3, r3) = w.release("c3c3c3c3");
    assert!(r3.expect_err("v3 is unhealthy").contains("did not become healthy"));
    assert_eq!(w.web_image(), v2, "the engine put v2 back");
    w.docker.heal("web");

    w.docker.clear_calls();
    w.rollback("previous").expect("runs").expect("healthy");
    assert_eq!(w.web_image(), v1, "v1's image runs again");
    assert!(
        !w.docker
            .calls()
            .iter()
            .any(|c| c.starts_with("build") || c.starts_with("pull")),
        "no build, no pull: {:?}",
        w.docker.calls()
    );

    let entries = w.entries();
    let summary: Vec<(EntryKind, EntryOutcome, Option<&str>)> = entries
        .iter()
        .map(|e| (e.kind, e.outcome, e.commit.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (EntryKind::Deploy, EntryOutcome::Ok, Some("c1c1c1c1")),
            (EntryKind::Deploy, EntryOutcome::Ok, Some("c2c2c2c2")),
            (EntryKind::Deploy, EntryOutcome::Failed, Some("c3c3c3c3")),
            (EntryKind::Rollback, EntryOutcome::Ok, Some("c1c1c1c1")),
        ]
    );
    assert_eq!(entries[3].rollback_to.as_deref(), Some(entries[0].id.as_str()));
    assert!(
        entries[2]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("did not become healthy"))
    );
    let web = |e: &HistoryEntry| {
        e.services
            .iter()
            .find(|s| s.service == "web")
            .map(|s| s.image_id.clone())
    };
    assert_eq!(web(&entries[0]).as_deref(), Some(v1.as_str()));
    assert_eq!(web(&entries[3]).as_deref(), Some(v1.as_str()));
    assert_eq!(
        entries.iter().filter(|e| e.services.len() == 2).count(),
        4,
        "db recorded each time"
    );

    // v1 runs, and nothing is older than v1: `previous` says so; forward again names v2's commit.
    let err = w.rollback("previous").expect_err("nothing before v1");
    assert!(err.to_string().contains("no earlier successful deploy"), "{err}");
    w.rollback("c2c2c2c2").expect("runs").expect("healthy");
    assert_eq!(w.web_image(), v2);
}

#[test]
fn pruning_after_seven_deploys_keeps_the_last_five_and_an_older_target_says_its_images_are_gone() {
    let w = World::new();
    let ids: Vec<String> = (1..=7)
        .map(|n| {
            let (id, result) = w.release(&format!("{n}{n}{n}{n}abcd"));
            result.expect("healthy");
            id
        })
        .collect();
    for (n, id) in ids.iter().enumerate() {
        let kept = n >= 2;
        assert_eq!(w.docker.has_image_id(id), kept, "deploy {}: image kept = {kept}", n + 1);
    }
    let tags: Vec<String> = w
        .docker
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("untag"))
        .collect();
    assert_eq!(
        tags.len(),
        4,
        "the keep tags of two deploys (db and web) let go: {tags:?}"
    );
    let db = w.docker.container_named("shop-live-db").expect("db runs").image_id;
    assert!(
        w.docker.has_image_id(&db),
        "db's image, kept by later deploys and running, stays"
    );

    // Every kept deploy can be rolled back to; the pruned one says so and changes nothing.
    let before = w.web_image();
    let err = w.rollback("1111").expect_err("deploy 1's images are gone");
    let text = err.to_string();
    assert!(text.contains("the images of commit 1111abcd"), "{text}");
    assert!(
        text.contains("are gone from this machine (web example/web:latest)"),
        "{text}"
    );
    assert!(text.ends_with("nothing was changed"), "{text}");
    assert_eq!(w.web_image(), before);
    w.rollback("3333").expect("deploy 3 is kept").expect("healthy");
    assert_eq!(w.web_image(), ids[2]);
}

#[test]
fn a_rollback_with_no_history_changes_nothing() {
    let w = World::new();
    let err = w.rollback("previous").expect_err("nothing recorded");
    assert!(
        err.to_string().contains("has no successful deploy on this machine"),
        "{err}"
    );
    assert!(w.docker.containers().is_empty());
}
