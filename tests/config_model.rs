//! The validated model: what the rest of fleetflow consumes.

use std::path::Path;

use fleetflow::config::cloud::{ResourceRef, ServerPlan, Setting, ValueOrRef};
use fleetflow::config::discovery::{DiscoveryError, Found, find_registry};
use fleetflow::config::load::lower_fleet_source;
use fleetflow::config::order::dependency_order;
use fleetflow::config::service::{EnvValue, Port, Protocol, RestartPolicy};
use fleetflow::config::source::SourceFile;
use fleetflow::config::syntax::{KdlVersion, parse_document};
use fleetflow::config::{Diagnostics, DirFiles, FleetConfig, LoadOptions, load_workspace};

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn seed(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/seed-examples")
            .join(name),
    )
    .expect("seed")
}

fn fleet_from(text: &str) -> FleetConfig {
    let mut diags = Diagnostics::default();
    let fleet = lower_fleet_source(SourceFile::from_text("fleet.kdl", text), &mut diags).expect("parses");
    assert!(
        !diags.has_errors(),
        "{:#?}",
        diags.items.iter().map(|d| d.to_string()).collect::<Vec<_>>()
    );
    fleet
}

#[test]
fn fixtures_load_into_the_expected_model() {
    let ws = load_workspace(
        &DirFiles { root: fixtures() },
        "fleet-registry.kdl",
        LoadOptions::default(),
    )
    .expect("valid");
    let server = ws.registry.server("vps-01").expect("server");
    assert_eq!((server.ssh_user.as_str(), server.ssh_port), ("root", 2222));
    assert_eq!(server.plan, Some(ServerPlan::Spec { core: 2, memory_gb: 4 }));

    let web = &ws.fleets["web"];
    let live = web.stage("live").expect("live");
    let site = &live.services[0];
    assert_eq!(
        site.ports,
        vec![Port {
            host: 28080,
            container: 8080,
            protocol: Protocol::Tcp,
            host_ip: Some("127.0.0.1".into())
        }],
        "the stage override replaces the shared ports"
    );
    assert_eq!(
        site.command.as_deref(),
        Some(&["httpd", "-f", "-p", "8080", "-h", "/www"].map(String::from)[..])
    );
    assert_eq!(
        site.build.as_ref().map(|b| b.args["BASE"].as_str()),
        Some("fleetflow/busybox:latest")
    );
    assert_eq!(site.healthcheck.as_ref().map(|h| h.retries), Some(Some(5)));
    assert_eq!(site.restart, Some(RestartPolicy::UnlessStopped));
    assert_eq!(web.stage("local").expect("local").services[0].ports[0].host, 18080);

    let api = ws.fleets["api"].stage("live").expect("live");
    let api_service = api.services.iter().find(|s| s.name.value == "api").expect("api");
    assert_eq!(
        api_service.env["LOG_LEVEL"],
        EnvValue::Literal("warn".into()),
        "stage env overrides"
    );
    assert_eq!(
        api_service.env["LISTEN_PORT"],
        EnvValue::Literal("8081".into()),
        "shared env kept"
    );
    assert_eq!(
        api_service.env["API_TOKEN"],
        EnvValue::FromEnv("SAMPLE_API_TOKEN".into())
    );
    let store = api.services.iter().find(|s| s.name.value == "store").expect("store");
    assert_eq!(
        store.command.as_ref().map(|c| c[2].as_str()),
        Some("echo '{\"items\": []}' > /data/items.json && exec sleep 2147483647")
    );
    assert_eq!(dependency_order(&api.services).expect("acyclic"), vec!["store", "api"]);
    assert_eq!(
        ws.fleets["jobs"].stage("live").expect("live").services.len(),
        1,
        "a stage listing nothing runs every service"
    );
}

#[test]
fn references_stay_references_and_002_08_loads_once_written_in_kdl_v2() {
    let fixed = seed("002-08.kdl").replace("proxied=true", "proxied=#true");
    let fleet = fleet_from(&fixed);
    let dev = fleet.stage("dev").expect("dev");
    let record = &dev.infrastructure.dns[0].records[0];
    assert_eq!(
        record.value,
        ValueOrRef::Reference(ResourceRef {
            kind: "server".into(),
            name: "creo-dev-01".into(),
            attribute: "ip".into()
        })
    );
    assert!(record.proxied);
    assert_eq!(dev.services.len(), 3, "deploy-services pulls in the service group");
    assert_eq!(
        fleet.providers.cloudflare.as_ref().and_then(|c| c.account_id.clone()),
        Some(Setting::Env("CF_ACCOUNT_ID".into()))
    );
    assert_eq!(
        dev.infrastructure.servers[0].plan,
        Some(ServerPlan::Spec { core: 4, memory_gb: 4 })
    );
}

#[test]
fn kdl_v1_files_are_read_with_the_v1_parser() {
    let file = std::sync::Arc::new(SourceFile::from_text("002-07.kdl", &seed("002-07.kdl")));
    assert_eq!(parse_document(&file).expect("v1").version, KdlVersion::V1);
    let fleet = fleet_from(&seed("002-07.kdl"));
    let zone = &fleet.infrastructure.dns[0];
    assert_eq!(zone.records.len(), 2);
    assert!(zone.records.iter().all(|r| r.proxied));
    assert_eq!(zone.records[0].value, ValueOrRef::Literal("xxx.xxx.xxx.xxx".into()));
    let file = std::sync::Arc::new(SourceFile::from_text("002-04.kdl", &seed("002-04.kdl")));
    assert_eq!(parse_document(&file).expect("v2").version, KdlVersion::V2);
}

#[test]
fn v1_positions_are_right_after_non_ascii_text() {
    // v1-only syntax (bare `true`), Japanese text before the error.
    let text = "// 日本語のコメント\nserver \"a\" {\n    ssh-port \"x\"\n    provider true\n}\n";
    let mut diags = Diagnostics::default();
    let _ = lower_fleet_source(SourceFile::from_text("f.kdl", text), &mut diags);
    let found: Vec<String> = diags
        .items
        .iter()
        .map(|d| format!("{}:{} {}", d.location().line, d.location().column, d.message))
        .collect();
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("3:14 `ssh-port` must be an integer")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("4:14 `provider` must be a string, found a boolean")),
        "{found:#?}"
    );
}

#[test]
fn plan_has_two_forms() {
    let fleet = fleet_from("server \"a\" {\n    plan \"4core-8gb\"\n}\nserver \"b\" {\n    plan core=4 memory=4\n}\n");
    let plans: Vec<String> = fleet
        .infrastructure
        .servers
        .iter()
        .map(|s| s.plan.as_ref().expect("plan").to_string())
        .collect();
    assert_eq!(plans, ["4core-8gb", "4core-4gb"]);
}

#[test]
fn ports_env_and_build_forms() {
    let fleet = fleet_from(
        "service \"a\" {\n    build {\n        context \"./app\"\n        dockerfile \"Dockerfile.prod\"\n        target \"runtime\"\n    }\n    port 8000\n    port 5353 53 protocol=\"udp\"\n    env RUST_LOG=\"debug\" WORKERS=4\n    env {\n        SECRET env=\"HOST_SECRET\"\n    }\n}\n",
    );
    let a = &fleet.services[0];
    assert_eq!(
        a.ports[0],
        Port {
            host: 8000,
            container: 8000,
            protocol: Protocol::Tcp,
            host_ip: None
        }
    );
    assert_eq!(
        (a.ports[1].host, a.ports[1].container, a.ports[1].protocol),
        (5353, 53, Protocol::Udp)
    );
    assert_eq!(a.env["WORKERS"], EnvValue::Literal("4".into()));
    assert_eq!(a.env["SECRET"], EnvValue::FromEnv("HOST_SECRET".into()));
    let build = a.build.as_ref().expect("build");
    assert_eq!(
        (
            build.context.as_str(),
            build.dockerfile.as_deref(),
            build.target.as_deref()
        ),
        ("./app", Some("Dockerfile.prod"), Some("runtime"))
    );
}

#[test]
fn discovery_order_is_flag_env_then_upward() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("a/b/c")).expect("mkdir");
    std::fs::write(root.join("a/fleet-registry.kdl"), "registry \"x\"\n").expect("write");
    std::fs::write(root.join("other.kdl"), "registry \"y\"\n").expect("write");
    let deep = root.join("a/b/c");
    assert_eq!(
        find_registry(None, None, &deep),
        Ok(Found::Directory(root.join("a/fleet-registry.kdl")))
    );
    assert_eq!(
        find_registry(None, Some(&root.join("other.kdl")), &deep),
        Ok(Found::Env(root.join("other.kdl")))
    );
    assert_eq!(
        find_registry(Some(&root.join("a")), Some(&root.join("other.kdl")), &deep),
        Ok(Found::Flag(root.join("a/fleet-registry.kdl"))),
        "the flag wins, and a directory means the registry inside it"
    );
    assert!(matches!(
        find_registry(Some(&root.join("missing.kdl")), None, &deep),
        Err(DiscoveryError::GivenMissing { .. })
    ));
    assert!(matches!(
        find_registry(None, None, root),
        Err(DiscoveryError::NotFound { .. })
    ));
}
