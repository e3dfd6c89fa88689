//! `fleet registry deploy`: ship a fleet to its server and run `fleet deploy` there, under a
//! per-fleet+stage lock, with an audit line. Works over the [`Remote`] trait; every value that
//! enters a remote script goes through [`quote`].

use std::path::Path;

use serde::Serialize;

use crate::ssh::{Remote, SshError, quote};

/// Where a route deploys, shown before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemotePlan {
    pub fleet: String,
    pub stage: String,
    pub server: String,
    pub address: String,
    pub deploy_path: String,
    /// `{deploy-path}/{fleet}`
    pub remote_dir: String,
    /// The command run in `remote_dir` (argv).
    pub command: Vec<String>,
    /// Shown in the audit log.
    pub description: Option<String>,
}

impl RemotePlan {
    pub fn new(fleet: &str, stage: &str, server: &str, address: &str, deploy_path: &str, args: &DeployArgs) -> Self {
        let deploy_path = deploy_path.trim_end_matches('/').to_owned();
        let mut command = vec![
            remote_binary(&deploy_path),
            "deploy".into(),
            stage.into(),
            "--yes".into(),
        ];
        if !args.pull {
            command.push("--no-pull".into());
        }
        if let Some(r) = &args.image_registry {
            command.extend(["--registry".into(), r.clone()]);
        }
        RemotePlan {
            fleet: fleet.into(),
            stage: stage.into(),
            server: server.into(),
            address: address.into(),
            remote_dir: format!("{deploy_path}/{fleet}"),
            deploy_path,
            command,
            description: None,
        }
    }

    fn lock_dir(&self) -> String {
        format!("{}/.fleetflow/locks/{}-{}", self.deploy_path, self.fleet, self.stage)
    }
}

/// What the remote `fleet deploy` gets.
#[derive(Debug, Clone, Default)]
pub struct DeployArgs {
    pub pull: bool,
    pub image_registry: Option<String>,
}

/// Who is deploying what (lock owner and audit line).
#[derive(Debug, Clone)]
pub struct Deployer {
    pub who: String,
    pub commit: Option<String>,
    /// RFC 3339.
    pub when: String,
}

/// This binary, to install on servers.
#[derive(Debug, Clone)]
pub struct LocalBinary<'a> {
    pub version: &'a str,
    pub bytes: &'a [u8],
}

pub fn remote_binary(deploy_path: &str) -> String {
    format!("{}/.fleetflow/bin/fleet", deploy_path.trim_end_matches('/'))
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteDeployError {
    #[error(transparent)]
    Ssh(#[from] SshError),
    #[error(
        "{fleet}:{stage} is being deployed on {server} by {holder}; wait for it, or `fleet registry unlock {fleet} {stage}` if that deploy is dead"
    )]
    Locked {
        fleet: String,
        stage: String,
        server: String,
        holder: String,
    },
    #[error("{step} failed on {server}: {detail}")]
    Step {
        step: &'static str,
        server: String,
        detail: String,
    },
    #[error("`fleet deploy` on {server} exited with status {status}")]
    DeployFailed { server: String, status: i32 },
}

fn step(
    remote: &dyn Remote,
    name: &'static str,
    script: &str,
    stdin: Option<&[u8]>,
) -> Result<String, RemoteDeployError> {
    let out = remote.exec(script, stdin)?;
    if out.success() {
        return Ok(out.stdout);
    }
    let detail = out
        .stderr
        .lines()
        .chain(out.stdout.lines())
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    Err(RemoteDeployError::Step {
        step: name,
        server: remote.name().into(),
        detail: format!("{detail} (exit {})", out.status),
    })
}

/// Takes the fleet+stage lock (atomic `mkdir`), or says who holds it.
pub fn lock(remote: &dyn Remote, plan: &RemotePlan, by: &Deployer) -> Result<(), RemoteDeployError> {
    let owner = format!(
        "{} at {} (commit {})",
        by.who,
        by.when,
        by.commit.as_deref().unwrap_or("unknown")
    );
    let dir = plan.lock_dir();
    let script = format!(
        "mkdir -p {parent} && if mkdir {dir} 2>/dev/null; then printf '%s\\n' {owner} > {dir}/owner; else cat {dir}/owner 2>/dev/null || echo 'an unknown deploy'; exit 3; fi",
        parent = quote(&format!("{}/.fleetflow/locks", plan.deploy_path)),
        dir = quote(&dir),
        owner = quote(&owner),
    );
    let out = remote.exec(&script, None)?;
    match out.status {
        0 => Ok(()),
        3 => Err(RemoteDeployError::Locked {
            fleet: plan.fleet.clone(),
            stage: plan.stage.clone(),
            server: plan.server.clone(),
            holder: out.stdout.trim().to_owned(),
        }),
        _ => Err(RemoteDeployError::Step {
            step: "lock",
            server: plan.server.clone(),
            detail: out.stderr.trim().to_owned(),
        }),
    }
}

pub fn unlock(remote: &dyn Remote, plan: &RemotePlan) -> Result<(), RemoteDeployError> {
    step(remote, "unlock", &format!("rm -rf {}", quote(&plan.lock_dir())), None).map(drop)
}

/// Unpacks a tar of `.fleetflow/` into a temporary directory, then swaps it in by rename.
pub fn ship_config(remote: &dyn Remote, plan: &RemotePlan, tar: &[u8]) -> Result<(), RemoteDeployError> {
    let d = quote(&plan.remote_dir);
    let script = format!(
        "set -e; mkdir -p {d}; t=$(mktemp -d {d}/.fleetflow.tmp.XXXXXX); tar -x -f - -C \"$t\"; \
         rm -rf {d}/.fleetflow.old; if [ -d {d}/.fleetflow ]; then mv {d}/.fleetflow {d}/.fleetflow.old; fi; \
         mv \"$t/.fleetflow\" {d}/.fleetflow; rm -rf \"$t\" {d}/.fleetflow.old"
    );
    step(remote, "upload of .fleetflow/", &script, Some(tar)).map(drop)
}

/// Installs this binary under `{deploy-path}/.fleetflow/bin/` when it is missing or older.
/// Returns whether it was uploaded.
pub fn ensure_binary(remote: &dyn Remote, plan: &RemotePlan, local: &LocalBinary) -> Result<bool, RemoteDeployError> {
    let bin = remote_binary(&plan.deploy_path);
    let out = remote.exec(&format!("{} --version 2>/dev/null || true", quote(&bin)), None)?;
    let remote_version = out.stdout.split_whitespace().nth(1).unwrap_or("");
    if !remote_version.is_empty() && !is_older(remote_version, local.version) {
        return Ok(false);
    }
    let dir = quote(&format!("{}/.fleetflow/bin", plan.deploy_path));
    let script = format!(
        "set -e; mkdir -p {dir}; t=$(mktemp {dir}/.fleet.XXXXXX); cat > \"$t\"; chmod 755 \"$t\"; mv \"$t\" {}",
        quote(&bin)
    );
    step(remote, "upload of the fleet binary", &script, Some(local.bytes))?;
    Ok(true)
}

/// `a` < `b` comparing dotted numbers (pre-release suffixes ignored).
pub fn is_older(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> {
        v.split(['.', '-', '+'])
            .take(3)
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parse(a) < parse(b)
}

/// Runs the plan's command in the remote dir, streaming its lines; Ok when it exits 0.
pub fn run_deploy(
    remote: &dyn Remote,
    plan: &RemotePlan,
    line: &mut (dyn FnMut(&str) + Send),
) -> Result<(), RemoteDeployError> {
    let argv: Vec<String> = plan.command.iter().map(|a| quote(a)).collect();
    let script = format!(
        "cd {} && CI=true NO_COLOR=1 {}",
        quote(&plan.remote_dir),
        argv.join(" ")
    );
    match remote.exec_streaming(&script, line)? {
        0 => Ok(()),
        status => Err(RemoteDeployError::DeployFailed {
            server: plan.server.clone(),
            status,
        }),
    }
}

/// Appends one line to `{deploy-path}/.fleetflow/audit.log`.
pub fn audit(remote: &dyn Remote, plan: &RemotePlan, by: &Deployer, result: &str) -> Result<(), RemoteDeployError> {
    let entry = format!(
        "{}\t{}\t{}:{}\tcommit={}\t{}\t{}",
        by.when,
        by.who,
        plan.fleet,
        plan.stage,
        by.commit.as_deref().unwrap_or("unknown"),
        result,
        plan.description.as_deref().unwrap_or("").replace(['\n', '\t'], " "),
    );
    let log = quote(&format!("{}/.fleetflow/audit.log", plan.deploy_path));
    step(
        remote,
        "audit log",
        &format!("printf '%s\\n' {} >> {log}", quote(&entry)),
        None,
    )
    .map(drop)
}

/// The whole route: lock → ship → binary → deploy → audit, unlocking whatever happens.
pub fn deploy_route(
    remote: &dyn Remote,
    plan: &RemotePlan,
    by: &Deployer,
    tar: &[u8],
    binary: &LocalBinary,
    line: &mut (dyn FnMut(&str) + Send),
) -> Result<(), RemoteDeployError> {
    lock(remote, plan, by)?;
    let result = ship_config(remote, plan, tar)
        .and_then(|()| ensure_binary(remote, plan, binary))
        .and_then(|uploaded| {
            if uploaded {
                line(&format!(
                    "installed fleet {} in {}",
                    binary.version,
                    remote_binary(&plan.deploy_path)
                ));
            }
            run_deploy(remote, plan, line)
        });
    let outcome = match &result {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("failed: {e}"),
    };
    let audited = audit(remote, plan, by, &outcome);
    let unlocked = unlock(remote, plan);
    result.and(audited).and(unlocked)
}

/// A tar of `{fleet_dir}/.fleetflow` (paths start with `.fleetflow/`).
pub fn pack_config(fleet_dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".fleetflow", fleet_dir.join(".fleetflow"))?;
    builder.into_inner()
}
