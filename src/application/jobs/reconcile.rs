//! Deliveries missed while the App was down or unreachable: GitHub keeps them as failed and
//! does not send them again by itself. At start and periodically the App lists its recent
//! failed deliveries and asks again for each event (`guid`) it never stored; and, less often,
//! plans the open pull requests whose head has no plan. Idempotent across replicas: a delivery
//! stored twice is acknowledged once.

use std::collections::BTreeSet;

use super::db::{Store, Stored};
use super::plan_job::CHECK_NAME;
use super::requests::plan_job;
use crate::event::PullRequestRef;
use crate::github::{GitHub, GitHubError};

/// Asks GitHub to redeliver every recent failed delivery whose event this store never stored;
/// returns how many were asked for.
pub async fn redeliver_missed(github: &GitHub, store: &Store) -> Result<usize, GitHubError> {
    let mut asked = BTreeSet::new();
    for d in github.failed_deliveries().await? {
        // What the App refused on purpose (bad signature, too large, unparseable) stays refused.
        let refused = (400..500).contains(&d.status_code) && !matches!(d.status_code, 408 | 429);
        if refused || asked.contains(&d.guid) {
            continue;
        }
        match store.has_delivery(&d.guid).await {
            Ok(false) => {}
            Ok(true) => continue,
            Err(e) => {
                tracing::warn!("cannot read the deliveries: {e}; redelivery sweep stopped");
                break;
            }
        }
        tracing::info!(guid = %d.guid, event = %d.event, status = d.status_code, "redelivering a missed delivery");
        // One that cannot be redelivered (too old, say) does not stop the others.
        match github.redeliver(d.id).await {
            Ok(()) => {
                asked.insert(d.guid);
            }
            Err(e) => tracing::warn!(guid = %d.guid, "cannot redeliver: {e}"),
        }
    }
    Ok(asked.len())
}

/// How often open pull requests are looked at for a missing plan (and at every start): a
/// request per repository and one per open pull request, so less often than deliveries.
pub const PLAN_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Queues a plan for each open pull request, in the repositories the App has worked for, whose
/// head has no `fleetflow/plan` check run — its delivery never arrived, and GitHub's list of
/// failed deliveries no longer has it. Idempotent across replicas: the plan's delivery id names
/// the head, so a sweep that runs twice (or on two replicas) queues it once. An installation
/// whose rate limit is nearly spent is left for the next sweep. Returns how many were queued.
pub async fn plan_unplanned(github: &GitHub, store: &Store) -> anyhow::Result<usize> {
    let mut queued = 0;
    for (installation, repo) in store.known_repositories().await? {
        if github.budget_wait(installation).is_some() {
            continue;
        }
        for pull in github.open_pulls(installation, &repo).await? {
            let pr = PullRequestRef {
                installation_id: installation,
                repo: repo.clone(),
                number: pull.number,
                head_sha: pull.head_sha,
                base_sha: pull.base_sha,
            };
            let job = plan_job(&pr);
            // Queued here already (perhaps not started yet), or planned before.
            let serial_key = job.serial_key.as_deref().unwrap_or_default();
            if store.has_plan_job(serial_key, &pr.head_sha).await?
                || (github.has_check_run(installation, &repo, &pr.head_sha, CHECK_NAME)).await?
            {
                continue;
            }
            let delivery = format!("sweep:{}/{}#{}@{}", repo.owner, repo.name, pr.number, pr.head_sha);
            let stored = (store.store_delivery(&delivery, "pull_request", Some("unplanned"), Some(&job)))
                .await
                .map_err(|e| anyhow::anyhow!("cannot queue the plan of {delivery}: {e}"))?;
            if let Stored::New { job: Some(_) } = stored {
                tracing::info!(pull = %delivery, "queued the plan of a pull request that had none");
                queued += 1;
            }
        }
    }
    Ok(queued)
}
