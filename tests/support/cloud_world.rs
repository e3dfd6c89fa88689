//! The harness of the cloud tests that run the real `fleet` binary with SSH and Docker real
//! (tests/cloud_full.rs, tests/stage_lifecycle.rs): a workspace with a fleet whose stage `dev`
//! has one Sakura Cloud server, both vendor fakes, and the test world's sshd playing the server
//! (the fake gives every created server the IP 127.0.0.1).
//!
//! Use from a test file with `mod support;`, `#[path = "support/fake_sakura.rs"] mod
//! fake_sakura;`, `#[path = "support/fake_cloudflare.rs"] mod fake_cloudflare;` and
//! `#[path = "support/cloud_world.rs"] mod cloud_world;`.
#![allow(dead_code)]

use std::path::PathBuf;

use predicates::str::contains;

use crate::fake_cloudflare::{self, FakeCloudflare};
use crate::fake_sakura::FakeSakura;
use crate::support::{TestWorld, run_ok, test_world, unique};

pub struct CloudWorld {
    pub dir: tempfile::TempDir,
    pub project: String,
    pub world: TestWorld,
    pub sakura: FakeSakura,
    pub cloudflare: FakeCloudflare,
}

impl CloudWorld {
    /// A workspace for project `<prefix>-…`, the Cloudflare fake holding `zones`. Nothing is
    /// written yet: see [`CloudWorld::write_fleet`] and [`CloudWorld::write_registry`].
    pub fn new(prefix: &str, zones: &[&str]) -> CloudWorld {
        CloudWorld {
            dir: tempfile::tempdir().expect("tempdir"),
            project: unique(prefix),
            world: test_world(),
            sakura: FakeSakura::start(),
            cloudflare: FakeCloudflare::start(zones),
        }
    }

    pub fn fleet_dir(&self) -> PathBuf {
        self.dir.path().join("fleets/app")
    }

    /// Where the server's fleet is deployed (`deploy-path`).
    pub fn remote_dir(&self) -> PathBuf {
        self.dir.path().join("remote")
    }

    /// A fleet-registry.kdl listing the fleet (`fleet plan` needs one).
    pub fn write_registry(&self) {
        let text = format!(
            "registry \"t\"\nfleet \"{}\" {{\n    path \"fleets/app\"\n}}\n",
            self.project
        );
        std::fs::write(self.dir.path().join("fleet-registry.kdl"), text).expect("registry");
    }

    /// The fleet: one service, stage `dev` with the Sakura server `server` (reached at the test
    /// world's sshd) and `extra` after it; the Cloudflare provider is declared when `cloudflare`.
    pub fn write_fleet(&self, server: &str, cloudflare: bool, extra: &str) {
        let w = &self.world;
        let cloudflare = if cloudflare {
            "    cloudflare { account-id env=\"CF_ACCOUNT_ID\" }\n"
        } else {
            ""
        };
        let text = format!(
            r#"project "{project}"
providers {{
    sakura-cloud {{ zone "tk1a" }}
{cloudflare}}}
service "web" {{
    image "{image}"
    command "sh" "-c" "trap 'exit 0' TERM; while :; do sleep 1; done"
}}
stage "dev" {{
    server "{server}" {{
        provider "sakura-cloud"
        plan core=2 memory=4
        disk size=40 os="ubuntu-24.04"
        ssh-key "{key}.pub"
        ssh-port {port}
        ssh-host-key "{host_key}"
        deploy-path "{remote}"
    }}
{extra}}}
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

    /// `fleet` in the fleet's directory, pointed at both fakes and the test world's sshd.
    pub fn fleet(&self) -> assert_cmd::Command {
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

    /// `fleet <args>`, which must succeed and print `out`.
    pub fn ok(&self, args: &[&str], out: impl Into<String>) -> assert_cmd::assert::Assert {
        self.fleet().args(args).assert().success().stdout(contains(out))
    }

    /// `fleet stage status dev --output json`, parsed.
    pub fn status_json(&self) -> serde_json::Value {
        let out = self.ok(&["stage", "status", "dev", "--output", "json"], "");
        serde_json::from_slice(&out.get_output().stdout).expect("json")
    }

    /// The project's containers: running ones, or all with `all`.
    pub fn containers(&self, all: bool) -> usize {
        let filter = format!("label=io.fleetflow.project={}", self.project);
        let mut args = vec!["ps", "-q", "--filter", &filter];
        if all {
            args.push("-a");
        }
        let out = run_ok(self.world.docker().args(args));
        String::from_utf8_lossy(&out.stdout).lines().count()
    }

    /// The state file's text: beside the registry when there is one, else in the fleet.
    pub fn state(&self) -> String {
        let root = if self.dir.path().join("fleet-registry.kdl").is_file() {
            self.dir.path().to_path_buf()
        } else {
            self.fleet_dir()
        };
        std::fs::read_to_string(root.join(".fleetflow/state.json")).expect("state")
    }
}

impl Drop for CloudWorld {
    fn drop(&mut self) {
        self.world.remove_project(&self.project, "dev");
    }
}

pub fn stdout(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

pub fn stderr(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

/// The line of `text` after the first line containing `header` whose attribute is `key`.
pub fn attribute_line<'a>(text: &'a str, header: &str, key: &str) -> &'a str {
    let start = text.find(header).unwrap_or_else(|| panic!("no {header:?} in:\n{text}"));
    text[start..]
        .lines()
        .find(|l| l.trim_start().trim_start_matches(['+', '~', '-', ' ']).starts_with(key))
        .unwrap_or_else(|| panic!("no `{key}` after {header:?} in:\n{text}"))
}
