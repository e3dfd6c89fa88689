//! A commit's paths through the git database API: one recursive tree listing names every file
//! with its blob SHA; when GitHub truncates it (past 100,000 entries or 7 MB), the tree is
//! walked one level at a time instead. Blobs are read by SHA.

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::BodyPace;
use super::{Auth, GitHub, GitHubError};
use crate::event::RepoRef;

/// What a path of a commit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    File,
    Symlink,
    /// A git submodule (a commit of another repository).
    Submodule,
}

/// Tree listings one commit may cost when GitHub truncates: past this the commit is refused
/// (a tree with over 100,000 entries in many directories; the budget is the installation's).
pub const MAX_TREE_REQUESTS: usize = 200;

/// One path of a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub kind: EntryKind,
    /// The blob's SHA (a submodule's commit).
    pub sha: String,
    pub size: u64,
}

/// Every path of a commit but its directories. A commit never changes, so neither does this.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitIndex {
    pub entries: BTreeMap<String, IndexEntry>,
}

#[derive(Deserialize)]
struct RawTree {
    #[serde(default)]
    truncated: bool,
    tree: Vec<RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    path: String,
    mode: String,
    #[serde(rename = "type")]
    kind: String,
    sha: String,
    #[serde(default)]
    size: u64,
}

impl GitHub {
    /// One listing of tree `sha` (a commit SHA names its root tree); `None`: no such tree.
    async fn tree(
        &self,
        installation: u64,
        repo: &RepoRef,
        sha: &str,
        recursive: bool,
    ) -> Result<Option<RawTree>, GitHubError> {
        let query: &[(&str, &str)] = if recursive { &[("recursive", "1")] } else { &[] };
        let url = self.url(&["repos", &repo.owner, &repo.name, "git", "trees", sha], query);
        let path = url.path().to_owned();
        let value = match self
            .call(Method::GET, url, Auth::Installation(installation), None)
            .await
        {
            Ok(v) => v,
            Err(GitHubError::Status { status, .. }) if status == StatusCode::NOT_FOUND => return Ok(None),
            Err(e) => return Err(e),
        };
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| GitHubError::Decode {
                path,
                message: e.to_string(),
            })
    }

    /// The bytes of blob `sha`; `None` when GitHub no longer has it (a force-push).
    pub async fn blob(&self, installation: u64, repo: &RepoRef, sha: &str) -> Result<Option<Vec<u8>>, GitHubError> {
        let url = self.url(&["repos", &repo.owner, &repo.name, "git", "blobs", sha], &[]);
        self.get_bytes(installation, url, "application/vnd.github.raw+json", BodyPace::API)
            .await
    }

    /// Every path of commit `sha`: one request, unless GitHub truncates the listing; then two
    /// per truncated tree, and one per sub-tree under it. `None`: no such commit.
    pub async fn commit_index(
        &self,
        installation: u64,
        repo: &RepoRef,
        sha: &str,
    ) -> Result<Option<CommitIndex>, GitHubError> {
        let mut index = CommitIndex::default();
        let mut pending = vec![(sha.to_owned(), String::new())];
        let mut requests = 0;
        let too_big = |why: &str| GitHubError::Decode {
            path: format!("/repos/{repo}/git/trees/{sha}"),
            message: format!("the commit's tree {why}; fleetflow reads trees of up to {MAX_TREE_REQUESTS} listings"),
        };
        while let Some((tree, prefix)) = pending.pop() {
            requests += 2;
            if requests > MAX_TREE_REQUESTS {
                return Err(too_big("needs more listings than that"));
            }
            let Some(listing) = self.tree(installation, repo, &tree, true).await? else {
                if prefix.is_empty() {
                    return Ok(None);
                }
                return Err(vanished(repo, &prefix));
            };
            let listing = if listing.truncated {
                // One level only; its sub-trees are listed (recursively) in turn.
                let level = self.tree(installation, repo, &tree, false).await?;
                let level = level.ok_or_else(|| vanished(repo, &prefix))?;
                if level.truncated {
                    return Err(too_big(&format!("has a directory too large to list ({prefix:?})")));
                }
                for e in level.tree.iter().filter(|e| e.kind == "tree") {
                    pending.push((e.sha.clone(), format!("{prefix}{}/", e.path)));
                }
                level
            } else {
                listing
            };
            for e in listing.tree {
                let kind = match (e.kind.as_str(), e.mode.as_str()) {
                    ("blob", "120000") => EntryKind::Symlink,
                    ("blob", _) => EntryKind::File,
                    ("commit", _) => EntryKind::Submodule,
                    _ => continue,
                };
                let entry = IndexEntry {
                    kind,
                    sha: e.sha,
                    size: e.size,
                };
                index.entries.insert(format!("{prefix}{}", e.path), entry);
            }
        }
        Ok(Some(index))
    }
}

/// A sub-tree GitHub listed a moment ago and now does not know (a force-push in between).
fn vanished(repo: &RepoRef, prefix: &str) -> GitHubError {
    GitHubError::vanished(
        format!("/repos/{repo}/git/trees"),
        format!("the tree of {prefix} vanished while it was read"),
    )
}

impl GitHubError {
    /// An object of a commit GitHub named a moment ago and now does not have (a force-push in
    /// between): transient, the next attempt reads the commit again.
    pub(super) fn vanished(path: String, message: String) -> Self {
        GitHubError::Status {
            method: Method::GET,
            path,
            status: StatusCode::NOT_FOUND,
            message,
            retry_after: Some(std::time::Duration::from_secs(1)),
        }
    }
}
