//! The Cloudflare provider against a stateful fake of the REST API v4
//! (tests/support/fake_cloudflare.rs): actions come from a real configuration through the plan
//! engine and `desired_attributes`, and are applied with seed 003's `apply_actions` on a
//! recording clock (no real waiting).

#[path = "support/cloud_fixture.rs"]
mod cloud_fixture;
#[path = "support/cloudflare_bench.rs"]
mod cloudflare_bench;
#[path = "support/fake_cloudflare.rs"]
mod fake_cloudflare;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cloud_fixture::snapshot;
use cloudflare_bench::{ZONE, addresses, cloudflare_actions, fleet, provider_for, world};
use fake_cloudflare::TOKEN;
use fleetflow::cloud::cloudflare::{CloudflareError, CloudflareSettings, DEFAULT_API_URL};
use fleetflow::cloud::infra::{self, ProviderSet, Scope};
use fleetflow::cloud::{Action, CloudProvider, Op, ProviderError, RetryConfig, apply_actions, remaining};
use fleetflow::config::cloud::{CloudflareProvider as CloudflareConfig, Setting};
use fleetflow::plan::references::{Unresolved, resolve};
use fleetflow::plan::state::{State, StateResource};
use fleetflow::plan::{self, KNOWN_AFTER_APPLY};

#[test]
fn creates_records_bucket_and_worker_and_a_second_apply_changes_nothing() {
    let w = world();
    let head = snapshot(&fleet(&[]));
    let actions = cloudflare_actions(None, &head, None);
    assert_eq!(
        addresses(&actions),
        [
            ("creo:dev/r2-bucket.creo-attachments".to_owned(), Op::Create),
            ("creo:dev/worker.api-gateway".to_owned(), Op::Create),
            ("creo:dev/dns-record.creo-memories.com/api".to_owned(), Op::Create),
            ("creo:dev/dns-record.creo-memories.com/assets".to_owned(), Op::Create),
        ]
    );
    let mut state = State::default();
    let report = w.apply(&actions, &mut state);
    assert!(report.ok(), "{report:?}");
    assert_eq!(state.resources.len(), 4);

    {
        let world = w.fake.world();
        let api = world.record("api.creo-memories.com").expect("A record");
        let fields = serde_json::json!([api["type"], api["content"], api["proxied"], api["ttl"]]);
        assert_eq!(fields, serde_json::json!(["A", "203.0.113.7", true, 1]));
        let cname = world.record("assets.creo-memories.com").expect("CNAME record");
        assert_eq!(cname["type"], "CNAME");
        assert_eq!(cname["content"], "creo-attachments.r2.cloudflarestorage.com");

        let bucket = world.bucket("creo-attachments").expect("bucket");
        assert_eq!(bucket.location, "apac");
        let rules = bucket.cors.as_ref().expect("CORS rules");
        assert_eq!(
            rules[0]["allowed"]["origins"],
            serde_json::json!(["https://api.creo-memories.com"])
        );
        assert_eq!(
            rules[0]["allowed"]["methods"],
            serde_json::json!(["GET", "PUT", "POST", "DELETE"])
        );
        assert_eq!(rules[0]["maxAgeSeconds"], 3600);
        assert_eq!(bucket.domains.len(), 1);
        assert_eq!(bucket.domains[0]["domain"], "cdn.creo-memories.com");
        assert_eq!(bucket.domains[0]["zoneName"], ZONE);

        let script = world.script("api-gateway").expect("worker script");
        assert_eq!(script.metadata["main_module"], "index.js");
        assert!(script.modules["index.js"].contains("new Response('hi')"));
        let bindings = script.metadata["bindings"].as_array().unwrap();
        let kv_id = world.kv_namespaces[0].0.clone();
        assert!(bindings.contains(
            &serde_json::json!({"type": "r2_bucket", "name": "ATTACHMENTS", "bucket_name": "creo-attachments"})
        ));
        assert!(
            bindings.contains(&serde_json::json!({"type": "kv_namespace", "name": "CACHE", "namespace_id": kv_id}))
        );
        assert!(bindings.contains(&serde_json::json!({"type": "plain_text", "name": "MODE", "text": "dev"})));
        assert_eq!(
            world.route_patterns(),
            [("api.creo-memories.com/*".to_owned(), "api-gateway".to_owned())]
        );
    }

    // State: provider ids and the compared values; no variable value.
    let api = state.resource("creo:dev/dns-record.creo-memories.com/api").unwrap();
    assert!(api.id.as_deref().unwrap().starts_with("dns:"));
    assert_eq!(api.provider.as_deref(), Some("cloudflare"));
    assert_eq!(api.attributes["value"], "203.0.113.7");
    assert_eq!(api.attributes["proxied"], "true");
    let worker = state.resource("creo:dev/worker.api-gateway").unwrap();
    assert_eq!(worker.id.as_deref(), Some("worker:api-gateway"));
    assert!(worker.attributes["bindings.MODE"].starts_with("var-sha256:"));
    assert_eq!(worker.attributes["routes"], "api.creo-memories.com/*");
    let bucket = state.resource("creo:dev/r2-bucket.creo-attachments").unwrap();
    assert_eq!(bucket.attributes["custom-domain"], "cdn.creo-memories.com");
    assert_eq!(bucket.attributes["cors.allowed-methods"], "GET,PUT,POST,DELETE");

    // Second apply with the same configuration: the plan is empty, nothing remains…
    assert!(cloudflare_actions(Some(&head), &head, Some(&state)).is_empty());
    assert!(remaining(&actions, &state).is_empty());
    // …and even replaying every action (a lost state) writes nothing.
    let writes = w.fake.world().writes();
    let mut again = state.clone();
    assert!(w.apply(&actions, &mut again).ok());
    assert_eq!(w.fake.world().writes(), writes, "a converged apply only reads");
    assert_eq!(again, state);

    // What exists is what the state says.
    let fresh = provider_for(&w.fake, w.dir.path(), TOKEN, Arc::clone(&w.clock));
    fresh.track(&state);
    let mut now = fresh.get_state().unwrap();
    now.sort_by(|a, b| a.address.cmp(&b.address));
    let mut recorded = state.resources.clone();
    recorded.sort_by(|a, b| a.address.cmp(&b.address));
    assert_eq!(now, recorded);
}

#[test]
fn flipping_proxied_is_one_patch() {
    let w = world();
    let (base, mut state) = w.create_all();
    let head = snapshot(&fleet(&[(
        r#"value="203.0.113.7" proxied=#true"#,
        r#"value="203.0.113.7" proxied=#false"#,
    )]));
    let actions = cloudflare_actions(Some(&base), &head, Some(&state));
    assert_eq!(
        addresses(&actions),
        [("creo:dev/dns-record.creo-memories.com/api".to_owned(), Op::Update)]
    );
    let before = w.fake.world().writes().len();
    assert!(w.apply(&actions, &mut state).ok());
    let writes = w.fake.world().writes();
    let id = state
        .resource("creo:dev/dns-record.creo-memories.com/api")
        .unwrap()
        .attributes["record-id"]
        .clone();
    let zone_id = w.fake.world().zones[0].0.clone();
    assert_eq!(writes[before..], [format!("PATCH /zones/{zone_id}/dns_records/{id}")]);
    assert_eq!(
        w.fake.world().record("api.creo-memories.com").unwrap()["proxied"],
        false
    );
    assert_eq!(
        state
            .resource("creo:dev/dns-record.creo-memories.com/api")
            .unwrap()
            .attributes["proxied"],
        "false"
    );
}

#[test]
fn deleting_removes_the_record_the_worker_and_its_route() {
    let w = world();
    let (base, mut state) = w.create_all();
    let text = fleet(&[(
        "        record \"assets\" type=\"CNAME\" value=\"creo-attachments.r2.cloudflarestorage.com\" proxied=#true\n",
        "",
    )]);
    let start = text.find("    worker \"api-gateway\"").unwrap();
    let end = text.find("    dns \"creo-memories.com\"").unwrap();
    let head = snapshot(&format!("{}{}", &text[..start], &text[end..]));
    let actions = cloudflare_actions(Some(&base), &head, Some(&state));
    assert_eq!(
        addresses(&actions),
        [
            ("creo:dev/worker.api-gateway".to_owned(), Op::Delete),
            ("creo:dev/dns-record.creo-memories.com/assets".to_owned(), Op::Delete),
        ]
    );
    assert!(w.apply(&actions, &mut state).ok());
    let world = w.fake.world();
    assert!(world.record("assets.creo-memories.com").is_none());
    assert!(world.record("api.creo-memories.com").is_some());
    assert!(world.script("api-gateway").is_none());
    assert!(world.routes.is_empty(), "the worker's route went first");
    assert_eq!(state.resources.len(), 2);
}

#[test]
fn a_rate_limit_is_waited_out_and_retried() {
    let w = world();
    w.fake.fail_next(Some("POST"), "/dns_records", 429, 1, Some(7));
    let (_, state) = w.create_all();
    assert_eq!(state.resources.len(), 4);
    assert_eq!(
        w.clock.slept(),
        [Duration::from_secs(7), Duration::from_secs(1)],
        "Retry-After, then the backoff before the second attempt"
    );
    let world = w.fake.world();
    let posts = world.writes().iter().filter(|r| r.ends_with("/dns_records")).count();
    assert_eq!(posts, 3, "one refused and two accepted record creations");
    assert_eq!(world.records.len(), 2);
}

#[test]
fn a_server_error_mid_apply_leaves_partial_state_and_the_next_apply_converges() {
    let w = world();
    w.fake.fail_next(Some("PUT"), "/workers/scripts/", 500, 3, None);
    let head = snapshot(&fleet(&[]));
    let actions = cloudflare_actions(None, &head, None);
    let mut state = State::default();
    let report = w.apply(&actions, &mut state);
    let (failed, message) = report.failed.clone().expect("the worker upload fails");
    assert_eq!(failed, "creo:dev/worker.api-gateway");
    assert!(message.contains("500") && message.contains("[code 10002]"), "{message}");
    assert_eq!(report.applied, ["creo:dev/r2-bucket.creo-attachments"]);
    assert_eq!(report.not_attempted.len(), 2, "{report:?}");
    assert_eq!(state.resources.len(), 1, "the bucket is recorded");
    assert_eq!(w.clock.slept(), [Duration::from_secs(1), Duration::from_secs(2)]);

    let rest: Vec<Action> = remaining(&actions, &state).into_iter().cloned().collect();
    assert_eq!(
        addresses(&rest),
        [
            ("creo:dev/worker.api-gateway".to_owned(), Op::Create),
            ("creo:dev/dns-record.creo-memories.com/api".to_owned(), Op::Create),
            ("creo:dev/dns-record.creo-memories.com/assets".to_owned(), Op::Create),
        ]
    );
    assert!(w.apply(&rest, &mut state).ok());
    assert_eq!(state.resources.len(), 4);
    assert!(remaining(&actions, &state).is_empty());
    let uploads = w
        .fake
        .world()
        .writes()
        .iter()
        .filter(|r| r.starts_with("PUT ") && r.contains("/workers/scripts/"))
        .count();
    assert_eq!(uploads, 4, "three refused uploads, one accepted");
    let world = w.fake.world();
    assert_eq!(world.records.len(), 2, "no record was created twice");
    assert_eq!(world.buckets.len(), 1);
    assert!(world.script("api-gateway").is_some());
}

#[test]
fn forbidden_is_permanent_with_a_hint_and_never_shows_the_token() {
    let w = world();
    let secret = "wrong-token-ABCDEFGHIJ";
    let provider = provider_for(&w.fake, w.dir.path(), secret, Arc::clone(&w.clock));
    let head = snapshot(&fleet(&[]));
    let actions = cloudflare_actions(None, &head, None);
    let mut state = State::default();
    let report = apply_actions(&provider, &*w.clock, &RetryConfig::default(), &actions, &mut state);
    let (_, message) = report.failed.expect("refused");
    assert!(
        message.contains("403") && message.contains("[code 10000] Authentication error"),
        "{message}"
    );
    assert!(
        message.contains("CF_API_TOKEN") && message.contains("Workers R2 Storage:Edit"),
        "{message}"
    );
    assert!(!message.contains(secret));
    assert_eq!(w.fake.world().requests.len(), 1, "no retry");
    assert!(w.clock.slept().is_empty());

    // A 403 on a write names the permission of that resource.
    w.fake.fail_next(Some("POST"), "/dns_records", 403, 1, None);
    let api = actions.iter().find(|a| a.address.ends_with("/api")).unwrap();
    let error = w.provider.apply(api, &state).unwrap_err();
    let ProviderError::Permanent(text) = error else {
        panic!("a 403 is permanent: {error:?}")
    };
    assert!(text.contains("DNS:Edit on zone creo-memories.com"), "{text}");
}

#[test]
fn a_server_reference_is_resolved_from_the_state() {
    let w = world();
    let head = snapshot(&fleet(&[(
        r#"value="203.0.113.7""#,
        r#"value="server.creo-dev-01.ip""#,
    )]));
    let actions = cloudflare_actions(None, &head, None);
    let api = actions.iter().find(|a| a.address.ends_with("/api")).unwrap();
    assert_eq!(api.attributes["value"], "server.creo-dev-01.ip");

    // Before the server exists: a clear permanent error.
    let error = w.provider.apply(api, &State::default()).unwrap_err();
    assert!(
        matches!(&error, ProviderError::Permanent(m) if m.contains("server.creo-dev-01.ip") && m.contains("apply that resource first")),
        "{error:?}"
    );
    let mut state = State::default();
    state.upsert(StateResource {
        address: "creo:dev/server.creo-dev-01".into(),
        provider: Some("sakura-cloud".into()),
        id: Some("113600000001".into()),
        attributes: BTreeMap::from([("ip".into(), "198.51.100.42".into())]),
        created_at: None,
    });
    let done = w.provider.apply(api, &state).unwrap().unwrap();
    assert_eq!(done.attributes["value"], "198.51.100.42");
    assert_eq!(
        w.fake.world().record("api.creo-memories.com").unwrap()["content"],
        "198.51.100.42"
    );
}

#[test]
fn resolve_prefers_the_stage_then_the_fleet_and_names_what_is_missing() {
    let server = |address: &str, ip: &str| StateResource {
        address: address.into(),
        provider: None,
        id: None,
        attributes: BTreeMap::from([("ip".into(), ip.into())]),
        created_at: None,
    };
    let state = State {
        resources: vec![
            server("creo/server.shared", "192.0.2.1"),
            server("creo:dev/server.shared", "192.0.2.2"),
            server("creo:live/server.web", "192.0.2.3"),
        ],
        ..State::default()
    };
    let attrs = |v: &str| BTreeMap::from([("value".to_owned(), v.to_owned()), ("ttl".to_owned(), "300".to_owned())]);
    let at = "creo:dev/dns-record.example.org/api";
    assert_eq!(
        resolve(at, &attrs("server.shared.ip"), &state).unwrap()["value"],
        "192.0.2.2"
    );
    assert_eq!(
        resolve("creo/dns-record.example.org/api", &attrs("server.shared.ip"), &state).unwrap()["value"],
        "192.0.2.1"
    );
    assert_eq!(resolve(at, &attrs("10.0.0.1"), &state).unwrap(), attrs("10.0.0.1"));
    let missing = resolve(at, &attrs("server.web.ip"), &state).unwrap_err();
    assert_eq!(
        (missing.attribute.as_str(), missing.reference.as_str()),
        ("value", "server.web.ip"),
        "another stage's server is not visible"
    );
    let placeholder: Unresolved = resolve(at, &attrs(KNOWN_AFTER_APPLY), &state).unwrap_err();
    assert!(placeholder.to_string().contains("reference text"), "{placeholder}");
}

#[test]
fn drift_behind_the_tools_back_shows_in_get_state() {
    let w = world();
    let (_, state) = w.create_all();
    {
        let mut world = w.fake.world();
        world.record_mut("api.creo-memories.com").unwrap()["content"] = serde_json::json!("192.0.2.99");
        world.buckets.clear();
        world.routes.clear();
    }
    let provider = provider_for(&w.fake, w.dir.path(), TOKEN, Arc::clone(&w.clock));
    provider.track(&state);
    let now = provider.get_state().unwrap();
    let find = |a: &str| now.iter().find(|r| r.address == a);
    let api = find("creo:dev/dns-record.creo-memories.com/api").expect("still there");
    assert_eq!(api.attributes["value"], "192.0.2.99");
    assert!(find("creo:dev/r2-bucket.creo-attachments").is_none(), "deleted by hand");
    assert_eq!(find("creo:dev/worker.api-gateway").unwrap().attributes["routes"], "");

    // The next apply of the recorded actions puts the value back with one write.
    let head = snapshot(&fleet(&[]));
    let actions = cloudflare_actions(None, &head, None);
    let before = w.fake.world().writes().len();
    let mut state = state;
    let api: Vec<Action> = actions.into_iter().filter(|a| a.address.ends_with("/api")).collect();
    assert!(w.apply(&api, &mut state).ok());
    assert_eq!(w.fake.world().writes().len(), before + 1);
    assert_eq!(
        w.fake.world().record("api.creo-memories.com").unwrap()["content"],
        "203.0.113.7"
    );
}

#[test]
fn destroy_takes_a_provider_id() {
    let w = world();
    let (_, state) = w.create_all();
    let id = state
        .resource("creo:dev/dns-record.creo-memories.com/assets")
        .unwrap()
        .id
        .clone()
        .unwrap();
    w.provider.destroy(&id).unwrap();
    w.provider.destroy(&id).unwrap();
    assert!(w.fake.world().record("assets.creo-memories.com").is_none());
    assert!(matches!(
        w.provider.destroy("nonsense"),
        Err(ProviderError::Permanent(_))
    ));
}

#[test]
fn settings_come_from_the_environment_and_hide_the_token() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    };
    let config = CloudflareConfig {
        account_id: Some(Setting::Env("CF_ACCOUNT_ID".into())),
    };
    let s = CloudflareSettings::from_lookup(
        Some(&config),
        env(&[("CF_API_TOKEN", "tok-123456"), ("CF_ACCOUNT_ID", "acc")]),
    )
    .unwrap();
    assert_eq!(
        (s.api_url.as_str(), s.account_id.as_deref()),
        (DEFAULT_API_URL, Some("acc"))
    );
    assert!(!format!("{s:?}").contains("tok-123456"));
    let s = CloudflareSettings::from_lookup(
        None,
        env(&[
            ("CF_API_TOKEN", "tok"),
            ("FLEET_CLOUDFLARE_API_URL", "http://127.0.0.1:9/client/v4"),
        ]),
    )
    .unwrap();
    assert_eq!(
        (s.api_url.as_str(), s.account_id),
        ("http://127.0.0.1:9/client/v4", None)
    );
    assert!(matches!(
        CloudflareSettings::from_lookup(Some(&config), env(&[("CF_API_TOKEN", "tok")])),
        Err(CloudflareError::MissingAccountEnv { .. })
    ));
    assert!(matches!(
        CloudflareSettings::from_lookup(None, env(&[])),
        Err(CloudflareError::MissingToken)
    ));
}

#[test]
fn the_blocking_provider_can_be_called_from_inside_an_async_runtime() {
    let w = world();
    let (_, state) = w.create_all();
    w.provider.track(&state);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let found = rt.block_on(async { w.provider.get_state() }).unwrap();
    assert_eq!(found.len(), 4);
}

#[test]
fn a_custom_domain_or_cors_removed_in_the_dashboard_is_a_change_in_the_plan() {
    let w = world();
    let (head, state) = w.create_all();
    if let Some(b) = w.fake.world().buckets.iter_mut().find(|b| b.name == "creo-attachments") {
        b.domains.clear();
        b.cors = None;
    }
    let scope = Scope {
        fleet: Some("creo".into()),
        stage: Some("dev".into()),
    };
    let desired = infra::desired(&head, &scope);
    let provider = provider_for(&w.fake, w.dir.path(), TOKEN, Arc::clone(&w.clock));
    provider.track(&state);
    let mut providers = ProviderSet::new();
    providers.add(Box::new(provider));
    let retry = RetryConfig::default();
    let refreshed = infra::refresh(&providers, &*w.clock, &retry, &state, &desired, &scope).expect("refresh");

    // The refresh drops what the read no longer returns, and says so.
    let address = "creo:dev/r2-bucket.creo-attachments";
    let bucket = refreshed.state.resource(address).expect("bucket");
    assert!(
        !bucket
            .attributes
            .keys()
            .any(|k| k == "custom-domain" || k.starts_with("cors.")),
        "{bucket:?}"
    );
    let note = refreshed
        .notes
        .iter()
        .find(|n| n.starts_with(address))
        .expect("a drift note");
    assert!(note.contains("custom-domain cdn.creo-memories.com → -"), "{note}");

    // The plan puts both back; applying it does.
    let plan = infra::plan_infra(&desired, &refreshed.state, &scope);
    let change = plan.changes.iter().find(|c| c.id == address).expect("bucket change");
    assert_eq!(change.action, plan::Action::Update);
    let text = plan::render_text(&plan, false);
    let shown = text.split(&format!("# {address}")).nth(1).expect("bucket in the plan");
    assert!(
        shown.contains("custom-domain") && shown.contains("allowed-origins"),
        "{text}"
    );
    let mut state = refreshed.state;
    let actions = cloudflare_actions(None, &head, None);
    let report = w.apply(
        &actions.into_iter().filter(|a| a.address == address).collect::<Vec<_>>(),
        &mut state,
    );
    assert!(report.ok(), "{report:?}");
    let fake = w.fake.world();
    let b = fake.bucket("creo-attachments").expect("bucket");
    assert!(b.cors.is_some() && b.domains.len() == 1, "{b:?}");
}

#[test]
fn a_proxied_records_declared_ttl_is_not_a_perpetual_change() {
    // Cloudflare stores ttl 1 (automatic) for a proxied record, whatever was sent.
    let w = world();
    let text = fleet(&[(
        r#"value="203.0.113.7" proxied=#true"#,
        r#"value="203.0.113.7" proxied=#true ttl=300"#,
    )]);
    let head = snapshot(&text);
    let mut state = State::default();
    assert!(w.apply(&cloudflare_actions(None, &head, None), &mut state).ok());
    assert_eq!(w.fake.world().record("api.creo-memories.com").unwrap()["ttl"], 1);
    let writes = w.fake.world().writes().len();
    let again = cloudflare_actions(Some(&head), &head, Some(&state));
    assert!(again.is_empty(), "no change planned: {:?}", addresses(&again));
    // Applying the record again (a replayed apply) matches it without a PATCH.
    let replay = cloudflare_actions(None, &head, None);
    assert!(w.apply(&replay, &mut state).ok());
    assert_eq!(w.fake.world().writes().len(), writes, "nothing re-patched");
    let live = w.provider.get_state().unwrap();
    let record = live
        .iter()
        .find(|r| r.attributes.get("name").is_some_and(|n| n == "api.creo-memories.com"));
    assert_eq!(record.unwrap().attributes["ttl"], "1");
}

#[test]
fn a_ttl_on_a_proxied_record_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let fleet_dir = dir.path().join(".fleetflow");
    std::fs::create_dir_all(&fleet_dir).unwrap();
    let text = fleet(&[(
        r#"value="203.0.113.7" proxied=#true"#,
        r#"value="203.0.113.7" proxied=#true ttl=300"#,
    )]);
    std::fs::write(fleet_dir.join("fleet.kdl"), text).unwrap();
    let loaded = fleetflow::config::load::load_fleet_file(&fleet_dir.join("fleet.kdl")).expect("valid");
    let warnings = loaded.warnings.brief();
    assert!(warnings.iter().any(|w| w.contains("ttl is automatic")), "{warnings:?}");
}
