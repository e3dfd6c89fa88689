//! The recorded infrastructure state on disk (seed 003): `.fleetflow/state.json` (versioned), a
//! backup written before every change, and `lock.json` so two processes never write at once.
//!
//! The lock is created with `create_new` (atomic: exactly one creator wins) and names its
//! holder, operation and time; a lock left by a dead run is removed with `fleet state unlock`.
//! A corrupt state file is reported and never overwritten, and neither is its backup.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::plan::state::{BACKUP_FILE, LOCK_FILE, LockInfo, STATE_FILE, State};

/// A lock older than this is called probably stale in the message.
const STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(1);

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is corrupt ({detail}); it was left as it is, and so was {BACKUP_FILE}. Fix the file, or restore the backup: cp {} {}",
        path.display(), backup.display(), path.display()
    )]
    Corrupt {
        path: PathBuf,
        backup: PathBuf,
        detail: String,
    },
    #[error(
        "the state is locked by {holder} for `{operation}` since {since}{age}; wait for it to finish, or if that run is dead, run `fleet state unlock`"
    )]
    Locked {
        holder: String,
        operation: String,
        since: String,
        age: String,
    },
    #[error("the state lock was removed while {holder} held it (`fleet state unlock`?); nothing was written")]
    LockLost { holder: String },
}

/// The `.fleetflow` directory holding the state, its backup and the lock.
#[derive(Debug, Clone)]
pub struct StateStore {
    pub dir: PathBuf,
}

impl StateStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    pub fn backup_path(&self) -> PathBuf {
        self.dir.join(BACKUP_FILE)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(LOCK_FILE)
    }

    /// The recorded state; an empty one when there is no state file yet.
    pub fn load(&self) -> Result<State, StateError> {
        Ok(self.read_state()?.map(|(state, _)| state).unwrap_or_default())
    }

    /// Whether a state file exists (a plan uses the state only then).
    /// The state, or `None` when no state file exists yet.
    pub fn load_if_exists(&self) -> Result<Option<State>, StateError> {
        self.exists().then(|| self.load()).transpose()
    }

    pub fn exists(&self) -> bool {
        self.state_path().is_file()
    }

    fn read_state(&self) -> Result<Option<(State, Vec<u8>)>, StateError> {
        let path = self.state_path();
        let Some(bytes) = read_if_present(&path)? else {
            return Ok(None);
        };
        let parsed = std::str::from_utf8(&bytes)
            .map_err(|e| format!("not UTF-8: {e}"))
            .and_then(|text| State::parse(text).map_err(|e| e.to_string()));
        match parsed {
            Ok(state) => Ok(Some((state, bytes))),
            Err(detail) => Err(StateError::Corrupt {
                backup: self.backup_path(),
                path,
                detail,
            }),
        }
    }

    /// Who holds the lock, if anyone.
    pub fn read_lock(&self) -> Result<Option<LockInfo>, StateError> {
        // A lock just created may not hold its text yet: look again briefly.
        for _ in 0..20 {
            let Some(bytes) = read_if_present(&self.lock_path())? else {
                return Ok(None);
            };
            if let Ok(info) = serde_json::from_slice::<LockInfo>(&bytes) {
                return Ok(Some(info));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(Some(LockInfo {
            holder: format!("an unknown holder (unreadable {LOCK_FILE})"),
            operation: "unknown".into(),
            created_at: "an unknown time".into(),
            pid: 0,
            id: String::new(),
        }))
    }

    /// Takes the lock, or says who holds it.
    pub fn lock(&self, holder: &str, operation: &str) -> Result<StateLock<'_>, StateError> {
        let io = |action, source| StateError::Io {
            action,
            path: self.lock_path(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(|source| StateError::Io {
            action: "create",
            path: self.dir.clone(),
            source,
        })?;
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let now = chrono::Utc::now();
        let info = LockInfo {
            holder: holder.to_owned(),
            operation: operation.to_owned(),
            created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            pid: std::process::id(),
            id: format!(
                "{}-{}-{}",
                std::process::id(),
                now.timestamp_nanos_opt().unwrap_or_default(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
        };
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.lock_path());
        let mut file = match created {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(self.locked_error()),
            Err(e) => return Err(io("create", e)),
        };
        let text = serde_json::to_string_pretty(&info).unwrap_or_default();
        if let Err(e) = file.write_all(text.as_bytes()).and_then(|()| file.sync_all()) {
            let _ = std::fs::remove_file(self.lock_path());
            return Err(io("write", e));
        }
        Ok(StateLock { store: self, info })
    }

    fn locked_error(&self) -> StateError {
        let info = self.read_lock().ok().flatten();
        let Some(info) = info else {
            return StateError::Locked {
                holder: "another process (it has just released it; try again)".into(),
                operation: "unknown".into(),
                since: "a moment ago".into(),
                age: String::new(),
            };
        };
        let age = chrono::DateTime::parse_from_rfc3339(&info.created_at)
            .map(|t| chrono::Utc::now().signed_duration_since(t))
            .map(|held| {
                let minutes = held.num_minutes().max(0);
                let stale = if held > STALE_AFTER { ", probably stale" } else { "" };
                format!(" ({}h {}m ago{stale})", minutes / 60, minutes % 60)
            })
            .unwrap_or_default();
        StateError::Locked {
            holder: info.holder,
            operation: info.operation,
            since: info.created_at,
            age,
        }
    }

    /// Removes the lock whoever holds it (`fleet state unlock`); returns who held it.
    pub fn unlock(&self) -> Result<Option<LockInfo>, StateError> {
        let info = self.read_lock()?;
        match std::fs::remove_file(self.lock_path()) {
            Ok(()) => Ok(info),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io {
                action: "remove",
                path: self.lock_path(),
                source,
            }),
        }
    }
}

/// A held lock: the only way to write the state. Released when dropped.
#[derive(Debug)]
pub struct StateLock<'a> {
    store: &'a StateStore,
    info: LockInfo,
}

impl StateLock<'_> {
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    pub fn load(&self) -> Result<State, StateError> {
        self.store.load()
    }

    /// Replaces the state: the current file goes to `state.json.backup` first, then the new
    /// one is written to a temporary file and renamed over it. A corrupt current state is
    /// reported and left alone, like its backup.
    pub fn write(&self, state: &State) -> Result<(), StateError> {
        if self.store.read_lock()?.is_none_or(|l| l.id != self.info.id) {
            return Err(StateError::LockLost {
                holder: self.info.holder.clone(),
            });
        }
        if let Some((_, bytes)) = self.store.read_state()? {
            write_atomically(&self.store.dir, &self.store.backup_path(), &bytes)?;
        }
        let mut text = serde_json::to_string_pretty(state).unwrap_or_default();
        text.push('\n');
        write_atomically(&self.store.dir, &self.store.state_path(), text.as_bytes())
    }
}

impl Drop for StateLock<'_> {
    fn drop(&mut self) {
        if let Ok(Some(current)) = self.store.read_lock()
            && current.id == self.info.id
        {
            let _ = std::fs::remove_file(self.store.lock_path());
        }
    }
}

/// A file's bytes, or `None` when it does not exist.
fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    replace_file(dir, path, bytes, None).map_err(|(action, source)| StateError::Io {
        action,
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to a fresh temporary file in `dir` (never an existing name or link), synced,
/// with `permissions` when given, and renames it over `path`: the file is whole or untouched.
/// On failure, the step that failed (`create a temporary file for`, `write`, `replace`).
pub fn replace_file(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
    permissions: Option<std::fs::Permissions>,
) -> Result<(), (&'static str, std::io::Error)> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| ("create a temporary file for", e))?;
    tmp.write_all(bytes)
        .and_then(|()| permissions.map_or(Ok(()), |p| tmp.as_file().set_permissions(p)))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| ("write", e))?;
    tmp.persist(path).map_err(|e| ("replace", e.error))?;
    Ok(())
}
