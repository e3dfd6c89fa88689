//! Reporting quarantined jobs: a job found running at start-up (the process died under it) is
//! never run again, and whoever asked for it is told so, and how to ask again: a plan's pull
//! request gets a comment and its check run fails; a command gets a reply; a deploy's reply
//! comment (or check run) and deployment end as failed. A push job has nobody to tell.

use super::db::QueuedJob;
use super::requests::{BadJob, Job};
use super::{command_job, deploy_job, plan_job};
use crate::github::{GitHub, GitHubError};
use crate::images::short_sha;

/// Why the job is not retried, as said on GitHub.
const STOPPED: &str = "stopped the server (the fleetflow process died while running it), so it \
                       is quarantined and will not be retried";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Payload(#[from] BadJob),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
}

/// Tells the pull request (or deploy) of quarantined `job` that it will not run again.
pub async fn report(github: &GitHub, job: &QueuedJob) -> Result<(), ReportError> {
    match Job::decode(&job.kind, &job.payload)? {
        Job::Plan(pr) => {
            let text = format!(
                "⛔ The plan of `{}` {STOPPED}. To retry, push a new commit or comment `/plan`.",
                short_sha(&pr.head_sha)
            );
            github
                .create_comment(pr.installation_id, &pr.repo, pr.number, &text)
                .await?;
            let check = job.check_run_id.and_then(|id| u64::try_from(id).ok());
            plan_job::report_failure(github, &pr, check, &format!("This job {STOPPED}.")).await?;
        }
        Job::Command(req) => {
            let text = format!(
                "> {}\n\n@{} ⛔ this command {STOPPED}. To retry, comment it again.",
                command_job::first_line(&req.comment.body),
                req.comment.author
            );
            github
                .create_comment(req.installation_id, &req.repo, req.number, &text)
                .await?;
        }
        Job::Deploy(req) => {
            let status = format!(
                "❌ This deploy {STOPPED}. To retry, comment `/deploy {} {}` again.",
                req.fleet, req.stage
            );
            deploy_job::report_quarantined(github, job, &req, &status).await?;
        }
        Job::Push(_) => {}
    }
    Ok(())
}
