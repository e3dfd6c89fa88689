//! Key material handed over as text (a CI secret), as the files OpenSSH reads: written 0600
//! into a private temporary directory that is removed when the [`KeyFiles`] is dropped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::OpensshConnector;

/// Why the key's files could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {what} in {}: {source}", dir.display())]
pub struct KeyFilesError {
    what: &'static str,
    dir: PathBuf,
    #[source]
    source: std::io::Error,
}

/// The files (removed with this value), and the connector that uses them.
pub struct KeyFiles {
    _dir: Option<tempfile::TempDir>,
    pub connector: Arc<OpensshConnector>,
}

impl KeyFiles {
    /// `private_key` and `known_hosts` as files in a new directory under `parent` (else, or
    /// when that directory does not exist, the system temp dir); the connector uses them for
    /// servers that name no key of their own. Neither given: the default connector.
    pub fn write(
        private_key: Option<&str>,
        known_hosts: Option<&str>,
        parent: Option<&Path>,
    ) -> Result<Self, KeyFilesError> {
        if private_key.is_none() && known_hosts.is_none() {
            return Ok(Self {
                _dir: None,
                connector: Arc::new(OpensshConnector::default()),
            });
        }
        let parent = parent
            .filter(|d| d.is_dir())
            .map_or_else(std::env::temp_dir, Path::to_path_buf);
        let error = |what, dir: &Path| {
            let dir = dir.to_path_buf();
            move |source| KeyFilesError { what, dir, source }
        };
        let dir = (tempfile::Builder::new().prefix("fleetflow-ssh-").tempdir_in(&parent))
            .map_err(error("a directory for the SSH key", &parent))?;
        let write = |name: &'static str, text: &str| -> Result<PathBuf, KeyFilesError> {
            use std::os::unix::fs::OpenOptionsExt;
            let path = dir.path().join(name);
            let mut file = (std::fs::OpenOptions::new().create_new(true).write(true).mode(0o600))
                .open(&path)
                .map_err(error(name, dir.path()))?;
            std::io::Write::write_all(&mut file, format!("{}\n", text.trim_end()).as_bytes())
                .map_err(error(name, dir.path()))?;
            Ok(path)
        };
        let key = private_key.map(|k| write("id_key", k)).transpose()?;
        let known = known_hosts.map(|k| write("known_hosts", k)).transpose()?;
        Ok(Self {
            _dir: Some(dir),
            connector: Arc::new(OpensshConnector::with_files(key, known)),
        })
    }
}
