//! `fleet plan` on real git repositories (two commits, a feature branch, a dirty working
//! tree, no default branch, no git at all) and `fleet state show|unlock`.

use std::path::Path;
use std::process::Command as Process;

use assert_cmd::Command;
use predicates::str::contains;

const SECRET: &str = "cli-secret-admin-password";

fn registry(server: &str) -> String {
    format!(
        r#"registry "cli-fixture"
fleet "web" {{ path "fleets/web"; }}
server "vps-01" {{ provider "sakura-cloud"; ssh-host "203.0.113.10"; deploy-path "/opt/apps"; }}
server "vps-02" {{ provider "sakura-cloud"; ssh-host "203.0.113.11"; deploy-path "/opt/apps"; }}
deployment {{
    route fleet="web" stage="live" server="{server}"
}}
"#
    )
}

fn fleet_file(image: &str, location: &str) -> String {
    format!(
        r#"project "web"
service "site" {{
    image "{image}"
    port 8080 80
    env {{ ADMIN_PASSWORD "{SECRET}"; MODE "prod"; }}
}}
stage "live" {{
    r2-bucket "web-assets" {{ provider "cloudflare"; location "{location}"; }}
}}
"#
    )
}

fn write_config(dir: &Path, server: &str, image: &str, location: &str) {
    std::fs::create_dir_all(dir.join("fleets/web/.fleetflow")).expect("mkdir");
    std::fs::write(dir.join("fleet-registry.kdl"), registry(server)).expect("registry");
    std::fs::write(dir.join("fleets/web/.fleetflow/fleet.kdl"), fleet_file(image, location)).expect("fleet");
}

fn git(dir: &Path, args: &[&str]) {
    let out = Process::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn commit_all(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
}

/// A repository: `main` holds the first configuration; `feature` changes the service image,
/// moves the route to vps-02 and moves the bucket (a replacement).
fn repo(branch: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    git(dir.path(), &["init", "-q", "-b", branch]);
    write_config(dir.path(), "vps-01", "nginx:1.25", "APAC");
    commit_all(dir.path(), "first");
    git(dir.path(), &["checkout", "-q", "-b", "feature"]);
    write_config(dir.path(), "vps-02", "nginx:1.27", "WEUR");
    commit_all(dir.path(), "change service, route and infra");
    dir
}

fn fleet(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("fleet").expect("binary");
    cmd.current_dir(dir)
        .env_remove("FLEET_REGISTRY_PATH")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env("NO_COLOR", "1");
    cmd
}

fn stdout(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

const CHANGES: [&str; 6] = [
    r#"~ image = "nginx:1.25" -> "nginx:1.27""#,
    "~ route web:live  vps-01 → vps-02",
    r#"-/+ r2-bucket "web-assets" {"#,
    r#"~ location = "APAC" -> "WEUR" # forces replacement"#,
    "Plan: 1 to add, 2 to change, 1 to destroy.",
    "vps-02 ← web:live",
];

#[test]
fn plan_between_two_commits_shows_service_route_and_infra_changes() {
    let dir = repo("main");
    // Default base: the merge base of HEAD (feature) and main, i.e. the first commit.
    let default = fleet(dir.path()).arg("plan").assert().success();
    let text = stdout(&default);
    for change in CHANGES {
        assert!(text.contains(change), "{change:?} in\n{text}");
    }
    assert!(!text.contains(SECRET), "{text}");
    let stderr = String::from_utf8_lossy(&default.get_output().stderr).into_owned();
    assert!(stderr.contains("merge base of HEAD and main"), "{stderr}");
    let explicit = fleet(dir.path()).args(["plan", "--base", "HEAD~1"]).assert().success();
    assert_eq!(stdout(&explicit), text);
    fleet(dir.path())
        .args(["plan", "--base", "HEAD~1", "--detailed-exitcode"])
        .assert()
        .code(2);
    // Nothing changes from HEAD, but nothing was ever applied: the bucket HEAD declares is
    // still to be created (no state is recorded), so there is something to apply.
    let unchanged = fleet(dir.path())
        .args(["plan", "--base", "HEAD", "--detailed-exitcode"])
        .assert()
        .code(2);
    let text = stdout(&unchanged);
    assert!(text.starts_with("No changes."), "{text}");
    let unapplied = text
        .split_once("Not applied yet")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    assert!(
        unapplied.contains("web:live/r2-bucket.web-assets will be created"),
        "{text}"
    );
    let json = fleet(dir.path())
        .args(["plan", "--base", "HEAD", "--output", "json"])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(json["changes"], serde_json::json!([]), "{json}");
    assert_eq!(json["unapplied"][0]["id"], "web:live/r2-bucket.web-assets", "{json}");
}

#[test]
fn the_working_tree_is_the_head_and_git_objects_are_the_base() {
    let dir = repo("main");
    std::fs::write(
        dir.path().join("fleets/web/.fleetflow/fleet.kdl"),
        fleet_file("nginx:1.29", "WEUR"),
    )
    .expect("edit");
    fleet(dir.path())
        .args(["plan", "--base", "HEAD", "--detailed-exitcode"])
        .assert()
        .code(2)
        .stdout(contains(r#"~ image = "nginx:1.27" -> "nginx:1.29""#))
        .stdout(contains("Plan: 0 to add, 1 to change, 0 to destroy."));
    // From a subdirectory too, and the checkout is untouched.
    fleet(&dir.path().join("fleets/web"))
        .args(["plan", "--base", "HEAD~1"])
        .assert()
        .success()
        .stdout(contains(r#""nginx:1.25" -> "nginx:1.29""#));
    let on_disk = std::fs::read_to_string(dir.path().join("fleets/web/.fleetflow/fleet.kdl")).expect("read");
    assert!(on_disk.contains("nginx:1.29"));
}

#[test]
fn without_a_base_everything_is_new() {
    // Not a git repository.
    let plain = tempfile::tempdir().expect("tempdir");
    write_config(plain.path(), "vps-01", "nginx:1.25", "APAC");
    let out = fleet(plain.path())
        .args(["plan", "--detailed-exitcode"])
        .assert()
        .code(2);
    let text = stdout(&out);
    assert!(text.contains("Plan: 6 to add, 0 to change, 0 to destroy."), "{text}");
    assert!(
        !text.contains(SECRET) && text.contains("env.ADMIN_PASSWORD = (sensitive value)"),
        "{text}"
    );
    fleet(plain.path())
        .args(["plan", "--base", "HEAD"])
        .assert()
        .code(1)
        .stderr(contains("--base needs a git repository"));
    // A repository whose only branch is neither main nor master: no default base.
    let trunk = repo("trunk");
    fleet(trunk.path())
        .arg("plan")
        .assert()
        .success()
        .stdout(contains("Plan: 6 to add, 0 to change, 0 to destroy."))
        .stderr(contains("everything is new"));
}

#[test]
fn markdown_and_json_outputs() {
    let dir = repo("main");
    let md = fleet(dir.path())
        .args(["plan", "--output", "markdown"])
        .assert()
        .success();
    let md = stdout(&md);
    assert!(md.starts_with(fleetflow::plan::PLAN_MARKER), "{md}");
    assert!(md.contains("<details><summary><code>web:live</code>"), "{md}");
    assert!(md.contains("```diff") && !md.contains(SECRET));
    let json = fleet(dir.path()).args(["plan", "--output", "json"]).assert().success();
    let json: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).expect("json");
    assert_eq!(
        json["summary"],
        serde_json::json!({"add": 1, "change": 2, "destroy": 1})
    );
    let ids: Vec<&str> = json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "route.web:live",
            "web:live/service.site",
            "web:live/r2-bucket.web-assets"
        ]
    );
    assert_eq!(json["changes"][2]["action"], "replace");
    assert!(!String::from_utf8_lossy(&serde_json::to_vec(&json).expect("json")).contains(SECRET));
}

#[test]
fn colors_stage_filter_and_errors() {
    let dir = repo("main");
    fleet(dir.path())
        .args(["--color", "always", "plan"])
        .assert()
        .success()
        .stdout(contains("\x1b[33m~\x1b[0m"));
    fleet(dir.path())
        .args(["plan", "--stage", "live"])
        .assert()
        .success()
        .stdout(contains("Plan: 1 to add, 2 to change, 1 to destroy."));
    fleet(dir.path())
        .args(["plan", "--stage", "nope"])
        .assert()
        .code(2)
        .stderr(contains("no fleet defines stage `nope`"));
    fleet(dir.path())
        .args(["plan", "--stage", "nope", "--detailed-exitcode"])
        .assert()
        .code(1);
    fleet(dir.path())
        .args(["plan", "--base", "no-such-ref"])
        .assert()
        .code(1)
        .stderr(contains("\"no-such-ref\" is not a commit"));
    std::fs::write(dir.path().join("fleet-registry.kdl"), "registry \"x\"\nbogus 1\n").expect("break");
    fleet(dir.path())
        .args(["plan", "--detailed-exitcode"])
        .assert()
        .code(1)
        .stderr(contains("configuration is invalid"));
}

#[test]
fn state_show_and_unlock() {
    let dir = repo("main");
    fleet(dir.path())
        .args(["state", "show"])
        .assert()
        .success()
        .stdout(contains("No state recorded yet"))
        .stdout(contains("Lock: none"));
    let state_dir = dir.path().join(".fleetflow");
    std::fs::create_dir_all(&state_dir).expect("mkdir");
    let bucket =
        r#"{"address": "web:live/r2-bucket.web-assets", "provider": "cloudflare", "attributes": {"location": "WEUR"}}"#;
    let state = format!(r#"{{"version": 1, "resources": [{bucket}]}}"#);
    std::fs::write(state_dir.join("state.json"), state).expect("state");
    let lock = r#"{"holder": "ci@runner-3", "operation": "apply", "created_at": "2024-01-01T00:00:00Z"}"#;
    std::fs::write(state_dir.join("lock.json"), lock).expect("lock");
    fleet(dir.path())
        .args(["state", "show"])
        .assert()
        .success()
        .stdout(contains("(version 1, 1 resource)"))
        .stdout(contains(
            r#"web:live/r2-bucket.web-assets  provider="cloudflare"  location="WEUR""#,
        ))
        .stdout(contains("Lock: held by ci@runner-3 for `apply`"));
    let json = fleet(dir.path())
        .args(["state", "show", "--output", "json"])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).expect("json");
    assert_eq!(
        json["state"]["resources"][0]["address"],
        "web:live/r2-bucket.web-assets"
    );
    assert_eq!(json["lock"]["holder"], "ci@runner-3");
    fleet(dir.path())
        .args(["state", "unlock"])
        .assert()
        .success()
        .stdout(contains("Removed the state lock held by ci@runner-3"));
    fleet(dir.path())
        .args(["state", "unlock"])
        .assert()
        .success()
        .stdout(contains("The state is not locked."));
    // The recorded bucket exists; the plan reads the state beside the registry.
    fleet(dir.path())
        .args(["plan", "--base", "HEAD"])
        .assert()
        .success()
        .stdout(contains("No changes."));
    std::fs::write(state_dir.join("state.json"), "{").expect("corrupt");
    for args in [&["state", "show"][..], &["plan"]] {
        fleet(dir.path())
            .args(args)
            .assert()
            .code(1)
            .stderr(contains("state.json is corrupt"));
    }
}

/// Copies `from` into `to` recursively.
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn plan_of_the_fixtures_between_two_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for part in ["fleet-registry.kdl", "fleets"] {
        let from = fixtures.join(part);
        if from.is_dir() {
            std::fs::create_dir_all(root.join(part)).expect("mkdir");
            copy_tree(&from, &root.join(part));
        } else {
            std::fs::copy(&from, root.join(part)).expect("copy");
        }
    }
    commit_all(root, "the sample monorepo");
    // A service change, a route moved to a new server, and a cloud server added to a stage.
    let edit = |path: &str, from: &str, to: &str| {
        let p = root.join(path);
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(text.contains(from), "{path} holds {from:?}");
        std::fs::write(&p, text.replacen(from, to, 1)).expect("write");
    };
    edit("fleets/web/.fleetflow/fleet.kdl", "port host=28080", "port host=28090");
    edit(
        "fleet-registry.kdl",
        "deployment {",
        "server \"vps-02\" {\n    ssh-host \"127.0.0.2\"\n    deploy-path \"/opt/apps\"\n}\n\ndeployment {",
    );
    edit(
        "fleet-registry.kdl",
        "route fleet=\"api\" stage=\"live\" server=\"vps-01\"",
        "route fleet=\"api\" stage=\"live\" server=\"vps-02\"",
    );
    edit(
        "fleets/jobs/.fleetflow/fleet.kdl",
        "stage \"live\"",
        "stage \"live\" {\n    server \"jobs-01\" {\n        provider \"sakura-cloud\"\n        plan core=2 memory=4\n    }\n}",
    );
    commit_all(root, "change service, route and infra");
    let out = fleet(root)
        .args(["plan", "--base", "HEAD~1", "--detailed-exitcode"])
        .assert()
        .code(2);
    let text = stdout(&out);
    for expected in [
        "web:live/service.site will be updated in-place",
        "28080",
        "route.api:live",
        "vps-01 → vps-02",
        "server.vps-02 will be created",
        "server.jobs-01",
        "Plan: ",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    // Unchanged since HEAD, never applied: the server HEAD declares is what apply would make.
    let unchanged = fleet(root)
        .args(["plan", "--base", "HEAD", "--detailed-exitcode"])
        .assert()
        .code(2);
    let text = stdout(&unchanged);
    assert!(text.starts_with("No changes."), "{text}");
    assert!(text.contains("+ jobs:live/server.jobs-01 will be created"), "{text}");
}

#[test]
fn base_none_means_everything_is_new() {
    let dir = repo("main");
    let out = fleet(dir.path())
        .args(["plan", "--base", "none", "--output", "json"])
        .assert()
        .success();
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(plan["summary"]["change"], 0, "{plan}");
    assert!(plan["summary"]["add"].as_u64().unwrap() > 0, "{plan}");
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("everything is new"), "{stderr}");
}

#[test]
fn a_shallow_clone_without_the_base_says_what_to_fetch() {
    let origin = repo("main");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", origin.path().display());
    git(
        dir.path(),
        &["clone", "-q", "--depth", "1", "--branch", "feature", &url, "clone"],
    );
    let clone = dir.path().join("clone");
    let base = rev_parse(origin.path(), "main");
    fleet(&clone)
        .args(["plan", "--base", &base])
        .assert()
        .code(1)
        .stderr(contains("shallow"))
        .stderr(contains("fetch-depth: 0"))
        .stderr(contains(format!("git fetch --depth=1 origin {base}")));
    // With the base fetched, the plan is the full one.
    git(&clone, &["fetch", "-q", "--depth=1", "origin", &base]);
    let out = fleet(&clone).args(["plan", "--base", &base]).assert().success();
    assert!(
        stdout(&out).contains("Plan: 1 to add, 2 to change, 1 to destroy."),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_partial_clone_reads_the_base_blobs_it_lacks_from_its_remote() {
    let origin = repo("main");
    git(origin.path(), &["config", "uploadpack.allowFilter", "true"]);
    git(origin.path(), &["config", "uploadpack.allowAnySHA1InWant", "true"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", origin.path().display());
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "--filter=blob:none",
            "--branch",
            "feature",
            &url,
            "clone",
        ],
    );
    let clone = dir.path().join("clone");
    let base = rev_parse(origin.path(), "main");
    // The base's versions of the changed files are not in the clone: they are fetched.
    let out = fleet(&clone).args(["plan", "--base", &base]).assert().success();
    assert!(
        stdout(&out).contains("Plan: 1 to add, 2 to change, 1 to destroy."),
        "{}",
        stdout(&out)
    );
}

/// The commit `rev` names in the repository at `dir`.
fn rev_parse(dir: &Path, rev: &str) -> String {
    let out = Process::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", rev])
        .output()
        .expect("git");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn a_fleet_without_a_registry_plans_on_its_own_against_its_base() {
    // A repository that holds one fleet and no registry (as validate and apply accept).
    let dir = tempfile::tempdir().expect("tempdir");
    git(dir.path(), &["init", "-q", "-b", "main"]);
    let fleet_dir = dir.path().join(".fleetflow");
    std::fs::create_dir_all(&fleet_dir).expect("mkdir");
    std::fs::write(fleet_dir.join("fleet.kdl"), fleet_file("nginx:1.25", "APAC")).expect("fleet");
    commit_all(dir.path(), "first");
    std::fs::write(fleet_dir.join("fleet.kdl"), fleet_file("nginx:1.27", "APAC")).expect("fleet");

    // In the fleet: the nearest fleet, planned against the merge base.
    let text = stdout(&fleet(dir.path()).args(["plan", "--base", "HEAD"]).assert().success());
    assert!(text.contains(r#"~ image = "nginx:1.25" -> "nginx:1.27""#), "{text}");
    assert!(text.contains("Plan: 0 to add, 1 to change, 0 to destroy."), "{text}");
    assert!(
        !text.contains("── registry"),
        "no made-up registry entry in the plan:\n{text}"
    );
    assert!(!text.contains(SECRET), "{text}");
    // Elsewhere: --file names it.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let by_file = fleet(elsewhere.path())
        .args(["plan", "--base", "HEAD", "--file"])
        .arg(dir.path())
        .assert()
        .success();
    assert_eq!(stdout(&by_file), text);
}

#[test]
fn fleet_plans_one_fleet_of_a_registry_on_its_own() {
    let dir = repo("main");
    let text = stdout(
        &fleet(dir.path())
            .args(["plan", "--base", "HEAD~1", "--fleet", "web"])
            .assert()
            .success(),
    );
    assert!(text.contains(r#"~ image = "nginx:1.25" -> "nginx:1.27""#), "{text}");
    // The fleet alone: the registry's route change is not part of it.
    assert!(!text.contains("~ route web:live"), "{text}");
    fleet(dir.path())
        .args(["plan", "--fleet", "nope"])
        .assert()
        .code(2)
        .stderr(contains("the registry has no fleet `nope`; its fleets are: web"));
}

/// `--fleet` plans against the infrastructure state the fleet's cloud commands keep: the
/// registry root's `.fleetflow/state.json`, not one in the fleet's directory.
#[test]
fn fleet_plans_against_the_state_at_the_registry_root() {
    let dir = repo("main");
    let root_state = dir.path().join(".fleetflow/state.json");
    std::fs::create_dir_all(root_state.parent().unwrap()).unwrap();
    std::fs::write(&root_state, "{ not json").unwrap();
    let out = fleet(dir.path())
        .args(["plan", "--base", "HEAD~1", "--fleet", "web"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!("{} is corrupt", root_state.display())) || stderr.contains("state.json is corrupt"),
        "the registry root's state is read: {stderr}"
    );
    std::fs::remove_file(&root_state).unwrap();
    fleet(dir.path())
        .args(["plan", "--base", "HEAD~1", "--fleet", "web"])
        .assert()
        .success();
}
