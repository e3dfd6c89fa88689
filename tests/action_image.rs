//! The Action's image: the repository's Dockerfile built here on a locally made base
//! (scripts/action-image.sh: a base assembled from this machine's busybox, docker CLI, ssh and
//! git, the classic builder, no network), then run exactly as GitHub's runner runs a container
//! action — the workspace at /github/workspace (also the working directory), the event file
//! under /github/workflow, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files under
//! /github/file_commands, INPUT_* variables with hyphens kept, RUNNER_TEMP naming a host path
//! that is not mounted — against the fake GitHub on the host (`--network host`).
//!
//! Needs the test world's Docker engine: a missing one is a failure, never a skip.

#[path = "support/action_runner.rs"]
mod action_runner;
#[path = "support/fake_github.rs"]
mod fake_github;
mod support;

use action_runner::{ACTIONS_BOT, Repo, TOKEN, assert_planned_web_deploy, fake, get, report};

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

use action_runner::parse_outputs;
use fake_github::fixtures_external;
use fleetflow::plan::PLAN_MARKER;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The built image: (tag, size in bytes). Built once per test process.
fn image() -> &'static (String, u64) {
    static IMAGE: OnceLock<(String, u64)> = OnceLock::new();
    IMAGE.get_or_init(|| {
        // The Docker engine of the test world; panics (fails) when it is not set up.
        let _world = support::test_world();
        let start = Instant::now();
        // The binary cargo built for the tests (debug, dynamic): no release build in the test
        // run. The size of the release image is measured by the script itself (README).
        let out = Command::new("bash")
            .arg(root().join("scripts/action-image.sh"))
            .args([
                "--fleet",
                env!("CARGO_BIN_EXE_fleet"),
                "--tag",
                "fleetflow/action:test-debug",
            ])
            .output()
            .expect("bash runs scripts/action-image.sh");
        assert!(out.status.success(), "scripts/action-image.sh failed\n{}", report(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name}= line\n{}", report(&out)))
                .to_owned()
        };
        let size = field("size").parse().expect("size is a number");
        eprintln!(
            "action image {} built in {:.1?}: {size} bytes\n{}",
            field("image"),
            start.elapsed(),
            String::from_utf8_lossy(&out.stderr)
        );
        (field("image"), size)
    })
}

/// What the runner's host side holds for one job: the checkout (fixtures/ as a git repository
/// whose head commit changes the web fleet's live port, its route auto-deployed), the workflow
/// dir with the event file, the file-commands dir and the container's home.
struct Job {
    repo: Repo,
    dir: tempfile::TempDir,
}

impl Job {
    fn new() -> Job {
        let dir = tempfile::tempdir().unwrap();
        for d in ["workflow", "file_commands", "home"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Job {
            repo: Repo::new(true),
            dir,
        }
    }

    fn host(&self, name: &str) -> PathBuf {
        if name == "workspace" {
            return self.repo.ws();
        }
        self.dir.path().join(name)
    }

    /// `docker run` as the runner does it for a `runs.using: docker` action, with action.yml's
    /// input defaults; `inputs` override them. Returns the run and the parsed GITHUB_OUTPUT and
    /// the step summary.
    fn run(
        &self,
        image: &str,
        event_name: &str,
        event: &Value,
        api: &str,
        inputs: &[(&str, &str)],
    ) -> (Output, Vec<(String, String)>, String) {
        std::fs::write(self.host("workflow/event.json"), serde_json::to_vec(event).unwrap()).unwrap();
        // Fresh command files per step, as the runner names them.
        let output = "set_output_3c0a57b4-0d5b-4d7c-9d44-6a5b8c0de001";
        let summary = "step_summary_3c0a57b4-0d5b-4d7c-9d44-6a5b8c0de001";
        std::fs::write(self.host("file_commands").join(output), "").unwrap();
        std::fs::write(self.host("file_commands").join(summary), "").unwrap();
        let mount = |host: &str, container: &str| format!("{}:{container}", self.host(host).display());
        let mut cmd = Command::new("docker");
        cmd.args(["run", "--rm", "--network", "host", "--workdir", "/github/workspace"]);
        let mut env: Vec<(String, String)> = [
            ("HOME", "/github/home"),
            ("CI", "true"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", event_name),
            ("GITHUB_EVENT_PATH", "/github/workflow/event.json"),
            ("GITHUB_WORKSPACE", "/github/workspace"),
            ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
            ("GITHUB_SHA", &self.repo.head),
            ("GITHUB_REF", "refs/pull/2/merge"),
            ("GITHUB_API_URL", api),
            ("GITHUB_OUTPUT", &format!("/github/file_commands/{output}")),
            ("GITHUB_STEP_SUMMARY", &format!("/github/file_commands/{summary}")),
            // The runner passes its own temp path, which is not mounted into the container.
            ("RUNNER_TEMP", "/home/runner/work/_temp"),
            ("NO_COLOR", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let defaults = [
            ("command", "auto"),
            ("registry-path", ""),
            ("fleet", ""),
            ("stage", ""),
            ("registry", ""),
            ("push", "false"),
            ("platform", ""),
            ("github-token", TOKEN),
            ("ssh-private-key", ""),
            ("ssh-known-hosts", ""),
            ("dry-run", "false"),
            ("comment", "true"),
        ];
        for (name, default) in defaults {
            let value = inputs.iter().find(|(n, _)| *n == name).map_or(default, |(_, v)| *v);
            env.push((format!("INPUT_{}", name.to_uppercase()), value.to_owned()));
        }
        for (k, v) in &env {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        cmd.arg("-v").arg(mount("workspace", "/github/workspace"));
        cmd.arg("-v").arg(mount("workflow", "/github/workflow"));
        cmd.arg("-v").arg(mount("file_commands", "/github/file_commands"));
        cmd.arg("-v").arg(mount("home", "/github/home"));
        cmd.arg(image);
        let out = cmd.output().expect("docker run");
        let text = std::fs::read_to_string(self.host("file_commands").join(output)).unwrap();
        let outputs = parse_outputs(&text)
            .unwrap_or_else(|e| panic!("GITHUB_OUTPUT does not parse: {e}\n{text}\n{}", report(&out)));
        let summary = std::fs::read_to_string(self.host("file_commands").join(summary)).unwrap();
        (out, outputs, summary)
    }
}

fn event(path: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixtures_external().join(path)).unwrap()).unwrap()
}

#[test]
fn the_image_follows_the_rules_of_container_actions() {
    let (tag, size) = image();
    assert!(*size > 0, "{tag} has a size");
    // GitHub's rules for container actions: no USER, no WORKDIR; the entrypoint is `fleet action`.
    let out = Command::new("docker")
        .args([
            "image",
            "inspect",
            "-f",
            "{{json .Config.User}} {{json .Config.WorkingDir}} {{json .Config.Entrypoint}}",
            tag,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", report(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#""" "" ["fleet","action"]"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_plans_a_pull_request_as_the_runner_runs_it() {
    let (tag, _) = image();
    let job = Job::new();
    let (fake, _keys) = fake().await;
    let mut pr = event("webhooks/pull_request/opened.payload.json");
    pr["pull_request"]["base"]["sha"] = Value::from(job.repo.base.clone());
    pr["pull_request"]["head"]["sha"] = Value::from(job.repo.head.clone());
    let api = fake.url();
    let (out, outputs, summary) = tokio::task::block_in_place(|| job.run(tag, "pull_request", &pr, &api, &[]));
    assert!(out.status.success(), "{}", report(&out));
    assert_eq!(get(&outputs, "plan-has-changes"), "true");
    assert!(get(&outputs, "plan-summary").contains("1 to change"), "{outputs:?}");
    assert!(
        serde_json::from_str::<Value>(get(&outputs, "images"))
            .unwrap()
            .is_array()
    );
    assert_eq!(get(&outputs, "deployed"), "[]");
    assert!(summary.starts_with(PLAN_MARKER), "{summary}");
    assert!(summary.contains("28081"), "{summary}");
    let w = fake.world();
    assert!(w.violations.is_empty(), "{:?}", w.violations);
    let ours: Vec<_> = w.comments.iter().filter(|c| c.login == ACTIONS_BOT).collect();
    assert_eq!(ours.len(), 1, "{:?}", w.comments);
    assert!(ours[0].body.starts_with(PLAN_MARKER));
}

/// A push to the default branch with the SSH inputs set (written to the container's temp dir,
/// since the runner's RUNNER_TEMP is not mounted) and a hyphenated input: the dry-run plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_plans_a_deploy_on_push_with_the_ssh_inputs() {
    let (tag, _) = image();
    let job = Job::new();
    let (fake, _keys) = fake().await;
    let mut push = event("webhooks/push/payload.json");
    push["ref"] = Value::from("refs/heads/main");
    push["before"] = Value::from(job.repo.base.clone());
    push["after"] = Value::from(job.repo.head.clone());
    push["repository"]["default_branch"] = Value::from("main");
    let api = fake.url();
    let inputs = [
        ("dry-run", "true"),
        (
            "ssh-private-key",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nnot used by a dry run\n-----END OPENSSH PRIVATE KEY-----",
        ),
        (
            "ssh-known-hosts",
            "203.0.113.10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ",
        ),
    ];
    let (out, outputs, _) = tokio::task::block_in_place(|| job.run(tag, "push", &push, &api, &inputs));
    assert_planned_web_deploy(&out, &outputs);
    assert!(fake.world().violations.is_empty());
}
