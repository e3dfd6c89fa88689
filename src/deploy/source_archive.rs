//! Unpacking a repository archive (GitHub's tarball of a commit) into a build directory,
//! safely: the top directory (`owner-repo-sha/`) is stripped, and entries that would land or
//! point outside the destination are refused.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the source archive is not a readable tar.gz: {0}")]
    Read(#[from] std::io::Error),
    #[error("the source archive has an unsafe entry `{0}` (outside the tree); nothing was built")]
    Unsafe(String),
}

/// `path` without its first component, when what is left is a plain relative path.
fn strip_top(path: &Path) -> Option<PathBuf> {
    let mut parts = path.components();
    parts.next()?;
    let rest: PathBuf = parts.collect();
    let plain = rest.components().all(|c| matches!(c, Component::Normal(_)));
    (plain && !rest.as_os_str().is_empty()).then_some(rest)
}

/// Whether a symlink at `at` (relative to the root) pointing to `target` stays inside.
fn link_stays_inside(at: &Path, target: &Path) -> bool {
    let mut depth = at.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth -= 1,
            Component::RootDir | Component::Prefix(_) => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// Unpacks the gzipped tar `archive` into `dest` (which should be empty).
pub fn unpack_tarball(archive: impl Read, dest: &Path) -> Result<usize, ArchiveError> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    tar.set_preserve_permissions(true);
    tar.set_overwrite(true);
    let mut count = 0;
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() || kind.is_gnu_longname() {
            continue;
        }
        let Some(rel) = strip_top(&path) else {
            if path.components().count() <= 1 {
                continue; // the top directory itself
            }
            return Err(ArchiveError::Unsafe(path.display().to_string()));
        };
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry.link_name()?.map(|t| t.into_owned()).unwrap_or_default();
            let target = if kind.is_hard_link() {
                strip_top(&target).unwrap_or(target)
            } else {
                target
            };
            if !link_stays_inside(&rel, &target) {
                return Err(ArchiveError::Unsafe(format!(
                    "{} -> {}",
                    rel.display(),
                    target.display()
                )));
            }
            if kind.is_hard_link() {
                // Hard links name archive paths; copy the already-unpacked file instead.
                let from = dest.join(&target);
                if let Some(parent) = dest.join(&rel).parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::copy(from, dest.join(&rel))?;
                count += 1;
                continue;
            }
        }
        let out = dest.join(&rel);
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        entry.unpack(&out)?;
        count += 1;
    }
    Ok(count)
}
