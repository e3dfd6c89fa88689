//! Remote hosts over SSH: one multiplexed master connection per server (the openssh crate, i.e.
//! the system `ssh` with a control socket), strict host-key checking, and every remote command
//! given as one POSIX shell script whose interpolated values are quoted with [`quote`].

mod key_files;
mod openssh_remote;

use std::path::PathBuf;
use std::time::Duration;

pub use key_files::{KeyFiles, KeyFilesError};
pub use openssh_remote::{OpensshConnector, OpensshRemote, SshRuntime};

use crate::config::cloud::Server;
pub use crate::docker::argv::shell_quote as quote;

/// How to reach one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// The server's name in the registry (prefixes output lines).
    pub name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub identity_file: Option<PathBuf>,
    /// Pinned host key (`ssh-ed25519 AAAA…`): only it is accepted.
    pub host_key: Option<String>,
    /// known_hosts to check against when no key is pinned (default: the user's).
    pub known_hosts: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Upper bound for one remote command.
    pub command_timeout: Duration,
    pub keepalive: Duration,
}

impl SshTarget {
    /// From a registry server; `ssh-host` is required.
    pub fn from_server(server: &Server) -> Result<SshTarget, SshError> {
        let host = server.ssh_host.clone().ok_or_else(|| SshError::MissingSetting {
            server: server.name.value.clone(),
            setting: "ssh-host",
        })?;
        Ok(SshTarget {
            name: server.name.value.clone(),
            host,
            port: server.ssh_port,
            user: server.ssh_user.clone(),
            // (The Action hands its `ssh-private-key` input to its connector instead.)
            identity_file: server.ssh_key.as_deref().map(expand_home).or_else(|| {
                std::env::var_os("FLEET_SSH_KEY")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            }),
            host_key: server.ssh_host_key.clone(),
            known_hosts: std::env::var_os("FLEET_SSH_KNOWN_HOSTS").map(PathBuf::from),
            connect_timeout: env_seconds("FLEET_SSH_CONNECT_TIMEOUT").unwrap_or(Duration::from_secs(10)),
            command_timeout: env_seconds("FLEET_SSH_COMMAND_TIMEOUT").unwrap_or(Duration::from_secs(30 * 60)),
            keepalive: Duration::from_secs(15),
        })
    }

    /// `user@host:port`, for plans and messages.
    pub fn address(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

/// Timeouts can be tuned per run: FLEET_SSH_CONNECT_TIMEOUT, FLEET_SSH_COMMAND_TIMEOUT (seconds).
fn env_seconds(key: &str) -> Option<Duration> {
    std::env::var(key)
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// Why a remote operation failed; each names what to do.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("server `{server}` has no `{setting}` in fleet-registry.kdl; add it to deploy there")]
    MissingSetting { server: String, setting: &'static str },
    #[error(
        "host key of {address} does not match the pinned or known key: refusing to connect (possible man-in-the-middle). If the server was rebuilt, update `ssh-host-key`"
    )]
    HostKeyMismatch { address: String },
    #[error(
        "host key of {address} is not known: refusing to connect. Pin it with `ssh-host-key \"ssh-ed25519 AAAA…\"` (from `ssh-keyscan -p PORT HOST`) or add it to known_hosts"
    )]
    HostKeyUnknown { address: String },
    #[error(
        "authentication to {address} failed: check `ssh-user` and `ssh-key`, and that the key is in the server's authorized_keys"
    )]
    AuthFailed { address: String },
    #[error("cannot reach {address}: {detail}")]
    Unreachable { address: String, detail: String },
    #[error("`{what}` on {server} timed out after {after:?}")]
    Timeout {
        server: String,
        what: String,
        after: Duration,
    },
    #[error("the connection to {server} was lost")]
    Disconnected { server: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Output of a remote command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteOutput {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl RemoteOutput {
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// Opens connections to servers: the one way the application reaches a host. Each front door
/// builds one ([`OpensshConnector`]); tests pass a double.
pub trait Connector: Send + Sync {
    fn connect(&self, target: &SshTarget) -> Result<std::sync::Arc<dyn Remote>, SshError>;
}

/// A connected server. Scripts run with `sh -c`; interpolate values only through [`quote`].
pub trait Remote: Send + Sync {
    fn name(&self) -> &str;
    /// Runs a script to completion, feeding `stdin` when given.
    fn exec(&self, script: &str, stdin: Option<&[u8]>) -> Result<RemoteOutput, SshError>;
    /// Runs a script, passing each output line (stdout and stderr) to `line`; returns the exit status.
    fn exec_streaming(&self, script: &str, line: &mut (dyn FnMut(&str) + Send)) -> Result<i32, SshError>;
}
