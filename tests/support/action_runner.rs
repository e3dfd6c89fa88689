//! Running `fleet action` as the GitHub runner runs a Docker action (shared by the Action
//! tests): a git workspace, an event file, GITHUB_* / INPUT_* variables, GITHUB_OUTPUT and
//! GITHUB_STEP_SUMMARY files, against the fake GitHub with a workflow token.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::fake_github::{self, FakeGitHub, fixtures_external};
use serde_json::Value;

pub const TOKEN: &str = "ghs_workflow_token_for_tests";
pub const ACTIONS_BOT: &str = "github-actions[bot]";

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A git repository made from fixtures/ (registry + fleets): (dir, base sha, head sha); the
/// head commit changes the web fleet's live port. `routes` replaces the deployment block.
pub struct Repo {
    pub dir: tempfile::TempDir,
    pub base: String,
    pub head: String,
}

impl Repo {
    pub fn new(auto_deploy_web: bool) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let ws = dir.path().join("ws");
        copy_dir(&fixtures.join("fleets"), &ws.join("fleets"));
        let mut registry = std::fs::read_to_string(fixtures.join("fleet-registry.kdl")).unwrap();
        if auto_deploy_web {
            registry = registry.replace(
                "route fleet=\"web\" stage=\"live\" server=\"vps-01\"",
                "route fleet=\"web\" stage=\"live\" server=\"vps-01\" auto-deploy=#true",
            );
            assert!(registry.contains("auto-deploy"));
        }
        std::fs::write(ws.join("fleet-registry.kdl"), registry).unwrap();
        git(&ws, &["init", "-q", "-b", "main"]);
        git(&ws, &["add", "-A"]);
        git(&ws, &["commit", "-q", "-m", "base"]);
        let base = git(&ws, &["rev-parse", "HEAD"]);
        let web = ws.join("fleets/web/.fleetflow/fleet.kdl");
        let text = std::fs::read_to_string(&web).unwrap();
        assert!(text.contains("host=28080"));
        std::fs::write(&web, text.replace("host=28080", "host=28081")).unwrap();
        git(&ws, &["commit", "-q", "-am", "web: live port 28081"]);
        let head = git(&ws, &["rev-parse", "HEAD"]);
        Repo { dir, base, head }
    }

    pub fn ws(&self) -> PathBuf {
        self.dir.path().join("ws")
    }
}

/// One runner invocation: an event file and fresh GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files.
pub struct Invocation {
    pub dir: tempfile::TempDir,
    pub cmd: Command,
}

impl Invocation {
    pub fn new(repo: &Repo, event_name: &str, event: &Value, api: &str) -> Invocation {
        let dir = tempfile::tempdir().unwrap();
        let event_path = dir.path().join("event.json");
        std::fs::write(&event_path, serde_json::to_vec(event).unwrap()).unwrap();
        std::fs::write(dir.path().join("output"), "").unwrap();
        std::fs::write(dir.path().join("summary"), "").unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleet"));
        cmd.arg("action")
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("NO_COLOR", "1")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", event_name)
            .env("GITHUB_EVENT_PATH", &event_path)
            .env("GITHUB_REPOSITORY", "Codertocat/Hello-World")
            .env("GITHUB_SHA", &repo.head)
            .env("GITHUB_REF", "refs/pull/2/merge")
            .env("GITHUB_WORKSPACE", repo.ws())
            .env("GITHUB_API_URL", api)
            .env("GITHUB_OUTPUT", dir.path().join("output"))
            .env("GITHUB_STEP_SUMMARY", dir.path().join("summary"))
            .env("RUNNER_TEMP", dir.path())
            // As the runner passes action.yml's defaults.
            .env("INPUT_COMMAND", "auto")
            .env("INPUT_GITHUB-TOKEN", TOKEN)
            .env("INPUT_COMMENT", "true")
            .env("INPUT_DRY-RUN", "false")
            .env("INPUT_REGISTRY-PATH", "")
            .env("INPUT_STAGE", "");
        Invocation { dir, cmd }
    }

    pub fn env(mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(name, value);
        self
    }

    pub fn input(mut self, name: &str, value: &str) -> Self {
        self.cmd.env(format!("INPUT_{}", name.to_uppercase()), value);
        self
    }

    pub async fn run(mut self) -> (Output, Vec<(String, String)>, String) {
        let out = tokio::task::spawn_blocking(move || {
            let out = self.cmd.output().expect("fleet runs");
            (out, self.dir)
        })
        .await
        .unwrap();
        let (out, dir) = out;
        let text = std::fs::read_to_string(dir.path().join("output")).unwrap();
        let outputs = parse_outputs(&text).unwrap_or_else(|e| panic!("GITHUB_OUTPUT does not parse: {e}\n{text}"));
        let summary = std::fs::read_to_string(dir.path().join("summary")).unwrap();
        (out, outputs, summary)
    }
}

pub fn get<'a>(outputs: &'a [(String, String)], name: &str) -> &'a str {
    outputs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no output {name} in {outputs:?}"))
}

pub fn pr_event(repo: &Repo) -> Value {
    let path = fixtures_external().join("webhooks/pull_request/opened.payload.json");
    let mut event: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    event["pull_request"]["base"]["sha"] = Value::from(repo.base.clone());
    event["pull_request"]["head"]["sha"] = Value::from(repo.head.clone());
    event
}

pub fn push_event(repo: &Repo, git_ref: &str) -> Value {
    let path = fixtures_external().join("webhooks/push/payload.json");
    let mut event: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    event["ref"] = Value::from(git_ref);
    event["before"] = Value::from(repo.base.clone());
    event["after"] = Value::from(repo.head.clone());
    event["repository"]["default_branch"] = Value::from("main");
    event
}

/// The fake needs an App public key even though the Action never uses App auth.
pub fn public_key(dir: &Path) -> String {
    fake_github::app_key(dir).1
}

pub async fn fake() -> (FakeGitHub, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeGitHub::start(1, &[], &public_key(dir.path())).await;
    fake.world().add_user_token(TOKEN, ACTIONS_BOT);
    (fake, dir)
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn report(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A dry-run deploy of the fixtures' web fleet: its plan printed, nothing run, `deployed` says
/// planned (the same whether `fleet action` runs on the host or in the image).
pub fn assert_planned_web_deploy(out: &Output, outputs: &[(String, String)]) {
    assert!(out.status.success(), "{}", report(out));
    let text = stdout(out);
    assert!(
        text.contains("Deploy plan for web") && text.contains("Nothing was run"),
        "{}",
        report(out)
    );
    let deployed: Value = serde_json::from_str(get(outputs, "deployed")).unwrap();
    assert_eq!(
        deployed,
        serde_json::json!([{ "fleet": "web", "stage": "live", "server": "vps-01", "status": "planned" }])
    );
}

/// Parses a GITHUB_OUTPUT file as the runner does (both `name=value` and `name<<DELIM` entries), in order.
pub fn parse_outputs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            loop {
                match lines.next() {
                    Some(l) if l == delimiter => break,
                    Some(l) => value.push(l),
                    None => return Err(format!("output {name}: delimiter {delimiter} never closes")),
                }
            }
            out.push((name.to_owned(), value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            out.push((name.to_owned(), value.to_owned()));
        } else {
            return Err(format!("not an output line: {line:?}"));
        }
    }
    Ok(out)
}
