//! What the reconciliation sweep asks of a repository: its open pull requests, and whether a
//! head commit has a check run of a given name.

use http::Method;
use serde::Deserialize;
use serde_json::Value;

use super::transport::Auth;
use super::{GitHub, GitHubError};
use crate::event::RepoRef;

/// A check run found by its name and external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCheckRun {
    pub id: u64,
    /// Its `output.text`.
    pub text: Option<String>,
    /// The App that made it (`github-actions` for a workflow's token).
    pub app: Option<String>,
}

/// An open pull request as the sweep needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPull {
    pub number: u64,
    pub head_sha: String,
    pub base_sha: String,
}

#[derive(Deserialize)]
struct RawPull {
    number: u64,
    head: RawCommit,
    base: RawCommit,
}

#[derive(Deserialize)]
struct RawCommit {
    sha: String,
}

impl GitHub {
    /// The repository's open pull requests, most recently updated first (one page of 100).
    pub async fn open_pulls(&self, installation: u64, repo: &RepoRef) -> Result<Vec<OpenPull>, GitHubError> {
        let query = [
            ("state", "open"),
            ("sort", "updated"),
            ("direction", "desc"),
            ("per_page", "100"),
        ];
        let url = self.url(&["repos", &repo.owner, &repo.name, "pulls"], &query);
        let path = url.path().to_owned();
        let value = self
            .call(Method::GET, url, Auth::Installation(installation), None)
            .await?;
        let pulls: Vec<RawPull> = serde_json::from_value(value).map_err(|e| GitHubError::Decode {
            path,
            message: e.to_string(),
        })?;
        Ok(pulls
            .into_iter()
            .map(|p| OpenPull {
                number: p.number,
                head_sha: p.head.sha,
                base_sha: p.base.sha,
            })
            .collect())
    }

    /// Whether commit `sha` has a check run named `name` (any status).
    pub async fn has_check_run(
        &self,
        installation: u64,
        repo: &RepoRef,
        sha: &str,
        name: &str,
    ) -> Result<bool, GitHubError> {
        let value = self.check_runs(installation, repo, sha, name, 1).await?;
        Ok(value.get("total_count").and_then(Value::as_u64).unwrap_or(0) > 0)
    }

    /// The check run named `name` on commit `sha` whose external id is `external_id` (among
    /// the first hundred): the one an earlier, cut-off run of a job created, or the one a build
    /// run reported its images on.
    pub async fn find_check_run(
        &self,
        installation: u64,
        repo: &RepoRef,
        sha: &str,
        name: &str,
        external_id: &str,
    ) -> Result<Option<FoundCheckRun>, GitHubError> {
        let value = self.check_runs(installation, repo, sha, name, 100).await?;
        let runs = value.get("check_runs").and_then(Value::as_array);
        Ok(runs.into_iter().flatten().find_map(|run| {
            (run.get("external_id").and_then(Value::as_str) == Some(external_id)).then_some(())?;
            Some(FoundCheckRun {
                id: run.get("id").and_then(Value::as_u64)?,
                text: run.pointer("/output/text").and_then(Value::as_str).map(str::to_owned),
                app: run.pointer("/app/slug").and_then(Value::as_str).map(str::to_owned),
            })
        }))
    }

    async fn check_runs(
        &self,
        installation: u64,
        repo: &RepoRef,
        sha: &str,
        name: &str,
        per_page: u32,
    ) -> Result<Value, GitHubError> {
        let per_page = per_page.to_string();
        let query = [("check_name", name), ("filter", "all"), ("per_page", per_page.as_str())];
        let url = self.url(
            &["repos", &repo.owner, &repo.name, "commits", sha, "check-runs"],
            &query,
        );
        self.call(Method::GET, url, Auth::Installation(installation), None)
            .await
    }
}
