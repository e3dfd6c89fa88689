//! The joint infrastructure plan over both providers, without the network: the live state as
//! the Sakura Cloud and Cloudflare providers record it, read back by `infra::plan_infra`
//! (drift of every Cloudflare kind shows as a change, an unchanged resource does not), and the
//! actions `infra::action_for` gives each provider (Cloudflare's from `desired_attributes`,
//! references left for the provider to resolve).

#[path = "support/cloud_fixture.rs"]
mod cloud_fixture;

use std::collections::BTreeMap;

use cloud_fixture::snapshot;

use fleetflow::cloud::Op;
use fleetflow::cloud::cloudflare::desired_attributes;
use fleetflow::cloud::infra::{self, Scope, action_for, ordered, provider_for};
use fleetflow::plan::references;
use fleetflow::plan::state::{State, StateResource};
use fleetflow::plan::{self, KNOWN_AFTER_APPLY, Plan, Snapshot};

const FLEET: &str = r#"project "creo"
stage "dev" {
    server "creo-dev-01" { plan core=2 memory=4; disk size=40 os="ubuntu-24.04"; }
    r2-bucket "creo-attachments" {
        location "APAC"
        cors {
            allowed-origins "https://api.creo-memories.com"
            allowed-methods "GET" "PUT"
            max-age 3600
        }
        custom-domain "cdn.creo-memories.com"
    }
    worker "api-gateway" {
        source "./workers/api-gateway"
        route "api.creo-memories.com/*"
    }
    dns "creo-memories.com" {
        record "api" type="A" value=server.creo-dev-01.ip proxied=#true
        record "www" type="CNAME" value="creo-memories.com" ttl=300
    }
}
"#;

fn scope() -> Scope {
    Scope {
        fleet: Some("creo".into()),
        stage: Some("dev".into()),
    }
}

fn desired() -> Snapshot {
    infra::desired(&snapshot(FLEET), &scope())
}

fn resource(address: &str, provider: &str, attrs: &[(&str, &str)]) -> StateResource {
    StateResource {
        address: address.into(),
        provider: Some(provider.into()),
        id: Some(format!("id-of-{address}")),
        attributes: attrs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        created_at: None,
    }
}

/// Everything applied, as the providers record it (TTL 1 is Cloudflare's "automatic").
fn applied() -> State {
    let mut state = State::default();
    for r in [
        resource(
            "creo:dev/server.creo-dev-01",
            "sakura-cloud",
            &[
                ("ip", "203.0.113.7"),
                ("core", "2"),
                ("memory", "4"),
                ("disk-size", "40"),
                ("os", "ubuntu-24.04"),
                ("power", "up"),
            ],
        ),
        resource(
            "creo:dev/dns-record.creo-memories.com/api",
            "cloudflare",
            &[
                ("type", "A"),
                ("value", "203.0.113.7"),
                ("proxied", "true"),
                ("ttl", "1"),
            ],
        ),
        resource(
            "creo:dev/dns-record.creo-memories.com/www",
            "cloudflare",
            &[
                ("type", "CNAME"),
                ("value", "creo-memories.com"),
                ("proxied", "false"),
                ("ttl", "300"),
            ],
        ),
        resource(
            "creo:dev/r2-bucket.creo-attachments",
            "cloudflare",
            &[
                ("location", "apac"),
                ("custom-domain", "cdn.creo-memories.com"),
                ("cors.allowed-origins", "https://api.creo-memories.com"),
                ("cors.allowed-methods", "PUT,GET"),
                ("cors.allowed-headers", ""),
                ("cors.max-age", "3600"),
            ],
        ),
        resource(
            "creo:dev/worker.api-gateway",
            "cloudflare",
            &[
                ("source", "./workers/api-gateway"),
                ("routes", "api.creo-memories.com/*"),
            ],
        ),
    ] {
        state.upsert(r);
    }
    state
}

fn edit(state: &mut State, address: &str, key: &str, value: &str) {
    let mut r = state.resource(address).cloned().expect("recorded");
    r.attributes.insert(key.into(), value.into());
    state.upsert(r);
}

fn plan_of(state: &State) -> Plan {
    infra::plan_infra(&desired(), state, &scope())
}

/// `(address, path, before → after)` of every changed attribute.
fn changes(plan: &Plan) -> Vec<(String, String, String)> {
    plan.changes
        .iter()
        .flat_map(|c| {
            c.attributes.iter().map(|a| {
                let text = |v: &Option<plan::Attr>| v.as_ref().map_or("null".to_owned(), |a| a.to_string());
                (
                    c.id.clone(),
                    a.path.clone(),
                    format!("{} -> {}", text(&a.before), text(&a.after)),
                )
            })
        })
        .collect()
}

#[test]
fn everything_as_declared_plans_nothing() {
    let plan = plan_of(&applied());
    assert!(plan.is_empty(), "{:?}", changes(&plan));
}

#[test]
fn drift_of_every_cloudflare_kind_is_a_change() {
    let mut state = applied();
    edit(
        &mut state,
        "creo:dev/dns-record.creo-memories.com/api",
        "value",
        "198.51.100.9",
    );
    edit(
        &mut state,
        "creo:dev/dns-record.creo-memories.com/api",
        "proxied",
        "false",
    );
    edit(&mut state, "creo:dev/dns-record.creo-memories.com/www", "ttl", "120");
    edit(
        &mut state,
        "creo:dev/r2-bucket.creo-attachments",
        "custom-domain",
        "files.example.com",
    );
    edit(
        &mut state,
        "creo:dev/r2-bucket.creo-attachments",
        "cors.allowed-methods",
        "GET",
    );
    edit(
        &mut state,
        "creo:dev/worker.api-gateway",
        "routes",
        "api.creo-memories.com/v1/*",
    );
    let got = changes(&plan_of(&state));
    let want = [
        (
            "creo:dev/dns-record.creo-memories.com/api",
            "value",
            "\"198.51.100.9\" -> \"203.0.113.7\"",
        ),
        ("creo:dev/dns-record.creo-memories.com/api", "proxied", "false -> true"),
        ("creo:dev/dns-record.creo-memories.com/www", "ttl", "120 -> 300"),
        (
            "creo:dev/r2-bucket.creo-attachments",
            "custom-domain",
            "\"files.example.com\" -> \"cdn.creo-memories.com\"",
        ),
        (
            "creo:dev/r2-bucket.creo-attachments",
            "cors.allowed-methods",
            "[\"GET\"] -> [\"GET\", \"PUT\"]",
        ),
        (
            "creo:dev/worker.api-gateway",
            "routes",
            "[\"api.creo-memories.com/v1/*\"] -> [\"api.creo-memories.com/*\"]",
        ),
    ];
    for (address, path, change) in want {
        assert!(
            got.iter().any(|(a, p, c)| a == address && p == path && c == change),
            "{address} {path} {change} not in {got:#?}"
        );
    }
    assert_eq!(got.len(), want.len(), "{got:#?}");
}

#[test]
fn a_record_type_changed_outside_is_replaced() {
    let mut state = applied();
    edit(&mut state, "creo:dev/dns-record.creo-memories.com/www", "type", "TXT");
    let plan = plan_of(&state);
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].action, plan::Action::Replace);
}

#[test]
fn a_new_server_makes_the_record_known_after_apply_and_goes_first() {
    let plan = plan_of(&State::default());
    let record = plan
        .changes
        .iter()
        .find(|c| c.id == "creo:dev/dns-record.creo-memories.com/api")
        .expect("record planned");
    let value = record.attributes.iter().find(|a| a.path == "value").expect("value");
    assert_eq!(
        value.after.as_ref().map(|a| a.to_string()).as_deref(),
        Some(KNOWN_AFTER_APPLY)
    );
    let order: Vec<&str> = ordered(&plan).iter().map(|c| c.id.as_str()).collect();
    assert_eq!(order.first(), Some(&"creo:dev/server.creo-dev-01"), "{order:?}");
    let server = order.iter().position(|a| a.contains("/server.")).expect("server");
    let records: Vec<usize> = order
        .iter()
        .enumerate()
        .filter(|(_, a)| a.contains("/dns-record."))
        .map(|(i, _)| i)
        .collect();
    assert!(records.iter().all(|i| *i > server), "{order:?}");
}

#[test]
fn actions_carry_each_providers_vocabulary_and_the_reference_text() {
    let plan = plan_of(&State::default());
    for change in &plan.changes {
        let action = action_for(change).expect("action");
        assert_eq!(action.op, Op::Create);
        let after = change.after.as_ref().expect("after");
        match provider_for(change).as_deref() {
            Some("cloudflare") => assert_eq!(Some(action.attributes.clone()), desired_attributes(after)),
            Some("sakura-cloud") => {
                let want: BTreeMap<String, String> = [
                    ("name", "creo-dev-01"),
                    ("core", "2"),
                    ("memory", "4"),
                    ("disk-size", "40"),
                    ("os", "ubuntu-24.04"),
                ]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
                assert_eq!(action.attributes, want);
            }
            other => panic!("{}: provider {other:?}", change.id),
        }
    }
    let record = plan
        .changes
        .iter()
        .find(|c| c.id.ends_with("/api"))
        .map(|c| action_for(c).expect("action"))
        .expect("record");
    assert_eq!(record.attributes["value"], "server.creo-dev-01.ip");
    // Resolved by the one resolver once the server is recorded.
    let unresolved = references::resolve(&record.address, &record.attributes, &State::default());
    assert!(unresolved.is_err());
    let resolved = references::resolve(&record.address, &record.attributes, &applied()).expect("resolved");
    assert_eq!(resolved["value"], "203.0.113.7");
}

#[test]
fn destroying_deletes_records_before_the_server() {
    let desired = Snapshot::default();
    let base = infra::live_base(&self::desired(), &applied(), &scope());
    let plan = plan::plan(Some(&base), &desired, Some(&applied()));
    let order: Vec<&str> = ordered(&plan).iter().map(|c| c.id.as_str()).collect();
    assert_eq!(order.last(), Some(&"creo:dev/server.creo-dev-01"), "{order:?}");
    for change in &plan.changes {
        let action = action_for(change).expect("action");
        assert_eq!(action.op, Op::Delete);
        if change.id.ends_with("/api") {
            assert_eq!(action.attributes["type"], "A", "the type finds the record to delete");
        }
    }
}
