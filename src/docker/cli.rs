//! [`Docker`] over the `docker` command line.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::Deserialize;

use super::{BuildRequest, Builder, Container, ContainerSpec, Docker, DockerError, ImageInfo, argv};

/// The docker CLI. `config_dir` sets `DOCKER_CONFIG` (where credentials live).
#[derive(Debug, Clone)]
pub struct DockerCli {
    pub program: PathBuf,
    pub config_dir: Option<PathBuf>,
}

impl Default for DockerCli {
    fn default() -> Self {
        Self {
            program: PathBuf::from("docker"),
            config_dir: std::env::var_os("DOCKER_CONFIG").map(PathBuf::from),
        }
    }
}

/// Lines of output kept for an error message.
const TAIL_LINES: usize = 30;

impl DockerCli {
    fn command(&self, args: &[String]) -> Command {
        tracing::info!(target: "fleetflow::docker", "docker {}", argv::shell_words(args));
        let mut cmd = Command::new(&self.program);
        cmd.args(args).stdin(Stdio::null());
        if let Some(dir) = &self.config_dir {
            cmd.env("DOCKER_CONFIG", dir);
        }
        cmd
    }

    /// Runs to completion; stdout on success.
    fn run(&self, args: &[String]) -> Result<String, DockerError> {
        let out = self.command(args).output().map_err(spawn_error)?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(stdout);
        }
        Err(classify(args, &String::from_utf8_lossy(&out.stderr), &stdout))
    }

    /// Runs while forwarding stdout and stderr lines, in arrival order, to `line`.
    fn run_streaming(&self, args: &[String], line: &mut dyn FnMut(&str)) -> Result<(), DockerError> {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        let (tx, rx) = mpsc::channel::<String>();
        let readers: Vec<_> = [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        .map(|pipe| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
        drop(tx);
        let mut tail: Vec<String> = Vec::new();
        for l in rx {
            line(&l);
            tail.push(l);
            if tail.len() > TAIL_LINES {
                tail.remove(0);
            }
        }
        for r in readers {
            let _ = r.join();
        }
        let status = child.wait()?;
        if status.success() {
            Ok(())
        } else {
            let text = tail.join("\n");
            Err(classify(args, &text, &text))
        }
    }

    fn inspect_containers(&self, ids: &[String]) -> Result<Vec<Container>, DockerError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["container".into(), "inspect".into()];
        args.extend(ids.iter().cloned());
        let out = self.run(&args)?;
        let raw: Vec<RawContainer> = serde_json::from_str(&out).map_err(|e| parse_error(&args, e))?;
        Ok(raw.into_iter().map(RawContainer::into_container).collect())
    }
}

fn spawn_error(e: std::io::Error) -> DockerError {
    if e.kind() == std::io::ErrorKind::NotFound {
        DockerError::CliMissing
    } else {
        DockerError::Io(e)
    }
}

fn parse_error(args: &[String], e: serde_json::Error) -> DockerError {
    DockerError::Parse {
        command: format!("docker {}", args.join(" ")),
        detail: e.to_string(),
    }
}

/// Turns docker's stderr into an error a user can act on.
fn classify(args: &[String], stderr: &str, output: &str) -> DockerError {
    let lower = stderr.to_lowercase();
    let image = || args.last().cloned().unwrap_or_default();
    if lower.contains("cannot connect to the docker daemon") || lower.contains("is the docker daemon running") {
        let detail = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_owned();
        return DockerError::DaemonUnavailable { detail };
    }
    if lower.contains("port is already allocated") || lower.contains("address already in use") {
        let port = stderr
            .split("Bind for ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .or_else(|| stderr.split("listen tcp4 ").nth(1).and_then(|s| s.split(':').nth(1)))
            .unwrap_or("?")
            .to_owned();
        return DockerError::PortInUse { port };
    }
    // ghcr.io refuses a token it does not take with `denied: …` (e.g. "installation not
    // allowed to Create organization package"), Docker Hub with "requested access … denied".
    if lower.contains("unauthorized")
        || lower.contains("authentication required")
        || lower.contains("no basic auth credentials")
        || lower.contains("requested access to the resource is denied")
        || lower.lines().any(|l| l.trim_start().starts_with("denied:"))
    {
        return DockerError::Unauthorized { image: image() };
    }
    if args.first().is_some_and(|a| a == "pull")
        && (lower.contains("manifest unknown") || lower.contains("not found") || lower.contains("does not exist"))
    {
        return DockerError::ImageNotFound { image: image() };
    }
    let message = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("exited with an error")
        .trim()
        .to_owned();
    DockerError::Command {
        command: format!("docker {}", args.iter().take(2).cloned().collect::<Vec<_>>().join(" ")),
        message,
        output: output.to_owned(),
    }
}

impl Docker for DockerCli {
    fn server_version(&self) -> Result<String, DockerError> {
        Ok(self
            .run(&["version".into(), "--format".into(), "{{.Server.Version}}".into()])?
            .trim()
            .to_owned())
    }

    fn list_containers(&self, labels: &[(&str, &str)]) -> Result<Vec<Container>, DockerError> {
        let mut args: Vec<String> = vec!["ps".into(), "--all".into(), "--quiet".into(), "--no-trunc".into()];
        for (k, v) in labels {
            args.extend(["--filter".into(), format!("label={k}={v}")]);
        }
        let ids: Vec<String> = self
            .run(&args)?
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect();
        self.inspect_containers(&ids)
    }

    fn inspect_container(&self, id: &str) -> Result<Container, DockerError> {
        let args = [id.to_owned()];
        self.inspect_containers(&args)?.pop().ok_or_else(|| DockerError::Parse {
            command: "docker container inspect".into(),
            detail: "no result".into(),
        })
    }

    fn inspect_image(&self, reference: &str) -> Result<Option<ImageInfo>, DockerError> {
        let args: Vec<String> = vec!["image".into(), "inspect".into(), reference.into()];
        let out = self.command(&args).output().map_err(spawn_error)?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.to_lowercase().contains("no such image") {
                return Ok(None);
            }
            return Err(classify(&args, &stderr, ""));
        }
        let raw: Vec<RawImage> = serde_json::from_slice(&out.stdout).map_err(|e| parse_error(&args, e))?;
        Ok(raw.into_iter().next().map(|i| ImageInfo {
            id: i.id,
            repo_digests: i.repo_digests.unwrap_or_default(),
            has_healthcheck: i
                .config
                .as_ref()
                .and_then(|c| c.healthcheck.as_ref())
                .is_some_and(|h| h.test.as_ref().is_some_and(|t| t.first().is_some_and(|f| f != "NONE"))),
            labels: i.config.and_then(|c| c.labels).unwrap_or_default(),
        }))
    }

    fn pull(&self, image: &str) -> Result<(), DockerError> {
        self.run(&["pull".into(), "--quiet".into(), image.into()]).map(drop)
    }

    fn tag(&self, source: &str, target: &str) -> Result<(), DockerError> {
        self.run(&["tag".into(), source.into(), target.into()]).map(drop)
    }

    fn untag(&self, reference: &str) -> Result<(), DockerError> {
        self.run(&["image".into(), "rm".into(), reference.into()]).map(drop)
    }

    fn tags_of(&self, repository: &str) -> Result<Vec<String>, DockerError> {
        let args: Vec<String> = vec![
            "image".into(),
            "ls".into(),
            "--format".into(),
            "{{.Repository}}:{{.Tag}}".into(),
            repository.into(),
        ];
        Ok(self
            .run(&args)?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    fn ensure_network(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<(), DockerError> {
        let exists = self
            .command(&["network".into(), "inspect".into(), name.into()])
            .output()
            .map_err(spawn_error)?;
        if exists.status.success() {
            return Ok(());
        }
        let mut args: Vec<String> = vec!["network".into(), "create".into()];
        for (k, v) in labels {
            args.extend(["--label".into(), format!("{k}={v}")]);
        }
        args.push(name.into());
        match self.run(&args) {
            Err(DockerError::Command { message, .. }) if message.contains("already exists") => Ok(()),
            other => other.map(drop),
        }
    }

    fn remove_network(&self, name: &str) -> Result<(), DockerError> {
        match self.run(&["network".into(), "rm".into(), name.into()]) {
            Err(DockerError::Command { message, .. }) if message.contains("not found") => Ok(()),
            other => other.map(drop),
        }
    }

    fn create(&self, spec: &ContainerSpec) -> Result<String, DockerError> {
        let env_file = if spec.env.is_empty() {
            None
        } else {
            Some(write_env_file(&spec.env)?)
        };
        let args = argv::create(spec, env_file.as_ref().map(|f| f.path()));
        Ok(self.run(&args)?.trim().to_owned())
    }

    fn start(&self, id: &str) -> Result<(), DockerError> {
        self.run(&["start".into(), id.into()]).map(drop)
    }

    fn stop(&self, id: &str, timeout: Duration) -> Result<(), DockerError> {
        self.run(&["stop".into(), "--time".into(), timeout.as_secs().to_string(), id.into()])
            .map(drop)
    }

    fn restart(&self, id: &str, timeout: Duration) -> Result<(), DockerError> {
        self.run(&[
            "restart".into(),
            "--time".into(),
            timeout.as_secs().to_string(),
            id.into(),
        ])
        .map(drop)
    }

    fn remove(&self, id: &str) -> Result<(), DockerError> {
        self.run(&["rm".into(), "--force".into(), "--volumes=false".into(), id.into()])
            .map(drop)
    }

    fn rename(&self, id: &str, new_name: &str) -> Result<(), DockerError> {
        self.run(&["rename".into(), id.into(), new_name.into()]).map(drop)
    }

    fn logs(&self, id: &str, follow: bool, tail: Option<usize>, line: &mut dyn FnMut(&str)) -> Result<(), DockerError> {
        let mut args: Vec<String> = vec!["logs".into()];
        if follow {
            args.push("--follow".into());
        }
        if let Some(n) = tail {
            args.extend(["--tail".into(), n.to_string()]);
        }
        args.push(id.into());
        self.run_streaming(&args, line)
    }

    fn buildx_available(&self) -> bool {
        self.command(&["buildx".into(), "version".into()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn build(&self, builder: Builder, request: &BuildRequest, line: &mut dyn FnMut(&str)) -> Result<(), DockerError> {
        self.run_streaming(&argv::build(builder, request), line)
    }

    fn push(&self, image: &str, line: &mut dyn FnMut(&str)) -> Result<(), DockerError> {
        self.run_streaming(&["push".into(), image.into()], line)
    }

    fn login(&self, registry: &str, username: &str, password: &str) -> Result<(), DockerError> {
        let args: Vec<String> = vec![
            "login".into(),
            "--username".into(),
            username.into(),
            "--password-stdin".into(),
            registry.into(),
        ];
        let mut child = self
            .command(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(password.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(classify(&args, &String::from_utf8_lossy(&out.stderr), ""))
        }
    }
}

/// A private (0600) env file, removed when dropped.
fn write_env_file(env: &BTreeMap<String, String>) -> Result<tempfile::NamedTempFile, DockerError> {
    let mut file = tempfile::Builder::new().prefix("fleet-env-").tempfile()?;
    for (k, v) in env {
        if v.contains('\n') || v.contains('\r') {
            return Err(DockerError::Command {
                command: "docker create".into(),
                message: format!("the value of env `{k}` contains a line break, which docker env files cannot carry"),
                output: String::new(),
            });
        }
        writeln!(file, "{k}={v}")?;
    }
    file.flush()?;
    Ok(file)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawContainer {
    id: String,
    name: String,
    image: String,
    created: String,
    config: RawContainerConfig,
    state: RawState,
    network_settings: Option<RawNetworkSettings>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawContainerConfig {
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawState {
    status: String,
    running: bool,
    exit_code: i64,
    started_at: String,
    health: Option<RawHealth>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawHealth {
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNetworkSettings {
    ports: Option<BTreeMap<String, Option<Vec<RawBinding>>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawBinding {
    host_ip: String,
    host_port: String,
}

impl RawContainer {
    fn into_container(self) -> Container {
        let mut ports = Vec::new();
        for (container_port, bindings) in self.network_settings.and_then(|n| n.ports).unwrap_or_default() {
            for b in bindings.unwrap_or_default() {
                ports.push(format!("{}:{}->{container_port}", b.host_ip, b.host_port));
            }
        }
        Container {
            id: self.id,
            name: self.name.trim_start_matches('/').to_owned(),
            image_id: self.image,
            labels: self.config.labels.unwrap_or_default(),
            status: self.state.status,
            running: self.state.running,
            health: self.state.health.map(|h| h.status),
            exit_code: self.state.exit_code,
            created: self.created,
            started_at: self.state.started_at,
            ports,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawImage {
    id: String,
    repo_digests: Option<Vec<String>>,
    config: Option<RawImageConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawImageConfig {
    healthcheck: Option<RawHealthConfig>,
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawHealthConfig {
    test: Option<Vec<String>>,
}
