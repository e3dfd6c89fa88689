//! The SSH key and known hosts the workflow passes as inputs, as files the SSH connector reads.

use std::path::PathBuf;
use std::sync::Arc;

use super::env;
use super::runner::input;
use crate::ssh::OpensshConnector;

/// The SSH inputs as files (removed with `dir`), and the connector that uses them.
pub struct SshFiles {
    _dir: Option<tempfile::TempDir>,
    pub connector: Arc<OpensshConnector>,
}

/// The `ssh-private-key` and `ssh-known-hosts` inputs, written to files under RUNNER_TEMP
/// (else, or when that directory does not exist, the system temp dir), and the connector
/// that uses them for servers that name no key of their own.
pub fn install() -> Result<SshFiles, String> {
    let key = input("ssh-private-key");
    let known = input("ssh-known-hosts");
    if key.is_none() && known.is_none() {
        return Ok(SshFiles {
            _dir: None,
            connector: Arc::new(OpensshConnector::default()),
        });
    }
    // A container action gets the runner's RUNNER_TEMP path but not that directory (only the
    // workspace, home, workflow and file-command directories are mounted): then the system temp.
    let dir = env("RUNNER_TEMP")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("fleetflow-ssh-")
        .tempdir_in(&dir)
        .map_err(|e| format!("cannot create a directory for the SSH key in {}: {e}", dir.display()))?;
    let write = |name: &str, text: &str| -> Result<PathBuf, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.path().join(name);
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        std::io::Write::write_all(&mut f, format!("{}\n", text.trim_end()).as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    };
    let key = key.map(|k| write("id_key", &k)).transpose()?;
    let known = known.map(|k| write("known_hosts", &k)).transpose()?;
    Ok(SshFiles {
        _dir: Some(dir),
        connector: Arc::new(OpensshConnector::with_files(key, known)),
    })
}
