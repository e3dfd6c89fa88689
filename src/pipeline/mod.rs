//! `fleet serve`: the webhook server, the durable job queue and its workers, started together.
//!
//! A delivery is acknowledged once it and its job are committed to SQLite; workers take jobs
//! from there, so nothing queued is lost when the process stops or crashes. On shutdown the
//! server stops accepting, running jobs get a grace period, and what is still queued stays
//! queued for the next start (a job a graceful stop cut off mid-run is run again then). A job
//! the process died under is quarantined at the next start ([`quarantine`]).

pub mod command_job;
pub mod db;
pub mod deploy_job;
pub mod jobs;
pub mod metrics;
pub mod plan_job;
pub mod push_job;
pub mod quarantine;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use crate::github::{AppKey, GitHub};
use crate::webhook::server::{AppState, router};
use crate::webhook::{PullRequestRef, Secret};
use db::{Job, MAX_ATTEMPTS, Store};
use metrics::Metrics;

pub use deploy_job::DeploySettings;
pub use jobs::{COMMAND_JOB, DEPLOY_JOB, PLAN_JOB, PUSH_JOB};

/// Everything `fleet serve` needs, read once at start.
#[derive(Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub app_id: u64,
    /// The PEM, or the path of a file holding it.
    pub private_key: Secret,
    /// Accepted webhook secrets (more than one while rotating).
    pub webhook_secrets: Vec<Secret>,
    pub github_api_url: String,
    /// `sqlite://PATH` (created if missing).
    pub database_url: String,
    pub workers: usize,
    /// How long running jobs may take to finish after SIGTERM.
    pub grace: Duration,
    /// Where deploys build and deploy from.
    pub deploy: DeploySettings,
}

impl fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("app_id", &self.app_id)
            .field("private_key", &"[redacted]")
            .field("webhook_secrets", &format!("[{} redacted]", self.webhook_secrets.len()))
            .field("github_api_url", &self.github_api_url)
            .field("database_url", &self.database_url)
            .field("workers", &self.workers)
            .field("grace", &self.grace)
            .field("deploy", &self.deploy)
            .finish()
    }
}

/// Runs the server on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    config: ServeConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let key = AppKey::new(config.app_id, &config.private_key)?;
    let metrics = Arc::new(Metrics::default());
    let github = GitHub::new(&config.github_api_url, key, Arc::clone(&metrics)).map_err(anyhow::Error::msg)?;
    let store = Store::open(&config.database_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database {}: {e}", config.database_url))?;
    let interrupted = store.recover_interrupted().await?;
    if interrupted.requeued > 0 {
        tracing::warn!(
            requeued = interrupted.requeued,
            "jobs a graceful stop interrupted are queued again"
        );
    }
    if !interrupted.quarantined.is_empty() {
        let github = github.clone();
        tokio::spawn(async move {
            for job in interrupted.quarantined {
                tracing::error!(
                    id = job.id,
                    kind = %job.kind,
                    "the server died while this job ran: quarantined, not retried"
                );
                if let Err(e) = quarantine::report(&github, &job).await {
                    tracing::error!(id = job.id, "cannot report the quarantined job: {e}");
                }
            }
        });
    }
    let wake = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let mut workers = Vec::new();
    for n in 0..config.workers.max(1) {
        let worker = Worker {
            store: store.clone(),
            github: github.clone(),
            metrics: Arc::clone(&metrics),
            wake: Arc::clone(&wake),
            stop: stop_rx.clone(),
            deploy: config.deploy.clone(),
        };
        workers.push(tokio::spawn(async move { worker.run(n).await }));
    }
    let state = Arc::new(AppState {
        store: store.clone(),
        secrets: config.webhook_secrets.clone(),
        metrics,
        wake: Arc::clone(&wake),
        body_budget: Default::default(),
    });
    tracing::info!(addr = %listener.local_addr()?, "fleet serve: listening");
    // At the signal, first: workers take no new job, and the running ones are marked as cut off
    // by a stop (not a crash, should the process be killed before they end).
    let stopping = {
        let (store, stop_tx, wake) = (store.clone(), Arc::clone(&stop_tx), Arc::clone(&wake));
        async move {
            shutdown.await;
            let _ = stop_tx.send(true);
            wake.notify_waiters();
            if let Err(e) = store.mark_stopping().await {
                tracing::error!("cannot mark the running jobs as stopping: {e}");
            }
        }
    };
    axum::serve(listener, router(state))
        .with_graceful_shutdown(stopping)
        .await?;
    tracing::info!("shutting down: waiting for running jobs");
    let _ = stop_tx.send(true);
    wake.notify_waiters();
    let deadline = tokio::time::Instant::now() + config.grace;
    for handle in workers {
        let abort = handle.abort_handle();
        if tokio::time::timeout_at(deadline, handle).await.is_err() {
            tracing::warn!("a job did not finish within the grace period; it runs again at the next start");
            abort.abort();
        }
    }
    match store.requeue_running().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(requeued = n, "jobs cut off by the stop are queued for the next start"),
        Err(e) => tracing::error!("cannot queue the cut-off jobs again (they are marked as stopping): {e}"),
    }
    store.close().await;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Runs every due job of `store` one after the other until none is left (the Action, which
/// has no server: a comment's command job and the deploy jobs it queues run in the one step).
/// Returns how many ran.
pub async fn drain(github: &GitHub, store: &Store, deploy: DeploySettings) -> anyhow::Result<usize> {
    let (_stop_tx, stop) = watch::channel(false);
    let worker = Worker {
        store: store.clone(),
        github: github.clone(),
        metrics: Arc::new(Metrics::default()),
        wake: Arc::new(Notify::new()),
        stop,
        deploy,
    };
    let mut ran = 0;
    while let Some(job) = store.claim().await? {
        worker.run_job(job).await;
        ran += 1;
    }
    Ok(ran)
}

struct Worker {
    store: Store,
    github: GitHub,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
    deploy: DeploySettings,
}

/// How a job ended: `Err((error, retry, wait))` when it failed.
type JobResult = Result<JobEnd, (String, bool, Option<Duration>)>;

enum JobEnd {
    Done,
    /// Not run yet (its fleet+stage is busy): back in the queue after the wait, no attempt spent.
    Deferred(Duration, String),
}

/// A GitHub failure of a job at `attempts`: retried when transient (GitHub's own wait wins).
fn github_failure(
    github: &GitHub,
    installation: u64,
    attempts: i64,
    e: &crate::github::GitHubError,
) -> (String, bool, Option<Duration>) {
    let expired_token = matches!(e, crate::github::GitHubError::Status { status, .. } if status.as_u16() == 401);
    if expired_token {
        github.forget_token(installation);
    }
    let retry = attempts < MAX_ATTEMPTS && (e.is_transient() || expired_token);
    (e.to_string(), retry, e.retry_after())
}

impl Worker {
    async fn run(mut self, n: usize) {
        loop {
            if *self.stop.borrow() {
                break;
            }
            match self.store.claim().await {
                Ok(Some(job)) if *self.stop.borrow() => {
                    // Claimed as the stop began: back to the queue, not started.
                    if let Err(e) = self.store.defer(job.id, Duration::ZERO, "the server is stopping").await {
                        tracing::error!(worker = n, "cannot put job {} back in the queue: {e}", job.id);
                    }
                    break;
                }
                Ok(Some(job)) => self.run_job(job).await,
                Ok(None) => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                        _ = self.stop.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::error!(worker = n, "cannot read the job queue: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// A plan job; `Err((error, retry))` when it failed.
    async fn plan(&self, job: &Job, pr: &PullRequestRef) -> Result<(), (String, bool, Option<Duration>)> {
        let known_check = job.check_run_id.and_then(|id| u64::try_from(id).ok());
        let result = async {
            let check = match known_check {
                Some(id) => id,
                None => {
                    let id = plan_job::start_check(&self.github, pr).await.map_err(|e| (e, None))?;
                    if let Err(e) = self.store.set_check_run(job.id, id as i64).await {
                        tracing::warn!("cannot remember check run {id}: {e}");
                    }
                    id
                }
            };
            plan_job::run(&self.github, pr, check)
                .await
                .map_err(|e| (e, Some(check)))
        }
        .await;
        let (e, check) = match result {
            Ok(()) => return Ok(()),
            Err((e, check)) => (e, check),
        };
        if job.attempts >= MAX_ATTEMPTS {
            let _ = plan_job::report_failure(&self.github, pr, check.or(known_check), &e.to_string()).await;
        }
        Err(github_failure(&self.github, pr.installation_id, job.attempts, &e))
    }

    /// Runs a job by its kind; GitHub failures are classified for retry by [`github_failure`].
    async fn dispatch(&self, job: &Job) -> JobResult {
        fn payload<T: serde::de::DeserializeOwned>(job: &Job) -> Result<T, (String, bool, Option<Duration>)> {
            serde_json::from_str(&job.payload).map_err(|e| (format!("bad job payload: {e}"), false, None))
        }
        let failed = |installation: u64, e: crate::github::GitHubError| {
            github_failure(&self.github, installation, job.attempts, &e)
        };
        match job.kind.as_str() {
            PLAN_JOB => self
                .plan(job, &payload::<PullRequestRef>(job)?)
                .await
                .map(|()| JobEnd::Done),
            COMMAND_JOB => {
                let req: jobs::CommandRequest = payload(job)?;
                command_job::run(&self.github, &self.store, &job.delivery_id, &req)
                    .await
                    .map(|()| JobEnd::Done)
                    .map_err(|e| failed(req.installation_id, e))
            }
            PUSH_JOB => {
                let req: jobs::PushRequest = payload(job)?;
                push_job::run(&self.github, &self.store, &job.delivery_id, &req)
                    .await
                    .map(|()| JobEnd::Done)
                    .map_err(|e| failed(req.installation_id, e))
            }
            DEPLOY_JOB => {
                let req: jobs::DeployRequest = payload(job)?;
                match deploy_job::run(&self.github, &self.store, &self.deploy, job, &req).await {
                    Ok(deploy_job::DeployEnd::Done) => Ok(JobEnd::Done),
                    Ok(deploy_job::DeployEnd::Waiting(why)) => Ok(JobEnd::Deferred(
                        self.deploy.lock_poll.max(Duration::from_millis(200)),
                        why,
                    )),
                    Err(e) => Err(failed(req.installation_id, e)),
                }
            }
            other => Err((format!("unknown job kind {other:?}"), false, None)),
        }
    }

    async fn run_job(&self, job: Job) {
        let started = Instant::now();
        tracing::info!(id = job.id, kind = %job.kind, attempt = job.attempts, "job started");
        let result = self.dispatch(&job).await;
        let took = started.elapsed();
        let outcome = match result {
            Ok(JobEnd::Done) => self.store.finish(job.id).await.map(|()| "done"),
            Ok(JobEnd::Deferred(wait, why)) => self.store.defer(job.id, wait, &why).await.map(|()| "deferred"),
            Err((error, retry, wait)) => {
                tracing::warn!(id = job.id, "job failed: {error}");
                let exponential = Duration::from_secs(1 << job.attempts.clamp(0, 6));
                let backoff = retry.then(|| wait.map_or(exponential, |w| w.max(exponential)));
                let label = if retry { "retry" } else { "failed" };
                self.store.fail(job.id, &error, backoff).await.map(|()| label)
            }
        };
        match outcome {
            Ok(label) => self.metrics.job(&job.kind, label, took),
            Err(e) => tracing::error!("cannot record the job's end: {e}"),
        }
    }
}
