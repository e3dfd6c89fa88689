//! A webhook delivery's JSON (GitHub's payloads, only the fields we read) → [`Event`].

use serde::Deserialize;

use super::{CommentRef, Event, PullRequestAction, PullRequestRef, RepoRef};

/// A delivery of a known event whose JSON does not have the fields that event needs.
#[derive(Debug, thiserror::Error)]
#[error("malformed {event} payload: {source}")]
pub struct ParseError {
    pub event: String,
    #[source]
    pub source: serde_json::Error,
}

#[derive(Deserialize)]
struct Id {
    id: u64,
}

#[derive(Deserialize)]
struct Login {
    login: String,
}

#[derive(Deserialize)]
struct Repository {
    name: String,
    owner: Login,
}

impl From<Repository> for RepoRef {
    fn from(r: Repository) -> Self {
        RepoRef {
            owner: r.owner.login,
            name: r.name,
        }
    }
}

#[derive(Deserialize)]
struct Sha {
    sha: String,
}

#[derive(Deserialize)]
struct PullRequestBody {
    number: u64,
    head: Sha,
    base: Sha,
    #[serde(default)]
    merged: Option<bool>,
}

#[derive(Deserialize)]
struct PullRequestPayload {
    action: String,
    pull_request: PullRequestBody,
    repository: Repository,
    installation: Option<Id>,
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    before: String,
    after: String,
    repository: PushRepository,
    installation: Option<Id>,
}

#[derive(Deserialize)]
struct PushRepository {
    #[serde(flatten)]
    repository: Repository,
    #[serde(default)]
    default_branch: Option<String>,
}

#[derive(Deserialize)]
struct CommentUser {
    login: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct CommentBody {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    user: CommentUser,
}

#[derive(Deserialize)]
struct IssueBody {
    number: u64,
    pull_request: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct IssueCommentPayload {
    action: String,
    issue: IssueBody,
    comment: CommentBody,
    repository: Repository,
    installation: Option<Id>,
}

#[derive(Deserialize)]
struct CheckRunPr {
    number: u64,
    base: Sha,
}

#[derive(Deserialize)]
struct CheckRunBody {
    head_sha: String,
    #[serde(default)]
    pull_requests: Vec<CheckRunPr>,
}

#[derive(Deserialize)]
struct CheckRunPayload {
    action: String,
    check_run: CheckRunBody,
    repository: Repository,
    installation: Option<Id>,
}

#[derive(Deserialize)]
struct WorkflowRunPayload {
    workflow_run: Id,
    repository: Repository,
}

#[derive(Deserialize)]
struct InstallationPayload {
    action: String,
    installation: Id,
}

#[derive(Deserialize)]
struct PingPayload {
    hook_id: Option<u64>,
}

#[derive(Deserialize)]
struct ActionOnly {
    action: Option<String>,
}

/// Parses a delivery of `event` (the X-GitHub-Event header). Unknown events and actions we do
/// not act on become [`Event::Ignored`]; a known event with missing fields is a [`ParseError`].
pub fn parse_event(event: &str, body: &[u8]) -> Result<Event, ParseError> {
    let err = |source| ParseError {
        event: event.to_owned(),
        source,
    };
    let ignored = |action: Option<String>| Event::Ignored {
        event: event.to_owned(),
        action,
    };
    match event {
        "ping" => {
            let p: PingPayload = serde_json::from_slice(body).map_err(err)?;
            Ok(Event::Ping { hook_id: p.hook_id })
        }
        "push" => {
            let p: PushPayload = serde_json::from_slice(body).map_err(err)?;
            Ok(Event::Push {
                repo: p.repository.repository.into(),
                git_ref: p.git_ref,
                before: p.before,
                after: p.after,
                default_branch: p.repository.default_branch,
                installation_id: p.installation.map(|i| i.id),
            })
        }
        "pull_request" => {
            let action = serde_json::from_slice::<ActionOnly>(body).map_err(err)?.action;
            if !matches!(
                action.as_deref(),
                Some("opened" | "synchronize" | "reopened" | "closed")
            ) {
                return Ok(ignored(action));
            }
            let p: PullRequestPayload = serde_json::from_slice(body).map_err(err)?;
            let action = match p.action.as_str() {
                "opened" => PullRequestAction::Opened,
                "synchronize" => PullRequestAction::Synchronize,
                "reopened" => PullRequestAction::Reopened,
                _ => PullRequestAction::Closed {
                    merged: p.pull_request.merged.unwrap_or(false),
                },
            };
            let pr = p.installation.map(|i| PullRequestRef {
                installation_id: i.id,
                repo: p.repository.into(),
                number: p.pull_request.number,
                head_sha: p.pull_request.head.sha,
                base_sha: p.pull_request.base.sha,
            });
            Ok(Event::PullRequest { action, pr })
        }
        "issue_comment" => {
            let p: IssueCommentPayload = serde_json::from_slice(body).map_err(err)?;
            Ok(Event::IssueComment {
                action: p.action,
                repo: p.repository.into(),
                issue_number: p.issue.number,
                is_pull_request: p.issue.pull_request.is_some(),
                installation_id: p.installation.map(|i| i.id),
                comment: CommentRef {
                    id: p.comment.id,
                    body: p.comment.body.unwrap_or_default(),
                    author: p.comment.user.login,
                    author_type: p.comment.user.kind,
                },
            })
        }
        "check_run" => {
            let action = serde_json::from_slice::<ActionOnly>(body).map_err(err)?.action;
            if action.as_deref() != Some("rerequested") {
                return Ok(ignored(action));
            }
            let p: CheckRunPayload = serde_json::from_slice(body).map_err(err)?;
            debug_assert_eq!(p.action, "rerequested");
            let repo: RepoRef = p.repository.into();
            let pr = match (p.installation, p.check_run.pull_requests.into_iter().next()) {
                (Some(i), Some(pr)) => Some(PullRequestRef {
                    installation_id: i.id,
                    repo,
                    number: pr.number,
                    head_sha: p.check_run.head_sha,
                    base_sha: pr.base.sha,
                }),
                _ => None,
            };
            Ok(Event::CheckRunRerequested { pr })
        }
        "workflow_run" => {
            let action = serde_json::from_slice::<ActionOnly>(body).map_err(err)?.action;
            if action.as_deref() != Some("completed") {
                return Ok(ignored(action));
            }
            let p: WorkflowRunPayload = serde_json::from_slice(body).map_err(err)?;
            Ok(Event::WorkflowRunCompleted {
                repo: p.repository.into(),
                run_id: p.workflow_run.id,
            })
        }
        "installation" | "installation_repositories" => {
            let p: InstallationPayload = serde_json::from_slice(body).map_err(err)?;
            Ok(Event::Installation {
                event: event.to_owned(),
                action: p.action,
                installation_id: p.installation.id,
            })
        }
        _ => {
            // Unknown to us: keep the action for the record if the body has one.
            let action = serde_json::from_slice::<ActionOnly>(body).ok().and_then(|a| a.action);
            Ok(ignored(action))
        }
    }
}
