//! Unpacking a repository archive (GitHub's tarball of a commit) into a build directory. The
//! archive comes from a pull request, so it is hostile until proven otherwise:
//! - the top directory (`owner-repo-sha/`) is stripped and every other path must be plain
//!   (no `..`, no absolute path);
//! - only directories, regular files and symbolic links are unpacked (`git archive` makes
//!   nothing else); links are created last, after every file, so nothing is ever written
//!   through one, and a link must be relative, stay inside the tree and not pass through
//!   another link of the archive (`a -> .` then `b -> a/a/../..` escapes a lexical check);
//! - the unpacked bytes and the number of entries are capped (a 306 KB archive can hold a
//!   300 MB file), and file contents are streamed to disk, never held in memory.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// How much an archive may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Bytes of file contents, all files together.
    pub max_bytes: u64,
    /// Entries of every kind.
    pub max_entries: usize,
}

impl Default for UnpackLimits {
    /// 2 GiB in at most 200,000 entries: more than a monorepo's source, less than a full disk.
    fn default() -> Self {
        Self {
            max_bytes: 2 << 30,
            max_entries: 200_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the source archive is not a readable tar.gz: {0}")]
    Read(#[from] std::io::Error),
    #[error("the source archive has an unsafe entry `{entry}` ({why}); nothing was built")]
    Unsafe { entry: String, why: &'static str },
    #[error("the source archive unpacks to more than {limit} bytes; nothing was built")]
    TooLarge { limit: u64 },
    #[error("the source archive has more than {limit} entries; nothing was built")]
    TooManyEntries { limit: usize },
}

fn unsafe_entry(entry: impl std::fmt::Display, why: &'static str) -> ArchiveError {
    ArchiveError::Unsafe {
        entry: entry.to_string(),
        why,
    }
}

/// `path` without its first component, when what is left is a plain relative path.
fn strip_top(path: &Path) -> Option<PathBuf> {
    let mut parts = path.components();
    parts.next()?;
    let rest: PathBuf = parts.collect();
    let plain = rest.components().all(|c| matches!(c, Component::Normal(_)));
    (plain && !rest.as_os_str().is_empty()).then_some(rest)
}

/// Unpacks the gzipped tar `archive` into `dest` (which should be empty); returns the number
/// of entries read (the top directory included).
pub fn unpack_tarball(archive: impl Read, dest: &Path, limits: UnpackLimits) -> Result<usize, ArchiveError> {
    unpack_tar(flate2::read::GzDecoder::new(archive), dest, limits)
}

/// [`unpack_tarball`] for an uncompressed tar stream.
pub fn unpack_tar(archive: impl Read, dest: &Path, limits: UnpackLimits) -> Result<usize, ArchiveError> {
    let mut tar = tar::Archive::new(archive);
    let (mut entries, mut bytes) = (0usize, 0u64);
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    for entry in tar.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() || kind.is_gnu_longname() {
            continue;
        }
        entries += 1;
        if entries > limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let path = entry.path()?.into_owned();
        let Some(rel) = strip_top(&path) else {
            if path.components().count() <= 1 && kind.is_dir() {
                continue; // the top directory itself
            }
            return Err(unsafe_entry(path.display(), "outside the tree"));
        };
        let out = dest.join(&rel);
        if kind.is_dir() {
            std::fs::create_dir_all(&out)?;
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
            bytes +=
                write_file(&mut entry, &out, executable, limits.max_bytes - bytes)?.ok_or(ArchiveError::TooLarge {
                    limit: limits.max_bytes,
                })?;
        } else if kind.is_symlink() {
            let target = entry
                .link_name()?
                .map(|t| t.into_owned())
                .ok_or_else(|| unsafe_entry(rel.display(), "a link without a target"))?;
            links.push((rel, target));
        } else {
            return Err(unsafe_entry(
                rel.display(),
                "only files, directories and symbolic links are unpacked",
            ));
        }
    }
    let link_paths: BTreeSet<&Path> = links.iter().map(|(at, _)| at.as_path()).collect();
    for (at, target) in &links {
        if let Err(why) = check_link(at, target, &link_paths) {
            return Err(unsafe_entry(format!("{} -> {}", at.display(), target.display()), why));
        }
    }
    for (at, target) in &links {
        let out = dest.join(at);
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::os::unix::fs::symlink(target, &out)?;
    }
    Ok(entries)
}

/// Streams one file's contents to `out`; returns its size, or `None` (and removes it) past
/// `budget` bytes.
fn write_file(contents: &mut impl Read, out: &Path, executable: bool, budget: u64) -> std::io::Result<Option<u64>> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if executable { 0o755 } else { 0o644 })
        .open(out)?;
    let written = std::io::copy(&mut contents.take(budget.saturating_add(1)), &mut file)?;
    if written > budget {
        drop(file);
        std::fs::remove_file(out)?;
        return Ok(None);
    }
    file.flush()?;
    Ok(Some(written))
}

/// Whether the link at `at` (relative to the root) to `target` stays inside the tree without
/// passing through another link (`links`: every link of the archive).
fn check_link(at: &Path, target: &Path, links: &BTreeSet<&Path>) -> Result<(), &'static str> {
    if at.ancestors().skip(1).any(|dir| links.contains(dir)) {
        return Err("it is inside another link");
    }
    let mut resolved: Vec<Component> = at.parent().map(|p| p.components().collect()).unwrap_or_default();
    let parts: Vec<Component> = target.components().collect();
    for (i, part) in parts.iter().enumerate() {
        match part {
            Component::Normal(_) => resolved.push(*part),
            Component::CurDir => continue,
            Component::ParentDir => {
                if resolved.pop().is_none() {
                    return Err("it points outside the tree");
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err("it points to an absolute path"),
        }
        let so_far: PathBuf = resolved.iter().collect();
        if i + 1 < parts.len() && links.contains(so_far.as_path()) {
            return Err("it passes through another link");
        }
    }
    Ok(())
}
