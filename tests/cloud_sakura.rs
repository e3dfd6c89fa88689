//! The Sakura Cloud provider against the stateful fake API (tests/support/fake_sakura.rs):
//! create with disk, SSH key and power; delete; retries on 429/500 with an instant clock;
//! partial state after a failure mid-apply and convergence on the next run; 403 as a
//! permanent error with its message; drift made behind the tool's back.

#[path = "support/cloud_fixture.rs"]
mod cloud_fixture;
#[path = "support/fake_sakura.rs"]
mod fake_sakura;

use std::sync::Arc;
use std::time::Duration;

use cloud_fixture::RecordingClock;
use fake_sakura::{Failure, FakeSakura};
use fleetflow::cloud::infra::{ProviderSet, Scope, desired};
use fleetflow::cloud::sakura::{Credentials, SakuraProvider, auth};
use fleetflow::cloud::session::Session;
use fleetflow::config::FleetConfig;
use fleetflow::config::load::load_fleet_file;
use fleetflow::plan::{Action, Snapshot};
use fleetflow::state_store::StateStore;

struct Env {
    fake: FakeSakura,
    clock: Arc<RecordingClock>,
    dir: tempfile::TempDir,
    store: StateStore,
}

const ONE: &str = r#"
project "creo"
providers {
    sakura-cloud { zone "tk1a" }
}
stage "dev" {
    server "creo-dev-01" {
        provider "sakura-cloud"
        plan core=4 memory=4
        disk size=100 os="ubuntu-24.04"
        ssh-key "KEY"
    }
    service "web" {
        image "nginx:1.27"
    }
}
"#;

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("id_test.pub"),
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAtestkey test@fleet\n",
        )
        .expect("key");
        let store = StateStore::new(dir.path().join(".fleetflow-state"));
        Env {
            fake: FakeSakura::start(),
            clock: Arc::new(RecordingClock::default()),
            dir,
            store,
        }
    }

    fn config(&self, text: &str) -> FleetConfig {
        let key = self.dir.path().join("id_test.pub");
        let fleet_dir = self.dir.path().join(".fleetflow");
        std::fs::create_dir_all(&fleet_dir).expect("mkdir");
        std::fs::write(
            fleet_dir.join("fleet.kdl"),
            text.replace("KEY", &key.display().to_string()),
        )
        .expect("write");
        load_fleet_file(&fleet_dir.join("fleet.kdl"))
            .expect("valid fleet")
            .fleet
    }

    fn provider(&self) -> SakuraProvider {
        let credentials = Credentials {
            token: fake_sakura::TOKEN.into(),
            secret: fake_sakura::SECRET.into(),
            zone: None,
            source: "test".into(),
        };
        let mut p = SakuraProvider::new("tk1a", credentials, Some(&self.fake.api_url()), self.clock.clone());
        p.poll_interval = Duration::from_millis(1);
        p
    }

    fn session(&self, text: &str) -> Session<'_> {
        let config = self.config(text);
        let scope = Scope {
            fleet: Some("creo".into()),
            stage: Some("dev".into()),
        };
        let want = desired(&Snapshot::from_fleet("creo", &config), &scope);
        let mut providers = ProviderSet::new();
        providers.add(Box::new(self.provider()));
        Session::open_with(
            &self.store,
            "test",
            scope,
            want,
            &config,
            self.clock.clone(),
            Some(providers),
        )
        .expect("session")
    }
}

fn two_servers() -> String {
    ONE.replace(
        "    service \"web\"",
        "    server \"creo-dev-02\" {\n        plan core=2 memory=4\n        disk size=40 os=\"ubuntu-24.04\"\n    }\n    service \"web\"",
    )
}

#[test]
fn creates_a_server_with_disk_key_and_power_then_powers_off_and_deletes_it() {
    let env = Env::new();
    let mut s = env.session(ONE);
    let plan = s.plan();
    assert_eq!(plan.changes.len(), 1, "{plan:?}");
    assert_eq!(plan.changes[0].action, Action::Create);
    assert_eq!(plan.changes[0].id, "creo:dev/server.creo-dev-01");
    let report = s.apply(&plan, &|_| true).expect("apply");
    assert!(report.ok(), "{report:?}");

    let servers = env.fake.servers();
    assert_eq!(servers.len(), 1);
    let server = &servers[0];
    assert!(server.up, "powered on");
    assert_eq!((server.cpu, server.memory_mb), (4, 4096));
    assert_eq!(server.tags, ["fleetflow"]);
    assert!(server.description.starts_with("fleetflow:creo:dev/server.creo-dev-01"));
    let disks = env.fake.disks();
    assert_eq!(disks.len(), 1);
    assert_eq!(disks[0].size_mb, 100 * 1024);
    assert_eq!(disks[0].archive, "113000000101", "the Ubuntu 24.04 archive");
    assert!(
        disks[0]
            .ssh_key
            .as_deref()
            .is_some_and(|k| k.starts_with("ssh-ed25519 "))
    );
    assert_eq!(disks[0].host_name.as_deref(), Some("creo-dev-01"));

    let recorded = s
        .state
        .resource("creo:dev/server.creo-dev-01")
        .expect("recorded")
        .clone();
    assert_eq!(recorded.id.as_deref(), Some(server.id.as_str()));
    assert_eq!(recorded.attributes["ip"], "127.0.0.1");
    assert_eq!(recorded.attributes["core"], "4");
    assert_eq!(recorded.attributes["memory"], "4");
    assert_eq!(recorded.attributes["disk-size"], "100");
    assert_eq!(recorded.attributes["os"], "ubuntu-24.04");
    assert_eq!(recorded.attributes["status"], "running");
    let on_disk = env.store.load().expect("state");
    assert_eq!(on_disk.resource("creo:dev/server.creo-dev-01"), Some(&recorded));

    assert!(s.plan().is_empty(), "nothing left to do");
    assert!(s.set_power("creo:dev/server.creo-dev-01", false).expect("power off"));
    assert!(!env.fake.servers()[0].up);
    assert_eq!(
        s.state.resource("creo:dev/server.creo-dev-01").unwrap().attributes["power"],
        "down"
    );
    assert!(
        !s.set_power("creo:dev/server.creo-dev-01", false).expect("again"),
        "already off"
    );
    drop(s);

    // A second session changes nothing; removing the server from the config destroys it.
    let s = env.session(ONE);
    assert!(s.plan().is_empty(), "{:?}", s.plan());
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    drop(s);
    let without = ONE.replace("server \"creo-dev-01\"", "server-removed").replace(
        "    server-removed {\n        provider \"sakura-cloud\"\n        plan core=4 memory=4\n        disk size=100 os=\"ubuntu-24.04\"\n        ssh-key \"KEY\"\n    }\n",
        "",
    );
    let mut s = env.session(&without);
    let plan = s.plan();
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].action, Action::Delete);
    let report = s.apply(&plan, &|_| true).expect("apply");
    assert!(report.ok(), "{report:?}");
    assert!(
        env.fake.servers().is_empty() && env.fake.disks().is_empty(),
        "server and disk deleted"
    );
    assert!(env.store.load().expect("state").resources.is_empty());
}

#[test]
fn a_rate_limit_is_retried_after_retry_after_without_real_waiting() {
    let env = Env::new();
    env.fake.fail(Failure {
        retry_after: Some(7),
        ..Failure::post("/server", 429, 2)
    });
    let mut s = env.session(ONE);
    let plan = s.plan();
    let report = s.apply(&plan, &|_| true).expect("apply");
    assert!(report.ok(), "{report:?}");
    let slept = env.clock.slept();
    assert!(
        slept.contains(&Duration::from_secs(7)),
        "Retry-After honoured: {slept:?}"
    );
    assert!(
        slept.contains(&Duration::from_secs(1)) && slept.contains(&Duration::from_secs(2)),
        "{slept:?}"
    );
    assert_eq!(env.fake.servers().len(), 1, "one server despite three POSTs");
}

#[test]
fn a_500_mid_apply_records_what_was_done_and_the_next_apply_converges() {
    let env = Env::new();
    // The second server's POST fails three times (every attempt).
    env.fake.fail(Failure {
        skip: 1,
        ..Failure::post("/server", 500, 3)
    });
    let text = two_servers();
    let mut s = env.session(&text);
    let plan = s.plan();
    assert_eq!(plan.changes.len(), 2);
    let report = s.apply(&plan, &|_| true).expect("apply");
    assert_eq!(report.applied, ["creo:dev/server.creo-dev-01"]);
    let (failed, message) = report.failed.clone().expect("failed");
    assert_eq!(failed, "creo:dev/server.creo-dev-02");
    assert!(
        message.contains("HTTP 500") && message.contains("run again later"),
        "{message}"
    );
    assert!(!message.contains(fake_sakura::SECRET));
    drop(s);
    let saved = env.store.load().expect("state");
    assert_eq!(saved.resources.len(), 1, "the partial state was written");

    // The disk of a server fails next: the server exists without a disk.
    env.fake.fail(Failure::post("/disk", 503, 3));
    let mut s = env.session(&text);
    let plan = s.plan();
    assert_eq!(plan.changes.len(), 1, "only the missing server: {plan:?}");
    let report = s.apply(&plan, &|_| true).expect("apply");
    assert!(report.failed.is_some());
    drop(s);
    assert_eq!(env.fake.servers().len(), 2, "the second server exists, diskless");

    // The next run resumes it (no duplicate), and a third run has nothing to do.
    let mut s = env.session(&text);
    let plan = s.plan();
    assert_eq!(plan.changes.len(), 1);
    let report = s.apply(&plan, &|_| true).expect("apply");
    assert!(report.ok(), "{report:?}");
    drop(s);
    assert_eq!(env.fake.servers().len(), 2, "resumed, not duplicated");
    assert!(env.fake.servers().iter().all(|s| s.up && s.disks.len() == 1));
    let s = env.session(&text);
    assert!(s.plan().is_empty(), "converged: {:?}", s.plan());
}

#[test]
fn forbidden_is_permanent_not_retried_and_says_what_to_do() {
    let env = Env::new();
    env.fake.fail(Failure::post("/server", 403, 1));
    let mut s = env.session(ONE);
    let plan = s.plan();
    let report = s.apply(&plan, &|_| true).expect("apply");
    let (_, message) = report.failed.expect("failed");
    assert!(
        message.starts_with("sakura-cloud: creating server creo-dev-01"),
        "{message}"
    );
    assert!(
        message.contains("HTTP 403") && message.contains("lacks permission"),
        "{message}"
    );
    let posts = env.fake.calls().iter().filter(|c| *c == "POST /server").count();
    assert_eq!(posts, 1, "not retried");
    assert!(env.clock.slept.lock().unwrap().is_empty());
}

#[test]
fn changes_behind_the_tools_back_show_as_drift() {
    let env = Env::new();
    let mut s = env.session(ONE);
    let plan = s.plan();
    assert!(s.apply(&plan, &|_| true).expect("apply").ok());
    drop(s);

    env.fake.mutate("creo-dev-01", |srv| {
        srv.cpu = 2;
        srv.memory_mb = 4096;
    });
    let mut s = env.session(ONE);
    assert!(
        s.notes
            .iter()
            .any(|n| n.contains("changed outside fleetflow") && n.contains("core 4 → 2")),
        "{:?}",
        s.notes
    );
    let plan = s.plan();
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].action, Action::Update);
    let text = fleetflow::plan::render_text(&plan, false);
    assert!(
        text.contains("~ plan") && text.contains("\"2core-4gb\" -> \"4core-4gb\""),
        "{text}"
    );
    let report = s.apply(&plan, &|_| true).expect("apply");
    assert!(report.ok(), "{report:?}");
    assert_eq!(env.fake.servers()[0].cpu, 4, "plan changed back");
    assert!(env.fake.servers()[0].up, "and powered back on");
    drop(s);

    env.fake.delete_behind_back("creo-dev-01");
    let s = env.session(ONE);
    assert!(s.notes.iter().any(|n| n.contains("no longer exists")), "{:?}", s.notes);
    let plan = s.plan();
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].action, Action::Create);
}

#[test]
fn credentials_come_from_the_environment_or_the_usacloud_profile() {
    let home = tempfile::tempdir().expect("tempdir");
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    };
    let c = auth::load(
        &env(&[
            ("SAKURACLOUD_ACCESS_TOKEN", "t"),
            ("SAKURACLOUD_ACCESS_TOKEN_SECRET", "s"),
        ]),
        Some(home.path()),
    )
    .expect("env");
    assert_eq!(
        (c.token.as_str(), c.secret.as_str(), c.source.as_str()),
        ("t", "s", "environment")
    );
    assert!(!format!("{c:?}").contains("\"s\""), "Debug hides the secret");

    let missing = auth::load(&env(&[]), Some(home.path())).expect_err("nothing configured");
    assert!(missing.to_string().contains("SAKURACLOUD_ACCESS_TOKEN"), "{missing}");

    let dir = home.path().join(".usacloud/work");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(home.path().join(".usacloud/current"), "work\n").expect("current");
    std::fs::write(
        dir.join("config.json"),
        r#"{"AccessToken":"pt","AccessTokenSecret":"ps","Zone":"is1a"}"#,
    )
    .expect("profile");
    let c = auth::load(&env(&[]), Some(home.path())).expect("profile");
    assert_eq!((c.token.as_str(), c.zone.as_deref()), ("pt", Some("is1a")));
    let other = auth::load(&env(&[("USACLOUD_PROFILE", "nope")]), Some(home.path())).expect_err("no such profile");
    assert!(other.to_string().contains("nope/config.json"), "{other}");
    std::fs::write(dir.join("config.json"), "{").expect("corrupt");
    let bad = auth::load(&env(&[]), Some(home.path())).expect_err("corrupt");
    assert!(bad.to_string().contains("not valid JSON"), "{bad}");
}

#[test]
fn refused_credentials_are_permanent_and_never_echoed() {
    use fleetflow::cloud::{CloudProvider, ProviderError};
    let env = Env::new();
    let credentials = Credentials {
        token: fake_sakura::TOKEN.into(),
        secret: "wrong-secret-value".into(),
        zone: None,
        source: "test".into(),
    };
    let p = SakuraProvider::new("tk1a", credentials, Some(&env.fake.api_url()), env.clock.clone());
    match p.get_state() {
        Err(ProviderError::Permanent(m)) => {
            assert!(m.contains("HTTP 401") && m.contains("SAKURACLOUD_ACCESS_TOKEN"), "{m}");
            assert!(!m.contains("wrong-secret-value"), "{m}");
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }
    assert_eq!(env.fake.world.lock().unwrap().unauthorized, 1);
}

#[test]
fn plans_and_archives_are_found_as_the_sdk_finds_them() {
    // 2 cores / 4 GB: an older generation, a dedicated-CPU plan and a confidential VM of that
    // size are listed first; Ubuntu 24.04's cloud-init image is listed before the plain one.
    let env = Env::new();
    let text = ONE.replace("plan core=4 memory=4", "plan core=2 memory=4");
    let mut s = env.session(&text);
    let plan = s.plan();
    let report = s.apply(&plan, &|_| true).expect("apply");
    assert!(report.ok(), "{report:?}");
    let server = &env.fake.servers()[0];
    assert_eq!(server.plan_id, "100002004", "standard commitment, newest generation");
    assert!(server.up, "the power state is read from the server");
    assert_eq!(
        env.fake.disks()[0].archive,
        "113000000101",
        "not the (cloudimg) archive"
    );
}

#[test]
fn os_names_find_archives_by_the_sdks_tags() {
    let cases = [
        ("ubuntu", "113000000101"),
        ("debian-12", "113000000103"),
        ("ubuntu-22.04", "113000000102"),
    ];
    for (os, archive) in cases {
        let env = Env::new();
        let mut s = env.session(&ONE.replace("ubuntu-24.04", os));
        let report = s.apply(&s.plan(), &|_| true).expect("apply");
        assert!(report.ok(), "{os}: {report:?}");
        assert_eq!(env.fake.disks()[0].archive, archive, "{os}");
    }
}

#[test]
fn a_cloud_init_image_is_refused_with_the_reason() {
    let env = Env::new();
    let mut s = env.session(&ONE.replace("ubuntu-24.04", "ubuntu-24.04-cloudimg"));
    let report = s.apply(&s.plan(), &|_| true).expect("apply");
    assert!(!report.ok());
    let text = format!("{report:?}");
    assert!(text.contains("cloud-init image") && text.contains("SSH key"), "{text}");
    assert!(env.fake.servers().iter().all(|s| s.disks.is_empty()), "no disk from it");
}
