//! [`ConfigFiles`] for a commit read through the contents API.
//!
//! Loading is synchronous and files are fetched asynchronously, so files are pre-fetched:
//! [`load_at`] loads from what has been fetched so far, noting every path that was asked for
//! and not fetched yet; it fetches those (concurrently) and loads again, until nothing is
//! missing (the registry first, then its fleets: two rounds).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use super::{GitHub, GitHubError};
use crate::config::load::REGISTRY_FILE;
use crate::config::source::{MAX_CONFIG_BYTES, ReadError, SourceFile};
use crate::config::{ConfigFiles, LoadError, LoadOptions, Registry, Workspace, load_workspace};
use crate::event::RepoRef;

/// Files fetched so far (`None`: the file does not exist at that commit).
#[derive(Default)]
pub struct FetchedFiles {
    pub files: BTreeMap<String, Option<Vec<u8>>>,
    wanted: RefCell<BTreeSet<String>>,
}

impl ConfigFiles for FetchedFiles {
    fn read(&self, relative: &str) -> Result<Option<SourceFile>, ReadError> {
        let Some(entry) = self.files.get(relative) else {
            self.wanted.borrow_mut().insert(relative.to_owned());
            return Ok(None);
        };
        let Some(bytes) = entry else { return Ok(None) };
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ReadError::TooLarge {
                path: relative.to_owned(),
                size: bytes.len() as u64,
                limit: MAX_CONFIG_BYTES,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| ReadError::NotUtf8 {
            path: relative.to_owned(),
            offset: e.valid_up_to(),
        })?;
        Ok(Some(SourceFile::from_text(relative, text)))
    }
}

impl FetchedFiles {
    fn take_wanted(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.wanted.borrow_mut())
    }
}

/// Loads the workspace of `repo` at `sha`: `fleet-registry.kdl` at the root and its fleets.
pub async fn load_at(
    github: &GitHub,
    installation: u64,
    repo: &RepoRef,
    sha: &str,
    options: LoadOptions,
) -> Result<Result<Workspace, LoadError>, GitHubError> {
    let mut files = FetchedFiles::default();
    let mut wanted: BTreeSet<String> = BTreeSet::from([REGISTRY_FILE.to_owned()]);
    for _round in 0..4 {
        let fetched = futures_join(wanted.iter().map(|path| async move {
            let bytes = github.file(installation, repo, path, sha).await?;
            Ok::<_, GitHubError>((path.clone(), bytes))
        }))
        .await;
        for result in fetched {
            let (path, bytes) = result?;
            files.files.insert(path, bytes);
        }
        let result = load_workspace(&files, REGISTRY_FILE, options);
        wanted = files.take_wanted();
        if wanted.is_empty() {
            return Ok(result);
        }
    }
    Ok(load_workspace(&files, REGISTRY_FILE, options))
}

/// The registry alone at `git_ref` (a branch or a commit), without its fleets: what the
/// default branch says of who may deploy and where. `None` when the file is absent or does
/// not load there.
pub async fn registry_at(
    github: &GitHub,
    installation: u64,
    repo: &RepoRef,
    git_ref: &str,
) -> Result<Option<Registry>, GitHubError> {
    let bytes = github.file(installation, repo, REGISTRY_FILE, git_ref).await?;
    let mut files = FetchedFiles::default();
    files.files.insert(REGISTRY_FILE.to_owned(), bytes);
    // Fleet files are not fetched: they are absent here, and not verified.
    let options = LoadOptions { verify_fleets: false };
    Ok(load_workspace(&files, REGISTRY_FILE, options)
        .ok()
        .map(|ws| ws.registry))
}

/// Runs futures concurrently and returns their outputs in order.
async fn futures_join<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out = Vec::with_capacity(set.len());
    // Poll all of them together: each is an HTTP request, so this overlaps their latency.
    let mut pending: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, f) in set.iter_mut().enumerate() {
            if pending[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => pending[i] = Some(v),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(pending.into_iter().map(|v| v.expect("every future finished")));
    out
}

#[cfg(test)]
mod tests;
