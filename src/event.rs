//! The event vocabulary: repositories, pull requests and comments, and the deliveries the App
//! acts on, as our own types, and GitHub's JSON read into them ([`parse_event`]).

mod payload;

use serde::{Deserialize, Serialize};

pub use payload::{ParseError, parse_event};

/// A repository as `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoRef {
    pub owner: String,
    pub name: String,
}

impl RepoRef {
    /// `owner/name` (GITHUB_REPOSITORY, a repository's `full_name`).
    pub fn parse(full_name: &str) -> Option<Self> {
        let (owner, name) = full_name.split_once('/')?;
        let part = |s: &str| (!s.is_empty() && !s.contains('/')).then(|| s.to_owned());
        Some(Self {
            owner: part(owner)?,
            name: part(name)?,
        })
    }
}

impl std::fmt::Display for RepoRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// The comment of an `issue_comment` delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentRef {
    pub id: u64,
    pub body: String,
    pub author: String,
    /// GitHub's `user.type`: `User`, `Bot`, `Organization`.
    pub author_type: String,
}

/// What a pull-request delivery tells the plan job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestRef {
    pub installation_id: u64,
    pub repo: RepoRef,
    pub number: u64,
    pub head_sha: String,
    pub base_sha: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullRequestAction {
    Opened,
    Synchronize,
    Reopened,
    Closed { merged: bool },
}

/// A delivery we understand, or the reason it is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Ping {
        hook_id: Option<u64>,
    },
    Push {
        repo: RepoRef,
        git_ref: String,
        before: String,
        after: String,
        /// The repository's default branch (`main`), to tell merges from other pushes.
        default_branch: Option<String>,
        installation_id: Option<u64>,
    },
    PullRequest {
        action: PullRequestAction,
        /// `None` for a repository webhook (no App installation): nothing to act with.
        pr: Option<PullRequestRef>,
    },
    IssueComment {
        action: String,
        repo: RepoRef,
        issue_number: u64,
        is_pull_request: bool,
        installation_id: Option<u64>,
        comment: CommentRef,
    },
    /// "Re-run" on one of our check runs: plan that pull request again.
    CheckRunRerequested {
        pr: Option<PullRequestRef>,
    },
    /// A workflow run ended: a deploy that builds on GitHub's runners may be waiting for it.
    WorkflowRunCompleted {
        repo: RepoRef,
        run_id: u64,
    },
    Installation {
        event: String,
        action: String,
        installation_id: u64,
    },
    /// A known event with an action we do not act on, or an event we do not know.
    Ignored {
        event: String,
        action: Option<String>,
    },
}

impl Event {
    /// A label for logs and metrics (`pull_request.opened`).
    pub fn label(&self) -> String {
        match self {
            Event::Ping { .. } => "ping".into(),
            Event::Push { .. } => "push".into(),
            Event::PullRequest { action, .. } => format!(
                "pull_request.{}",
                match action {
                    PullRequestAction::Opened => "opened",
                    PullRequestAction::Synchronize => "synchronize",
                    PullRequestAction::Reopened => "reopened",
                    PullRequestAction::Closed { .. } => "closed",
                }
            ),
            Event::IssueComment { action, .. } => format!("issue_comment.{action}"),
            Event::CheckRunRerequested { .. } => "check_run.rerequested".into(),
            Event::WorkflowRunCompleted { .. } => "workflow_run.completed".into(),
            Event::Installation { event, action, .. } => format!("{event}.{action}"),
            Event::Ignored { event, .. } => event.clone(),
        }
    }

    /// The pull request to plan, if this delivery asks for a plan.
    pub fn plan_request(&self) -> Option<&PullRequestRef> {
        match self {
            Event::PullRequest {
                action: PullRequestAction::Opened | PullRequestAction::Synchronize | PullRequestAction::Reopened,
                pr: Some(pr),
            } => Some(pr),
            Event::CheckRunRerequested { pr: Some(pr) } => Some(pr),
            _ => None,
        }
    }
}
