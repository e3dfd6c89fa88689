//! What a deploy on this machine leaves in its history, and what a rollback runs: the images
//! of an earlier successful deploy, by id while they are here, else by registry digest.

use std::collections::BTreeSet;
use std::path::Path;

use super::deploy::DesiredService;
use super::deploy::engine::PREVIOUS_SUFFIX;
use super::deploy::history::{
    DEFAULT_KEEP, EntryKind, EntryOutcome, HistoryEntry, HistoryError, HistoryFile, ServiceImage, keep_repository,
    kept_ids, new_id,
};
use super::report::{Reporter, WorkflowError};
use crate::docker::{Docker, labels};

/// Where a deploy is recorded, by whom, of which commit, and how many deploys keep their images.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub file: HistoryFile,
    pub keep: usize,
    pub commit: Option<String>,
    pub by: String,
}

impl Recorder {
    /// The history of `project`:`stage` on this machine. The remote command sets
    /// `FLEET_HISTORY_DIR`, `FLEET_DEPLOY_COMMIT` and `FLEET_DEPLOY_BY`; without them the
    /// commit is `git rev-parse HEAD` of `fleet_dir` and the deployer `$USER`.
    pub fn for_stage(project: &str, stage: &str, fleet_dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Self {
        let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        Self {
            file: HistoryFile::in_dir(&HistoryFile::default_dir(env), project, stage),
            keep: set("FLEET_KEEP_DEPLOYS")
                .and_then(|v| v.trim().parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(DEFAULT_KEEP),
            commit: set("FLEET_DEPLOY_COMMIT").or_else(|| crate::git::git_line(fleet_dir, &["rev-parse", "HEAD"])),
            by: set("FLEET_DEPLOY_BY")
                .or_else(|| set("USER"))
                .unwrap_or_else(|| "unknown".into()),
        }
    }

    /// The entries, oldest first; a line that does not parse is noted, not fatal.
    pub fn read(&self, reporter: &dyn Reporter) -> Result<Vec<HistoryEntry>, WorkflowError> {
        let (entries, skipped) = self.file.read().map_err(WorkflowError::failed)?;
        if skipped > 0 {
            reporter.note(&format!(
                "{}: {skipped} line(s) could not be read and were skipped",
                self.file.path.display()
            ));
        }
        Ok(entries)
    }
}

/// What one run did, to record.
pub struct Ran<'a> {
    pub project: &'a str,
    pub stage: &'a str,
    pub desired: &'a [DesiredService],
    pub started: chrono::DateTime<chrono::Utc>,
    pub seconds: f64,
    pub error: Option<String>,
    /// For a rollback: the entry it went back to.
    pub rollback_to: Option<&'a HistoryEntry>,
}

/// Records `ran` with the images the stage's services run now; after a success, tags them to
/// keep them and lets go of the images no kept deploy needs. A history that cannot be written
/// is noted: the deploy itself has happened.
pub fn record(reporter: &dyn Reporter, docker: &dyn Docker, recorder: &Recorder, ran: &Ran) -> Option<HistoryEntry> {
    let services = match running_images(docker, ran) {
        Ok(services) => services,
        Err(e) => {
            reporter.note(&format!("the deploy was not recorded in its history: {e}"));
            return None;
        }
    };
    let entry = HistoryEntry {
        id: new_id(ran.started),
        kind: if ran.rollback_to.is_some() {
            EntryKind::Rollback
        } else {
            EntryKind::Deploy
        },
        project: ran.project.to_owned(),
        stage: ran.stage.to_owned(),
        commit: match ran.rollback_to {
            Some(target) => target.commit.clone(),
            None => recorder.commit.clone(),
        },
        by: recorder.by.clone(),
        started: ran.started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        seconds: (ran.seconds * 10.0).round() / 10.0,
        outcome: if ran.error.is_none() {
            EntryOutcome::Ok
        } else {
            EntryOutcome::Failed
        },
        error: ran.error.clone(),
        rollback_to: ran.rollback_to.map(|t| t.id.clone()),
        services,
    };
    if let Err(e) = recorder.file.append(&entry) {
        reporter.note(&format!("the deploy was not recorded in its history: {e}"));
        return None;
    }
    if entry.is_ok() {
        for s in &entry.services {
            if let Err(e) = docker.tag(&s.image_id, &entry.keep_tag(&s.service)) {
                reporter.note(&format!("cannot keep the image of `{}` for a rollback: {e}", s.service));
            }
        }
        if let Ok(entries) = recorder.read(reporter) {
            prune(docker, &entries, recorder.keep);
        }
    }
    Some(entry)
}

/// Each service of the stage (this run's desired ones, and any other still running) with the
/// image its container runs.
fn running_images(docker: &dyn Docker, ran: &Ran) -> Result<Vec<ServiceImage>, crate::docker::DockerError> {
    let wanted = [(labels::PROJECT, ran.project), (labels::STAGE, ran.stage)];
    let mut containers = docker.list_containers(&wanted)?;
    containers.retain(|c| !c.name.ends_with(PREVIOUS_SUFFIX));
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    let mut services = Vec::new();
    for c in containers {
        let Some(service) = c.label(labels::SERVICE).map(str::to_owned) else {
            continue;
        };
        // The reference the configuration named (a rollback's target knew it; its run named the id).
        let earlier = ran
            .rollback_to
            .and_then(|t| t.services.iter().find(|s| s.service == service));
        let image = match (earlier, ran.desired.iter().find(|d| d.service == service)) {
            (Some(was), _) => was.image.clone(),
            (None, Some(d)) => d.spec.image.clone(),
            (None, None) => c.image_id.clone(),
        };
        let repo_digest = docker
            .inspect_image(&c.image_id)?
            .and_then(|i| i.repo_digests.into_iter().next());
        services.push(ServiceImage {
            service,
            image,
            image_id: c.image_id.clone(),
            repo_digest,
        });
    }
    Ok(services)
}

/// Removes the keep tags of every entry but the newest `keep` successful ones (an image goes
/// when no tag and no container holds it any more). Best effort: a tag that will not go is
/// tried again after the next deploy.
pub fn prune(docker: &dyn Docker, entries: &[HistoryEntry], keep: usize) {
    let kept: BTreeSet<&str> = kept_ids(entries, keep).into_iter().collect();
    // Only this history's own tags: another stage's repository name may be the same text.
    let ours: BTreeSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    let repositories: BTreeSet<String> = entries
        .iter()
        .flat_map(|e| {
            e.services
                .iter()
                .map(|s| keep_repository(&e.project, &e.stage, &s.service))
        })
        .collect();
    for repository in repositories {
        for tag in docker.tags_of(&repository).unwrap_or_default() {
            let id = tag.rsplit(':').next().unwrap_or("");
            if ours.contains(id) && !kept.contains(id) {
                let _ = docker.untag(&tag);
            }
        }
    }
}

/// Points each desired service at the image it ran in `target`: by id when the image is on
/// this machine, else by registry digest (pulled); neither → [`HistoryError::ImagesGone`].
/// A service `target` did not have keeps its configured image.
pub fn use_images_of(
    docker: &dyn Docker,
    desired: &mut [DesiredService],
    target: &HistoryEntry,
) -> Result<(), WorkflowError> {
    let mut missing = Vec::new();
    for d in desired.iter_mut() {
        let Some(was) = target.services.iter().find(|s| s.service == d.service) else {
            continue;
        };
        let present = docker
            .inspect_image(&was.image_id)
            .map_err(WorkflowError::failed)?
            .is_some();
        let image = match (&was.repo_digest, present) {
            (_, true) => was.image_id.clone(),
            (Some(digest), false) => digest.clone(),
            (None, false) => {
                missing.push(format!("{} {}", was.service, was.image));
                continue;
            }
        };
        d.spec.image = image;
        d.built_locally = false;
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(WorkflowError::failed(HistoryError::ImagesGone {
            label: target.label(),
            missing: missing.join(", "),
        }))
    }
}
