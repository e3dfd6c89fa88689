//! Who may deploy and where (deploy policies, routes, servers) come from the default branch:
//! what a pull request changes of them is found by meaning, shown in its plan, and makes its
//! `/deploy` need admin (the end-to-end refusals are in serve_deploy.rs).

use std::collections::BTreeMap;

use fleetflow::chatops::rules::changed_deploy_rules;
use fleetflow::config::{LoadOptions, MemoryFiles, Registry, load_workspace};
use fleetflow::plan::markdown::{COMMENT_LIMIT, render_markdown};
use fleetflow::plan::{Snapshot, plan};

const REGISTRY: &str = r#"registry "acme"
fleet "web" { path "fleets/web"; }
fleet "api" { path "fleets/api"; }
server "one" { ssh-host "10.0.0.1"; deploy-path "/srv"; }
server "two" { ssh-host "10.0.0.2"; deploy-path "/srv"; }
deployment {
    route fleet="web" stage="live" server="one"
    route fleet="api" stage="live" server="two"
}
deploy-policy "live" { permission "admin"; }
"#;

fn registry(text: &str) -> Registry {
    let mut files = MemoryFiles::default();
    files.files.insert("fleet-registry.kdl".into(), text.into());
    load_workspace(&files, "fleet-registry.kdl", LoadOptions { verify_fleets: false })
        .expect("valid")
        .registry
}

fn web_live() -> Vec<(String, String)> {
    vec![("web".into(), "live".into())]
}

#[test]
fn the_same_rules_written_differently_change_nothing() {
    let reordered = REGISTRY.replace(
        "deploy-policy \"live\" { permission \"admin\"; }",
        "// moved\ndeploy-policy \"live\" {\n    permission \"admin\"\n}",
    );
    let base = registry(REGISTRY);
    assert!(changed_deploy_rules(Some(&base), &registry(&reordered), &web_live()).is_empty());
}

#[test]
fn policies_routes_and_the_servers_a_target_uses_count() {
    let base = registry(REGISTRY);
    let changed = |text: &str| changed_deploy_rules(Some(&base), &registry(text), &web_live());
    let without_policy = &REGISTRY[..REGISTRY.find("deploy-policy").unwrap()];
    assert_eq!(changed(without_policy), ["deploy-policy \"live\""]);
    let weaker = REGISTRY.replace("permission \"admin\"", "permission \"write\"");
    assert_eq!(changed(&weaker), ["deploy-policy \"live\""]);
    let moved = REGISTRY.replace("10.0.0.1", "203.0.113.9");
    assert_eq!(changed(&moved), ["server \"one\""]);
    let rerouted = REGISTRY.replace(
        "route fleet=\"web\" stage=\"live\" server=\"one\"",
        "route fleet=\"web\" stage=\"live\" server=\"two\"",
    );
    assert_eq!(changed(&rerouted), ["route web:live"]);
    // Another fleet's server is not what deploying web:live uses.
    let other = REGISTRY.replace("10.0.0.2", "203.0.113.9");
    assert!(changed(&other).is_empty());
    // Without a registry on the default branch, every rule is new.
    let all = changed_deploy_rules(None, &base, &web_live());
    assert_eq!(all, ["server \"one\"", "deploy-policy \"live\"", "route web:live"]);
}

#[test]
fn the_plan_says_when_a_pull_request_changes_the_deploy_rules() {
    let no_fleets = BTreeMap::new();
    let base = Snapshot::from_parts(&registry(REGISTRY), &no_fleets);
    let weaker = REGISTRY.replace("permission \"admin\"", "permission \"write\"");
    let head = Snapshot::from_parts(&registry(&weaker), &no_fleets);
    let markdown = render_markdown(&plan(Some(&base), &head, None), COMMENT_LIMIT);
    assert!(markdown.contains("> [!WARNING]"), "{markdown}");
    assert!(
        markdown.contains("**Changes who may deploy or where:** `deploy-policy \"live\"`"),
        "{markdown}"
    );
    assert!(markdown.contains("permission = \"admin\" -> \"write\""), "{markdown}");
    let same = render_markdown(&plan(Some(&base), &base, None), COMMENT_LIMIT);
    assert!(!same.contains("[!WARNING]"), "{same}");
}
