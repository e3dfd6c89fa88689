//! FS-004: finding `fleet-registry.kdl`, and a fleet's `.fleetflow/fleet.kdl` without a registry.

use std::path::{Path, PathBuf};

use super::load::{FLEET_FILE, REGISTRY_FILE};

/// How the registry was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Flag(PathBuf),
    Env(PathBuf),
    Directory(PathBuf),
}

impl Found {
    pub fn path(&self) -> &Path {
        match self {
            Found::Flag(p) | Found::Env(p) | Found::Directory(p) => p,
        }
    }
}

/// No registry: where we looked, for the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("the registry given with {source_name} does not exist: {}", path.display())]
    GivenMissing { source_name: &'static str, path: PathBuf },
    #[error(
        "no {REGISTRY_FILE} found; looked in {} and every parent directory up to {}. Pass --registry PATH or set FLEET_REGISTRY_PATH",
        start.display(), root.display()
    )]
    NotFound { start: PathBuf, root: PathBuf },
}

/// `--registry`, else `FLEET_REGISTRY_PATH`, else `./fleet-registry.kdl`, else upward from `cwd`.
/// A path naming a directory means the registry file inside it.
pub fn find_registry(flag: Option<&Path>, env: Option<&Path>, cwd: &Path) -> Result<Found, DiscoveryError> {
    let given = |p: &Path, source_name: &'static str, found: fn(PathBuf) -> Found| {
        let p = if p.is_dir() {
            p.join(REGISTRY_FILE)
        } else {
            p.to_path_buf()
        };
        if p.is_file() {
            Ok(found(p))
        } else {
            Err(DiscoveryError::GivenMissing { source_name, path: p })
        }
    };
    if let Some(p) = flag {
        return given(p, "--registry", Found::Flag);
    }
    if let Some(p) = env.filter(|p| !p.as_os_str().is_empty()) {
        return given(p, "FLEET_REGISTRY_PATH", Found::Env);
    }
    find_upward(cwd, REGISTRY_FILE)
        .map(Found::Directory)
        .ok_or_else(|| DiscoveryError::NotFound {
            start: cwd.to_path_buf(),
            root: cwd.ancestors().last().unwrap_or(cwd).to_path_buf(),
        })
}

/// `.fleetflow/fleet.kdl` in `cwd` or the nearest parent.
pub fn find_fleet_file(cwd: &Path) -> Option<PathBuf> {
    find_upward(cwd, FLEET_FILE)
}

fn find_upward(start: &Path, relative: &str) -> Option<PathBuf> {
    start.ancestors().map(|dir| dir.join(relative)).find(|p| p.is_file())
}
