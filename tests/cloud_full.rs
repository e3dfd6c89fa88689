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

#[path = "support/cloud_world.rs"]
mod cloud_world;
#[path = "support/fake_cloudflare.rs"]
mod fake_cloudflare;
#[path = "support/fake_sakura.rs"]
mod fake_sakura;
mod support;

use std::ops::Deref;
use std::time::Instant;

use cloud_world::{CloudWorld, attribute_line, stderr, stdout};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

const ZONE: &str = "creo-full.example";
const SERVER: &str = "creo-dev-01";

/// The registry (for `fleet plan`) and the fleet: one service, stage `dev` with the server
/// and an A record pointing at it.
struct Workspace(CloudWorld);

impl Deref for Workspace {
    type Target = CloudWorld;
    fn deref(&self) -> &CloudWorld {
        &self.0
    }
}

impl Workspace {
    fn new() -> Workspace {
        let w = CloudWorld::new("cfull", &[ZONE]);
        w.write_registry();
        let dns = format!(
            "    dns \"{ZONE}\" {{\n        provider \"cloudflare\"\n        record \"api\" type=\"A\" value=server.{SERVER}.ip\n    }}\n"
        );
        w.write_fleet(SERVER, true, &dns);
        Workspace(w)
    }

    fn record_address(&self) -> String {
        format!("{}:dev/dns-record.{ZONE}/api", self.project)
    }

    fn fqdn() -> String {
        format!("api.{ZONE}")
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
}

#[test]
fn a_server_and_the_dns_record_that_points_at_it() {
    let w = Workspace::new();
    let record = w.record_address();

    // Before anything exists: the record's value is known only once the server is created.
    let plan = w.fleet().args(["plan"]).assert().success();
    let text = stdout(&plan);
    assert!(text.contains(&format!("/server.{SERVER} will be created")), "{text}");
    w.ok(
        &["stage", "status", "dev"],
        format!("  DNS Record: api.{ZONE}\n    Provider: cloudflare\n    Status: not created\n\n"),
    );
    // … and what `fleet apply` would make of it, in status as in the plan.
    let status = stdout(&w.fleet().args(["stage", "status", "dev"]).assert().success());
    let to_apply = status
        .split_once("To apply (`fleet apply --stage dev`):\n")
        .map(|(_, rest)| rest);
    let to_apply = to_apply.unwrap_or_else(|| panic!("no To apply section:\n{status}"));
    assert!(
        to_apply.contains(&format!("/server.{SERVER} will be created")),
        "{status}"
    );
    assert!(to_apply.contains(&format!("+ {record} will be created")), "{status}");
    assert_eq!(w.status_json()["to_apply"].as_array().map(Vec::len), Some(2));
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
    let state = w.state();
    assert!(state.contains(&record) && state.contains("\"record-id\""), "{state}");

    // A second run changes nothing, at either provider.
    let writes = w.cloudflare.world().writes().len();
    let sakura_calls = w.sakura.calls().iter().filter(|c| !c.starts_with("GET")).count();
    w.ok(&["stage", "up", "dev"], "Infrastructure: no changes.");
    w.ok(&["apply"], "No changes. Infrastructure is up to date.");
    assert_eq!(w.cloudflare.world().writes().len(), writes, "no Cloudflare writes");
    assert_eq!(
        w.sakura.calls().iter().filter(|c| !c.starts_with("GET")).count(),
        sakura_calls,
        "no Sakura writes"
    );
    let plan = w.fleet().args(["plan"]).assert().success();
    assert!(!stdout(&plan).contains(&record), "{}", stdout(&plan));

    // Status lists the record after the server, in the layout seed 004 gives a server.
    let status = w.fleet().args(["stage", "status", "dev"]).assert().success();
    let text = stdout(&status);
    let dns = format!(
        "  DNS Record: api.{ZONE}\n    Provider: cloudflare\n    Status: created\n    Type: A\n    Value: 127.0.0.1\n    Proxied: no\n"
    );
    assert!(
        text.contains(&format!("    Memory: 4 GB\n{dns}\nServices:\n")),
        "{text}"
    );
    assert!(!text.contains("To apply"), "all applied:\n{text}");
    let v = w.status_json();
    assert_eq!(v["to_apply"], serde_json::json!([]), "{v}");
    assert_eq!(v["infrastructure"][0]["server"], SERVER, "{v}");
    let entry = &v["infrastructure"][1];
    assert_eq!(entry["kind"], "dns-record", "{v}");
    assert_eq!(entry["name"], Workspace::fqdn());
    assert_eq!(
        (&entry["status"], &entry["value"]),
        (&"created".into(), &"127.0.0.1".into())
    );

    // Reading the servers needs no Cloudflare credentials (the record is shown as recorded);
    // a plan without them says it used the recorded state.
    w.fleet()
        .env_remove("CF_API_TOKEN")
        .args(["stage", "status", "dev"])
        .assert()
        .success()
        .stdout(contains("Status: running"))
        .stdout(contains(dns))
        .stderr(contains("as the state records them"));
    w.fleet()
        .env_remove("CF_API_TOKEN")
        .args(["plan"])
        .assert()
        .success()
        .stderr(contains("planned from the recorded state"))
        .stderr(contains("CF_API_TOKEN"));

    // Stopping the containers and powering the server off need no Cloudflare credentials
    // either; the record stays as it is (in the state too), and `stage up` brings it all back.
    w.fleet()
        .env_remove("CF_API_TOKEN")
        .args(["stage", "down", "dev"])
        .assert()
        .success()
        .stderr(contains("CF_API_TOKEN").not());
    assert_eq!(w.containers(false), 0, "containers stopped");
    assert!(
        w.sakura.server_named(SERVER).expect("kept").up,
        "plain down keeps the server on"
    );
    w.fleet()
        .env_remove("CF_API_TOKEN")
        .args(["stage", "down", "dev", "--suspend"])
        .assert()
        .success()
        .stdout(contains(format!("Server {SERVER}: powered off")))
        .stderr(contains("provider").not());
    assert!(!w.sakura.server_named(SERVER).expect("kept").up, "server off");
    assert!(
        w.record().is_some() && w.state().contains(&record),
        "the record is kept"
    );
    w.ok(&["stage", "up", "dev"], format!("Server {SERVER}: powered on"));
    assert_eq!(w.containers(false), 1, "started again");
    assert_eq!(
        w.cloudflare.world().writes().len(),
        writes,
        "still no Cloudflare writes"
    );

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
    w.ok(&["apply", "--yes"], "Apply complete: 1 change(s) applied.");
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
    let state = w.state();
    assert!(!state.contains(&record) && !state.contains(SERVER), "{state}");
    w.fleet()
        .args(["stage", "status", "dev"])
        .assert()
        .success()
        .stdout(contains("Status: not created"))
        .stderr(contains("panicked").not());
}

#[test]
fn missing_sakura_credentials_are_said_once_and_nothing_starts() {
    let w = Workspace::new();
    let home = tempfile::tempdir().unwrap();
    for args in [&["apply", "--yes"][..], &["stage", "down", "dev", "--suspend", "--yes"]] {
        let out = w
            .fleet()
            .env_remove("SAKURACLOUD_ACCESS_TOKEN")
            .env_remove("SAKURACLOUD_ACCESS_TOKEN_SECRET")
            .env("HOME", home.path())
            .args(args)
            .assert()
            .failure();
        let text = stderr(&out);
        assert_eq!(
            text.matches("no Sakura Cloud credentials").count(),
            1,
            "{args:?} says it once:\n{text}"
        );
        assert!(text.contains("SAKURACLOUD_ACCESS_TOKEN_SECRET"), "{text}");
    }
    assert!(w.sakura.servers().is_empty(), "nothing created");
}
