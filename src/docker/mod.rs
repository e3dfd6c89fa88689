//! The one narrow interface to a container engine. Callers speak in typed operations; only
//! [`cli::DockerCli`] (and [`argv`]) know the docker command line.

pub mod argv;
pub mod cli;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::service::{Healthcheck, Port, RestartPolicy};

pub use cli::DockerCli;

/// Label keys fleetflow puts on what it creates.
pub mod labels {
    pub const PROJECT: &str = "io.fleetflow.project";
    pub const STAGE: &str = "io.fleetflow.stage";
    pub const SERVICE: &str = "io.fleetflow.service";
    pub const CONFIG_HASH: &str = "io.fleetflow.config-hash";
    pub const IMAGE_DIGEST: &str = "io.fleetflow.image-digest";
    pub const VERSION: &str = "io.fleetflow.version";
}

/// Everything needed to create one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub network: String,
    /// DNS name on the network (the service name).
    pub alias: String,
    pub labels: BTreeMap<String, String>,
    pub env: BTreeMap<String, String>,
    pub ports: Vec<Port>,
    /// `source:target[:ro]`, sources already resolved (named volumes prefixed, paths absolute).
    pub volumes: Vec<String>,
    pub command: Option<Vec<String>>,
    pub restart: Option<RestartPolicy>,
    pub healthcheck: Option<Healthcheck>,
}

/// A container as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub name: String,
    /// `sha256:…` of the image the container runs.
    pub image_id: String,
    pub labels: BTreeMap<String, String>,
    pub status: String,
    pub running: bool,
    /// `starting`, `healthy`, `unhealthy`, or `None` without a healthcheck.
    pub health: Option<String>,
    pub exit_code: i64,
    pub created: String,
    pub started_at: String,
    /// `127.0.0.1:8080->80/tcp` style.
    pub ports: Vec<String>,
}

impl Container {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// An image as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    pub repo_digests: Vec<String>,
    pub has_healthcheck: bool,
    pub labels: BTreeMap<String, String>,
}

/// Which builder runs a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Builder {
    /// `docker buildx build` (GitHub runners have it): cross-platform, pushes in the same step.
    Buildx,
    /// `docker build` then `docker push` (Debian bookworm has no buildx).
    Classic,
}

/// One image build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildRequest {
    pub context: PathBuf,
    pub dockerfile: Option<PathBuf>,
    pub target: Option<String>,
    pub args: BTreeMap<String, String>,
    /// Full references, the first is the primary one.
    pub tags: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub platform: Option<String>,
    pub no_cache: bool,
    pub push: bool,
    /// buildx writes the build's result here (`--metadata-file`), the pushed digest with it.
    pub metadata_file: Option<PathBuf>,
}

/// Why an engine operation failed, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "the Docker daemon is not running or not reachable ({detail}); start it (e.g. `dockerd` or `systemctl start docker`) and try again"
    )]
    DaemonUnavailable { detail: String },
    #[error("the docker command is not installed: install Docker (Debian: `apt-get install docker.io`)")]
    CliMissing,
    #[error("port {port} is already in use on this machine: stop what uses it or change the service's `port`")]
    PortInUse { port: String },
    #[error("registry authentication failed for {image}: log in (`docker login`) or provide a token")]
    Unauthorized { image: String },
    #[error("image {image} not found: check the name and tag, or build it first")]
    ImageNotFound { image: String },
    #[error("`{command}` failed: {message}")]
    Command {
        command: String,
        message: String,
        output: String,
    },
    #[error("cannot run docker: {0}")]
    Io(#[from] std::io::Error),
    #[error("unexpected output from `{command}`: {detail}")]
    Parse { command: String, detail: String },
}

/// The container engine, as fleetflow uses it.
pub trait Docker: Send + Sync {
    /// The server version; fails with [`DockerError::DaemonUnavailable`] when there is none.
    fn server_version(&self) -> Result<String, DockerError>;
    /// Every container (running or not) carrying all of these labels.
    fn list_containers(&self, labels: &[(&str, &str)]) -> Result<Vec<Container>, DockerError>;
    fn inspect_container(&self, id: &str) -> Result<Container, DockerError>;
    /// `None` when the image is not present locally.
    fn inspect_image(&self, reference: &str) -> Result<Option<ImageInfo>, DockerError>;
    fn pull(&self, image: &str) -> Result<(), DockerError>;
    fn ensure_network(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<(), DockerError>;
    fn remove_network(&self, name: &str) -> Result<(), DockerError>;
    /// Creates (does not start) a container; returns its id.
    fn create(&self, spec: &ContainerSpec) -> Result<String, DockerError>;
    fn start(&self, id: &str) -> Result<(), DockerError>;
    fn stop(&self, id: &str, timeout: Duration) -> Result<(), DockerError>;
    fn restart(&self, id: &str, timeout: Duration) -> Result<(), DockerError>;
    fn remove(&self, id: &str) -> Result<(), DockerError>;
    fn rename(&self, id: &str, new_name: &str) -> Result<(), DockerError>;
    /// Streams log lines (stdout and stderr) to `line` until the end (or forever with `follow`).
    fn logs(&self, id: &str, follow: bool, tail: Option<usize>, line: &mut dyn FnMut(&str)) -> Result<(), DockerError>;
    fn buildx_available(&self) -> bool;
    /// Builds (and with `push` and buildx, pushes) an image, streaming its output to `line`.
    fn build(&self, builder: Builder, request: &BuildRequest, line: &mut dyn FnMut(&str)) -> Result<(), DockerError>;
    fn push(&self, image: &str, line: &mut dyn FnMut(&str)) -> Result<(), DockerError>;
    /// Logs in to a registry; the password goes through stdin.
    fn login(&self, registry: &str, username: &str, password: &str) -> Result<(), DockerError>;
    /// Gives the image `source` (a reference or an id) the reference `target` as well.
    fn tag(&self, source: &str, target: &str) -> Result<(), DockerError>;
    /// Removes the reference; the image goes with it when that was its last one and no
    /// container uses it (never forced).
    fn untag(&self, reference: &str) -> Result<(), DockerError>;
    /// `repository:tag` of every local image in `repository`.
    fn tags_of(&self, repository: &str) -> Result<Vec<String>, DockerError>;
}
