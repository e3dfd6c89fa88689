//! A commit's configuration files read from git objects in-process (gitoxide): the commit's
//! tree is walked once, and each file is one object lookup — no checkout, so the working tree
//! is never touched, and no `git` process per file. Paths are relative to the repository root.
//! Other git questions (the repository's root, the default base) ask the `git` command.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::config::ConfigFiles;
use crate::config::source::{MAX_CONFIG_BYTES, ReadError, SourceFile};

/// The files of one commit of a repository.
pub struct GitFiles {
    repo: gix::Repository,
    /// The commit's id.
    pub rev: String,
    /// Every regular file of the commit (symbolic links and submodules are not configuration).
    blobs: HashMap<String, gix::ObjectId>,
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{rev:?} is not a commit in {}: {detail}", repo.display())]
    UnknownRevision { rev: String, repo: PathBuf, detail: String },
}

/// Runs git in `dir` with messages in English (they are matched) and no pager.
pub fn git(dir: &Path, args: &[&str]) -> std::io::Result<Output> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("LC_ALL", "C")
        .env("GIT_PAGER", "cat")
        .stdin(std::process::Stdio::null())
        .output()
}

/// The trimmed stdout of a successful `git -C dir <args>`, else `None` (not a repository, no
/// git, an empty answer).
pub fn git_line(dir: &Path, args: &[&str]) -> Option<String> {
    let out = git(dir, args).ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn stdout_line(out: &Output) -> Option<String> {
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// The top directory of the work tree holding `dir`, if it is in one.
pub fn repo_root(dir: &Path) -> Option<PathBuf> {
    let out = git(dir, &["rev-parse", "--show-toplevel"]).ok()?;
    stdout_line(&out).map(PathBuf::from)
}

/// The default base of a plan: the merge base of HEAD with the default branch
/// (`origin/HEAD`, else `main`, else `master`), and how it was found. `None`: no such commit
/// (no commits yet, or no default branch), so everything is new.
pub fn default_base(repo_root: &Path) -> Option<(String, String)> {
    ["origin/HEAD", "main", "master"].iter().find_map(|branch| {
        let out = git(repo_root, &["merge-base", "HEAD", branch]).ok()?;
        stdout_line(&out).map(|commit| (commit, format!("merge base of HEAD and {branch}")))
    })
}

impl GitFiles {
    /// The commit `rev` names (resolved once, so every file comes from the same commit).
    pub fn at(repo_root: &Path, rev: &str) -> Result<Self, GitError> {
        let unknown = |detail: String| GitError::UnknownRevision {
            rev: rev.to_owned(),
            repo: repo_root.to_path_buf(),
            detail,
        };
        let repo = gix::open(repo_root).map_err(|e| unknown(format!("not a readable repository: {e}")))?;
        let (id, blobs) = Self::walk(&repo, rev, &unknown)?;
        Ok(Self {
            rev: id.to_string(),
            repo,
            blobs,
        })
    }

    /// The commit `rev` names in `repo`, and its regular files.
    fn walk(
        repo: &gix::Repository,
        rev: &str,
        unknown: &dyn Fn(String) -> GitError,
    ) -> Result<(gix::ObjectId, HashMap<String, gix::ObjectId>), GitError> {
        let commit = repo
            .rev_parse_single(rev)
            .map_err(|e| e.to_string())
            .and_then(|id| id.object().map_err(|e| e.to_string()))
            .and_then(|object| object.peel_to_commit().map_err(|e| e.to_string()))
            .map_err(|e| {
                let full_sha = rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit());
                if repo.is_shallow() && full_sha {
                    unknown(format!(
                        "not in this clone, which is shallow (actions/checkout fetches one commit by default): \
                         fetch the history (`fetch-depth: 0`) or the base commit (`git fetch --depth=1 origin {rev}`)"
                    ))
                } else if repo.is_shallow() {
                    unknown(format!(
                        "{e} (this clone is shallow: fetch the history with `fetch-depth: 0`, or name the base by its full SHA)"
                    ))
                } else {
                    unknown(e)
                }
            })?;
        let id = commit.id;
        let tree = commit
            .tree()
            .map_err(|e| unknown(format!("cannot read its tree: {e}")))?;
        let mut recorder = gix::traverse::tree::Recorder::default();
        tree.traverse()
            .breadthfirst(&mut recorder)
            .map_err(|e| unknown(format!("cannot read its tree: {e}")))?;
        let blobs = (recorder.records.into_iter())
            .filter(|e| e.mode.is_blob())
            .map(|e| (e.filepath.to_string(), e.oid))
            .collect();
        Ok((id, blobs))
    }

    /// Blob `oid` through the `git` command (which fetches what a partial clone lacks).
    fn cat_file(&self, oid: &gix::ObjectId) -> Result<Vec<u8>, String> {
        let dir = self.repo.workdir().unwrap_or_else(|| self.repo.git_dir());
        let out = git(dir, &["cat-file", "blob", &oid.to_string()]).map_err(|e| format!("cannot run git: {e}"))?;
        if !out.status.success() {
            return Err(format!("git cat-file: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(out.stdout)
    }

    fn short_rev(&self) -> &str {
        self.rev.get(..12).unwrap_or(&self.rev)
    }
}

impl ConfigFiles for GitFiles {
    fn list(&self, relative: &str) -> Option<Vec<String>> {
        Some(crate::config::load::names_in(
            self.blobs.keys().map(String::as_str),
            relative,
        ))
    }

    fn read(&self, relative: &str) -> Result<Option<SourceFile>, ReadError> {
        let shown = format!("{}:{relative}", self.short_rev());
        let Some(oid) = self.blobs.get(relative) else {
            return Ok(None);
        };
        let data = match self.repo.find_object(*oid) {
            Ok(object) => object.detach().data,
            // A partial clone (`--filter=blob:none`) lacks blobs until asked: `git cat-file`
            // fetches them from the promisor remote, as `git show` would.
            Err(e) => self.cat_file(oid).map_err(|why| ReadError::Io {
                path: shown.clone(),
                source: std::io::Error::other(format!("{e}; {why}")),
            })?,
        };
        let data = &data;
        let size = data.len() as u64;
        if size > MAX_CONFIG_BYTES {
            return Err(ReadError::TooLarge {
                path: shown,
                size,
                limit: MAX_CONFIG_BYTES,
            });
        }
        let text = std::str::from_utf8(data).map_err(|e| ReadError::NotUtf8 {
            path: shown.clone(),
            offset: e.valid_up_to(),
        })?;
        let mut file = SourceFile::from_text(relative, text);
        file.display_name = shown;
        Ok(Some(file))
    }
}
