//! A release: build a fleet+stage's images from a source tree, push them, and deploy them over
//! SSH to the stage's routes. The one path the App's deploy job and the Action share; it is
//! synchronous (docker CLI, SSH on its own runtime) and reports through a line sink.

use std::path::{Path, PathBuf};

use crate::application::deploy::DeployOptions;
use crate::application::deploy::history::{HistoryEntry, RollbackTo, rollback_args};
use crate::application::deploy::remote::{self, Deployer, LocalBinary, RemoteDeployOptions};
use crate::application::deploy::remote_run::{RouteResult, for_each_route, route_plans};
use crate::application::image_build::credentials::login_for_push;
use crate::application::image_build::{BuildError, BuildOptions, plan_builds, run_builds};
use crate::config::{DirFiles, LoadError, LoadOptions, Workspace, load_workspace};
use crate::docker::{Docker, DockerCli, DockerError};
use crate::ssh::Connector;

/// What to release.
#[derive(Debug, Clone)]
pub struct ReleaseRequest {
    /// The source tree at `commit` (a checkout or an unpacked archive).
    pub root: PathBuf,
    /// fleet-registry.kdl, relative to `root`.
    pub registry_file: String,
    pub fleet: String,
    pub stage: String,
    /// The full commit SHA being released.
    pub commit: String,
    /// Registry prefix of built images (`ghcr.io/acme`).
    pub image_registry: Option<String>,
    /// Environment for push credentials (GHCR_TOKEN, GITHUB_ACTOR, …), see
    /// [`crate::application::image_build::credentials::find_credentials`].
    pub credentials_env: Vec<(String, String)>,
    /// `org.opencontainers.image.source`.
    pub source_url: Option<String>,
    /// Who asked (audit log on the servers).
    pub requested_by: String,
    /// The `fleet` binary installed on servers.
    pub fleet_binary: PathBuf,
    /// Raised when whoever asked for the release gave it up (the App's job lost its lease to
    /// another replica): nothing is deployed after it is raised.
    pub given_up: GivenUp,
    /// The App's fencing token of the fleet+stage's deploy lock (see `Deployer::lock_token`).
    pub lock_token: Option<i64>,
    /// A rollback: nothing is built; each server runs the images of the earlier deploy this
    /// names (`previous`, a commit, a history id) from its own history.
    pub rollback_to: Option<RollbackTo>,
    /// Built and pushed elsewhere (a build run on GitHub's runners): nothing is built here;
    /// every built service must be among these, and the servers must run their digests.
    pub prebuilt: Option<Vec<PushedImage>>,
}

/// An image a build pushed: the service, its reference, and the digest the registry took.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PushedImage {
    pub service: String,
    pub image: String,
    /// `sha256:…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A flag a release's owner raises to stop it before its next phase.
#[derive(Debug, Clone, Default)]
pub struct GivenUp(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl GivenUp {
    pub fn raise(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_raised(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Where a release is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Building,
    Deploying,
}

/// What a release did.
#[derive(Debug, Clone, Default)]
pub struct ReleaseReport {
    /// Images pushed (or kept, when their inputs were unchanged).
    pub images: Vec<String>,
    /// One per route: `fleet:stage → server` and its time or error.
    pub routes: Vec<RouteResult>,
    /// What each server recorded in its deploy history for this release (server, entry).
    pub recorded: Vec<(String, HistoryEntry)>,
}

impl ReleaseReport {
    pub fn ok(&self) -> bool {
        self.routes.iter().all(|(_, r)| r.is_ok())
    }
}

/// Why a release stopped before deploying.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("the configuration at {commit} does not load: {detail}")]
    Config { commit: String, detail: String },
    #[error("{0}")]
    Fleet(String),
    #[error(transparent)]
    Routes(#[from] crate::application::deploy::remote_run::RouteError),
    #[error("build failed: {0}")]
    Build(String),
    /// The image registry refused the push's credentials (or had none).
    #[error("the image registry refused the push: {0}")]
    PushRefused(String),
    #[error("{0}")]
    Setup(String),
    #[error("given up before deploying (another holder took the deploy over)")]
    GivenUp,
}

fn load(req: &ReleaseRequest) -> Result<Workspace, ReleaseError> {
    let files = DirFiles { root: req.root.clone() };
    load_workspace(&files, &req.registry_file, LoadOptions { verify_fleets: true }).map_err(|e| {
        let detail = match e {
            LoadError::Config(c) => c.diagnostics.brief().join("; "),
            other => other.to_string(),
        };
        ReleaseError::Config {
            commit: req.commit.clone(),
            detail,
        }
    })
}

/// Builds and pushes the stage's images (when it builds any), then deploys every route of
/// fleet+stage in parallel. Route failures are in the report; earlier failures are errors.
pub fn release(
    connector: &dyn Connector,
    docker: &DockerCli,
    req: &ReleaseRequest,
    phase: &mut dyn FnMut(Phase),
    line: &(dyn Fn(&str) + Sync),
) -> Result<ReleaseReport, ReleaseError> {
    let ws = load(req)?;
    let registry_dir = Path::new(&req.registry_file).parent().unwrap_or(Path::new(""));
    let entry = ws
        .registry
        .fleet(&req.fleet)
        .ok_or_else(|| ReleaseError::Fleet(format!("the registry has no fleet `{}`", req.fleet)))?;
    let fleet_dir = req.root.join(registry_dir).join(&entry.path.value);
    let config = ws
        .fleets
        .get(&req.fleet)
        .ok_or_else(|| ReleaseError::Fleet(format!("fleet `{}` has no configuration", req.fleet)))?;
    let stage = config
        .stage(&req.stage)
        .ok_or_else(|| ReleaseError::Fleet(format!("fleet `{}` has no stage `{}`", req.fleet, req.stage)))?;
    let args = RemoteDeployOptions {
        pull: true,
        image_registry: req.image_registry.clone(),
        image_tag: crate::images::commit_tag(&req.commit),
    };
    let mut plans = route_plans(&ws, &req.fleet, Some(&req.stage), &args)?;
    if let Some(to) = &req.rollback_to {
        let argv = rollback_args(&req.stage, to, DeployOptions::default().health_timeout);
        plans = plans.into_iter().map(|(p, t)| (p.with_fleet_args(&argv), t)).collect();
    }

    if req.rollback_to.is_none() && req.prebuilt.is_none() {
        phase(Phase::Building);
    }
    let project = remote::project_on_server(config, &req.fleet);
    let mut report = ReleaseReport::default();
    let built_here = |s: &&crate::config::Service| s.image.is_none() && s.build.is_some();
    let builds_here = stage.services.iter().any(|s| built_here(&s));
    if let Some(pushed) = &req.prebuilt {
        let tag = crate::images::commit_tag(&req.commit).unwrap_or_default();
        for service in stage.services.iter().filter(built_here) {
            let name = &service.name.value;
            let want = crate::images::service_image(&project, stage, service, req.image_registry.as_deref(), &tag);
            // Without the digest the registry took, what the servers pull could not be checked.
            if !pushed
                .iter()
                .any(|p| &p.service == name && p.image == want && p.digest.is_some())
            {
                return Err(ReleaseError::Build(format!(
                    "the build run reported no `{want}` with its digest for service `{name}`"
                )));
            }
        }
        report.images = pushed.iter().map(|p| p.image.clone()).collect();
    }
    let builds_something = req.rollback_to.is_none() && req.prebuilt.is_none() && builds_here;
    if builds_something {
        let docker = docker.clone();
        docker
            .server_version()
            .map_err(|e| ReleaseError::Setup(e.to_string()))?;
        let options = BuildOptions {
            push: true,
            registry: req.image_registry.clone(),
            commit: Some(req.commit.clone()),
            source_url: req.source_url.clone(),
            created: crate::clock::timestamp_now(),
            ..BuildOptions::default()
        };
        let plans = plan_builds(&project, stage, &fleet_dir, &options, docker.buildx_available())
            .map_err(|e| ReleaseError::Build(e.to_string()))?;
        let env = |k: &str| {
            req.credentials_env
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        };
        let (docker, _config_guard) =
            login_for_push(docker, &plans, &env).map_err(|e| ReleaseError::Build(e.to_string()))?;
        let outcomes =
            run_builds(&docker, &plans, &mut |service, l| line(&format!("{service} | {l}"))).map_err(|e| match e {
                BuildError::Failed {
                    source: DockerError::Unauthorized { image },
                    ..
                }
                | BuildError::Push {
                    source: DockerError::Unauthorized { image },
                    ..
                } => ReleaseError::PushRefused(image),
                e => ReleaseError::Build(e.to_string()),
            })?;
        report.images = outcomes.into_iter().flat_map(|o| o.images).collect();
    }

    if req.given_up.is_raised() {
        return Err(ReleaseError::GivenUp);
    }
    phase(Phase::Deploying);
    let tar = remote::pack_config(&fleet_dir)
        .map_err(|e| ReleaseError::Setup(format!("cannot pack {}/.fleetflow: {e}", fleet_dir.display())))?;
    let binary = LocalBinary {
        version: env!("CARGO_PKG_VERSION"),
        path: &req.fleet_binary,
    };
    let by = Deployer {
        who: req.requested_by.clone(),
        commit: Some(req.commit.clone()),
        when: crate::clock::timestamp_now(),
        lock_token: req.lock_token,
    };
    let recorded = std::sync::Mutex::new(Vec::new());
    report.routes = for_each_route(
        connector,
        &plans,
        &|remote, plan, sink| {
            remote::deploy_route(remote, plan, &by, &tar, &binary, sink).map_err(|e| e.to_string())?;
            if let Some(entry) = remote::last_recorded(remote, plan, &project) {
                let other = other_digest(&entry, req.prebuilt.as_deref().unwrap_or_default());
                if let Ok(mut all) = recorded.lock() {
                    all.push((plan.server.clone(), entry));
                }
                if let Some(other) = other {
                    return Err(other);
                }
            }
            Ok(())
        },
        &|server, l| line(&format!("[{server}] {l}")),
    );
    report.recorded = recorded.into_inner().unwrap_or_default();
    Ok(report)
}

/// What a server runs other than the digest the build pushed, if it does: the tag was pushed
/// again between the build and the pull.
fn other_digest(entry: &HistoryEntry, pushed: &[PushedImage]) -> Option<String> {
    entry.services.iter().find_map(|ran| {
        let pushed = pushed.iter().find(|p| p.service == ran.service)?;
        let want = pushed.digest.as_deref()?;
        let got = ran.repo_digest.as_deref()?.rsplit_once('@')?.1;
        (got != want).then(|| {
            format!(
                "service `{}` runs {got}, not {want} that the build run pushed as `{}`",
                ran.service, pushed.image
            )
        })
    })
}
