//! A stage with cloud servers (seed 004): `up` creates or powers on its servers, waits for SSH,
//! deploys the containers over SSH, then its DNS; `down` stops the containers, and on request
//! powers the servers off or deletes them; any `fleet` command can run on its servers.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::deploy::remote::{self, LocalBinary, RemotePlan};
use super::infra::{CloudTarget, apply_selected, report_notes};
use super::report::{Reporter, WorkflowError};
use super::routes::{RouteTarget, deploy_routes, run_fleet_on_routes, summarize};
use crate::clock::Clock;
use crate::cloud::session::Session;
use crate::config::cloud::Server;
use crate::plan::snapshot::{Address, CloudKind};
use crate::plan::state::StateResource;
use crate::plan::{Change, render_text};
use crate::ssh::{Connector, SshError, SshTarget};

/// Where a cloud server's fleet lives when `deploy-path` is not set.
pub const DEFAULT_DEPLOY_PATH: &str = "/opt/fleetflow";

/// How `down` leaves the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Down {
    /// Containers stopped, servers left running.
    Stop,
    /// Containers stopped, servers powered off.
    Suspend,
    /// Containers removed, servers (with their disks), DNS records and the rest deleted.
    Destroy,
}

impl Down {
    /// `--suspend`, `--destroy`, or neither (stop).
    pub fn from_flags(suspend: bool, destroy: bool) -> Result<Self, WorkflowError> {
        match (suspend, destroy) {
            (true, true) => Err(WorkflowError::Usage("give --suspend or --destroy, not both".into())),
            (true, false) => Ok(Self::Suspend),
            (false, true) => Ok(Self::Destroy),
            (false, false) => Ok(Self::Stop),
        }
    }
}

fn is_dns(c: &Change) -> bool {
    matches!(
        c.address,
        Address::Cloud {
            kind: CloudKind::DnsRecord,
            ..
        }
    )
}

/// The stage's infrastructure under the lock; `servers_only`: only the servers and their
/// providers (stopping and powering needs no DNS, R2 or Workers credentials).
fn open<'a>(
    clock: Arc<dyn Clock>,
    target: &'a CloudTarget,
    stage: &str,
    operation: &str,
    servers_only: bool,
) -> Result<Session<'a>, WorkflowError> {
    let (store, name, config) = (&target.store, &target.name, &target.config);
    if servers_only {
        Session::open_servers(store, operation, name, config, stage, clock)
    } else {
        Session::open(store, operation, name, config, Some(stage), clock)
    }
    .map_err(|e| WorkflowError::failed_with("", &*e))
}

/// How to reach a created server: its recorded IP (unless `ssh-host` is set), the private key
/// beside the `ssh-key` public key (else FLEET_SSH_KEY).
fn ssh_target(server: &Server, recorded: &StateResource) -> Result<SshTarget, WorkflowError> {
    let mut s = server.clone();
    if s.ssh_host.is_none() {
        s.ssh_host = recorded.attributes.get("ip").cloned();
    }
    if s.ssh_host.is_none() {
        return Err(WorkflowError::failed(format!(
            "server {} has no IP address recorded; run `fleet stage up` again",
            server.name.value
        )));
    }
    s.ssh_key = s
        .ssh_key
        .map(|k| k.strip_suffix(".pub").map(str::to_owned).unwrap_or(k));
    SshTarget::from_server(&s).map_err(WorkflowError::failed)
}

fn remote_plan(target: &CloudTarget, stage: &str, server: &Server, ssh: &SshTarget, argv: &[String]) -> RemotePlan {
    let path = server.deploy_path.as_deref().unwrap_or(DEFAULT_DEPLOY_PATH);
    let args = remote::RemoteDeployOptions::default();
    RemotePlan::new(&target.name, stage, &server.name.value, &ssh.address(), path, &args).with_fleet_args(argv)
}

/// Routes to the servers that are up, with their SSH targets.
pub fn routes(
    target: &CloudTarget,
    stage: &str,
    servers: &[(String, Server, Option<StateResource>)],
    argv: &[String],
) -> Result<Vec<RouteTarget>, WorkflowError> {
    servers
        .iter()
        .filter_map(|(_, server, recorded)| {
            let r = recorded
                .as_ref()
                .filter(|r| r.attributes.get("power").is_some_and(|p| p == "up"))?;
            Some(ssh_target(server, r).map(|ssh| (remote_plan(target, stage, server, &ssh, argv), ssh)))
        })
        .collect()
}

/// Waits until every server accepts SSH (FLEET_SSH_WAIT seconds, default 300); a refused
/// host key or login fails at once.
fn wait_for_ssh(connector: &dyn Connector, clock: &dyn Clock, plans: &[RouteTarget]) -> Result<(), WorkflowError> {
    let limit = std::env::var("FLEET_SSH_WAIT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(300), Duration::from_secs);
    for (_, target) in plans {
        let deadline = clock.now() + limit;
        loop {
            match connector.connect(target) {
                Ok(_) => break,
                Err(
                    e @ (SshError::HostKeyMismatch { .. }
                    | SshError::HostKeyUnknown { .. }
                    | SshError::AuthFailed { .. }
                    | SshError::MissingSetting { .. }),
                ) => return Err(WorkflowError::failed(format!("server {}: {e}", target.name))),
                Err(e) if clock.now() + Duration::from_secs(2) >= deadline => {
                    return Err(WorkflowError::failed(format!(
                        "server {}: {} did not accept SSH within {}s ({e}); check the server in the control panel, or raise FLEET_SSH_WAIT",
                        target.name,
                        target.address(),
                        limit.as_secs()
                    )));
                }
                Err(_) => clock.sleep(Duration::from_secs(2)),
            }
        }
    }
    Ok(())
}

/// What `fleet stage up` is asked to bring up.
pub struct StageUp<'a> {
    pub stage: &'a str,
    /// Pull images even when present.
    pub pull: bool,
    /// The fleet's directory, whose `.fleetflow/` is shipped.
    pub fleet_dir: &'a Path,
}

/// Brings the stage up: its infrastructure (asking first), powered-on servers, SSH, the
/// containers (`fleet up` on each server, `--pull` when asked), then its DNS records.
pub fn up(
    reporter: &dyn Reporter,
    connector: &dyn Connector,
    binary: &LocalBinary,
    clock: Arc<dyn Clock>,
    target: &CloudTarget,
    request: &StageUp,
) -> Result<(), WorkflowError> {
    let StageUp { stage, pull, fleet_dir } = *request;
    let mut session = open(Arc::clone(&clock), target, stage, "stage up", false)?;
    report_notes(reporter, &session, &target.config);
    let plan = session.plan();
    let mut changed = false;
    if !plan.is_empty() {
        reporter.say(&format!("Infrastructure:\n{}", render_text(&plan, false)));
        reporter.confirm(&format!("Apply these changes for stage `{stage}`?"))?;
        apply_selected(reporter, &mut session, &plan, &|c| !is_dns(c))?;
        changed = true;
    }
    for (name, _, recorded) in &session.servers() {
        let Some(r) = recorded else {
            return Err(WorkflowError::failed(format!(
                "server {name} is not recorded after the apply; run again"
            )));
        };
        if r.attributes.get("power").is_none_or(|p| p != "up") {
            session
                .set_power(&r.address, true)
                .map_err(|e| WorkflowError::failed_with(&format!("cannot power on server {name}"), &*e))?;
            reporter.say(&format!("Server {name}: powered on\n"));
            changed = true;
        }
    }
    if !changed {
        reporter.say("Infrastructure: no changes.\n");
    }
    let mut argv = vec!["up".to_owned(), stage.to_owned()];
    if pull {
        argv.push("--pull".into());
    }
    let plans = routes(target, stage, &session.servers(), &argv)?;
    wait_for_ssh(connector, clock.as_ref(), &plans)?;
    deploy_routes(reporter, connector, binary, &plans, fleet_dir, None)?;
    if plan.changes.iter().any(is_dns) {
        return apply_selected(reporter, &mut session, &plan, &is_dns);
    }
    Ok(())
}

/// Takes the stage down as `how` says (asking first before a [`Down::Destroy`]).
pub fn down(
    reporter: &dyn Reporter,
    connector: &dyn Connector,
    clock: Arc<dyn Clock>,
    target: &CloudTarget,
    stage: &str,
    how: Down,
) -> Result<(), WorkflowError> {
    if how == Down::Destroy {
        reporter.confirm(&format!(
            "Delete the servers (with their disks), DNS records and other infrastructure of stage `{stage}`?"
        ))?;
    }
    let mut session = open(clock, target, stage, "stage down", how != Down::Destroy)?;
    report_notes(reporter, &session, &target.config);
    if how == Down::Destroy {
        return destroy(reporter, connector, target, stage, &mut session);
    }
    let servers = session.servers();
    for (name, _, r) in &servers {
        if r.as_ref()
            .is_none_or(|r| r.attributes.get("power").is_none_or(|p| p != "up"))
        {
            reporter.say(&format!("Server {name} is not running: no containers to stop.\n"));
        }
    }
    let plans = routes(target, stage, &servers, &["down".to_owned(), stage.to_owned()])?;
    if !plans.is_empty() {
        let results = run_fleet_on_routes(reporter, connector, &plans);
        summarize(reporter, &results)?;
    }
    if how == Down::Suspend {
        for (name, _, r) in &servers {
            let Some(r) = r else { continue };
            let powered_off = session
                .set_power(&r.address, false)
                .map_err(|e| WorkflowError::failed_with(&format!("cannot power off server {name}"), &*e))?;
            reporter.say(&if powered_off {
                format!("Server {name}: powered off\n")
            } else {
                format!("Server {name}: already off\n")
            });
        }
    }
    Ok(())
}

/// Deletes the stage's infrastructure, its containers first (best effort: the servers are
/// deleted either way).
fn destroy(
    reporter: &dyn Reporter,
    connector: &dyn Connector,
    target: &CloudTarget,
    stage: &str,
    session: &mut Session,
) -> Result<(), WorkflowError> {
    let plan = session.destroy_plan();
    if plan.is_empty() {
        reporter.say(&format!("Stage `{stage}`: nothing to destroy.\n"));
        return Ok(());
    }
    reporter.say(&render_text(&plan, false));
    let records: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| is_dns(c))
        .map(|c| c.id.as_str())
        .collect();
    if !records.is_empty() {
        // A stage's DNS records point at its servers: left behind they would point at
        // addresses that are no longer ours.
        reporter.say(&format!(
            "The DNS records of stage `{stage}` are deleted too (fleet-wide records are kept): {}\n",
            records.join(", ")
        ));
    }
    let argv = ["down".into(), stage.to_owned(), "--remove".into()];
    if let Ok(plans) = routes(target, stage, &session.servers(), &argv)
        && !plans.is_empty()
    {
        let results = run_fleet_on_routes(reporter, connector, &plans);
        for (label, r) in results {
            if let Err(e) = r {
                reporter.note(&format!(
                    "warning: {label}: could not remove the containers before deleting: {e}"
                ));
            }
        }
    }
    apply_selected(reporter, session, &plan, &|_| true)
}

/// `fleet <argv>` on every running server of the stage, each output line with its server.
pub fn run_on_servers(
    reporter: &dyn Reporter,
    connector: &dyn Connector,
    clock: Arc<dyn Clock>,
    target: &CloudTarget,
    stage: &str,
    argv: &[String],
) -> Result<(), WorkflowError> {
    let servers = super::stage_status::live_servers(clock, target, stage)?;
    let plans = routes(target, stage, &servers, argv)?;
    if plans.is_empty() {
        return Err(WorkflowError::failed(format!(
            "no server of stage `{stage}` is running; start it with `fleet stage up {stage}`"
        )));
    }
    let results = run_fleet_on_routes(reporter, connector, &plans);
    if results.iter().all(|(_, r)| r.is_ok()) {
        return Ok(());
    }
    summarize(reporter, &results)
}
