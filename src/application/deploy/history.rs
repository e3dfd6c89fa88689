//! The deploy history of a fleet+stage, kept on the machine that runs it: one JSON line per
//! deploy or rollback (commit, who, when, how long, outcome, and the image each service ran
//! afterwards), the images a rollback may need kept under a tag of their own, and which earlier
//! deploy a rollback goes back to.
//!
//! On a server the file is `{deploy-path}/.fleetflow/history/{project}-{stage}.jsonl` (the
//! remote command sets `FLEET_HISTORY_DIR`); on a workstation `$XDG_STATE_HOME/fleetflow/history/`
//! (else `~/.local/state/fleetflow/history/`).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How many successful deploys keep their images for a rollback, unless `FLEET_KEEP_DEPLOYS` says.
pub const DEFAULT_KEEP: usize = 5;

/// The repository of the tags that keep a rollback's images (`docker image prune` leaves a
/// tagged image alone, so a tag reused by the next deploy does not take the old image with it).
pub const KEEP_REPOSITORY: &str = "fleetflow-keep";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    Deploy,
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryOutcome {
    Ok,
    /// The deploy failed; what ran before it runs again (the engine rolled it back).
    Failed,
}

/// The image one service ran after a deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceImage {
    pub service: String,
    /// The reference the configuration named (a tag, or an id after a rollback).
    pub image: String,
    /// `sha256:…`: what a rollback runs when the image is still on the machine.
    pub image_id: String,
    /// `repository@sha256:…`: what a rollback pulls when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_digest: Option<String>,
}

/// One deploy or rollback of a fleet+stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// `20261203T130501Z-1a2b`: sortable, unique on the machine.
    pub id: String,
    pub kind: EntryKind,
    pub project: String,
    pub stage: String,
    #[serde(default)]
    pub commit: Option<String>,
    pub by: String,
    /// RFC 3339, UTC.
    pub started: String,
    pub seconds: f64,
    pub outcome: EntryOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a rollback: the entry whose images it brought back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_to: Option<String>,
    pub services: Vec<ServiceImage>,
}

impl HistoryEntry {
    pub fn is_ok(&self) -> bool {
        self.outcome == EntryOutcome::Ok
    }

    /// `commit abc1234 (20261203T130501Z-1a2b)`, or the id alone.
    pub fn label(&self) -> String {
        match &self.commit {
            Some(c) => format!("commit {} ({})", short_commit(c), self.id),
            None => format!("deploy {}", self.id),
        }
    }

    /// The tag that keeps `service`'s image of this entry.
    pub fn keep_tag(&self, service: &str) -> String {
        format!("{}:{}", keep_repository(&self.project, &self.stage, service), self.id)
    }

    /// (service, image id), sorted.
    fn images(&self) -> Vec<(&str, &str)> {
        let mut v: Vec<(&str, &str)> = (self.services.iter())
            .map(|s| (s.service.as_str(), s.image_id.as_str()))
            .collect();
        v.sort_unstable();
        v
    }

    fn same_images(&self, other: &HistoryEntry) -> bool {
        self.images() == other.images()
    }
}

fn short_commit(c: &str) -> &str {
    c.get(..12).unwrap_or(c)
}

/// `fleetflow-keep/{project}-{stage}-{service}` in the characters a repository name allows.
pub fn keep_repository(project: &str, stage: &str, service: &str) -> String {
    let name: String = format!("{project}-{stage}-{service}")
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.' | '_' | '-') => c,
            _ => '-',
        })
        .collect();
    format!("{KEEP_REPOSITORY}/{}", name.trim_matches(['-', '.', '_']))
}

/// Which earlier deploy a rollback goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTo {
    /// The last successful deploy that ran other images than what runs now.
    Previous,
    /// The last successful deploy of this commit (a prefix of four or more hex digits) or of
    /// this history id.
    Commit(String),
}

impl std::str::FromStr for RollbackTo {
    type Err = HistoryError;

    fn from_str(s: &str) -> Result<Self, HistoryError> {
        let s = s.trim();
        if s == "previous" {
            return Ok(Self::Previous);
        }
        let hex = s.len() >= 4 && s.chars().all(|c| c.is_ascii_hexdigit());
        let id = s.len() >= 16 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if hex || id {
            Ok(Self::Commit(s.to_ascii_lowercase()))
        } else {
            Err(HistoryError::BadTarget(s.to_owned()))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("`{0}` is neither `previous` nor a commit (4 or more hex digits) nor a history id")]
    BadTarget(String),
    #[error("{project}:{stage} has no successful deploy on this machine to roll back to")]
    NoDeploys { project: String, stage: String },
    #[error("{project}:{stage} has no earlier successful deploy with other images than {current}")]
    NoPrevious {
        project: String,
        stage: String,
        current: String,
    },
    #[error("{project}:{stage} has no successful deploy of `{wanted}`; the last ones were: {known}")]
    UnknownCommit {
        project: String,
        stage: String,
        wanted: String,
        known: String,
    },
    #[error("the images of {label} are gone from this machine ({missing}); nothing was changed")]
    ImagesGone { label: String, missing: String },
    #[error("the deploy history {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The newest successful entry first, and the earlier one `to` names.
pub fn rollback_target<'a>(entries: &'a [HistoryEntry], to: &RollbackTo) -> Result<&'a HistoryEntry, HistoryError> {
    let mut ok = entries.iter().rev().filter(|e| e.is_ok());
    let (project, stage) = entries
        .first()
        .map(|e| (e.project.clone(), e.stage.clone()))
        .unwrap_or_default();
    match to {
        RollbackTo::Previous => {
            let current = ok.next().ok_or(HistoryError::NoDeploys {
                project: project.clone(),
                stage: stage.clone(),
            })?;
            // After a rollback, what runs is the deploy it went back to: previous is older than
            // that one (a second `previous` goes further back, not forward again).
            let origin = (current.rollback_to.as_deref())
                .and_then(|to| entries.iter().position(|e| e.id == to))
                .unwrap_or(entries.len());
            entries[..origin]
                .iter()
                .rev()
                .filter(|e| e.is_ok())
                .find(|e| !e.same_images(current))
                .ok_or_else(|| HistoryError::NoPrevious {
                    project,
                    stage,
                    current: current.label(),
                })
        }
        RollbackTo::Commit(wanted) => {
            let all: Vec<&HistoryEntry> = ok.collect();
            if all.is_empty() {
                return Err(HistoryError::NoDeploys { project, stage });
            }
            let matches = |e: &&&HistoryEntry| {
                e.id.eq_ignore_ascii_case(wanted)
                    || e.commit
                        .as_deref()
                        .is_some_and(|c| c.to_ascii_lowercase().starts_with(wanted))
            };
            all.iter()
                .find(matches)
                .copied()
                .ok_or_else(|| HistoryError::UnknownCommit {
                    project,
                    stage,
                    wanted: wanted.clone(),
                    known: all.iter().take(5).map(|e| e.label()).collect::<Vec<_>>().join(", "),
                })
        }
    }
}

/// The `fleet …` arguments a server runs for a rollback of `stage` to `to`.
pub fn rollback_args(stage: &str, to: &RollbackTo, health_timeout: std::time::Duration) -> Vec<String> {
    let to = match to {
        RollbackTo::Previous => "previous".to_owned(),
        RollbackTo::Commit(c) => c.clone(),
    };
    let secs = health_timeout.as_secs().to_string();
    ["rollback", stage, "--to", &to, "--health-timeout", &secs, "--yes"]
        .map(str::to_owned)
        .to_vec()
}

/// The ids of the entries whose images are kept.
pub fn kept_ids(entries: &[HistoryEntry], keep: usize) -> Vec<&str> {
    // The newest entry of each of the newest `keep` different image sets: redeploys of the same
    // images do not push an older version out.
    let mut sets: Vec<Vec<(&str, &str)>> = Vec::new();
    let mut ids = Vec::new();
    for e in entries.iter().rev().filter(|e| e.is_ok()) {
        if sets.len() == keep {
            break;
        }
        let images = e.images();
        if !sets.contains(&images) {
            sets.push(images);
            ids.push(e.id.as_str());
        }
    }
    ids
}

/// A new entry id at `now`: sortable by time, unique on the machine.
pub fn new_id(now: chrono::DateTime<chrono::Utc>) -> String {
    format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), &crate::clock::random_hex()[..4])
}

/// The history file of one fleet+stage.
#[derive(Debug, Clone)]
pub struct HistoryFile {
    pub path: PathBuf,
}

impl HistoryFile {
    /// `{dir}/{project}-{stage}.jsonl`.
    pub fn in_dir(dir: &Path, project: &str, stage: &str) -> Self {
        Self {
            path: dir.join(format!("{project}-{stage}.jsonl")),
        }
    }

    /// Where this machine keeps histories: `FLEET_HISTORY_DIR`, else the XDG state directory.
    pub fn default_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
        if let Some(dir) = env("FLEET_HISTORY_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        let state = env("XDG_STATE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env("HOME").unwrap_or_else(|| "/root".into())).join(".local/state"));
        state.join("fleetflow/history")
    }

    fn io(&self, source: std::io::Error) -> HistoryError {
        HistoryError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Every entry, oldest first (none when there is no file). A line that does not parse (a
    /// write cut short by a full disk) is skipped and counted, never fatal.
    pub fn read(&self) -> Result<(Vec<HistoryEntry>, usize), HistoryError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(self.io(e)),
        };
        let mut skipped = 0;
        let entries = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str(l).map_err(|_| skipped += 1).ok())
            .collect();
        Ok((entries, skipped))
    }

    /// Appends one entry as one line, synced before it returns.
    pub fn append(&self, entry: &HistoryEntry) -> Result<(), HistoryError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let mut line = serde_json::to_string(entry).map_err(|e| self.io(e.into()))?;
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        file.write_all(line.as_bytes()).map_err(|e| self.io(e))?;
        file.sync_data().map_err(|e| self.io(e))
    }
}

/// The history as a table (newest first), for a person.
pub fn render_history(entries: &[HistoryEntry], kept: &[&str]) -> String {
    if entries.is_empty() {
        return "No deploys recorded.\n".into();
    }
    let mut out = format!(
        "{:<22}  {:<8}  {:<12}  {:<20}  {:>7}  {:<7}  {}\n",
        "ID", "KIND", "COMMIT", "BY", "SECONDS", "OUTCOME", "IMAGES"
    );
    for e in entries.iter().rev() {
        let kind = match e.kind {
            EntryKind::Rollback => "rollback",
            EntryKind::Deploy => "deploy",
        };
        let outcome = if e.is_ok() { "ok" } else { "failed" };
        let images: Vec<String> = e
            .services
            .iter()
            .map(|s| {
                format!(
                    "{}={}",
                    s.service,
                    s.image_id.trim_start_matches("sha256:").get(..12).unwrap_or("?")
                )
            })
            .collect();
        let keep = if kept.contains(&e.id.as_str()) { " (kept)" } else { "" };
        out.push_str(&format!(
            "{:<22}  {:<8}  {:<12}  {:<20}  {:>7.1}  {:<7}  {}{keep}\n",
            e.id,
            kind,
            e.commit.as_deref().map_or("-", short_commit),
            e.by,
            e.seconds,
            outcome,
            images.join(" ")
        ));
        if let Some(err) = &e.error {
            out.push_str(&format!("{:<22}  {err}\n", ""));
        }
    }
    out
}

#[cfg(test)]
mod tests;
