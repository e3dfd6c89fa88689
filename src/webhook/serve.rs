//! `fleet serve`: the webhook server, the durable job queue and its workers, started together
//! and stopped together.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::metrics::Metrics;
use super::server::{AppState, router};
use crate::application::jobs::db::Store;
use crate::application::jobs::{DeploySettings, WorkerContext, quarantine, reconcile, start_workers};
use crate::application::report::WorkflowError;
use crate::github::{AppKey, GitHub};
use crate::secret::Secret;

/// How often deliveries missed while the App was down are looked for (and at every start).
pub const RECONCILE_EVERY: Duration = Duration::from_secs(600);

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
    /// `sqlite://PATH` (created if missing) or `postgres://…` (several replicas).
    pub database_url: String,
    pub workers: usize,
    /// How long a replica holds a job it stopped renewing before another may take it.
    pub lease: Duration,
    /// How long running jobs may take to finish after SIGTERM.
    pub grace: Duration,
    /// Where deploys build and deploy from (and how their pages are linked).
    pub deploy: DeploySettings,
    /// Opens the overview page; none: the overview is off.
    pub operator_token: Option<Secret>,
}

impl fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("app_id", &self.app_id)
            .field("private_key", &"[redacted]")
            .field("webhook_secrets", &format!("[{} redacted]", self.webhook_secrets.len()))
            .field("github_api_url", &self.github_api_url)
            .field("database_url", &shown_url(&self.database_url))
            .field("workers", &self.workers)
            .field("lease", &self.lease)
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
    let github = GitHub::new(&config.github_api_url, key, metrics.clone()).map_err(anyhow::Error::msg)?;
    let store = Store::open(&config.database_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database {}: {e}", shown_url(&config.database_url)))?
        .with_lease(config.lease);
    // What never changes (blobs, commit indexes) is kept in the database, shared by replicas.
    let github = github.with_object_cache(Arc::new(store.clone()));
    let interrupted = store.recover_interrupted().await?;
    if interrupted.requeued > 0 {
        tracing::warn!(
            requeued = interrupted.requeued,
            "jobs a graceful stop interrupted are queued again"
        );
    }
    report_quarantined(&github, interrupted.quarantined);
    let wake = Arc::new(Notify::new());
    // Replicas on PostgreSQL wake each other when they queue a job.
    let listening = store.listen_for_jobs(Arc::clone(&wake));
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let context = WorkerContext {
        store: store.clone(),
        github: github.clone(),
        observer: Arc::clone(&metrics) as _,
        wake: Arc::clone(&wake),
        stop: stop_rx,
        deploy: config.deploy.clone(),
    };
    let workers = start_workers(&context, config.workers);
    let leases = keep_leases(&store, &github, &metrics, &wake);
    let state = Arc::new(AppState {
        store: store.clone(),
        secrets: config.webhook_secrets.clone(),
        metrics,
        wake: Arc::clone(&wake),
        body_budget: Default::default(),
        pages: config.deploy.pages.clone(),
        operator_token: config.operator_token.clone(),
        runs: config.deploy.runs.clone().unwrap_or_default(),
    });
    // Said only now that the key, the database and the workers are ready: a bad input fails
    // before the App claims to listen.
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "fleet serve: listening");
    eprintln!("fleet serve: listening on http://{addr}");
    // Deliveries missed while the App was down: asked for again now that it listens, then
    // every RECONCILE_EVERY.
    // Open pull requests without a plan: at start, then every PLAN_SWEEP_EVERY.
    let sweep = {
        let (github, store, mut stop) = (github.clone(), store.clone(), stop_tx.subscribe());
        let wake = Arc::clone(&wake);
        tokio::spawn(async move {
            let mut last_plan_sweep: Option<tokio::time::Instant> = None;
            loop {
                match reconcile::redeliver_missed(&github, &store).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(redelivered = n, "asked GitHub again for missed deliveries"),
                    Err(e) => tracing::warn!("cannot list or redeliver missed deliveries: {e}"),
                }
                if last_plan_sweep.is_none_or(|t| t.elapsed() >= reconcile::PLAN_SWEEP_EVERY) {
                    last_plan_sweep = Some(tokio::time::Instant::now());
                    match reconcile::plan_unplanned(&github, &store).await {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::info!(queued = n, "planned open pull requests that had no plan");
                            wake.notify_waiters();
                        }
                        Err(e) => tracing::warn!("cannot look for pull requests without a plan: {e:#}"),
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(RECONCILE_EVERY) => {}
                    _ = stop.changed() => break,
                }
            }
        })
    };
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
    sweep.abort();
    leases.abort();
    if let Some(listening) = listening {
        listening.abort();
    }
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

/// Reports jobs quarantined (the process or replica died under them) to their pull requests.
fn report_quarantined(github: &GitHub, jobs: Vec<crate::application::jobs::db::QueuedJob>) {
    if jobs.is_empty() {
        return;
    }
    let github = github.clone();
    tokio::spawn(async move {
        for job in jobs {
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

/// Every half lease: running jobs whose lease ran out (their replica died or stalls) go back to
/// the queue, or are quarantined when that happened too often.
fn keep_leases(
    store: &Store,
    github: &GitHub,
    metrics: &Arc<Metrics>,
    wake: &Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    let (store, github, metrics, wake) = (store.clone(), github.clone(), Arc::clone(metrics), Arc::clone(wake));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(store.lease() / 2).await;
            match store.sweep_expired().await {
                Ok(expired) => {
                    let n = expired.requeued + expired.quarantined.len() as u64;
                    if n > 0 {
                        tracing::warn!(
                            requeued = expired.requeued,
                            quarantined = expired.quarantined.len(),
                            "leases ran out"
                        );
                        crate::application::jobs::JobObserver::leases_expired(&*metrics, n);
                        wake.notify_waiters();
                    }
                    report_quarantined(&github, expired.quarantined);
                }
                Err(e) => tracing::warn!("cannot sweep expired leases: {e}"),
            }
        }
    })
}

/// A database URL as it may be shown: without its password.
pub fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
        }
        None => url.to_owned(),
    }
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

/// `sqlite://…/fleetflow/fleet.db` under $XDG_DATA_HOME (else ~/.local/share), the directory
/// created.
pub fn default_database() -> Result<String, WorkflowError> {
    let dir = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(d) => std::path::PathBuf::from(d).join("fleetflow"),
        None => {
            let home = std::env::var_os("HOME")
                .ok_or_else(|| WorkflowError::Usage("HOME is not set; pass --database".into()))?;
            std::path::PathBuf::from(home).join(".local/share/fleetflow")
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| WorkflowError::Usage(format!("cannot create {}: {e}", dir.display())))?;
    Ok(format!("sqlite://{}", dir.join("fleet.db").display()))
}

/// The webhook secrets of a comma-separated list (several while rotating).
pub fn webhook_secrets(list: &Secret) -> Vec<Secret> {
    list.expose()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .collect()
}

/// Runs `fleet serve` on its own runtime until SIGTERM or Ctrl-C.
pub fn serve_until_stopped(config: ServeConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        serve(config, listener, shutdown_signal()).await
    })
}
