//! Which deliveries become which jobs, and the jobs' payloads (stored as JSON in the queue).

use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};

use super::db::NewJob;
use crate::chatops::{Author, may_hold_command};
use crate::event::{CommentRef, Event, PullRequestRef, RepoRef};

/// Plan a pull request (comment + check run).
pub const PLAN_JOB: &str = "plan";
/// A comment that may hold a `/command`.
pub const COMMAND_JOB: &str = "command";
/// A push to the default branch: deploy the changed fleets' auto-deploy routes.
pub const PUSH_JOB: &str = "push";
/// Build and deploy one fleet+stage at one SHA.
pub const DEPLOY_JOB: &str = "deploy";

/// A comment on a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRequest {
    pub installation_id: u64,
    pub repo: RepoRef,
    pub number: u64,
    pub comment: CommentRef,
}

/// A push to the default branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRequest {
    pub installation_id: u64,
    pub repo: RepoRef,
    pub before: String,
    pub after: String,
    pub branch: String,
}

/// What asked for a deploy, and where its progress is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// A `/deploy` comment on pull request `pull`; progress edits its reply comment `reply_id`.
    Comment {
        reply_id: u64,
        /// `None` in jobs queued by releases before it was recorded.
        #[serde(default)]
        pull: Option<u64>,
    },
    /// A merge (push to the default branch); progress is a check run on the commit.
    Push,
}

/// One fleet+stage to build and deploy at `sha`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRequest {
    pub installation_id: u64,
    pub repo: RepoRef,
    pub sha: String,
    pub fleet: String,
    pub stage: String,
    pub requested_by: String,
    pub force: bool,
    pub trigger: Trigger,
    /// A rollback (`/rollback`): the earlier deploy whose images run again, nothing built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_to: Option<String>,
    /// Built on GitHub's runners (the default branch's registry says `builds "github-actions"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_build: Option<super::RunnerBuild>,
}

impl DeployRequest {
    /// The lock and history key, `fleet:stage` (per repository).
    pub fn target(&self) -> String {
        format!("{}/{}:{}:{}", self.repo.owner, self.repo.name, self.fleet, self.stage)
    }

    /// The GitHub environment, `<fleet>-<stage>`.
    pub fn environment(&self) -> String {
        format!("{}-{}", self.fleet, self.stage)
    }
}

/// A job of the App's queue: what it asks for. Stored as its kind (a column of its own) and
/// `{"version": JOB_FORMAT, "request": …}`; a payload without a version is the request itself
/// (as queued before versions), so jobs queued by an earlier release still run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    Plan(PullRequestRef),
    Command(CommandRequest),
    Push(PushRequest),
    Deploy(DeployRequest),
}

/// The stored format of a job's request.
pub const JOB_FORMAT: u64 = 1;

/// Why a stored job cannot be read: never retried (it would fail the same way).
#[derive(Debug, thiserror::Error)]
pub enum BadJob {
    #[error("unknown job kind {0:?}")]
    Kind(String),
    #[error("job format version {0} is newer than this fleet reads ({JOB_FORMAT}); run a newer fleet")]
    Version(u64),
    #[error("bad job payload: {0}")]
    Payload(#[from] serde_json::Error),
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Plan(_) => PLAN_JOB,
            Job::Command(_) => COMMAND_JOB,
            Job::Push(_) => PUSH_JOB,
            Job::Deploy(_) => DEPLOY_JOB,
        }
    }

    /// The installation the job acts with.
    pub fn installation(&self) -> u64 {
        match self {
            Job::Plan(r) => r.installation_id,
            Job::Command(r) => r.installation_id,
            Job::Push(r) => r.installation_id,
            Job::Deploy(r) => r.installation_id,
        }
    }

    /// The stored payload.
    pub fn payload(&self) -> String {
        let request = match self {
            Job::Plan(r) => serde_json::to_value(r),
            Job::Command(r) => serde_json::to_value(r),
            Job::Push(r) => serde_json::to_value(r),
            Job::Deploy(r) => serde_json::to_value(r),
        };
        // Plain structs of strings and numbers: serializing them cannot fail.
        let request = request.unwrap_or_default();
        serde_json::json!({ "version": JOB_FORMAT, "request": request }).to_string()
    }

    /// A job to queue.
    pub fn queued(&self) -> NewJob {
        NewJob::new(self.kind(), self.payload())
    }

    /// The job stored as `kind` and `payload`.
    pub fn decode(kind: &str, payload: &str) -> Result<Job, BadJob> {
        let mut value: serde_json::Value = serde_json::from_str(payload)?;
        if let Some(version) = value.get("version").and_then(serde_json::Value::as_u64) {
            if version > JOB_FORMAT {
                return Err(BadJob::Version(version));
            }
            value = value["request"].take();
        }
        Ok(match kind {
            PLAN_JOB => Job::Plan(serde_json::from_value(value)?),
            COMMAND_JOB => Job::Command(serde_json::from_value(value)?),
            PUSH_JOB => Job::Push(serde_json::from_value(value)?),
            DEPLOY_JOB => Job::Deploy(serde_json::from_value(value)?),
            other => return Err(BadJob::Kind(other.to_owned())),
        })
    }
}

fn is_zero_sha(sha: &str) -> bool {
    sha.is_empty() || sha.bytes().all(|b| b == b'0')
}

/// A command's identity: the comment (repository and id) and a hash of its body, so a
/// replayed delivery of the same comment is the same command, and an edited body a new one.
fn command_identity(repo: &RepoRef, comment: &CommentRef) -> String {
    let body_hash = hex::encode(Sha256::digest(comment.body.as_bytes()));
    format!("{COMMAND_JOB}:{}/{}:{}:{body_hash}", repo.owner, repo.name, comment.id)
}

/// The plan job of a pull request: one at a time per pull request, the newest head wins.
pub fn plan_job(pr: &PullRequestRef) -> NewJob {
    NewJob {
        serial_key: Some(format!("{PLAN_JOB}:{}/{}#{}", pr.repo.owner, pr.repo.name, pr.number)),
        ..Job::Plan(pr.clone()).queued()
    }
}

/// The command a new pull-request comment may hold (not by bots, not only inside code or
/// quotes), run with `installation` (the delivery's, else the caller's: 0 for a workflow token).
pub fn command_request(event: &Event, installation: Option<u64>) -> Option<CommandRequest> {
    let Event::IssueComment {
        action,
        repo,
        issue_number,
        is_pull_request: true,
        installation_id,
        comment,
    } = event
    else {
        return None;
    };
    let author = Author {
        login: &comment.author,
        kind: &comment.author_type,
    };
    if action != "created" || !may_hold_command(&comment.body, &author) {
        return None;
    }
    Some(CommandRequest {
        installation_id: installation_id.or(installation)?,
        repo: repo.clone(),
        number: *issue_number,
        comment: comment.clone(),
    })
}

/// The job a delivery asks for. Comments are queued only when they may hold a command (see
/// [`command_request`]), once per comment; pushes only to the default branch.
pub fn job_for(event: &Event) -> Option<NewJob> {
    if let Some(pr) = event.plan_request() {
        return Some(plan_job(pr));
    }
    if let Some(request) = command_request(event, None) {
        return Some(NewJob {
            identity: Some(command_identity(&request.repo, &request.comment)),
            ..Job::Command(request).queued()
        });
    }
    match event {
        Event::Push {
            repo,
            git_ref,
            before,
            after,
            default_branch: Some(default),
            installation_id: Some(installation_id),
        } if git_ref == &format!("refs/heads/{default}") && !is_zero_sha(after) => {
            let request = PushRequest {
                installation_id: *installation_id,
                repo: repo.clone(),
                before: before.clone(),
                after: after.clone(),
                branch: default.clone(),
            };
            Some(Job::Push(request).queued())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
