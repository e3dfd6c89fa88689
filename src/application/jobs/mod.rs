//! The App's jobs and the workers that run them from the durable queue.
//!
//! A delivery is acknowledged once it and its job are committed to the database (SQLite, or
//! PostgreSQL shared by several replicas); workers take jobs from there under a lease they
//! renew, so nothing queued is lost when a process stops, crashes or stalls. On shutdown the
//! server stops accepting, running jobs get a grace period, and what is still queued stays
//! queued for the next start (a job a graceful stop cut off mid-run is run again then). A job
//! the process died under is quarantined at the next start ([`quarantine`]).

pub mod command_job;
pub mod db;
pub mod deploy_job;
pub mod deploy_log;
mod deploy_reply;
pub mod page_links;
pub mod plan_job;
pub mod push_job;
pub mod quarantine;
pub mod reconcile;
pub mod requests;
pub mod runner_build;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use crate::event::PullRequestRef;
use crate::github::GitHub;
use db::{MAX_ATTEMPTS, QueuedJob, Store};

pub use deploy_job::{DeploySettings, RegistryToken};
pub use requests::{COMMAND_JOB, DEPLOY_JOB, Job, PLAN_JOB, PUSH_JOB};
pub use runner_build::{RunWatch, RunnerBuild};

/// Where the job runner reports each job's end (the server's metrics).
pub trait JobObserver: Send + Sync {
    /// A run of a job of `kind` that ended with `result` (done, deferred, retry, failed).
    fn job(&self, kind: &str, result: &str, took: Duration);
    /// A running job's lease was renewed.
    fn lease_renewed(&self) {}
    /// A deploy found its fleet+stage locked by another and waits.
    fn lock_waited(&self) {}
    /// `n` running jobs' leases ran out and were swept back into the queue (or quarantined).
    fn leases_expired(&self, _n: u64) {}
}

/// Counts nothing (the Action's one-step drain).
struct NoJobObserver;

impl JobObserver for NoJobObserver {
    fn job(&self, _kind: &str, _result: &str, _took: Duration) {}
}

/// What every worker shares: the queue, GitHub, where job ends are counted, the wake-up
/// signal for new jobs, the stop signal and the deploy settings.
#[derive(Clone)]
pub struct WorkerContext {
    pub store: Store,
    pub github: GitHub,
    pub observer: Arc<dyn JobObserver>,
    pub wake: Arc<Notify>,
    pub stop: watch::Receiver<bool>,
    pub deploy: DeploySettings,
}

/// Starts `count` workers (at least one) taking jobs from the queue until `stop` turns true.
pub fn start_workers(context: &WorkerContext, count: usize) -> Vec<tokio::task::JoinHandle<()>> {
    (0..count.max(1))
        .map(|n| {
            let worker = Worker(context.clone());
            tokio::spawn(async move { worker.run(n).await })
        })
        .collect()
}

/// Runs every due job of `store` one after the other until none is left (the Action, which
/// has no server: a comment's command job and the deploy jobs it queues run in the one step).
/// Returns how many ran.
pub async fn drain(github: &GitHub, store: &Store, deploy: DeploySettings) -> anyhow::Result<usize> {
    let (_stop_tx, stop) = watch::channel(false);
    let worker = Worker(WorkerContext {
        store: store.clone(),
        github: github.clone(),
        observer: Arc::new(NoJobObserver),
        wake: Arc::new(Notify::new()),
        stop,
        deploy,
    });
    let mut ran = 0;
    while let Some(job) = store.claim().await? {
        worker.run_job(job).await;
        ran += 1;
    }
    Ok(ran)
}

/// Runs a comment's command job and the deploy jobs it queues to the end, here and now, over
/// a queue in a temporary SQLite file (the Action, which has no server). Returns the deploys.
pub fn run_command_here(
    github: &GitHub,
    request: &requests::CommandRequest,
    settings: DeploySettings,
) -> anyhow::Result<Vec<db::DeployRecord>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Store::open(&format!("sqlite://{}", dir.path().join("queue.db").display())).await?;
        store
            .store_delivery("action", "issue_comment", Some("created"), None)
            .await?;
        command_job::run(github, &store, "action", request).await?;
        drain(github, &store, settings).await?;
        let deploys = store.deploys().await?;
        store.close().await;
        anyhow::Ok(deploys)
    })
}

struct Worker(WorkerContext);

impl std::ops::Deref for Worker {
    type Target = WorkerContext;
    fn deref(&self) -> &WorkerContext {
        &self.0
    }
}

/// How a job ended when it did not fail.
enum JobEnd {
    Done,
    /// Not run yet (its fleet+stage is busy): back in the queue after the wait, no attempt spent.
    Deferred(Duration, String),
    /// Its claim was lost (the lease ran out) and another holder took over: nothing to record.
    Fenced,
}

/// Why a job failed, and whether (and when) to run it again.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    /// For the queue's record and the logs.
    pub message: String,
    /// Run it again (after a backoff).
    pub retry: bool,
    /// The least wait before the retry (GitHub's own, when it gave one).
    pub wait: Option<Duration>,
    /// GitHub's rate limit stopped it: run it again after this wait, no attempt spent.
    pub rate_limited: Option<Duration>,
}

/// Why a job waits for its installation's rate limit.
const RATE_LIMITED: &str = "GitHub's rate limit for this installation is spent; waiting for its reset";

impl JobError {
    /// A failure that running again would repeat.
    fn permanent(message: impl std::fmt::Display) -> Self {
        JobError {
            message: message.to_string(),
            retry: false,
            wait: None,
            rate_limited: None,
        }
    }
}

/// A GitHub failure of a job at `attempts`: retried when transient (GitHub's own wait wins).
fn github_failure(github: &GitHub, installation: u64, attempts: i64, e: &crate::github::GitHubError) -> JobError {
    let expired_token = matches!(e, crate::github::GitHubError::Status { status, .. } if status.as_u16() == 401);
    if expired_token {
        github.forget_token(installation);
    }
    JobError {
        message: e.to_string(),
        retry: attempts < MAX_ATTEMPTS && (e.is_transient() || expired_token),
        wait: e.retry_after(),
        rate_limited: e.rate_limited(),
    }
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
                    if let Err(e) = self.store.defer(&job, Duration::ZERO, "the server is stopping").await {
                        tracing::error!(worker = n, "cannot put job {} back in the queue: {e}", job.id);
                    }
                    break;
                }
                Ok(Some(job)) => self.run_job(job).await,
                Ok(None) => {
                    tokio::select! {
                        _ = self.0.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                        _ = self.0.stop.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::error!(worker = n, "cannot read the job queue: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// A plan job; its check run fails with the error when no attempt is left.
    async fn plan(&self, job: &QueuedJob, pr: &PullRequestRef) -> Result<(), JobError> {
        let known_check = job.check_run_id.and_then(|id| u64::try_from(id).ok());
        let result = async {
            let check = match known_check {
                Some(id) => id,
                None => {
                    // A later claim after one that was cut off may find the check run it made.
                    let rerun = job.claim > 1;
                    let id = plan_job::start_check_again(&self.github, pr, rerun)
                        .await
                        .map_err(|e| (e, None))?;
                    if let Err(e) = self.store.set_check_run(job.id, id as i64).await {
                        tracing::warn!("cannot remember check run {id}: {e}");
                    }
                    id
                }
            };
            plan_job::run(&self.github, &self.store, pr, check)
                .await
                .map_err(|e| (e, Some(check)))
        }
        .await;
        let (e, check) = match result {
            Ok(()) => return Ok(()),
            Err((e, check)) => (e, check),
        };
        // A rate-limited job waits for the reset instead (it spends no attempt).
        if job.attempts >= MAX_ATTEMPTS && e.rate_limited().is_none() {
            let _ = plan_job::report_failure(&self.github, pr, check.or(known_check), &e.to_string()).await;
        }
        Err(github_failure(&self.github, pr.installation_id, job.attempts, &e))
    }

    /// Runs a job by its kind; GitHub failures are classified for retry by [`github_failure`].
    /// While its installation's rate limit is (nearly) spent, a job waits for the reset without
    /// spending an attempt.
    async fn dispatch(&self, job: &QueuedJob) -> Result<JobEnd, JobError> {
        let decoded = Job::decode(&job.kind, &job.payload).map_err(JobError::permanent)?;
        if let Some(wait) = self.github.budget_wait(decoded.installation()) {
            return Ok(JobEnd::Deferred(wait, RATE_LIMITED.into()));
        }
        let ended = self.run_decoded(job, decoded).await;
        match ended {
            Err(JobError {
                rate_limited: Some(wait),
                ..
            }) => Ok(JobEnd::Deferred(wait, RATE_LIMITED.into())),
            ended => ended,
        }
    }

    async fn run_decoded(&self, job: &QueuedJob, decoded: Job) -> Result<JobEnd, JobError> {
        let failed = |installation: u64, e: crate::github::GitHubError| {
            github_failure(&self.github, installation, job.attempts, &e)
        };
        match decoded {
            Job::Plan(pr) => self.plan(job, &pr).await.map(|()| JobEnd::Done),
            Job::Command(req) => command_job::run(&self.github, &self.store, &job.delivery_id, &req)
                .await
                .map(|()| JobEnd::Done)
                .map_err(|e| failed(req.installation_id, e)),
            Job::Push(req) => push_job::run(&self.github, &self.store, &job.delivery_id, &req)
                .await
                .map(|()| JobEnd::Done)
                .map_err(|e| failed(req.installation_id, e)),
            Job::Deploy(req) => match deploy_job::run(&self.github, &self.store, &self.deploy, job, &req).await {
                Ok(deploy_job::DeployEnd::Done) => Ok(JobEnd::Done),
                Ok(deploy_job::DeployEnd::Waiting(why)) => {
                    self.observer.lock_waited();
                    Ok(JobEnd::Deferred(
                        self.deploy.lock_poll.max(Duration::from_millis(200)),
                        why,
                    ))
                }
                Ok(deploy_job::DeployEnd::Fenced) => Ok(JobEnd::Fenced),
                Err(e) => Err(failed(req.installation_id, e)),
            },
        }
    }

    async fn run_job(&self, job: QueuedJob) {
        let started = Instant::now();
        tracing::info!(id = job.id, kind = %job.kind, attempt = job.attempts, "job started");
        let Some(result) = self.while_held(&job, self.dispatch(&job)).await else {
            self.observer.job(&job.kind, "lease lost", started.elapsed());
            return;
        };
        let took = started.elapsed();
        let outcome = match result {
            Ok(JobEnd::Done) => self.store.finish(&job).await.map(|held| (held, "done")),
            Ok(JobEnd::Deferred(wait, why)) => self.store.defer(&job, wait, &why).await.map(|held| (held, "deferred")),
            Ok(JobEnd::Fenced) => Ok((false, "lease lost")),
            Err(e) => {
                tracing::warn!(id = job.id, "job failed: {e}");
                let exponential = Duration::from_secs(1 << job.attempts.clamp(0, 6));
                let backoff = e.retry.then(|| e.wait.map_or(exponential, |w| w.max(exponential)));
                let label = if e.retry { "retry" } else { "failed" };
                self.store
                    .fail(&job, &e.message, backoff)
                    .await
                    .map(|held| (held, label))
            }
        };
        match outcome {
            Ok((true, label)) => self.observer.job(&job.kind, label, took),
            Ok((false, _)) => {
                tracing::warn!(
                    id = job.id,
                    "the job's lease ran out and another claim holds it: its end is not recorded"
                );
                self.observer.job(&job.kind, "lease lost", took);
            }
            Err(e) => tracing::error!("cannot record the job's end: {e}"),
        }
    }

    /// Runs `work` while renewing `job`'s lease every third of a lease; `None` when the lease
    /// was lost (another replica claimed the job): the work is dropped where it stands.
    async fn while_held<T>(&self, job: &QueuedJob, work: impl Future<Output = T>) -> Option<T> {
        let every = self.store.lease() / 3;
        let renewals = async {
            loop {
                tokio::time::sleep(every).await;
                match self.store.renew(job).await {
                    Ok(db::Renewal::Held) => self.observer.lease_renewed(),
                    Ok(db::Renewal::Lost) => return,
                    Err(e) => tracing::warn!(id = job.id, "cannot renew the job's lease: {e}"),
                }
            }
        };
        tokio::select! {
            result = work => Some(result),
            () = renewals => {
                tracing::warn!(id = job.id, "lost the job's lease (another replica claimed it): stopped");
                None
            }
        }
    }
}
