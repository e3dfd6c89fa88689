//! The hash of a build's inputs: every file of the context (except what .dockerignore-style
//! basics exclude), the Dockerfile, target, args and platform.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::service::Build;

/// Directories never sent as build context inputs that matter.
const SKIPPED: &[&str] = &[".git", ".fleetflow", "target", "node_modules"];

pub fn hash_inputs(
    context: &Path,
    dockerfile: Option<&Path>,
    build: &Build,
    platform: Option<&str>,
) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut files = Vec::new();
    collect(context, &mut files)?;
    files.sort();
    let dockerfile = dockerfile
        .map(Path::to_path_buf)
        .unwrap_or_else(|| context.join("Dockerfile"));
    if !files.contains(&dockerfile) && dockerfile.is_file() {
        files.push(dockerfile);
    }
    let mut buf = Vec::new();
    for file in &files {
        hasher.update(file.strip_prefix(context).unwrap_or(file).to_string_lossy().as_bytes());
        hasher.update([0]);
        buf.clear();
        std::fs::File::open(file)?.read_to_end(&mut buf)?;
        hasher.update(Sha256::digest(&buf));
    }
    hasher.update(format!("{:?}|{:?}|{:?}", build.target, build.args, platform).as_bytes());
    Ok(hex::encode(&hasher.finalize()[..16]))
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if !SKIPPED.iter().any(|s| entry.file_name() == *s) {
                    stack.push(path);
                }
            } else if kind.is_file() {
                out.push(path);
            }
        }
    }
    Ok(())
}
