//! `fleet stage up|down|status|ps|logs` for a stage with cloud servers (seed 004): the servers
//! are created or powered on, SSH is awaited, the containers are deployed over SSH, then DNS;
//! `down` stops the containers, `--suspend` powers the servers off, `--destroy` deletes them.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::apply_cmd::{CloudTarget, apply_and_report, confirm, print_notes};
use super::registry_remote_cmd::{deploy_routes, run_fleet_on_routes, summarize};
use super::stage_cmd::{StageCommand, StageDownArgs, StageUpArgs};
use super::{Console, exit};
use crate::clock::SystemClock;
use crate::cloud::session::Session;
use crate::config::cloud::Server;
use crate::deploy::remote::{self, RemotePlan};
use crate::deploy::remote_run;
use crate::plan::snapshot::{Address, CloudKind};
use crate::plan::state::StateResource;
use crate::plan::{Change, render_text};
use crate::ssh::{OpensshRemote, SshError, SshTarget};

/// Where a cloud server's fleet lives when `deploy-path` is not set.
pub const DEFAULT_DEPLOY_PATH: &str = "/opt/fleetflow";

pub fn run(console: &Console, target: CloudTarget, fleet_dir: &Path, command: &StageCommand) -> u8 {
    match command {
        StageCommand::Up(a) => up(console, &target, fleet_dir, a),
        StageCommand::Down(a) => down(console, &target, a),
        StageCommand::Status(a) => super::cloud_status::status(console, &target, a),
        StageCommand::Ps(a) => remote_command(console, &target, &a.stage, &["ps".into(), a.stage.clone()]),
        StageCommand::Logs(a) => remote_command(console, &target, &a.stage, &a.fleet_args()),
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
    console: &Console,
    target: &'a CloudTarget,
    stage: &str,
    operation: &str,
    servers_only: bool,
) -> Result<Session<'a>, u8> {
    let (store, name, config, clock) = (&target.store, &target.name, &target.config, Arc::new(SystemClock));
    if servers_only {
        Session::open_servers(store, operation, name, config, stage, clock)
    } else {
        Session::open(store, operation, name, config, Some(stage), clock)
    }
    .map_err(|e| {
        console.error(&format!("{e:#}"));
        exit::FAILURE
    })
}

/// How to reach a created server: its recorded IP (unless `ssh-host` is set), the private key
/// beside the `ssh-key` public key (else FLEET_SSH_KEY).
pub fn ssh_target(server: &Server, recorded: &StateResource) -> Result<SshTarget, String> {
    let mut s = server.clone();
    if s.ssh_host.is_none() {
        s.ssh_host = recorded.attributes.get("ip").cloned();
    }
    if s.ssh_host.is_none() {
        return Err(format!(
            "server {} has no IP address recorded; run `fleet stage up` again",
            server.name.value
        ));
    }
    s.ssh_key = s
        .ssh_key
        .map(|k| k.strip_suffix(".pub").map(str::to_owned).unwrap_or(k));
    SshTarget::from_server(&s).map_err(|e| e.to_string())
}

fn remote_plan(target: &CloudTarget, stage: &str, server: &Server, ssh: &SshTarget, argv: &[String]) -> RemotePlan {
    let path = server.deploy_path.as_deref().unwrap_or(DEFAULT_DEPLOY_PATH);
    let args = remote::DeployArgs::default();
    RemotePlan::new(&target.name, stage, &server.name.value, &ssh.address(), path, &args).with_fleet_args(argv)
}

/// Routes to the servers that are up, with their SSH targets.
pub(super) fn routes(
    target: &CloudTarget,
    stage: &str,
    servers: &[(String, Server, Option<StateResource>)],
    argv: &[String],
) -> Result<Vec<(RemotePlan, SshTarget)>, String> {
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
fn wait_for_ssh(plans: &[(RemotePlan, SshTarget)]) -> Result<(), String> {
    if plans.is_empty() {
        return Ok(());
    }
    let rt = remote_run::ssh_runtime()?;
    let limit = std::env::var("FLEET_SSH_WAIT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(300), Duration::from_secs);
    for (_, target) in plans {
        let deadline = Instant::now() + limit;
        loop {
            match OpensshRemote::connect(target, Arc::clone(&rt)) {
                Ok(_) => break,
                Err(
                    e @ (SshError::HostKeyMismatch { .. }
                    | SshError::HostKeyUnknown { .. }
                    | SshError::AuthFailed { .. }
                    | SshError::MissingSetting { .. }),
                ) => return Err(format!("server {}: {e}", target.name)),
                Err(e) if Instant::now() + Duration::from_secs(2) >= deadline => {
                    return Err(format!(
                        "server {}: {} did not accept SSH within {}s ({e}); check the server in the control panel, or raise FLEET_SSH_WAIT",
                        target.name,
                        target.address(),
                        limit.as_secs()
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_secs(2)),
            }
        }
    }
    Ok(())
}

fn up(console: &Console, target: &CloudTarget, fleet_dir: &Path, args: &StageUpArgs) -> u8 {
    let stage = &args.stage;
    let mut session = match open(console, target, stage, "stage up", false) {
        Ok(s) => s,
        Err(code) => return code,
    };
    print_notes(&session, &target.config);
    let plan = session.plan();
    let mut changed = false;
    if !plan.is_empty() {
        console.print(&format!("Infrastructure:\n{}", render_text(&plan, false)));
        if let Err(code) = confirm(console, args.yes, &format!("Apply these changes for stage `{stage}`?")) {
            return code;
        }
        let code = apply_and_report(console, &mut session, &plan, &|c| !is_dns(c));
        if code != exit::OK {
            return code;
        }
        changed = true;
    }
    let servers = session.servers();
    for (name, _, recorded) in &servers {
        let Some(r) = recorded else {
            console.error(&format!("server {name} is not recorded after the apply; run again"));
            return exit::FAILURE;
        };
        if r.attributes.get("power").is_none_or(|p| p != "up") {
            match session.set_power(&r.address, true) {
                Ok(_) => console.print(&format!("Server {name}: powered on\n")),
                Err(e) => {
                    console.error(&format!("cannot power on server {name}: {e:#}"));
                    return exit::FAILURE;
                }
            }
            changed = true;
        }
    }
    if !changed {
        console.print("Infrastructure: no changes.\n");
    }
    let mut argv = vec!["up".to_owned(), stage.clone()];
    if args.pull {
        argv.push("--pull".into());
    }
    let plans = match routes(target, stage, &session.servers(), &argv) {
        Ok(p) => p,
        Err(m) => {
            console.error(&m);
            return exit::FAILURE;
        }
    };
    if let Err(m) = wait_for_ssh(&plans) {
        console.error(&m);
        return exit::FAILURE;
    }
    let code = deploy_routes(console, &plans, fleet_dir, None);
    if code != exit::OK {
        return code;
    }
    if plan.changes.iter().any(is_dns) {
        return apply_and_report(console, &mut session, &plan, &is_dns);
    }
    exit::OK
}

fn down(console: &Console, target: &CloudTarget, args: &StageDownArgs) -> u8 {
    let stage = &args.stage;
    if args.suspend && args.destroy {
        console.error("give --suspend or --destroy, not both");
        return exit::USAGE;
    }
    if args.destroy
        && let Err(code) = confirm(
            console,
            args.yes,
            &format!("Delete the servers (with their disks), DNS records and other infrastructure of stage `{stage}`?"),
        )
    {
        return code;
    }
    let mut session = match open(console, target, stage, "stage down", !args.destroy) {
        Ok(s) => s,
        Err(code) => return code,
    };
    print_notes(&session, &target.config);
    if args.destroy {
        let plan = session.destroy_plan();
        if plan.is_empty() {
            console.print(&format!("Stage `{stage}`: nothing to destroy.\n"));
            return exit::OK;
        }
        console.print(&render_text(&plan, false));
        let records: Vec<&str> = plan
            .changes
            .iter()
            .filter(|c| is_dns(c))
            .map(|c| c.id.as_str())
            .collect();
        if !records.is_empty() {
            // A stage's DNS records point at its servers: left behind they would point at
            // addresses that are no longer ours.
            console.print(&format!(
                "The DNS records of stage `{stage}` are deleted too (fleet-wide records are kept): {}\n",
                records.join(", ")
            ));
        }
        // The containers go first (best effort: the servers are deleted either way).
        if let Ok(plans) = routes(
            target,
            stage,
            &session.servers(),
            &["down".into(), stage.clone(), "--remove".into()],
        ) && !plans.is_empty()
            && let Ok(results) = run_fleet_on_routes(console, &plans)
        {
            for (label, r) in results {
                if let Err(e) = r {
                    eprintln!("warning: {label}: could not remove the containers before deleting: {e}");
                }
            }
        }
        return apply_and_report(console, &mut session, &plan, &|_| true);
    }
    let servers = session.servers();
    for (name, _, r) in &servers {
        if r.as_ref()
            .is_none_or(|r| r.attributes.get("power").is_none_or(|p| p != "up"))
        {
            console.print(&format!("Server {name} is not running: no containers to stop.\n"));
        }
    }
    let plans = match routes(target, stage, &servers, &["down".to_owned(), stage.clone()]) {
        Ok(p) => p,
        Err(m) => {
            console.error(&m);
            return exit::FAILURE;
        }
    };
    if !plans.is_empty() {
        let results = match run_fleet_on_routes(console, &plans) {
            Ok(r) => r,
            Err(code) => return code,
        };
        let code = summarize(console, &results);
        if code != exit::OK {
            return code;
        }
    }
    if args.suspend {
        for (name, _, r) in &servers {
            let Some(r) = r else { continue };
            match session.set_power(&r.address, false) {
                Ok(true) => console.print(&format!("Server {name}: powered off\n")),
                Ok(false) => console.print(&format!("Server {name}: already off\n")),
                Err(e) => {
                    console.error(&format!("cannot power off server {name}: {e:#}"));
                    return exit::FAILURE;
                }
            }
        }
    }
    exit::OK
}

/// `fleet <argv>` on every running server of the stage, output prefixed with `[server]`.
fn remote_command(console: &Console, target: &CloudTarget, stage: &str, argv: &[String]) -> u8 {
    let servers = match super::cloud_status::live_servers(console, target, stage) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let plans = match routes(target, stage, &servers, argv) {
        Ok(p) if !p.is_empty() => p,
        Ok(_) => {
            console.error(&format!(
                "no server of stage `{stage}` is running; start it with `fleet stage up {stage}`"
            ));
            return exit::FAILURE;
        }
        Err(m) => {
            console.error(&m);
            return exit::FAILURE;
        }
    };
    match run_fleet_on_routes(console, &plans) {
        Ok(results) if results.iter().all(|(_, r)| r.is_ok()) => exit::OK,
        Ok(results) => summarize(console, &results),
        Err(code) => code,
    }
}
