//! The local lifecycle over the engine: ps, down, restart, logs.

use std::sync::mpsc;
use std::time::Duration;

use serde::Serialize;

use super::desired::network_name;
use super::engine::PREVIOUS_SUFFIX;
use crate::docker::{Container, Docker, DockerError, labels};

/// One row of `fleet ps` (seed 004: STAGE SERVICE STATUS PORTS CREATED).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PsRow {
    pub stage: String,
    pub service: String,
    pub status: String,
    pub ports: Vec<String>,
    pub created: String,
    pub container: String,
}

/// The project's containers (of one stage, or all), sorted by stage then service.
pub fn containers(docker: &dyn Docker, project: &str, stage: Option<&str>) -> Result<Vec<Container>, DockerError> {
    let mut filter = vec![(labels::PROJECT, project)];
    if let Some(s) = stage {
        filter.push((labels::STAGE, s));
    }
    let mut list: Vec<Container> = docker
        .list_containers(&filter)?
        .into_iter()
        .filter(|c| !c.name.ends_with(PREVIOUS_SUFFIX))
        .collect();
    list.sort_by(|a, b| {
        (a.label(labels::STAGE), a.label(labels::SERVICE)).cmp(&(b.label(labels::STAGE), b.label(labels::SERVICE)))
    });
    Ok(list)
}

pub fn ps(docker: &dyn Docker, project: &str, stage: Option<&str>) -> Result<Vec<PsRow>, DockerError> {
    Ok(containers(docker, project, stage)?
        .into_iter()
        .map(|c| PsRow {
            stage: c.label(labels::STAGE).unwrap_or("").to_owned(),
            service: c.label(labels::SERVICE).unwrap_or("").to_owned(),
            status: match (&c.health, c.running) {
                (Some(h), true) => format!("{} ({h})", c.status),
                (_, false) if c.status == "exited" => format!("exited ({})", c.exit_code),
                _ => c.status.clone(),
            },
            ports: c.ports.clone(),
            created: c.created.clone(),
            container: c.name.clone(),
        })
        .collect())
}

/// The seed-004 table; `now` makes "2 days ago" testable.
pub fn render_ps(rows: &[PsRow], now: chrono::DateTime<chrono::Utc>) -> String {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let ports = if r.ports.is_empty() {
                "-".to_owned()
            } else {
                r.ports.join(", ")
            };
            [
                r.stage.clone(),
                r.service.clone(),
                r.status.clone(),
                ports,
                ago(&r.created, now),
            ]
        })
        .collect();
    let header = ["STAGE", "SERVICE", "STATUS", "PORTS", "CREATED"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(&cells)
        .map(|row| {
            let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
            format!("{}\n", line.join("  ").trim_end())
        })
        .collect()
}

/// "2 days ago", "1 hour ago", "just now".
pub fn ago(timestamp: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(timestamp) else {
        return timestamp.to_owned();
    };
    let secs = (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0);
    let (n, unit) = match secs {
        0..=9 => return "just now".into(),
        10..=59 => (secs, "second"),
        60..=3599 => (secs / 60, "minute"),
        3600..=86_399 => (secs / 3600, "hour"),
        _ => (secs / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// Stops the stage's containers; with `remove`, removes them and the stage's network.
/// Returns the services touched.
/// Stops (or, with `remove`, removes) the stage's containers wave by wave: `waves` lists
/// service names, first wave first (dependents before what they depend on); containers of a
/// wave stop at once, and containers of services no wave names go with the first. `progress`
/// hears each container as it is done. Returns the services touched, sorted.
pub fn down(
    docker: &dyn Docker,
    project: &str,
    stage: &str,
    waves: &[Vec<String>],
    remove: bool,
    timeout: Duration,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Vec<String>, DownError> {
    let containers = docker.list_containers(&[(labels::PROJECT, project), (labels::STAGE, stage)])?;
    let wave_of = |service: &str| waves.iter().position(|w| w.iter().any(|s| s == service)).unwrap_or(0);
    let mut by_wave: Vec<Vec<_>> = vec![Vec::new(); waves.len().max(1)];
    for c in containers.iter().filter(|c| remove || c.running) {
        let service = c.label(labels::SERVICE).unwrap_or(&c.name);
        by_wave[wave_of(service)].push((c, service.to_owned()));
    }
    let mut touched = Vec::new();
    for wave in by_wave.iter().filter(|w| !w.is_empty()) {
        let results: Vec<(String, Result<(), DockerError>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = wave
                .iter()
                .map(|(c, service)| {
                    let handle = scope.spawn(move || {
                        if remove {
                            docker.remove(&c.id)?;
                        } else {
                            docker.stop(&c.id, timeout)?;
                        }
                        progress(service);
                        Ok(())
                    });
                    (service.clone(), handle)
                })
                .collect();
            handles
                .into_iter()
                .map(|(service, h)| {
                    let result = h.join().unwrap_or_else(|_| {
                        Err(DockerError::Command {
                            command: "docker stop".into(),
                            message: "its thread panicked".into(),
                            output: String::new(),
                        })
                    });
                    (service, result)
                })
                .collect()
        });
        // Every failure of the wave is said; what the failed ones depend on keeps running.
        let mut failed = Vec::new();
        for (service, result) in results {
            match result {
                Ok(()) => touched.push(service),
                Err(e) => failed.push((service, e)),
            }
        }
        if !failed.is_empty() {
            touched.sort();
            return Err(DownError::Services { failed, done: touched });
        }
    }
    if remove {
        docker.remove_network(&network_name(project, stage))?;
    }
    touched.sort();
    Ok(touched)
}

/// Why `down` stopped.
#[derive(Debug, thiserror::Error)]
pub enum DownError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// These services would not stop (or go); the others of their wave did (`done`), and the
    /// services they depend on were left running.
    #[error("{}; nothing they depend on was touched{}", failed.iter().map(|(s, e)| format!("{s}: {e}")).collect::<Vec<_>>().join("; "),
        if done.is_empty() { String::new() } else { format!(" (done before: {})", done.join(", ")) })]
    Services {
        failed: Vec<(String, DockerError)>,
        done: Vec<String>,
    },
}

pub fn restart(
    docker: &dyn Docker,
    project: &str,
    stage: &str,
    services: &[String],
    timeout: Duration,
) -> Result<Vec<String>, DockerError> {
    let mut touched = Vec::new();
    for c in containers(docker, project, Some(stage))? {
        let service = c.label(labels::SERVICE).unwrap_or("").to_owned();
        if services.is_empty() || services.contains(&service) {
            docker.restart(&c.id, timeout)?;
            touched.push(service);
        }
    }
    Ok(touched)
}

/// Log lines of the stage's containers (one service or all), each with its service name.
/// With several containers and `follow`, lines interleave as they arrive.
pub fn logs(
    docker: &dyn Docker,
    project: &str,
    stage: &str,
    service: Option<&str>,
    follow: bool,
    tail: Option<usize>,
    sink: &mut dyn FnMut(&str, &str),
) -> Result<(), DockerError> {
    let selected: Vec<Container> = containers(docker, project, Some(stage))?
        .into_iter()
        .filter(|c| service.is_none_or(|s| c.label(labels::SERVICE) == Some(s)))
        .collect();
    let (tx, rx) = mpsc::channel::<(String, String)>();
    std::thread::scope(|scope| {
        let handles: Vec<_> = selected
            .iter()
            .map(|c| {
                let tx = tx.clone();
                let name = c.label(labels::SERVICE).unwrap_or(&c.name).to_owned();
                scope.spawn(move || {
                    docker.logs(&c.id, follow, tail, &mut |l| {
                        drop(tx.send((name.clone(), l.to_owned())))
                    })
                })
            })
            .collect();
        drop(tx);
        for (service, line) in rx {
            sink(&service, &line);
        }
        handles.into_iter().try_for_each(|h| h.join().unwrap_or(Ok(())))
    })
}
