//! A commit's configuration files read from git objects (`git show REV:path`): no checkout,
//! so the working tree is never touched. Paths are relative to the repository root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::config::ConfigFiles;
use crate::config::source::{MAX_CONFIG_BYTES, ReadError, SourceFile};

/// The files of one revision of a repository.
#[derive(Debug, Clone)]
pub struct GitFiles {
    pub repo_root: PathBuf,
    /// A commit id or any revision git understands (`HEAD~1`, `origin/main`).
    pub rev: String,
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
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
    /// `rev` resolved once to a commit id, so every file comes from the same commit.
    pub fn at(repo_root: &Path, rev: &str) -> Result<Self, GitError> {
        let spec = format!("{rev}^{{commit}}");
        let out = git(
            repo_root,
            &["rev-parse", "--verify", "--quiet", "--end-of-options", &spec],
        )
        .map_err(GitError::Spawn)?;
        match stdout_line(&out) {
            Some(commit) => Ok(Self {
                repo_root: repo_root.to_path_buf(),
                rev: commit,
            }),
            None => {
                let stderr = String::from_utf8_lossy(&out.stderr).trim().replace('\n', " ");
                Err(GitError::UnknownRevision {
                    rev: rev.to_owned(),
                    repo: repo_root.to_path_buf(),
                    detail: if stderr.is_empty() {
                        "no such commit".into()
                    } else {
                        stderr
                    },
                })
            }
        }
    }

    fn short_rev(&self) -> &str {
        self.rev.get(..12).unwrap_or(&self.rev)
    }
}

impl ConfigFiles for GitFiles {
    fn read(&self, relative: &str) -> Result<Option<SourceFile>, ReadError> {
        let shown = format!("{}:{relative}", self.short_rev());
        let io = |source| ReadError::Io {
            path: shown.clone(),
            source,
        };
        let spec = format!("{}:{relative}", self.rev);
        let out = git(&self.repo_root, &["show", "--no-textconv", &spec]).map_err(io)?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains("does not exist in") || stderr.contains("exists on disk, but not in") {
                return Ok(None);
            }
            return Err(io(std::io::Error::other(format!("git show failed: {}", stderr.trim()))));
        }
        let size = out.stdout.len() as u64;
        if size > MAX_CONFIG_BYTES {
            return Err(ReadError::TooLarge {
                path: shown,
                size,
                limit: MAX_CONFIG_BYTES,
            });
        }
        let text = String::from_utf8(out.stdout).map_err(|e| ReadError::NotUtf8 {
            path: shown.clone(),
            offset: e.utf8_error().valid_up_to(),
        })?;
        let mut file = SourceFile::from_text(relative, &text);
        file.display_name = shown;
        Ok(Some(file))
    }
}
