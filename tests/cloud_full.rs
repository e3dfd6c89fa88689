//! Both providers in one fleet, through the real `fleet` binary: a Sakura Cloud server
//! (tests/support/fake_sakura.rs) and a Cloudflare DNS record whose value is the server's
//! address (tests/support/fake_cloudflare.rs), with SSH and Docker real — the created server's
//! IP is 127.0.0.1, so the test world's sshd plays the server.
//!
//! `fleet plan` shows the record's value `(known after apply)`; `fleet stage up dev` creates the
//! server, deploys the containers, then the record with the server's address (a 429 from
//! Cloudflare on the way is retried); a second run changes nothing; a record changed behind the
//! tool's back is drift in `fleet plan` and `fleet apply` puts it back; `stage down --destroy`
//! deletes the record, then the server.

#[path = "support/fake_cloudflare.rs"]
mod fake_cloudflare;
#[path = "support/fake_sakura.rs"]
mod fake_sakura;
mod support;

use std::path::PathBuf;
use std::time::Instant;

use fake_cloudflare::FakeCloudflare;
use fake_sakura::FakeSakura;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use support::{TestWorld, run_ok, test_world, unique};

const ZONE: &str = "creo-full.example";
const SERVER: &str = "creo-dev-01";

struct Workspace {
    dir: tempfile::TempDir,
    project: String,
    world: TestWorld,
    sakura: FakeSakura,
    cloudflare: FakeCloudflare,
}

impl Workspace {
    fn new() -> Workspace {
        let w = Workspace {
            dir: tempfile::tempdir().expect("tempdir"),
            project: unique("cfull"),
            world: test_world(),
            sakura: FakeSakura::start(),
            cloudflare: FakeCloudflare::start(&[ZONE]),
        };
        w.write();
        w
    }

    fn fleet_dir(&self) -> PathBuf {
        self.dir.path().join("fleets/app")
    }

    fn remote_dir(&self) -> PathBuf {
        self.dir.path().join("remote")
    }

    fn record_address(&self) -> String {
        format!("{}:dev/dns-record.{ZONE}/api", self.project)
    }

    fn fqdn() -> String {
        format!("api.{ZONE}")
    }

    /// The registry (for `fleet plan`) and the fleet: one service, stage `dev` with the server
    /// and an A record pointing at it.
    fn write(&self) {
        let registry = format!(
            "registry \"t\"\nfleet \"{}\" {{\n    path \"fleets/app\"\n}}\n",
            self.project
        );
        std::fs::write(self.dir.path().join("fleet-registry.kdl"), registry).expect("registry");
        let w = &self.world;
        let text = format!(
            r#"project "{project}"
providers {{
    sakura-cloud {{ zone "tk1a" }}
    cloudflare {{ account-id env="CF_ACCOUNT_ID" }}
}}
service "web" {{
    image "{image}"
    command "sh" "-c" "trap 'exit 0' TERM; while :; do sleep 1; done"
}}
stage "dev" {{
    server "{SERVER}" {{
        provider "sakura-cloud"
        plan core=2 memory=4
        disk size=40 os="ubuntu-24.04"
        ssh-key "{key}.pub"
        ssh-port {port}
        ssh-host-key "{host_key}"
        deploy-path "{remote}"
    }}
    dns "{ZONE}" {{
        provider "cloudflare"
        record "api" type="A" value=server.{SERVER}.ip
    }}
}}
"#,
            project = self.project,
            image = w.base_image,
            key = w.ssh_key.display(),
            port = w.ssh_port,
            host_key = w.ssh_host_key,
            remote = self.remote_dir().display(),
        );
        let dir = self.fleet_dir().join(".fleetflow");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("fleet.kdl"), text).expect("write");
    }

    fn fleet(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("fleet").expect("binary");
        cmd.current_dir(self.fleet_dir())
            .env("NO_COLOR", "1")
            .env("CI", "true")
            .env("USER", "tester")
            .env("FLEET_SSH_KNOWN_HOSTS", &self.world.ssh_known_hosts)
            .env("FLEET_SSH_WAIT", "30")
            .env("CF_API_TOKEN", fake_cloudflare::TOKEN)
            .env("CF_ACCOUNT_ID", fake_cloudflare::ACCOUNT)
            .env("FLEET_CLOUDFLARE_API_URL", self.cloudflare.url())
            .env_remove("FLEET_REGISTRY_PATH")
            .env_remove("USACLOUD_PROFILE");
        for (k, v) in self.sakura.env() {
            cmd.env(k, v);
        }
        cmd
    }

    fn record(&self) -> Option<serde_json::Value> {
        self.cloudflare.world().record(&Self::fqdn()).cloned()
    }

    /// Cloudflare's non-GET requests on DNS records, with when they arrived.
    fn dns_writes(&self) -> Vec<(Instant, String)> {
        self.cloudflare
            .world()
            .requests
            .iter()
            .filter(|r| r.method != "GET" && r.path.contains("/dns_records"))
            .map(|r| (r.at, r.method.clone()))
            .collect()
    }

    /// When the Sakura fake first got `call` (`POST /server`).
    fn sakura_at(&self, call: &str) -> Instant {
        self.sakura
            .timed_calls()
            .into_iter()
            .find(|(_, c)| c == call)
            .map(|(at, _)| at)
            .unwrap_or_else(|| panic!("no `{call}` in {:?}", self.sakura.calls()))
    }

    fn containers(&self, all: bool) -> usize {
        let filter = format!("label=io.fleetflow.project={}", self.project);
        let mut args = vec!["ps", "-q", "--filter", &filter];
        if all {
            args.push("-a");
        }
        let out = run_ok(self.world.docker().args(args));
        String::from_utf8_lossy(&out.stdout).lines().count()
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let ids = self
            .world
            .docker()
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=io.fleetflow.project={}", self.project),
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for id in ids.lines() {
            let _ = self.world.docker().args(["rm", "-f", id]).output();
        }
        let _ = self
            .world
            .docker()
            .args(["network", "rm", &format!("{}-dev", self.project)])
            .output();
    }
}

fn stdout(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

fn stderr(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

/// The line of `text` after the first line containing `header` whose attribute is `key`.
fn attribute_line<'a>(text: &'a str, header: &str, key: &str) -> &'a str {
    let start = text.find(header).unwrap_or_else(|| panic!("no {header:?} in:\n{text}"));
    text[start..]
        .lines()
        .find(|l| l.trim_start().trim_start_matches(['+', '~', '-', ' ']).starts_with(key))
        .unwrap_or_else(|| panic!("no `{key}` after {header:?} in:\n{text}"))
}

#[test]
fn a_server_and_the_dns_record_that_points_at_it() {
    let w = Workspace::new();
    let record = w.record_address();

    // Before anything exists: the record's value is known only once the server is created.
    let plan = w.fleet().args(["plan"]).assert().success();
    let text = stdout(&plan);
    assert!(text.contains(&format!("/server.{SERVER} will be created")), "{text}");
    let value = attribute_line(&text, &format!("# {record} will be created"), "value");
    assert!(value.contains("(known after apply)"), "{value:?} in:\n{text}");

    // Without Cloudflare credentials nothing starts, and the error says what to set.
    w.fleet()
        .env_remove("CF_API_TOKEN")
        .args(["apply", "--yes"])
        .assert()
        .code(1)
        .stderr(contains("CF_API_TOKEN"))
        .stderr(contains(&record));
    assert!(
        w.sakura.servers().is_empty(),
        "no server created without the DNS provider"
    );

    // Cloudflare answers the first record creation with 429: retried, not fatal.
    w.cloudflare.fail_next(Some("POST"), "/dns_records", 429, 1, Some(1));
    let up = w.fleet().args(["stage", "up", "dev", "--yes"]).assert().success();
    let text = stdout(&up);
    let server = w.sakura.server_named(SERVER).expect("server created");
    assert!(server.up && server.ip == "127.0.0.1", "{server:?}");
    assert_eq!(w.containers(false), 1, "the container runs on the 'server'");
    let r = w.record().expect("record created");
    assert_eq!(r["content"], "127.0.0.1", "{r}");
    assert_eq!(r["type"], "A");

    // Order: server created and powered on, containers deployed, then the record.
    let posts: Vec<Instant> = w
        .dns_writes()
        .into_iter()
        .filter(|(_, m)| m == "POST")
        .map(|(at, _)| at)
        .collect();
    assert_eq!(
        posts.len(),
        2,
        "a 429 and the retry: {:?}",
        w.cloudflare.world().writes()
    );
    assert!(
        w.sakura_at("POST /server") < posts[0],
        "the server is created before the record"
    );
    let deployed = text
        .find(&format!("{}:dev → {SERVER}: ok", w.project))
        .unwrap_or_else(|| panic!("deploy line in:\n{text}"));
    let dns_applied = text
        .find(&format!("✓ {record}"))
        .unwrap_or_else(|| panic!("record applied in:\n{text}"));
    let server_applied = text
        .find(&format!("✓ {}:dev/server.{SERVER}", w.project))
        .unwrap_or_else(|| panic!("server applied in:\n{text}"));
    assert!(server_applied < deployed && deployed < dns_applied, "{text}");
    let state = std::fs::read_to_string(w.dir.path().join(".fleetflow/state.json")).expect("state");
    assert!(state.contains(&record) && state.contains("\"record-id\""), "{state}");

    // A second run changes nothing, at either provider.
    let writes = w.cloudflare.world().writes().len();
    let sakura_calls = w.sakura.calls().iter().filter(|c| !c.starts_with("GET")).count();
    w.fleet()
        .args(["stage", "up", "dev"])
        .assert()
        .success()
        .stdout(contains("Infrastructure: no changes."));
    w.fleet()
        .args(["apply"])
        .assert()
        .success()
        .stdout(contains("No changes. Infrastructure is up to date."));
    assert_eq!(w.cloudflare.world().writes().len(), writes, "no Cloudflare writes");
    assert_eq!(
        w.sakura.calls().iter().filter(|c| !c.starts_with("GET")).count(),
        sakura_calls,
        "no Sakura writes"
    );
    let plan = w.fleet().args(["plan"]).assert().success();
    assert!(!stdout(&plan).contains(&record), "{}", stdout(&plan));

    // Reading the servers needs no Cloudflare credentials; a plan without them says it used
    // the recorded state.
    w.fleet()
        .env_remove("CF_API_TOKEN")
        .args(["stage", "status", "dev"])
        .assert()
        .success()
        .stdout(contains("Status: running"));
    w.fleet()
        .env_remove("CF_API_TOKEN")
        .args(["plan"])
        .assert()
        .success()
        .stderr(contains("planned from the recorded state"))
        .stderr(contains("CF_API_TOKEN"));

    // Drift: the record is pointed elsewhere in the dashboard.
    if let Some(r) = w.cloudflare.world().record_mut(&Workspace::fqdn()) {
        r["content"] = serde_json::json!("198.51.100.9");
    }
    let plan = w.fleet().args(["plan"]).assert().success();
    let text = stdout(&plan);
    let value = attribute_line(&text, &format!("# {record} will be updated in-place"), "value");
    assert!(
        value.contains("\"198.51.100.9\" -> \"127.0.0.1\""),
        "{value:?} in:\n{text}"
    );
    assert!(stderr(&plan).contains("changed outside fleetflow"), "{}", stderr(&plan));
    w.fleet()
        .args(["apply", "--yes"])
        .assert()
        .success()
        .stdout(contains("Apply complete: 1 change(s) applied."));
    assert_eq!(w.record().expect("record")["content"], "127.0.0.1");

    // Destroy: the stage's record goes too (said so), before its server.
    let down = w
        .fleet()
        .args(["stage", "down", "dev", "--destroy", "--yes"])
        .assert()
        .success()
        .stdout(contains(format!("{record} will be destroyed")))
        .stdout(contains("The DNS records of stage `dev` are deleted too"));
    let text = stdout(&down);
    assert!(text.contains("Apply complete: 2 change(s) applied."), "{text}");
    assert!(w.record().is_none(), "record deleted");
    assert!(
        w.sakura.servers().is_empty() && w.sakura.disks().is_empty(),
        "server deleted"
    );
    let record_deleted = w
        .dns_writes()
        .into_iter()
        .find(|(_, m)| m == "DELETE")
        .map(|(at, _)| at)
        .expect("DELETE of the record");
    assert!(record_deleted < w.sakura_at(&format!("DELETE /server/{}", server.id)));
    assert_eq!(w.containers(true), 0, "containers removed");
    let state = std::fs::read_to_string(w.dir.path().join(".fleetflow/state.json")).expect("state");
    assert!(!state.contains(&record) && !state.contains(SERVER), "{state}");
    w.fleet()
        .args(["stage", "status", "dev"])
        .assert()
        .success()
        .stdout(contains("Status: not created"))
        .stderr(contains("panicked").not());
}
