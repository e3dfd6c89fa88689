//! The calls of the deploy job (issue 7): pull requests, permissions, reactions, deployments
//! and the source archive of a commit.

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Auth, GitHub, GitHubError, id_of};
use crate::config::registry::Permission;
use crate::event::RepoRef;

/// What the deploy job needs of a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestInfo {
    pub number: u64,
    pub head_sha: String,
    pub base_sha: String,
    /// `owner/name` of the head repository (`None` when the fork was deleted).
    pub head_repo: Option<String>,
    /// `owner/name` of the base repository.
    pub base_repo: String,
    /// The base repository's default branch, whose registry holds the deploy rules.
    pub default_branch: String,
    pub state: String,
}

impl PullRequestInfo {
    /// A pull request from another repository (a fork): its code never runs with our credentials.
    pub fn is_from_fork(&self) -> bool {
        self.head_repo
            .as_deref()
            .is_none_or(|h| !h.eq_ignore_ascii_case(&self.base_repo))
    }
}

#[derive(Deserialize)]
struct RawRef {
    sha: String,
    repo: Option<RawRepo>,
}

#[derive(Deserialize)]
struct RawRepo {
    full_name: String,
    #[serde(default)]
    default_branch: Option<String>,
}

#[derive(Deserialize)]
struct RawPull {
    number: u64,
    state: String,
    head: RawRef,
    base: RawRef,
}

#[derive(Deserialize)]
struct RawFile {
    filename: String,
    #[serde(default)]
    previous_filename: Option<String>,
}

fn decode<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T, GitHubError> {
    serde_json::from_value(v).map_err(|e| GitHubError::Decode {
        path: what.to_owned(),
        message: e.to_string(),
    })
}

/// A deployment status state GitHub accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentState {
    Queued,
    InProgress,
    Success,
    Failure,
    Error,
}

impl DeploymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentState::Queued => "queued",
            DeploymentState::InProgress => "in_progress",
            DeploymentState::Success => "success",
            DeploymentState::Failure => "failure",
            DeploymentState::Error => "error",
        }
    }
}

impl GitHub {
    pub async fn pull_request(
        &self,
        installation: u64,
        repo: &RepoRef,
        number: u64,
    ) -> Result<PullRequestInfo, GitHubError> {
        let n = number.to_string();
        let url = self.url(&["repos", &repo.owner, &repo.name, "pulls", &n], &[]);
        let v = self
            .call(Method::GET, url, Auth::Installation(installation), None)
            .await?;
        let raw: RawPull = decode(v, "pull request")?;
        let base = raw.base.repo;
        let default_branch =
            base.as_ref()
                .and_then(|r| r.default_branch.clone())
                .ok_or_else(|| GitHubError::Decode {
                    path: "pull request".into(),
                    message: "base.repo.default_branch is missing".into(),
                })?;
        Ok(PullRequestInfo {
            number: raw.number,
            head_sha: raw.head.sha,
            base_sha: raw.base.sha,
            head_repo: raw.head.repo.map(|r| r.full_name),
            base_repo: base.map_or_else(|| format!("{}/{}", repo.owner, repo.name), |r| r.full_name),
            default_branch,
            state: raw.state,
        })
    }

    /// Paths the pull request changes (renames count with both names); at most 3,000 (GitHub's cap).
    pub async fn pull_request_files(
        &self,
        installation: u64,
        repo: &RepoRef,
        number: u64,
    ) -> Result<Vec<String>, GitHubError> {
        let n = number.to_string();
        let files: Vec<RawFile> = self
            .all_pages(
                installation,
                &["repos", &repo.owner, &repo.name, "pulls", &n, "files"],
                30,
                "pull request files",
            )
            .await?;
        Ok(files
            .into_iter()
            .flat_map(|f| f.previous_filename.into_iter().chain([f.filename]))
            .collect())
    }

    /// The user's permission on the repository (`none` when they are not a collaborator).
    pub async fn permission(&self, installation: u64, repo: &RepoRef, user: &str) -> Result<Permission, GitHubError> {
        let url = self.url(
            &["repos", &repo.owner, &repo.name, "collaborators", user, "permission"],
            &[],
        );
        match self
            .call(Method::GET, url, Auth::Installation(installation), None)
            .await
        {
            Ok(v) => {
                // `role_name` is finer (maintain, triage); `permission` is the classic level.
                let role = v.get("role_name").and_then(Value::as_str).unwrap_or("");
                let classic = v.get("permission").and_then(Value::as_str).unwrap_or("none");
                Ok(Permission::parse(role)
                    .or_else(|| Permission::parse(classic))
                    .unwrap_or(Permission::None))
            }
            Err(GitHubError::Status { status, .. }) if status == StatusCode::NOT_FOUND => Ok(Permission::None),
            Err(e) => Err(e),
        }
    }

    /// Whether `user` is an active member of `org/team`.
    pub async fn is_team_member(&self, installation: u64, team: &str, user: &str) -> Result<bool, GitHubError> {
        let Some((org, slug)) = team.split_once('/') else {
            return Ok(false);
        };
        let url = self.url(&["orgs", org, "teams", slug, "memberships", user], &[]);
        match self
            .call(Method::GET, url, Auth::Installation(installation), None)
            .await
        {
            Ok(v) => Ok(v.get("state").and_then(Value::as_str) == Some("active")),
            Err(GitHubError::Status { status, .. }) if status == StatusCode::NOT_FOUND => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reacts to an issue comment (`eyes`, `rocket`, …).
    pub async fn react(
        &self,
        installation: u64,
        repo: &RepoRef,
        comment: u64,
        content: &str,
    ) -> Result<(), GitHubError> {
        let id = comment.to_string();
        let url = self.url(
            &["repos", &repo.owner, &repo.name, "issues", "comments", &id, "reactions"],
            &[],
        );
        self.call(
            Method::POST,
            url,
            Auth::Installation(installation),
            Some(&json!({ "content": content })),
        )
        .await
        .map(drop)
    }

    /// Creates a deployment of `sha` to `environment`; returns its id.
    pub async fn create_deployment(
        &self,
        installation: u64,
        repo: &RepoRef,
        sha: &str,
        environment: &str,
        description: &str,
    ) -> Result<u64, GitHubError> {
        let url = self.url(&["repos", &repo.owner, &repo.name, "deployments"], &[]);
        let body = json!({
            "ref": sha,
            "environment": environment,
            "description": description,
            "auto_merge": false,
            "required_contexts": [],
            "production_environment": environment.ends_with("-live") || environment.ends_with("-production"),
        });
        let v = self
            .call(Method::POST, url, Auth::Installation(installation), Some(&body))
            .await?;
        id_of(&v, "created deployment")
    }

    pub async fn deployment_status(
        &self,
        installation: u64,
        repo: &RepoRef,
        deployment: u64,
        state: DeploymentState,
        description: &str,
        log_url: Option<&str>,
    ) -> Result<(), GitHubError> {
        let id = deployment.to_string();
        let url = self.url(&["repos", &repo.owner, &repo.name, "deployments", &id, "statuses"], &[]);
        // GitHub caps the description at 140 characters.
        let description: String = description.chars().take(140).collect();
        let mut body = json!({ "state": state.as_str(), "description": description });
        if let Some(u) = log_url {
            body["log_url"] = json!(u);
        }
        self.call(Method::POST, url, Auth::Installation(installation), Some(&body))
            .await
            .map(drop)
    }

    /// The gzipped tar of the repository at `sha` (GitHub answers with a redirect to codeload,
    /// which is followed without our token).
    pub async fn tarball(&self, installation: u64, repo: &RepoRef, sha: &str) -> Result<Vec<u8>, GitHubError> {
        let url = self.url(&["repos", &repo.owner, &repo.name, "tarball", sha], &[]);
        let path = url.path().to_owned();
        self.get_bytes(installation, url, "application/vnd.github+json", self.tarball_pace)
            .await?
            .ok_or(GitHubError::Status {
                method: Method::GET,
                path,
                status: StatusCode::NOT_FOUND,
                message: format!("no commit {sha} in {}/{}", repo.owner, repo.name),
                retry_after: None,
            })
    }
}

#[derive(Deserialize)]
struct RawCompare {
    #[serde(default)]
    files: Vec<RawFile>,
}

impl GitHub {
    /// Paths changed between two commits (the compare API lists at most 300 files; a larger
    /// change is treated by callers as touching everything).
    pub async fn changed_files(
        &self,
        installation: u64,
        repo: &RepoRef,
        base: &str,
        head: &str,
    ) -> Result<Option<Vec<String>>, GitHubError> {
        let basehead = format!("{base}...{head}");
        let url = self.url(
            &["repos", &repo.owner, &repo.name, "compare", &basehead],
            &[("per_page", "100")],
        );
        let v = self
            .call(Method::GET, url, Auth::Installation(installation), None)
            .await?;
        let raw: RawCompare = decode(v, "compare")?;
        if raw.files.len() >= 300 {
            return Ok(None);
        }
        let mut all = Vec::new();
        for f in raw.files {
            all.extend(f.previous_filename);
            all.push(f.filename);
        }
        Ok(Some(all))
    }
}
