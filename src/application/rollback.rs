//! `fleet rollback` and `fleet history` on the machine that runs a stage: the earlier deploy
//! picked from the history, its images run again through the same health-gated engine (no
//! build), recorded as a rollback.

use serde_json::json;

use super::deploy::history::{DEFAULT_KEEP, HistoryEntry, RollbackTo, kept_ids, render_history, rollback_target};
use super::deploy::progress::Progress;
use super::deploy::remote::{history_file, project_on_server};
use super::deploy::remote_run::connect_all;
use super::deploy::{DeployOptions, DeployReport};
use super::deploy_history::Recorder;
use super::local::{LocalDeploy, LocalFleet, deploy_stage, fleet_at};
use super::report::{Reporter, WorkflowError};
use super::routes::RoutedStage;
use crate::clock::Clock;
use crate::config::load::FLEET_FILE;
use crate::docker::Docker;
use crate::ssh::{Connector, quote};

/// What `fleet rollback` asks for on this machine.
pub struct LocalRollback<'a> {
    pub stage: &'a str,
    pub to: &'a RollbackTo,
    pub options: DeployOptions,
    pub confirm: bool,
    /// The stage's history on this machine ([`Recorder::for_stage`]).
    pub history: Recorder,
}

/// Rolls `fleet`'s stage back to the deploy `request.to` names; the report of the engine's run.
pub fn rollback_stage(
    reporter: &dyn Reporter,
    docker: &dyn Docker,
    clock: &dyn Clock,
    fleet: &LocalFleet,
    request: &LocalRollback,
    progress: &mut dyn Progress,
) -> Result<DeployReport, WorkflowError> {
    fleet.stage(request.stage)?;
    let recorder = request.history.clone();
    let entries = recorder.read(reporter)?;
    let target = rollback_target(&entries, request.to)
        .map_err(WorkflowError::failed)?
        .clone();
    reporter.note(&format!(
        "rolling {}:{} back to {}, deployed {} by {}",
        fleet.project,
        request.stage,
        target.label(),
        target.started,
        target.by
    ));
    let deploy = LocalDeploy {
        stage: request.stage,
        services: &[],
        image_registry: None,
        tag: "latest".into(),
        options: DeployOptions {
            pull: false,
            ..request.options.clone()
        },
        confirm: request.confirm,
        history: Some(recorder),
        rollback_to: Some(target),
    };
    let mut no_builds = |_: &str, _: &str| {};
    deploy_stage(reporter, docker, clock, fleet, &deploy, progress, &mut no_builds)
}

/// The stage's history on this machine: a table (newest first) and its JSON (oldest first),
/// each entry saying whether its images are kept for a rollback.
pub fn history(
    reporter: &dyn Reporter,
    fleet: &LocalFleet,
    stage: &str,
    recorder: &Recorder,
) -> Result<(String, serde_json::Value), WorkflowError> {
    fleet.stage(stage)?;
    let entries = recorder.read(reporter)?;
    let kept = kept_ids(&entries, recorder.keep);
    let json = json!({
        "project": fleet.project,
        "stage": stage,
        "file": recorder.file.path,
        "keep": recorder.keep,
        "deploys": entries.iter().map(|e| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            v["kept"] = json!(kept.contains(&e.id.as_str()));
            v
        }).collect::<Vec<_>>(),
    });
    Ok((render_history(&entries, &kept), json))
}

/// The history each server of a routed stage keeps, read over SSH: a table per server, and
/// `{"stage", "servers": [{"server", "deploys": [...]}]}`. A server that cannot be read says why.
pub fn routed_history(
    connector: &dyn Connector,
    routed: &RoutedStage,
    stage: &str,
) -> Result<(String, serde_json::Value), WorkflowError> {
    let config = fleet_at(&routed.fleet_dir.join(FLEET_FILE))?.config;
    let targets: Vec<_> = routed.plans.iter().map(|(_, t)| t).collect();
    let connections = connect_all(&targets, connector);
    let (mut text, mut servers) = (String::new(), Vec::new());
    for (plan, target) in &routed.plans {
        let file = history_file(plan, &project_on_server(&config, &plan.fleet));
        let read = match connections.get(&target.name) {
            Some(Ok(remote)) => remote
                .exec(&format!("cat {} 2>/dev/null || true", quote(&file)), None)
                .map_err(|e| e.to_string()),
            Some(Err(e)) => Err(e.clone()),
            None => Err("not connected".to_owned()),
        };
        text.push_str(&format!("[{}]\n", plan.server));
        match read {
            Ok(out) => {
                let entries: Vec<HistoryEntry> = out
                    .stdout
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect();
                text.push_str(&render_history(&entries, &kept_ids(&entries, DEFAULT_KEEP)));
                servers.push(json!({ "server": plan.server, "deploys": entries }));
            }
            Err(e) => {
                text.push_str(&format!("unreachable: {e}\n"));
                servers.push(json!({ "server": plan.server, "error": e }));
            }
        }
    }
    Ok((text, json!({ "stage": stage, "servers": servers })))
}
