//! A commit's configuration read through the git database API in a handful of requests,
//! whatever the number of fleets: the commit's index (one tree listing) says which files exist
//! and names their blobs; what configuration reading will want (the registry and everything
//! under a `.fleetflow/` directory) is fetched at once — from the [`ObjectCache`], else one blob
//! request, else, when more are missing, the commit's tarball — and paths the index lacks are
//! absent without asking.
//!
//! Loading is synchronous and files are fetched asynchronously, so [`CommitFiles::load`] loads
//! from what has been fetched, noting every path asked for and not fetched yet; it fetches those
//! and loads again until nothing is missing.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use super::cache::ObjectCache;
use super::tree::{CommitIndex, EntryKind};
use super::{GitHub, GitHubError};
use crate::config::load::REGISTRY_FILE;
use crate::config::source::{MAX_CONFIG_BYTES, ReadError, SourceFile};
use crate::config::{ConfigFiles, LoadError, LoadOptions, Registry, Workspace, load_workspace};
use crate::event::RepoRef;

/// More missing blobs than this are read from the commit's tarball (one request) instead.
pub const MAX_BLOB_REQUESTS: usize = 1;

/// Configuration files fetched up front at most (files and bytes); past that, a commit's files
/// are read as the loader asks for them.
pub const PREFETCH_FILES: usize = 20_000;
pub const PREFETCH_BYTES: u64 = 32 << 20;

/// Git's name of a blob with `bytes` (the SHA-1 of `blob <len>\0` and the bytes).
pub fn blob_id(bytes: &[u8]) -> Option<String> {
    gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, bytes)
        .ok()
        .map(|id| id.to_string())
}

/// Files fetched so far (`None`: the file does not exist at that commit).
#[derive(Default)]
pub struct FetchedFiles {
    pub files: BTreeMap<String, Option<Vec<u8>>>,
    wanted: RefCell<BTreeSet<String>>,
    /// Every file of the commit (its tree), to list a directory (a glob `include`).
    pub paths: Vec<String>,
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

    fn list(&self, relative: &str) -> Option<Vec<String>> {
        Some(crate::config::load::names_in(
            self.paths.iter().map(String::as_str),
            relative,
        ))
    }
}

impl FetchedFiles {
    fn take_wanted(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.wanted.borrow_mut())
    }
}

/// One commit of a repository, as the App reads it.
pub struct CommitFiles<'a> {
    github: &'a GitHub,
    cache: &'a dyn ObjectCache,
    installation: u64,
    repo: &'a RepoRef,
    sha: &'a str,
    index: CommitIndex,
}

/// Whether configuration reading will want `path`: the registry, or a file in `.fleetflow/`.
fn is_configuration(path: &str) -> bool {
    path == REGISTRY_FILE || path.starts_with(".fleetflow/") || path.contains("/.fleetflow/")
}

impl<'a> CommitFiles<'a> {
    /// The commit's index, from the cache or one listing; `None`: no such commit.
    pub async fn open(
        github: &'a GitHub,
        installation: u64,
        repo: &'a RepoRef,
        sha: &'a str,
    ) -> Result<Option<CommitFiles<'a>>, GitHubError> {
        let cache = github.objects.as_ref();
        let key = format!("index:{repo}@{sha}");
        let cached = cache.get(&key).await.and_then(|b| serde_json::from_slice(&b).ok());
        let index = match cached {
            Some(index) => index,
            None => {
                let Some(index) = github.commit_index(installation, repo, sha).await? else {
                    return Ok(None);
                };
                if let Ok(bytes) = serde_json::to_vec(&index) {
                    cache.put(&key, &bytes).await;
                }
                index
            }
        };
        Ok(Some(CommitFiles {
            github,
            cache,
            installation,
            repo,
            sha,
            index,
        }))
    }

    /// The bytes of `paths` (those the index names as files; the others are absent), from the
    /// cache, else by blob, else — when more than [`MAX_BLOB_REQUESTS`] are missing — from the
    /// tarball. A blob GitHub no longer has is an error: the job reads the commit again later.
    async fn fetch(&self, paths: &BTreeSet<String>) -> Result<BTreeMap<String, Option<Vec<u8>>>, GitHubError> {
        let mut out = BTreeMap::new();
        let mut missing = BTreeMap::new();
        for path in paths {
            match self.index.entries.get(path) {
                Some(e) if e.kind == EntryKind::File => match self.cache.get(&e.sha).await {
                    Some(bytes) => {
                        out.insert(path.clone(), Some(bytes));
                    }
                    None => {
                        missing.insert(path.clone(), e.sha.clone());
                    }
                },
                // Symlinks and submodules are not configuration files.
                _ => {
                    out.insert(path.clone(), None);
                }
            }
        }
        let mut fetched = if missing.len() > MAX_BLOB_REQUESTS {
            self.read_tarball(&missing).await?
        } else {
            BTreeMap::new()
        };
        // What the cache keeps is checked against its name: a tarball's copy can differ from
        // the blob (`export-subst`, `export-ignore` in .gitattributes), and a blob shared by
        // repositories must read the same for all of them. A file whose copy differs is read
        // by blob.
        fetched.retain(|path, bytes| blob_id(bytes).as_deref() == Some(missing[path].as_str()));
        for (path, sha) in &missing {
            if fetched.contains_key(path) {
                continue;
            }
            let bytes = (self.github.blob(self.installation, self.repo, sha).await?).ok_or_else(|| self.gone(path))?;
            if blob_id(&bytes).as_deref() != Some(sha.as_str()) {
                return Err(GitHubError::Decode {
                    path: format!("/repos/{}/git/blobs/{sha}", self.repo),
                    message: format!("the bytes of {path} do not hash to its blob"),
                });
            }
            fetched.insert(path.clone(), bytes);
        }
        for (path, bytes) in fetched {
            self.cache.put(&missing[&path], &bytes).await;
            out.insert(path, Some(bytes));
        }
        Ok(out)
    }

    /// The files `wanted` (path → blob SHA) out of the commit's tarball.
    async fn read_tarball(&self, wanted: &BTreeMap<String, String>) -> Result<BTreeMap<String, Vec<u8>>, GitHubError> {
        let archive = self.github.tarball(self.installation, self.repo, self.sha).await?;
        let decode = |e: std::io::Error| GitHubError::Decode {
            path: format!("/repos/{}/tarball/{}", self.repo, self.sha),
            message: e.to_string(),
        };
        let mut found = BTreeMap::new();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive.as_slice()));
        for entry in tar.entries().map_err(decode)? {
            let mut entry = entry.map_err(decode)?;
            if !entry.header().entry_type().is_file() || entry.size() > MAX_CONFIG_BYTES {
                continue;
            }
            // Paths are under one top directory (`owner-repo-sha/`).
            let path = entry.path().map_err(decode)?.to_string_lossy().into_owned();
            let Some((_, path)) = path.split_once('/') else {
                continue;
            };
            if wanted.contains_key(path) {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).map_err(decode)?;
                found.insert(path.to_owned(), bytes);
            }
        }
        // What the tarball lacks (export-ignore) is read by blob.
        Ok(found)
    }

    fn gone(&self, path: &str) -> GitHubError {
        GitHubError::vanished(
            format!("/repos/{}/git/blobs", self.repo),
            format!("{path} of {} is gone (force-pushed?)", self.sha),
        )
    }

    /// A file's bytes, or `None` when the commit has no such file.
    pub async fn file(&self, path: &str) -> Result<Option<Vec<u8>>, GitHubError> {
        let mut got = self.fetch(&BTreeSet::from([path.to_owned()])).await?;
        Ok(got.remove(path).flatten())
    }

    /// The workspace at this commit: `fleet-registry.kdl` at the root and its fleets.
    pub async fn load(&self, options: LoadOptions) -> Result<Result<Workspace, LoadError>, GitHubError> {
        let mut files = FetchedFiles {
            paths: self.index.entries.keys().cloned().collect(),
            ..FetchedFiles::default()
        };
        let mut wanted: BTreeSet<String> = (self.index.entries.iter())
            .filter(|(path, e)| is_configuration(path) && e.size <= MAX_CONFIG_BYTES)
            .map(|(path, _)| path.clone())
            .collect();
        let bytes: u64 = wanted
            .iter()
            .filter_map(|p| self.index.entries.get(p))
            .map(|e| e.size)
            .sum();
        if wanted.len() > PREFETCH_FILES || bytes > PREFETCH_BYTES {
            // A tree crafted to be heavy: only what the loader asks for is read.
            wanted.clear();
        }
        wanted.insert(REGISTRY_FILE.to_owned());
        for _round in 0..4 {
            files.files.extend(self.fetch(&wanted).await?);
            let result = load_workspace(&files, REGISTRY_FILE, options);
            wanted = files.take_wanted();
            if wanted.is_empty() {
                return Ok(result);
            }
        }
        Ok(load_workspace(&files, REGISTRY_FILE, options))
    }
}

/// Loads the workspace of `repo` at `sha` (see [`CommitFiles`]); a commit GitHub does not
/// know has no registry.
pub async fn load_at(
    github: &GitHub,
    installation: u64,
    repo: &RepoRef,
    sha: &str,
    options: LoadOptions,
) -> Result<Result<Workspace, LoadError>, GitHubError> {
    match CommitFiles::open(github, installation, repo, sha).await? {
        Some(commit) => commit.load(options).await,
        None => Ok(Err(LoadError::Missing {
            path: REGISTRY_FILE.to_owned(),
        })),
    }
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

#[cfg(test)]
mod tests;
