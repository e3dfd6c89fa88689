//! Shared helpers for tests that use the "test world": the real Docker
//! engine, registry and sshd that `scripts/test-world.sh` starts.
//!
//! Use from a test file with `mod support;` and `support::test_world()`.
//! A missing test world is a failure, never a skip.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where `scripts/test-world.sh` writes its env file unless told otherwise.
pub const DEFAULT_ENV_FILE: &str = "/var/lib/fleetflow-test-world/env";

/// The services of the test world, as described by `$FLEET_TEST_WORLD_ENV`.
#[derive(Debug, Clone)]
pub struct TestWorld {
    /// The env file this was read from.
    pub env_file: PathBuf,
    /// Registry address, `127.0.0.1:5000`.
    pub registry: String,
    pub registry_user: String,
    pub registry_password: String,
    /// A `DOCKER_CONFIG` directory whose config.json is logged in to `registry`.
    pub docker_config: PathBuf,
    pub ssh_host: String,
    pub ssh_port: u16,
    pub ssh_user: String,
    /// Private key accepted by the test sshd.
    pub ssh_key: PathBuf,
    /// known_hosts pinning the test sshd's host key for `[ssh_host]:ssh_port`.
    pub ssh_known_hosts: PathBuf,
    /// The test sshd's host public key, `ssh-ed25519 AAAA...`.
    pub ssh_host_key: String,
    /// FROM-scratch busybox image, `fleetflow/busybox:latest`.
    pub base_image: String,
    /// The test world's PostgreSQL: `postgres://fleetflow:…@127.0.0.1:55432/fleetflow`.
    pub postgres_url: String,
}

/// Reads the test world from `$FLEET_TEST_WORLD_ENV` (default
/// [`DEFAULT_ENV_FILE`]). Panics if it is missing or incomplete.
pub fn test_world() -> TestWorld {
    let env_file = std::env::var_os("FLEET_TEST_WORLD_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ENV_FILE));
    let text = std::fs::read_to_string(&env_file).unwrap_or_else(|e| {
        panic!(
            "test world not set up: run scripts/test.sh (cannot read {}: {e})",
            env_file.display()
        )
    });
    let vars = parse_env(&text);
    let get = |key: &str| -> String {
        match vars.get(key) {
            Some(v) if !v.is_empty() => v.clone(),
            _ => panic!(
                "test world not set up: run scripts/test.sh ({key} missing from {})",
                env_file.display()
            ),
        }
    };
    let ssh_port = get("FLEET_TEST_SSH_PORT");
    TestWorld {
        registry: get("FLEET_TEST_REGISTRY"),
        registry_user: get("FLEET_TEST_REGISTRY_USER"),
        registry_password: get("FLEET_TEST_REGISTRY_PASSWORD"),
        docker_config: get("FLEET_TEST_DOCKER_CONFIG").into(),
        ssh_host: get("FLEET_TEST_SSH_HOST"),
        ssh_port: ssh_port
            .parse()
            .unwrap_or_else(|_| panic!("FLEET_TEST_SSH_PORT is not a port: {ssh_port:?}")),
        ssh_user: get("FLEET_TEST_SSH_USER"),
        ssh_key: get("FLEET_TEST_SSH_KEY").into(),
        ssh_known_hosts: get("FLEET_TEST_SSH_KNOWN_HOSTS").into(),
        ssh_host_key: get("FLEET_TEST_SSH_HOST_KEY"),
        base_image: get("FLEET_TEST_BASE_IMAGE"),
        postgres_url: get("FLEET_TEST_POSTGRES_URL"),
        env_file,
    }
}

/// Parses `KEY=VALUE` lines; `#` comments and blank lines are skipped, and a
/// value wrapped in single or double quotes is unwrapped.
pub fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = [('\'', '\''), ('"', '"')]
                .iter()
                .find_map(|&(a, b)| v.strip_prefix(a).and_then(|s| s.strip_suffix(b)))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

impl TestWorld {
    /// `docker` with `DOCKER_CONFIG` logged in to the test registry.
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_CONFIG", &self.docker_config);
        cmd
    }

    /// Names of a test project's running containers.
    pub fn running(&self, project: &str) -> Vec<String> {
        self.docker()
            .args([
                "ps",
                "--format",
                "{{.Names}}",
                "--filter",
                &format!("label=io.fleetflow.project={project}"),
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Removes a test project's containers (any state) and its `{project}-{stage}` network.
    pub fn remove_project(&self, project: &str, stage: &str) {
        self.remove_project_stages(project, &[stage]);
    }

    /// [`TestWorld::remove_project`] for several stages: containers and images are listed once.
    pub fn remove_project_stages(&self, project: &str, stages: &[&str]) {
        let ids = self
            .docker()
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=io.fleetflow.project={project}"),
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for id in ids.lines() {
            let _ = self.docker().args(["rm", "-f", id]).output();
        }
        for stage in stages {
            let _ = self
                .docker()
                .args(["network", "rm", &format!("{project}-{stage}")])
                .output();
        }
        self.remove_images(project);
    }

    /// Removes the images a test project made — `{project}-{stage}[-{service}]`, local or
    /// under a registry — from dockerd, and their manifests from the test registry.
    pub fn remove_images(&self, project: &str) {
        let listed = self
            .docker()
            .args(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let prefix = format!("{project}-");
        for line in listed.lines() {
            let Some((image, id)) = line.split_once(' ') else {
                continue;
            };
            let Some((repository, tag)) = image.rsplit_once(':') else {
                continue;
            };
            // `…/{project}-live` or, under a registry prefix of the test's own, `…/{project}/web-live`.
            if !repository
                .split('/')
                .any(|part| part.starts_with(&prefix) || part == project)
            {
                continue;
            }
            // An image a rebuild left untagged (`<none>`) goes by its id.
            let _ = self
                .docker()
                .args(["rmi", "-f", if tag == "<none>" { id } else { image }])
                .output();
            if tag == "<none>" {
                continue;
            }
            if let Some(path) = repository.strip_prefix(&format!("{}/", self.registry)) {
                self.delete_from_registry(path, tag);
            }
        }
    }

    /// Deletes `path:tag`'s manifest from the test registry (its storage allows deletes).
    pub fn delete_from_registry(&self, path: &str, tag: &str) {
        let user = format!("{}:{}", self.registry_user, self.registry_password);
        let url = |reference: &str| format!("http://{}/v2/{path}/manifests/{reference}", self.registry);
        let head = Command::new("curl")
            .args(["-sS", "-I", "--max-time", "10", "-u", &user])
            .args(["-H", "Accept: application/vnd.docker.distribution.manifest.v2+json"])
            .args([
                "-H",
                "Accept: application/vnd.docker.distribution.manifest.list.v2+json",
            ])
            .args(["-H", "Accept: application/vnd.oci.image.manifest.v1+json"])
            .args(["-H", "Accept: application/vnd.oci.image.index.v1+json"])
            .arg(url(tag))
            .output();
        let headers = head
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let digest = headers.lines().find_map(|l| {
            let (key, value) = l.split_once(':')?;
            key.eq_ignore_ascii_case("docker-content-digest")
                .then(|| value.trim().to_owned())
        });
        if let Some(digest) = digest {
            let _ = Command::new("curl")
                .args(["-sS", "-X", "DELETE", "--max-time", "10", "-u", &user])
                .arg(url(&digest))
                .output();
        }
    }

    /// `ssh` options that reach the test sshd with the world's key and
    /// pinned host key, ignoring any user or system ssh configuration; add
    /// `user@host` yourself ([`TestWorld::ssh_target`]) or use [`TestWorld::ssh`].
    pub fn ssh_options(&self) -> Vec<String> {
        self.ssh_options_with(&self.ssh_key, &self.ssh_known_hosts)
    }

    /// Like [`TestWorld::ssh_options`] with another private key and known_hosts.
    pub fn ssh_options_with(&self, key: &Path, known_hosts: &Path) -> Vec<String> {
        vec![
            "-F".into(),
            "/dev/null".into(),
            "-i".into(),
            key.display().to_string(),
            "-p".into(),
            self.ssh_port.to_string(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", known_hosts.display()),
            "-o".into(),
            "GlobalKnownHostsFile=/dev/null".into(),
            "-o".into(),
            "ConnectTimeout=10".into(),
        ]
    }

    /// `user@host` for the test sshd.
    pub fn ssh_target(&self) -> String {
        format!("{}@{}", self.ssh_user, self.ssh_host)
    }

    /// `ssh <options> user@host`; append the remote command with `.arg(..)`.
    pub fn ssh(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(self.ssh_options()).arg(self.ssh_target());
        cmd
    }
}

/// A name unique to this process and moment, for tags and containers:
/// `prefix-<pid>-<nanos>` (lowercase, valid as a Docker tag).
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Removes a test project's containers, networks and images (dockerd and the test registry)
/// when dropped, so a failing test leaves none behind either.
pub struct Cleanup<'a> {
    pub world: &'a TestWorld,
    pub project: String,
}

impl<'a> Cleanup<'a> {
    /// A new project name (`unique(prefix)`), cleaned up when this is dropped.
    pub fn project(world: &'a TestWorld, prefix: &str) -> Self {
        Cleanup {
            world,
            project: unique(prefix),
        }
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.world
            .remove_project_stages(&self.project, &["local", "dev", "live"]);
    }
}

/// Runs `cmd` and returns its output; panics with the command line, status,
/// stdout and stderr if it fails to start or exits unsuccessfully.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "command failed: {cmd:?}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd` and returns its output whatever the exit status; panics only
/// if it cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Stdout and stderr of `out`, lossily decoded.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
