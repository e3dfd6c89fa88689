//! The deploy job: one fleet+stage at one SHA. Under the fleet+stage's lock in the database
//! (a second request waits in the queue and says behind whom), it creates a GitHub deployment
//! (`<fleet>-<stage>`, statuses in_progress → success | failure), downloads the commit's
//! source, builds and pushes the images and deploys them over SSH ([`release`]), and shows
//! progress by editing the request's reply comment (queued → building → deploying → result),
//! or, for a merge, a check run on the commit.

use super::deploy_reply::{ReplyProgress, log_block, routes_table};
pub use super::deploy_reply::{reply_body, reply_marker};
use crate::images::short_sha;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::db::{DeployFacts, Fence, FencedError, LockOutcome, QueuedJob, Store};
use super::deploy_log::{DeployLog, redact};
use super::page_links::PageLinks;
use super::requests::{DeployRequest, Trigger};
use super::runner_build::{self, RunWatch};
use crate::application::deploy::history::RollbackTo;
use crate::application::deploy::release::{
    GivenUp, Phase, PushedImage, ReleaseError, ReleaseReport, ReleaseRequest, release,
};
use crate::application::deploy::source_archive::{UnpackLimits, unpack_tarball};
use crate::application::image_build::credentials::{REGISTRY_TOKEN_ENV, REGISTRY_USERNAME_ENV};
use crate::config::load::REGISTRY_FILE;
use crate::docker::DockerCli;
use crate::github::{DeploymentState, GitHub, GitHubError};
use crate::secret::Secret;
use crate::ssh::Connector;

/// What a refused push tells the person who asked for the deploy.
const PUSH_CREDENTIALS_HINT: &str = "The App pushes with the credentials of its host's docker \
     (`docker login` as the user running `fleet serve`) or with `--image-registry-username` / \
     `--image-registry-token` (FLEET_IMAGE_REGISTRY_USERNAME / FLEET_IMAGE_REGISTRY_TOKEN); for \
     ghcr.io a token with `write:packages` — GitHub Packages does not accept an App's \
     installation token.";

/// A registry user name and token (never printed).
#[derive(Clone)]
pub struct RegistryToken {
    pub username: String,
    pub token: Secret,
}

/// Where the deploy job builds and deploys from, read once at start.
#[derive(Clone)]
pub struct DeploySettings {
    /// How servers are reached.
    pub connector: Arc<dyn Connector>,
    /// The engine images are built with.
    pub docker: DockerCli,
    /// Registry prefix of built images; default `ghcr.io/<owner>`.
    pub image_registry: Option<String>,
    /// What pushes to it, when the engine's docker config has nothing for it: the operator's
    /// token (`fleet serve --image-registry-token`), or the workflow's token in the Action.
    /// Never the App's installation token: GitHub Packages does not take those.
    pub registry_login: Option<RegistryToken>,
    /// The `fleet` binary installed on servers (default: this one).
    pub fleet_binary: Option<PathBuf>,
    /// How long a request waits before asking again for a busy fleet+stage.
    pub lock_poll: Duration,
    /// Links to each deploy's page (`fleet serve --public-url`); none without a public URL.
    pub pages: Option<PageLinks>,
    /// How a deploy that builds on GitHub's runners follows its run; `None` (the Action, itself
    /// on a runner): such deploys build here.
    pub runs: Option<RunWatch>,
}

impl std::fmt::Debug for DeploySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeploySettings")
            .field("image_registry", &self.image_registry)
            .field("fleet_binary", &self.fleet_binary)
            .field("lock_poll", &self.lock_poll)
            .finish_non_exhaustive()
    }
}

/// Lines of output kept for the failure reply.
const LOG_TAIL: usize = 15;

/// What the job ended with.
pub enum DeployEnd {
    Done,
    /// Another job holds the fleet+stage: wait and ask again. The text (who it waits for) is
    /// kept with the queued job, so the reply is edited only when it changes.
    Waiting(String),
    /// This replica's lease ran out mid-deploy and another holder has the fleet+stage: nothing
    /// of this run was recorded or reported as its end.
    Fenced,
}

/// Ends a quarantined deploy job's traces as failed with `status`: its deployment (if it made
/// one), and its reply comment or check run.
pub async fn report_quarantined(
    github: &GitHub,
    job: &QueuedJob,
    req: &DeployRequest,
    status: &str,
) -> Result<(), GitHubError> {
    if let Some(deployment) = job.deployment_id.and_then(|id| u64::try_from(id).ok()) {
        github
            .deployment_status(
                req.installation_id,
                &req.repo,
                deployment,
                DeploymentState::Failure,
                "this deploy stopped the server; it will not be retried",
                None,
            )
            .await?;
    }
    let progress = ReplyProgress {
        github,
        req,
        check_run: job.check_run_id.and_then(|id| u64::try_from(id).ok()),
        log: None,
        link: None,
        run_link: None,
    };
    progress.finish(false, status, "").await
}

/// Runs one deploy request.
pub async fn run(
    github: &GitHub,
    store: &Store,
    settings: &DeploySettings,
    job: &QueuedJob,
    req: &DeployRequest,
) -> Result<DeployEnd, GitHubError> {
    let target = req.target();
    let holder = format!("#{} `{}` by @{}", job.id, short_sha(&req.sha), req.requested_by);
    let mut progress = ReplyProgress {
        github,
        req,
        check_run: None,
        log: None,
        link: None,
        run_link: None,
    };
    let fence = match store.try_lock(&target, job, &holder).await {
        Ok(LockOutcome::Acquired(fence)) => fence,
        Ok(LockOutcome::HeldBy { holder, .. }) => {
            let waiting = format!("⏳ Queued behind deploy {holder} of the same fleet and stage.");
            if job.last_error.as_deref() != Some(waiting.as_str()) {
                progress.show(&waiting, "").await?;
            }
            return Ok(DeployEnd::Waiting(waiting));
        }
        Err(e) => {
            tracing::error!("cannot take the deploy lock of {target}: {e}");
            return Ok(DeployEnd::Waiting(format!("cannot take the deploy lock: {e}")));
        }
    };
    // The page's log, only when there are pages to show it.
    let log = match &settings.pages {
        Some(pages) => {
            progress.link = Some(pages.link(job.id, chrono::Utc::now().timestamp()));
            Some(DeployLog::start(store.clone(), job.id, job_secrets(settings)).await)
        }
        None => None,
    };
    progress.log = log.as_ref().map(DeployLog::line);
    let result = locked(&mut progress, store, settings, job, &fence).await;
    progress.log = None;
    if let Some(log) = log {
        log.close().await;
    }
    if let Err(e) = store.unlock(&fence).await {
        tracing::error!("cannot release the deploy lock of {target}: {e}");
    }
    result
}

async fn locked(
    progress: &mut ReplyProgress<'_>,
    store: &Store,
    settings: &DeploySettings,
    job: &QueuedJob,
    fence: &Fence,
) -> Result<DeployEnd, GitHubError> {
    let job_id = job.id;
    let target = fence.target.as_str();
    let (github, req) = (progress.github, progress.req);
    let (inst, repo) = (req.installation_id, &req.repo);
    // A `/deploy` deploys the commit it was given; by the time it runs its pull request may
    // be closed (refused) or have moved on (said).
    let mut building = match &req.rollback_to {
        Some(to) => {
            format!("⏪ Rolling back: the servers run the images they recorded for `{to}` again (nothing is built)…")
        }
        None if req.runner_build.is_some() && settings.runs.is_some() => {
            "🏗️ Starting the build on GitHub's runners…".to_owned()
        }
        None => "🔨 Building images…".to_owned(),
    };
    if let Trigger::Comment { pull: Some(number), .. } = req.trigger {
        let pr = github.pull_request(inst, repo, number).await?;
        if pr.state != "open" {
            let status = format!(
                "🚫 Not deployed: pull request #{number} was closed before this deploy ran; `{}` was not deployed.",
                short_sha(&req.sha)
            );
            return progress.finish(false, &status, "").await.map(|()| DeployEnd::Done);
        }
        if pr.head_sha != req.sha && req.rollback_to.is_none() {
            building = format!(
                "🔨 Building images of `{}`, the commit `/deploy` was given for (the pull request's head is now `{}`: comment `/deploy` again to deploy it)…",
                short_sha(&req.sha),
                short_sha(&pr.head_sha)
            );
        }
    }
    if let Trigger::Push = req.trigger {
        let mut body = json!({
            "name": format!("fleetflow/deploy {}:{}", req.fleet, req.stage),
            "head_sha": req.sha,
            "status": "in_progress",
            "started_at": crate::clock::timestamp_now(),
        });
        if let Some(link) = &progress.link {
            body["details_url"] = json!(link);
        }
        let check_run = match job.check_run_id.and_then(|id| u64::try_from(id).ok()) {
            Some(id) => id,
            None => {
                let id = github.create_check_run(inst, repo, &body).await?;
                if let Err(e) = store.set_check_run(job_id, id as i64).await {
                    tracing::warn!("cannot remember check run {id}: {e}");
                }
                id
            }
        };
        progress.check_run = Some(check_run);
    }
    if !req.force && store.last_deployed(target).await.ok().flatten().as_deref() == Some(req.sha.as_str()) {
        let status = format!(
            "✅ `{}` already runs on `{}`: nothing was done. Comment `/deploy {} {} --force` to deploy it again.",
            short_sha(&req.sha),
            req.stage,
            req.fleet,
            req.stage
        );
        return progress.finish(true, &status, "").await.map(|()| DeployEnd::Done);
    }
    let environment = req.environment();
    // A claim after one that was cut off mid-deploy goes on with the deployment it created.
    let deployment = match job.deployment_id.and_then(|id| u64::try_from(id).ok()) {
        Some(id) => id,
        None => {
            let id = github
                .create_deployment(
                    inst,
                    repo,
                    &req.sha,
                    &environment,
                    &format!("{}:{} by {}", req.fleet, req.stage, req.requested_by),
                )
                .await?;
            if let Err(e) = store.set_deployment(job_id, id as i64).await {
                tracing::warn!("cannot remember deployment {id}: {e}");
            }
            id
        }
    };
    github
        .deployment_status(
            inst,
            repo,
            deployment,
            DeploymentState::InProgress,
            if req.rollback_to.is_some() {
                "rolling back"
            } else {
                "building"
            },
            progress.link.as_deref(),
        )
        .await?;
    progress.show(&building, "").await?;
    let started = Instant::now();
    let outcome = match built_on_runners(progress, settings, store, job).await {
        Ok(prebuilt) => build_and_deploy(progress, settings, fence.token, prebuilt).await,
        Err(e) => Err((e, Vec::new())),
    };
    let secs = started.elapsed().as_secs_f64();
    let (ok, status, details, summary) = match &outcome {
        Ok(report) if report.0.ok() => (
            true,
            match &req.rollback_to {
                Some(to) => format!("✅ Rolled `{}` back to `{to}` in {secs:.1} s.", req.stage),
                None => format!(
                    "✅ Deployed `{}` to `{}` in {secs:.1} s.",
                    short_sha(&req.sha),
                    req.stage
                ),
            },
            routes_table(&report.0),
            if req.rollback_to.is_some() {
                "rolled back"
            } else {
                "deployed"
            }
            .to_owned(),
        ),
        Ok((report, tail)) => {
            let failed: Vec<String> = report
                .routes
                .iter()
                .filter_map(|(label, r)| r.as_ref().err().map(|e| format!("{label}: {e}")))
                .collect();
            (
                false,
                format!("❌ Deploy failed after {secs:.1} s: {}", failed.join("; ")),
                format!("{}\n{}", routes_table(report), log_block(tail)),
                failed.join("; "),
            )
        }
        Err((e, tail)) => (false, format!("❌ Deploy failed: {e}"), log_block(tail), e.clone()),
    };
    let state = if ok {
        DeploymentState::Success
    } else {
        DeploymentState::Failure
    };
    // Fenced: a replica whose lease ran out mid-deploy (it was paused, its network lost) and
    // whose fleet+stage another holder took records and reports nothing as the deploy's end.
    // After a rollback the commit's images no longer run: a later `/deploy` of it runs again.
    let ran = match &req.rollback_to {
        Some(to) => format!("rollback:{to}"),
        None => req.sha.clone(),
    };
    let images = outcome.as_ref().ok().map(|(report, _)| recorded_images(report));
    let facts = DeployFacts {
        ran: &ran,
        commit: &req.sha,
        result: if ok { "success" } else { "failure" },
        job_id: Some(job_id),
        requested_by: &req.requested_by,
        duration_ms: (secs * 1000.0) as i64,
        images: images.as_deref(),
    };
    match store.record_deploy_of(fence, &facts).await {
        Ok(()) => {}
        Err(stale @ FencedError::Stale { .. }) => {
            tracing::warn!(
                job = job_id,
                "not recording the deploy of `{}`: {stale}",
                short_sha(&req.sha)
            );
            return Ok(DeployEnd::Fenced);
        }
        Err(FencedError::Database(e)) => tracing::error!("cannot record the deploy of {target}: {e}"),
    }
    github
        .deployment_status(inst, repo, deployment, state, &summary, progress.link.as_deref())
        .await?;
    progress.finish(ok, &status, &details).await.map(|()| DeployEnd::Done)
}

type Tail = Vec<String>;

/// With `builds "github-actions"` (and a watch: the App), dispatches the build (once: a later
/// claim of the job follows the run it recorded) and waits for the images its run pushed;
/// `None`: the release builds here.
async fn built_on_runners(
    progress: &mut ReplyProgress<'_>,
    settings: &DeploySettings,
    store: &Store,
    job: &QueuedJob,
) -> Result<Option<Vec<PushedImage>>, String> {
    let (github, req) = (progress.github, progress.req);
    let (Some(build), Some(watch), None) = (&req.runner_build, &settings.runs, &req.rollback_to) else {
        return Ok(None);
    };
    let run = match job.build_run_id.and_then(|id| u64::try_from(id).ok()) {
        Some(id) => (github.workflow_run(req.installation_id, &req.repo, id).await)
            .map_err(|e| format!("cannot look at the build run {id} this deploy started: {e}"))?,
        None => {
            let run = runner_build::dispatch(github, req, build).await?;
            if let Err(e) = store.set_build_run(job.id, run.id as i64).await {
                tracing::warn!("cannot remember build run {}: {e}", run.id);
            }
            run
        }
    };
    progress.run_link = Some(run.html_url.clone());
    if let Err(e) = progress.show("🏗️ Building images on GitHub's runners…", "").await {
        tracing::warn!("cannot show progress: {e}");
    }
    runner_build::wait(github, watch, req, run).await.map(Some)
}

/// Downloads the source at the SHA, then builds and deploys on a blocking thread; phases edit
/// the reply as they come.
async fn build_and_deploy(
    progress: &ReplyProgress<'_>,
    settings: &DeploySettings,
    lock_token: i64,
    prebuilt: Option<Vec<PushedImage>>,
) -> Result<(ReleaseReport, Tail), (String, Tail)> {
    let (github, req) = (progress.github, progress.req);
    let archive = github
        .tarball(req.installation_id, &req.repo, &req.sha)
        .await
        .map_err(|e| {
            (
                format!("cannot download the source of `{}`: {e}", short_sha(&req.sha)),
                Vec::new(),
            )
        })?;
    let dir = tempfile::tempdir().map_err(|e| (format!("cannot create a build directory: {e}"), Vec::new()))?;
    let root = dir.path().to_path_buf();
    let image_registry = settings
        .image_registry
        .clone()
        .unwrap_or_else(|| format!("ghcr.io/{}", req.repo.owner.to_lowercase()));
    let fleet_binary = match settings.fleet_binary.clone().map_or_else(std::env::current_exe, Ok) {
        Ok(p) => p,
        Err(e) => {
            return Err((
                format!("cannot find the fleet binary to install on servers: {e}"),
                Vec::new(),
            ));
        }
    };
    let request = ReleaseRequest {
        root: root.clone(),
        registry_file: REGISTRY_FILE.to_owned(),
        fleet: req.fleet.clone(),
        stage: req.stage.clone(),
        commit: req.sha.clone(),
        image_registry: Some(image_registry),
        credentials_env: (settings.registry_login.iter())
            .flat_map(|login| {
                [
                    (REGISTRY_TOKEN_ENV.to_owned(), login.token.expose().to_owned()),
                    (REGISTRY_USERNAME_ENV.to_owned(), login.username.clone()),
                ]
            })
            .collect(),
        source_url: Some(format!("https://github.com/{}/{}", req.repo.owner, req.repo.name)),
        requested_by: req.requested_by.clone(),
        fleet_binary,
        given_up: GivenUp::default(),
        lock_token: Some(lock_token),
        rollback_to: match req.rollback_to.as_deref().map(str::parse::<RollbackTo>) {
            None => None,
            Some(Ok(to)) => Some(to),
            Some(Err(e)) => return Err((e.to_string(), Vec::new())),
        },
        prebuilt,
    };
    // Dropped (the job lost its lease and was stopped) before the blocking release ended: the
    // release gives up before it deploys anything.
    let _give_up_when_dropped = GiveUpOnDrop(request.given_up.clone());
    let (phase_tx, mut phase_rx) = tokio::sync::mpsc::unbounded_channel::<Phase>();
    let connector = Arc::clone(&settings.connector);
    let docker = settings.docker.clone();
    let log = progress.log.clone();
    let secrets = job_secrets(settings);
    let work = tokio::task::spawn_blocking(move || {
        let tail: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());
        let line = |l: &str| {
            tracing::debug!("{l}");
            if let Some(log) = &log {
                log.push(l);
            }
            // The reply shows the last lines: masked as the page's are.
            if let Ok(mut t) = tail.lock() {
                if t.len() == LOG_TAIL {
                    t.pop_front();
                }
                t.push_back(redact(l, &secrets));
            }
        };
        let result = unpack_tarball(archive.as_slice(), &root, UnpackLimits::default())
            .map_err(|e| e.to_string())
            .and_then(|_| {
                release(
                    connector.as_ref(),
                    &docker,
                    &request,
                    &mut |p| {
                        let _ = phase_tx.send(p);
                    },
                    &line,
                )
                .map_err(|e| match e {
                    ReleaseError::PushRefused(_) => format!("{e}. {PUSH_CREDENTIALS_HINT}"),
                    e => e.to_string(),
                })
            });
        let tail: Vec<String> = tail.into_inner().map(Vec::from).unwrap_or_default();
        match result {
            Ok(report) => Ok((report, tail)),
            Err(e) => Err((e, tail)),
        }
    });
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            done = &mut work => break done,
            Some(phase) = phase_rx.recv() => {
                let status = match phase {
                    Phase::Building => "🔨 Building images…",
                    Phase::Deploying => "🚀 Deploying over SSH…",
                };
                if let Err(e) = progress.show(status, "").await {
                    tracing::warn!("cannot show progress: {e}");
                }
            }
        }
    };
    drop(dir);
    result.unwrap_or_else(|e| Err((format!("the deploy thread failed: {e}"), Vec::new())))
}

/// What each server recorded for the release, as the App keeps it (schema 11).
fn recorded_images(report: &ReleaseReport) -> String {
    let servers: Vec<serde_json::Value> = (report.recorded.iter())
        .map(|(server, entry)| json!({ "server": server, "services": entry.services }))
        .collect();
    serde_json::Value::Array(servers).to_string()
}

/// The values a deploy's log must never show: the credentials it pushes with.
fn job_secrets(settings: &DeploySettings) -> Vec<String> {
    (settings.registry_login.iter())
        .map(|login| login.token.expose().to_owned())
        .collect()
}

/// Raises its flag when dropped.
struct GiveUpOnDrop(GivenUp);

impl Drop for GiveUpOnDrop {
    fn drop(&mut self) {
        self.0.raise();
    }
}
