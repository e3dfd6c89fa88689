//! `fleet init`: a repository's first configuration that validates and plans as written, the
//! Action's workflow (the repository's own example, its inputs those of action.yml), and a
//! second run that overwrites nothing.

use std::path::Path;

use assert_cmd::Command;
use predicates::str::contains;

fn fleet(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("fleet").expect("binary");
    cmd.current_dir(dir)
        .env_remove("FLEET_REGISTRY_PATH")
        .env("NO_COLOR", "1");
    cmd
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The inputs action.yml declares.
fn action_inputs() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("action.yml")).expect("action.yml");
    let inputs = text
        .split("\ninputs:\n")
        .nth(1)
        .expect("inputs")
        .split("\noutputs:\n")
        .next()
        .unwrap_or("");
    inputs
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.strip_suffix(':'))
        .filter(|name| !name.starts_with(' '))
        .map(str::to_owned)
        .collect()
}

#[test]
fn init_writes_a_registry_a_fleet_and_the_workflow_that_validate_and_plan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("Shop Repo");
    std::fs::create_dir(&repo).expect("mkdir");
    fleet(&repo)
        .args(["init", "--fleet", "shop"])
        .assert()
        .success()
        .stdout(contains("wrote fleet-registry.kdl"))
        .stdout(contains("wrote fleets/shop/.fleetflow/fleet.kdl"))
        .stdout(contains("wrote .github/workflows/fleetflow.yml"))
        .stdout(contains("fleet up local --fleet shop"));
    fleet(&repo)
        .arg("validate")
        .assert()
        .success()
        .stdout(contains(r#"registry "shop-repo": 1 fleet"#))
        .stdout(contains("stages: local, live"));
    fleet(&repo)
        .args(["plan", "--base", "none"])
        .assert()
        .success()
        .stdout(contains("shop:live/service.web will be created"));

    // The workflow is the repository's example, with what the Action needs.
    let workflow = std::fs::read_to_string(repo.join(".github/workflows/fleetflow.yml")).expect("workflow");
    let example = std::fs::read_to_string(root().join(".github/workflows/examples/fleetflow.yml")).expect("example");
    assert_eq!(workflow, example);
    for needed in [
        "pull-requests: write",
        "issues: write",
        "deployments: write",
        "fetch-depth: 0",
    ] {
        assert!(workflow.contains(needed), "{needed} in the workflow");
    }
    let inputs = action_inputs();
    assert!(inputs.contains(&"ssh-private-key".to_owned()), "{inputs:?}");
    let with = workflow.split("        with:\n").last().unwrap_or("");
    for key in with
        .lines()
        .take_while(|l| l.starts_with("          "))
        .filter_map(|l| {
            let l = l.trim();
            (!l.starts_with('#')).then(|| l.split(':').next().unwrap_or(l).to_owned())
        })
    {
        assert!(inputs.contains(&key), "`{key}` is an input of action.yml: {inputs:?}");
    }

    // The commented server and route, once uncommented, are valid as they stand.
    let registry = std::fs::read_to_string(repo.join("fleet-registry.kdl")).expect("registry");
    let opened: String = registry
        .lines()
        .map(|l| match l.strip_prefix("// ") {
            Some(rest)
                if rest.starts_with("server")
                    || rest.starts_with("deployment")
                    || rest.starts_with("    ")
                    || rest == "}" =>
            {
                rest
            }
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(opened.contains("\nserver \"vps-01\" {"), "{opened}");
    std::fs::write(repo.join("fleet-registry.kdl"), &opened).expect("write");
    fleet(&repo)
        .arg("validate")
        .assert()
        .success()
        .stdout(contains("1 fleet, 1 server, 1 route"));
}

#[test]
fn init_overwrites_nothing_and_refuses_a_bad_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("fleet-registry.kdl"), "registry \"mine\"\n").expect("write");
    fleet(dir.path()).arg("init").assert().code(2).stderr(contains(
        "fleet-registry.kdl already exists; `fleet init` writes nothing over a file",
    ));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("fleet-registry.kdl")).expect("read"),
        "registry \"mine\"\n"
    );
    assert!(!dir.path().join("fleets").exists(), "nothing else was written");
    let empty = tempfile::tempdir().expect("tempdir");
    fleet(empty.path())
        .args(["init", "--fleet", "Bad Name"])
        .assert()
        .code(2)
        .stderr(contains("fleet name \"Bad Name\": use lowercase letters"));
    assert_eq!(std::fs::read_dir(empty.path()).expect("dir").count(), 0);
}
