//! The SSH key and known hosts the workflow passes as inputs, as files the SSH connector reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::request::Inputs;
use crate::application::report::WorkflowError;
use crate::ssh::OpensshConnector;

/// The SSH inputs as files (removed with `dir`), and the connector that uses them.
pub struct SshFiles {
    _dir: Option<tempfile::TempDir>,
    pub connector: Arc<OpensshConnector>,
}

/// The `ssh-private-key` and `ssh-known-hosts` inputs, written to files under `runner_temp`
/// (else, or when that directory does not exist, the system temp dir), and the connector
/// that uses them for servers that name no key of their own.
pub fn install(inputs: &Inputs, runner_temp: Option<&Path>) -> Result<SshFiles, WorkflowError> {
    let (key, known) = (&inputs.ssh_private_key, &inputs.ssh_known_hosts);
    if key.is_none() && known.is_none() {
        return Ok(SshFiles {
            _dir: None,
            connector: Arc::new(OpensshConnector::default()),
        });
    }
    // A container action gets the runner's RUNNER_TEMP path but not that directory (only the
    // workspace, home, workflow and file-command directories are mounted): then the system temp.
    let dir = runner_temp
        .filter(|d| d.is_dir())
        .map_or_else(std::env::temp_dir, Path::to_path_buf);
    let dir = tempfile::Builder::new()
        .prefix("fleetflow-ssh-")
        .tempdir_in(&dir)
        .map_err(|e| {
            WorkflowError::failed(format!(
                "cannot create a directory for the SSH key in {}: {e}",
                dir.display()
            ))
        })?;
    let write = |name: &str, text: &str| -> Result<PathBuf, WorkflowError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.path().join(name);
        std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{}\n", text.trim_end()).as_bytes()))
            .map_err(|e| WorkflowError::failed(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    };
    let key = key.as_deref().map(|k| write("id_key", k)).transpose()?;
    let known = known.as_deref().map(|k| write("known_hosts", k)).transpose()?;
    Ok(SshFiles {
        _dir: Some(dir),
        connector: Arc::new(OpensshConnector::with_files(key, known)),
    })
}
