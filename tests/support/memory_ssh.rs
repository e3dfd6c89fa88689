//! An in-memory SSH double behind `fleetflow::ssh::{Connector, Remote}`: servers known by their
//! registry name, no network, safe to use from the parallel route threads.
//!
//! Per server it can refuse connections ([`Refusal`]); its [`Remote`] records every script in
//! order ([`Call`]: the [`Step`] it is, the script, the stdin length) and answers it by running
//! it through a tiny shell model (memory_sh.rs) against the server's modelled state: lock
//! directories and their owners, the audit log, the unpacked config, the installed binary, the
//! fleet command's output, `docker ps`'s containers. What a script does when a command fails
//! follows from how it is written (`;`, `&&`, `set -e`, `trap`), as in `sh`.
//!
//! A failure is scripted per server and [`Step`] ([`MemorySsh::fail`]): the step's key command
//! exits with a chosen status and stderr: `tar` for [`Step::LockAndShip`], `cat` for
//! [`Step::InstallBinary`], the fleet command for [`Step::Deploy`]/[`Step::FleetCommand`],
//! `printf` for [`Step::AuditUnlock`], `rm` for [`Step::Unlock`], `docker` for [`Step::Status`].
//!
//! Use from a test file with `#[path = "support/memory_ssh.rs"] mod memory_ssh;`.
#![allow(dead_code)]

#[path = "memory_sh.rs"]
pub mod memory_sh;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use fleetflow::ssh::{Connector, Remote, RemoteOutput, SshError, SshTarget};
pub use memory_sh::{Failure, FleetRun, Host, words};

/// Which step of the route workflows a script is, recognised by its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// Take the route's lock, unpack the config archive (stdin), print the binary's version.
    LockAndShip,
    /// Upload the fleet binary (stdin).
    InstallBinary,
    /// The fleet command, then the audit line and the unlock in the same shell (`deploy_route`).
    Deploy,
    /// The fleet command alone (`run_deploy`).
    FleetCommand,
    /// The audit line and the unlock after a failed binary upload.
    AuditUnlock,
    /// The holder's line and `rm -rf` of a lock, if there is one (`unlock`).
    Unlock,
    /// `docker ps` of every fleetflow container (`remote_status::query`).
    Status,
    Unknown,
}

impl Step {
    pub fn of(script: &str) -> Step {
        if script.contains("tar -x -f -") {
            Step::LockAndShip
        } else if script.contains("chmod 755") {
            Step::InstallBinary
        } else if script.contains("CI=true NO_COLOR=1") {
            if script.contains("audit.log") {
                Step::Deploy
            } else {
                Step::FleetCommand
            }
        } else if script.contains("audit.log") {
            Step::AuditUnlock
        } else if script.starts_with("if [ -d ") {
            Step::Unlock
        } else if script.starts_with("docker ps") {
            Step::Status
        } else {
            Step::Unknown
        }
    }

    /// Whether `argv` is this step's key command (the one a scripted failure makes fail).
    fn key(self, argv: &[String]) -> bool {
        let first = argv.first().map_or("", String::as_str);
        match self {
            Step::LockAndShip => first == "tar",
            Step::InstallBinary => first == "cat" && argv.len() == 1,
            Step::Deploy | Step::FleetCommand => {
                memory_sh::is_fleet(first) && argv.get(1).is_none_or(|a| a != "--version")
            }
            Step::AuditUnlock => first == "printf",
            Step::Unlock => first == "rm",
            Step::Status => first == "docker",
            Step::Unknown => false,
        }
    }
}

/// How a server refuses a connection (the error names the target's address).
#[derive(Debug, Clone)]
pub enum Refusal {
    HostKeyMismatch,
    HostKeyUnknown,
    AuthFailed,
    Unreachable(String),
}

impl Refusal {
    fn error(&self, target: &SshTarget) -> SshError {
        let address = target.address();
        match self {
            Refusal::HostKeyMismatch => SshError::HostKeyMismatch { address },
            Refusal::HostKeyUnknown => SshError::HostKeyUnknown { address },
            Refusal::AuthFailed => SshError::AuthFailed { address },
            Refusal::Unreachable(detail) => SshError::Unreachable {
                address,
                detail: detail.clone(),
            },
        }
    }
}

/// One script a server was asked to run.
#[derive(Debug, Clone)]
pub struct Call {
    pub step: Step,
    pub script: String,
    pub stdin_len: Option<usize>,
    pub streaming: bool,
    /// The exit status the double answered.
    pub status: i32,
}

#[derive(Debug, Default)]
struct Server {
    refusal: Option<Refusal>,
    failures: BTreeMap<Step, Failure>,
    host: Host,
    calls: Vec<Call>,
    connects: usize,
}

/// The double: a [`Connector`] over modelled servers; clones share them.
#[derive(Clone, Default)]
pub struct MemorySsh {
    servers: Arc<Mutex<BTreeMap<String, Server>>>,
}

impl MemorySsh {
    /// Knows `names`, each answering every step successfully, no binary installed.
    pub fn with_servers(names: &[&str]) -> MemorySsh {
        let ssh = MemorySsh::default();
        for n in names {
            ssh.all().insert((*n).to_owned(), Server::default());
        }
        ssh
    }

    fn all(&self) -> MutexGuard<'_, BTreeMap<String, Server>> {
        self.servers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with<T>(&self, server: &str, f: impl FnOnce(&mut Server) -> T) -> T {
        let mut all = self.all();
        let s = all
            .get_mut(server)
            .unwrap_or_else(|| panic!("the double knows no server `{server}`"));
        f(s)
    }

    pub fn refuse(&self, server: &str, refusal: Refusal) {
        self.with(server, |s| s.refusal = Some(refusal));
    }
    pub fn set_installed(&self, server: &str, version: Option<&str>) {
        self.with(server, |s| s.host.installed = version.map(str::to_owned));
    }
    /// `step`'s key command on `server` exits with `status`, printing `stderr`.
    pub fn fail(&self, server: &str, step: Step, status: i32, stderr: &str) {
        let failure = Failure {
            status,
            stderr: stderr.to_owned(),
        };
        self.with(server, |s| s.failures.insert(step, failure));
    }
    pub fn set_fleet_output(&self, server: &str, lines: &[&str]) {
        self.with(server, |s| {
            s.host.fleet_output = lines.iter().map(|l| (*l).to_owned()).collect()
        });
    }
    pub fn add_container(&self, server: &str, project: &str, stage: &str, state: &str) {
        self.with(server, |s| {
            s.host.containers.push(format!("{project}\t{stage}\t{state}"))
        });
    }
    pub fn hold_lock(&self, server: &str, dir: &str, owner: &str) {
        self.with(server, |s| s.host.locks.insert(dir.to_owned(), owner.to_owned()));
    }

    pub fn calls(&self, server: &str) -> Vec<Call> {
        self.with(server, |s| s.calls.clone())
    }
    pub fn steps(&self, server: &str) -> Vec<Step> {
        self.calls(server).iter().map(|c| c.step).collect()
    }
    /// Held lock directories → owners.
    pub fn locks(&self, server: &str) -> BTreeMap<String, String> {
        self.with(server, |s| s.host.locks.clone())
    }
    pub fn audit(&self, server: &str) -> Vec<String> {
        self.with(server, |s| s.host.audit.clone())
    }
    /// The files of the last config archive unpacked there (path → text).
    pub fn shipped(&self, server: &str) -> BTreeMap<String, String> {
        self.with(server, |s| s.host.shipped.clone())
    }
    pub fn fleet_runs(&self, server: &str) -> Vec<FleetRun> {
        self.with(server, |s| s.host.fleet_runs.clone())
    }
    pub fn installed(&self, server: &str) -> Option<String> {
        self.with(server, |s| s.host.installed.clone())
    }
    pub fn connects(&self, server: &str) -> usize {
        self.with(server, |s| s.connects)
    }

    fn run(&self, server: &str, script: &str, stdin: Option<&[u8]>, streaming: bool) -> RemoteOutput {
        self.with(server, |s| {
            let step = Step::of(script);
            let out = memory_sh::run(
                &mut s.host,
                script,
                stdin,
                &|argv| step.key(argv),
                s.failures.get(&step),
            );
            s.calls.push(Call {
                step,
                script: script.to_owned(),
                stdin_len: stdin.map(<[u8]>::len),
                streaming,
                status: out.status,
            });
            RemoteOutput {
                status: out.status,
                stdout: out.stdout,
                stderr: out.stderr,
            }
        })
    }
}

impl Connector for MemorySsh {
    fn connect(&self, target: &SshTarget) -> Result<Arc<dyn Remote>, SshError> {
        let mut all = self.all();
        let Some(server) = all.get_mut(&target.name) else {
            return Err(Refusal::Unreachable("unknown host (not in the memory double)".into()).error(target));
        };
        server.connects += 1;
        if let Some(r) = &server.refusal {
            return Err(r.error(target));
        }
        Ok(Arc::new(MemoryRemote {
            name: target.name.clone(),
            ssh: self.clone(),
        }))
    }
}

/// A connection to one modelled server.
pub struct MemoryRemote {
    name: String,
    ssh: MemorySsh,
}

impl Remote for MemoryRemote {
    fn name(&self) -> &str {
        &self.name
    }
    fn exec(&self, script: &str, stdin: Option<&[u8]>) -> Result<RemoteOutput, SshError> {
        Ok(self.ssh.run(&self.name, script, stdin, false))
    }
    fn exec_streaming(&self, script: &str, line: &mut (dyn FnMut(&str) + Send)) -> Result<i32, SshError> {
        // The lines are passed on once the script has run, outside the double's lock.
        let out = self.ssh.run(&self.name, script, None, true);
        for l in out.stdout.lines().chain(out.stderr.lines()) {
            line(l);
        }
        Ok(out.status)
    }
}
