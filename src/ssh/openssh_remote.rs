//! [`Remote`] over the openssh crate: a ControlMaster session per server.

use std::io::Write;
use std::sync::Arc;

use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::runtime::Runtime;

use super::{Connector, Remote, RemoteOutput, SshError, SshTarget, quote};

/// The runtime SSH connections live on. Shut down in the background when the last holder
/// lets go, so dropping it is safe anywhere (also inside the App's async workers).
pub struct SshRuntime(Option<Runtime>);

impl SshRuntime {
    pub fn new() -> Result<Arc<SshRuntime>, SshError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .worker_threads(2)
            .build()?;
        Ok(Arc::new(SshRuntime(Some(runtime))))
    }

    fn get(&self) -> &Runtime {
        self.0.as_ref().expect("taken only on drop")
    }
}

impl Drop for SshRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The system `ssh` (openssh): one multiplexed master connection per server, strict host
/// keys. Built once by each front door; its connections share one runtime, started with the
/// first.
#[derive(Default)]
pub struct OpensshConnector {
    runtime: std::sync::Mutex<Option<Arc<SshRuntime>>>,
    /// The key used for servers that name none (the Action's `ssh-private-key`).
    identity_file: Option<std::path::PathBuf>,
    /// known_hosts for servers with no pinned key, unless FLEET_SSH_KNOWN_HOSTS names one.
    known_hosts: Option<std::path::PathBuf>,
}

impl OpensshConnector {
    /// A connector that uses `identity_file` and `known_hosts` where a server names none.
    pub fn with_files(identity_file: Option<std::path::PathBuf>, known_hosts: Option<std::path::PathBuf>) -> Self {
        OpensshConnector {
            runtime: Default::default(),
            identity_file,
            known_hosts,
        }
    }
}

impl Connector for OpensshConnector {
    fn connect(&self, target: &SshTarget) -> Result<Arc<dyn Remote>, SshError> {
        let runtime = {
            let mut slot = self.runtime.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match &*slot {
                Some(runtime) => Arc::clone(runtime),
                None => Arc::clone(slot.insert(SshRuntime::new()?)),
            }
        };
        let mut target = target.clone();
        if target.identity_file.is_none() {
            target.identity_file = self.identity_file.clone();
        }
        if target.known_hosts.is_none() {
            target.known_hosts = self.known_hosts.clone();
        }
        Ok(Arc::new(OpensshRemote::connect(&target, runtime)?))
    }
}

/// A live connection; dropped → the master connection closes.
pub struct OpensshRemote {
    target: SshTarget,
    session: Option<Session>,
    runtime: Arc<SshRuntime>,
    /// The pinned key as a known_hosts file, alive as long as the session.
    _known_hosts: Option<tempfile::NamedTempFile>,
}

impl OpensshRemote {
    /// Connects (strict host-key checking) within the target's connect timeout.
    pub fn connect(target: &SshTarget, runtime: Arc<SshRuntime>) -> Result<OpensshRemote, SshError> {
        let mut builder = SessionBuilder::default();
        builder
            .user(target.user.clone())
            .port(target.port)
            .known_hosts_check(KnownHosts::Strict)
            .connect_timeout(target.connect_timeout)
            .server_alive_interval(target.keepalive)
            .config_file("/dev/null");
        if let Some(key) = &target.identity_file {
            builder.keyfile(key);
        }
        let pinned = match &target.host_key {
            Some(key) => Some(pinned_known_hosts(target, key)?),
            None => None,
        };
        if let Some(file) = &pinned {
            builder.user_known_hosts_file(file.path());
        } else if let Some(path) = &target.known_hosts {
            builder.user_known_hosts_file(path);
        }
        let timeout = target.connect_timeout + std::time::Duration::from_secs(2);
        let session = runtime
            .get()
            .block_on(async { tokio::time::timeout(timeout, builder.connect_mux(&target.host)).await })
            .map_err(|_| SshError::Unreachable {
                address: target.address(),
                detail: format!("no answer within {timeout:?}"),
            })?
            .map_err(|e| classify_connect(target, &e))?;
        Ok(OpensshRemote {
            target: target.clone(),
            session: Some(session),
            runtime,
            _known_hosts: pinned,
        })
    }

    fn session(&self) -> Result<&Session, SshError> {
        self.session.as_ref().ok_or_else(|| SshError::Disconnected {
            server: self.target.name.clone(),
        })
    }

    fn timed<T>(&self, what: &str, fut: impl std::future::Future<Output = Result<T, SshError>>) -> Result<T, SshError> {
        let after = self.target.command_timeout;
        self.runtime
            .get()
            .block_on(async { tokio::time::timeout(after, fut).await })
            .unwrap_or_else(|_| {
                Err(SshError::Timeout {
                    server: self.target.name.clone(),
                    what: what.chars().take(60).collect(),
                    after,
                })
            })
    }
}

impl Drop for OpensshRemote {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let _ = self.runtime.get().block_on(session.close());
        }
    }
}

/// A known_hosts file holding only the pinned key, for `[host]:port` (or `host` on port 22).
fn pinned_known_hosts(target: &SshTarget, key: &str) -> Result<tempfile::NamedTempFile, SshError> {
    let mut file = tempfile::Builder::new().prefix("fleet-known-hosts-").tempfile()?;
    let host = if target.port == 22 {
        target.host.clone()
    } else {
        format!("[{}]:{}", target.host, target.port)
    };
    writeln!(file, "{host} {}", key.trim())?;
    file.flush()?;
    Ok(file)
}

/// Turns ssh's complaint into the error a user can act on.
fn classify_connect(target: &SshTarget, error: &openssh::Error) -> SshError {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    let address = target.address();
    let lower = text.to_lowercase();
    if lower.contains("remote host identification has changed")
        || lower.contains("host key for") && lower.contains("has changed")
    {
        SshError::HostKeyMismatch { address }
    } else if lower.contains("host key verification failed")
        || lower.contains("no ") && lower.contains("host key is known")
    {
        // With a pinned key, an unverifiable key is a mismatch; otherwise it is unknown.
        if target.host_key.is_some() {
            SshError::HostKeyMismatch { address }
        } else {
            SshError::HostKeyUnknown { address }
        }
    } else if lower.contains("permission denied") || lower.contains("too many authentication failures") {
        SshError::AuthFailed { address }
    } else {
        let detail = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("connection failed")
            .trim()
            .to_owned();
        SshError::Unreachable { address, detail }
    }
}

fn remote_error(server: &str, e: openssh::Error) -> SshError {
    match e {
        openssh::Error::Disconnected => SshError::Disconnected {
            server: server.to_owned(),
        },
        other => SshError::Io(std::io::Error::other(other.to_string())),
    }
}

impl Remote for OpensshRemote {
    fn name(&self) -> &str {
        &self.target.name
    }

    fn exec(&self, script: &str, stdin: Option<&[u8]>) -> Result<RemoteOutput, SshError> {
        let session = self.session()?;
        let server = self.target.name.clone();
        self.timed(script, async move {
            let mut cmd = session.raw_command("sh");
            cmd.raw_arg("-c").raw_arg(quote(script));
            cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = cmd.spawn().await.map_err(|e| remote_error(&server, e))?;
            if let (Some(data), Some(mut pipe)) = (stdin, child.stdin().take()) {
                pipe.write_all(data).await?;
                pipe.shutdown().await?;
                drop(pipe);
            }
            let out = child.wait_with_output().await.map_err(|e| remote_error(&server, e))?;
            Ok(RemoteOutput {
                status: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        })
    }

    fn exec_streaming(&self, script: &str, line: &mut (dyn FnMut(&str) + Send)) -> Result<i32, SshError> {
        let session = self.session()?;
        let server = self.target.name.clone();
        self.timed(script, async move {
            let mut cmd = session.raw_command("sh");
            cmd.raw_arg("-c").raw_arg(quote(&format!("exec 2>&1; {script}")));
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
            let mut child = cmd.spawn().await.map_err(|e| remote_error(&server, e))?;
            if let Some(out) = child.stdout().take() {
                let mut lines = BufReader::new(out).lines();
                while let Some(l) = lines.next_line().await? {
                    line(&l);
                }
            }
            let status = child.wait().await.map_err(|e| remote_error(&server, e))?;
            Ok(status.code().unwrap_or(-1))
        })
    }
}
