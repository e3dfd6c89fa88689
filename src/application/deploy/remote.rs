//! `fleet registry deploy`: ship a fleet to its server and run `fleet deploy` there, under a
//! per-fleet+stage lock, with an audit line. Works over the [`Remote`] trait; every value that
//! enters a remote script goes through [`quote`].

use std::path::Path;

use serde::Serialize;

use super::history::{HistoryEntry, HistoryFile};
use crate::config::FleetConfig;
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
    pub fn new(
        fleet: &str,
        stage: &str,
        server: &str,
        address: &str,
        deploy_path: &str,
        args: &RemoteDeployOptions,
    ) -> Self {
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
            command.extend(["--image-registry".into(), r.clone()]);
        }
        if let Some(t) = &args.image_tag {
            command.extend(["--tag".into(), t.clone()]);
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

    /// The same route running another `fleet` command (`up`, `ps`, `logs` …) remotely.
    pub fn with_fleet_args(mut self, args: &[String]) -> Self {
        self.command.truncate(1);
        self.command.extend(args.iter().cloned());
        self
    }

    fn lock_dir(&self) -> String {
        format!("{}/.fleetflow/locks/{}-{}", self.deploy_path, self.fleet, self.stage)
    }
}

/// What the remote `fleet deploy` gets.
#[derive(Debug, Clone, Default)]
pub struct RemoteDeployOptions {
    pub pull: bool,
    pub image_registry: Option<String>,
    /// The tag of built images to run (the remote default is `latest`).
    pub image_tag: Option<String>,
}

/// Who is deploying what (lock owner and audit line).
#[derive(Debug, Clone)]
pub struct Deployer {
    pub who: String,
    pub commit: Option<String>,
    /// RFC 3339.
    pub when: String,
    /// The App's fencing token for this fleet+stage (its deploy lock's): a server lock left by
    /// an App deploy with a lower token belongs to a holder whose lease ran out, and is taken
    /// over. `None` (the CLI, the Action): a held lock is never taken.
    pub lock_token: Option<i64>,
}

impl Deployer {
    /// The lock's owner line on the server (and the audit's).
    fn owner(&self) -> String {
        let mut owner = format!(
            "{} at {} (commit {})",
            self.who,
            self.when,
            self.commit.as_deref().unwrap_or("unknown")
        );
        if let Some(token) = self.lock_token {
            owner.push_str(&format!(" [fleetflow lock token {token}]"));
        }
        owner
    }
}

/// This binary, to install on servers.
#[derive(Debug, Clone)]
pub struct LocalBinary<'a> {
    /// Read only when an upload is needed.
    pub version: &'a str,
    pub path: &'a Path,
}

impl<'a> LocalBinary<'a> {
    /// The binary at `path`, of this build's version (this process's executable).
    pub fn this_build(path: &'a Path) -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION"),
            path,
        }
    }
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
    step_output(remote, name, out)
}

/// A step's stdout when it succeeded, else why it failed (its last line of output).
fn step_output(
    remote: &dyn Remote,
    name: &'static str,
    out: crate::ssh::RemoteOutput,
) -> Result<String, RemoteDeployError> {
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

/// Exit status of a script that found the lock taken (its stdout names the holder).
const LOCKED: i32 = 3;

/// Script: take the fleet+stage lock (atomic `mkdir`) or print its holder and exit [`LOCKED`].
/// With a fencing token, a lock whose owner line carries a lower one (an App deploy whose
/// lease ran out: the App's own lock guarantees it is not running any more) is taken over.
fn lock_script(plan: &RemotePlan, by: &Deployer) -> String {
    let dir = quote(&plan.lock_dir());
    let owner = quote(&by.owner());
    let take_over = match by.lock_token {
        Some(token) => format!(
            "elif t=$(sed -n 's/.*\\[fleetflow lock token \\([0-9]*\\)\\]$/\\1/p' {dir}/owner 2>/dev/null) \
             && [ -n \"$t\" ] && [ \"$t\" -lt {token} ]; then printf '%s\\n' {owner} > {dir}/owner; "
        ),
        None => String::new(),
    };
    format!(
        "mkdir -p {parent} && if mkdir {dir} 2>/dev/null; then printf '%s\\n' {owner} > {dir}/owner; \
         {take_over}else cat {dir}/owner 2>/dev/null || echo 'an unknown deploy'; exit {LOCKED}; fi",
        parent = quote(&format!("{}/.fleetflow/locks", plan.deploy_path)),
    )
}

/// Script: release the lock if `by` still owns it (a holder that was taken over leaves the
/// new holder's lock alone).
fn release_script(plan: &RemotePlan, by: &Deployer) -> String {
    let dir = quote(&plan.lock_dir());
    format!(
        "if grep -qxF {owner} {dir}/owner 2>/dev/null; then rm -rf {dir}; fi",
        owner = quote(&by.owner())
    )
}

/// Script: print the holder and remove the lock, or exit [`NOT_LOCKED`] when there is none.
fn unlock_script(plan: &RemotePlan) -> String {
    let dir = quote(&plan.lock_dir());
    format!("if [ -d {dir} ]; then cat {dir}/owner 2>/dev/null; rm -rf {dir}; else exit {NOT_LOCKED}; fi")
}

/// Exit status of the unlock script when the route had no lock.
const NOT_LOCKED: i32 = 4;

/// What `unlock` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlocked {
    /// A lock was removed; its holder's line, when it had one.
    Removed { holder: Option<String> },
    /// There was no lock.
    NotLocked,
}

/// Script: unpack a tar of `.fleetflow/` from stdin into a temporary directory, then swap it in.
fn ship_script(plan: &RemotePlan) -> String {
    let d = quote(&plan.remote_dir);
    format!(
        "mkdir -p {d} && t=$(mktemp -d {d}/.fleetflow.tmp.XXXXXX) && tar -x -f - -C \"$t\" && \
         rm -rf {d}/.fleetflow.old && {{ if [ -d {d}/.fleetflow ]; then mv {d}/.fleetflow {d}/.fleetflow.old; fi; }} && \
         mv \"$t/.fleetflow\" {d}/.fleetflow && rm -rf \"$t\" {d}/.fleetflow.old"
    )
}

/// Script: print the installed binary's `--version` line (nothing when missing).
fn version_script(plan: &RemotePlan) -> String {
    format!(
        "{} --version 2>/dev/null || true",
        quote(&remote_binary(&plan.deploy_path))
    )
}

fn locked_error(plan: &RemotePlan, stdout: &str) -> RemoteDeployError {
    RemoteDeployError::Locked {
        fleet: plan.fleet.clone(),
        stage: plan.stage.clone(),
        server: plan.server.clone(),
        holder: stdout.trim().to_owned(),
    }
}

pub fn unlock(remote: &dyn Remote, plan: &RemotePlan) -> Result<Unlocked, RemoteDeployError> {
    let script = unlock_script(plan);
    let out = remote.exec(&script, None)?;
    if out.status == NOT_LOCKED {
        return Ok(Unlocked::NotLocked);
    }
    let stdout = step_output(remote, "unlock", out)?;
    let holder = stdout.trim();
    Ok(Unlocked::Removed {
        holder: (!holder.is_empty()).then(|| holder.to_owned()),
    })
}

/// One round trip: lock, ship the config (the tar on stdin), report the installed binary's
/// version. The lock is released again if shipping fails.
fn lock_and_ship(
    remote: &dyn Remote,
    plan: &RemotePlan,
    by: &Deployer,
    tar: &[u8],
) -> Result<String, RemoteDeployError> {
    let script = format!(
        // `set -e` does not stop at a failure inside the `&&` chain of {ship}: a failed step
        // exits here, with its status, through the trap that unlocks.
        "{lock} || exit $?; trap {unlock} EXIT; set -e; {ship} || exit $?; trap - EXIT; {version}",
        lock = lock_script(plan, by),
        unlock = quote(&release_script(plan, by)),
        ship = ship_script(plan),
        version = version_script(plan),
    );
    let out = remote.exec(&script, Some(tar))?;
    match out.status {
        0 => Ok(out.stdout.split_whitespace().nth(1).unwrap_or("").to_owned()),
        LOCKED => Err(locked_error(plan, &out.stdout)),
        status => Err(RemoteDeployError::Step {
            step: "upload of .fleetflow/",
            server: plan.server.clone(),
            detail: format!("{} (exit {status})", out.stderr.trim()),
        }),
    }
}

/// Installs this binary under `{deploy-path}/.fleetflow/bin/` unless `installed` is as new.
/// Returns whether it was uploaded.
fn install_binary(
    remote: &dyn Remote,
    plan: &RemotePlan,
    installed: &str,
    local: &LocalBinary,
) -> Result<bool, RemoteDeployError> {
    if !installed.is_empty() && !is_older(installed, local.version) {
        return Ok(false);
    }
    let bin = remote_binary(&plan.deploy_path);
    let dir = quote(&format!("{}/.fleetflow/bin", plan.deploy_path));
    let script = format!(
        "set -e; mkdir -p {dir}; t=$(mktemp {dir}/.fleet.XXXXXX); cat > \"$t\"; chmod 755 \"$t\"; mv \"$t\" {}",
        quote(&bin)
    );
    let bytes = std::fs::read(local.path).map_err(|e| RemoteDeployError::Step {
        step: "reading this fleet binary",
        server: plan.server.clone(),
        detail: format!("{}: {e}", local.path.display()),
    })?;
    step(remote, "upload of the fleet binary", &script, Some(&bytes))?;
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

/// The plan's command in the remote dir (argv quoted), with the deploy history kept under
/// `{deploy-path}/.fleetflow/history/` and, for a deploy, who deploys which commit.
fn deploy_command(plan: &RemotePlan, by: Option<&Deployer>) -> String {
    let argv: Vec<String> = plan.command.iter().map(|a| quote(a)).collect();
    let mut env = format!("FLEET_HISTORY_DIR={}", quote(&history_dir(plan)));
    if let Some(by) = by {
        env.push_str(&format!(" FLEET_DEPLOY_BY={}", quote(&by.who)));
        if let Some(commit) = &by.commit {
            env.push_str(&format!(" FLEET_DEPLOY_COMMIT={}", quote(commit)));
        }
    }
    format!(
        "cd {} && CI=true NO_COLOR=1 {env} {}",
        quote(&plan.remote_dir),
        argv.join(" ")
    )
}

/// Runs the plan's command in the remote dir, streaming its lines; Ok when it exits 0.
pub fn run_deploy(
    remote: &dyn Remote,
    plan: &RemotePlan,
    line: &mut (dyn FnMut(&str) + Send),
) -> Result<(), RemoteDeployError> {
    match remote.exec_streaming(&deploy_command(plan, None), line)? {
        0 => Ok(()),
        status => Err(RemoteDeployError::DeployFailed {
            server: plan.server.clone(),
            status,
        }),
    }
}

/// Script: append one line to `{deploy-path}/.fleetflow/audit.log`. `result_word` is a shell
/// word: a [`quote`]d text, or `"$r"` for a result computed by the script.
fn audit_script(plan: &RemotePlan, by: &Deployer, result_word: &str) -> String {
    let clean = |s: &str| s.replace(['\n', '\t'], " ");
    let before = format!(
        "{}\t{}\t{}:{}\tcommit={}\t",
        by.when,
        clean(&by.who),
        plan.fleet,
        plan.stage,
        by.commit.as_deref().unwrap_or("unknown")
    );
    let after = format!("\t{}", clean(plan.description.as_deref().unwrap_or("")));
    let log = quote(&format!("{}/.fleetflow/audit.log", plan.deploy_path));
    format!(
        "printf '%s%s%s\\n' {} {result_word} {} >> {log}",
        quote(&before),
        quote(&after)
    )
}

/// The whole route: lock + ship → (binary) → deploy + audit + unlock, two round trips over
/// the server's one connection when the binary is current. Whatever fails, the lock is released
/// and the audit log says how it ended.
pub fn deploy_route(
    remote: &dyn Remote,
    plan: &RemotePlan,
    by: &Deployer,
    tar: &[u8],
    binary: &LocalBinary,
    line: &mut (dyn FnMut(&str) + Send),
) -> Result<(), RemoteDeployError> {
    let installed = lock_and_ship(remote, plan, by, tar)?;
    let uploaded = match install_binary(remote, plan, &installed, binary) {
        Ok(uploaded) => uploaded,
        Err(e) => {
            let result = quote(&format!("failed: {e}").replace(['\n', '\t'], " "));
            let finish = format!("{}; {}", audit_script(plan, by, &result), release_script(plan, by));
            let _ = step(remote, "audit log and unlock", &finish, None);
            return Err(e);
        }
    };
    if uploaded {
        line(&format!(
            "installed fleet {} in {}",
            binary.version,
            remote_binary(&plan.deploy_path)
        ));
    }
    // The deploy, then the audit line and the unlock in the same shell, whatever the deploy did.
    let script = format!(
        "{deploy}; s=$?; if [ $s -eq 0 ]; then r=ok; else r=\"failed: exit $s\"; fi; {audit}; {unlock}; exit $s",
        deploy = deploy_command(plan, Some(by)),
        audit = audit_script(plan, by, "\"$r\""),
        unlock = release_script(plan, by),
    );
    match remote.exec_streaming(&script, line)? {
        0 => Ok(()),
        status => Err(RemoteDeployError::DeployFailed {
            server: plan.server.clone(),
            status,
        }),
    }
}

/// The project a fleet is on its servers: `project` in fleet.kdl, else the name of its
/// directory there, `{deploy-path}/{fleet}`.
pub fn project_on_server(config: &FleetConfig, fleet: &str) -> String {
    config
        .project
        .as_ref()
        .map_or_else(|| fleet.to_owned(), |p| p.value.clone())
}

/// Where the plan's server keeps deploy histories (the remote command's FLEET_HISTORY_DIR).
fn history_dir(plan: &RemotePlan) -> String {
    format!("{}/.fleetflow/history", plan.deploy_path)
}

/// The deploy history of `project`'s stage on the plan's server.
pub fn history_file(plan: &RemotePlan, project: &str) -> String {
    let dir = history_dir(plan);
    HistoryFile::in_dir(Path::new(&dir), project, &plan.stage)
        .path
        .display()
        .to_string()
}

/// The last entry of the deploy history `project`'s stage keeps on the plan's server (what the
/// deploy just run recorded); none when it cannot be read (an older server binary records none).
pub fn last_recorded(remote: &dyn Remote, plan: &RemotePlan, project: &str) -> Option<HistoryEntry> {
    let file = history_file(plan, project);
    let out = remote
        .exec(&format!("tail -n 1 {} 2>/dev/null", quote(&file)), None)
        .ok()?;
    serde_json::from_str(out.stdout.trim()).ok()
}

/// A tar of `{fleet_dir}/.fleetflow` (paths start with `.fleetflow/`).
pub fn pack_config(fleet_dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".fleetflow", fleet_dir.join(".fleetflow"))?;
    builder.into_inner()
}

#[cfg(test)]
mod tests;
