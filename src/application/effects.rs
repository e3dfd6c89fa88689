//! The effects a workflow runs with, built once by each front door and passed in.

use crate::application::report::WorkflowError;

/// The real effects a command runs with, built once by its front door and passed to the
/// workflows: the Docker engine, SSH, the clock, and this `fleet` binary for the servers.
pub struct Effects {
    pub docker: crate::docker::DockerCli,
    pub ssh: std::sync::Arc<crate::ssh::OpensshConnector>,
    pub clock: std::sync::Arc<dyn crate::clock::Clock>,
    exe: Result<std::path::PathBuf, String>,
}

impl Effects {
    /// The real ones, servers reached with `ssh`.
    pub fn new(ssh: std::sync::Arc<crate::ssh::OpensshConnector>) -> Self {
        Self {
            docker: crate::docker::DockerCli::default(),
            ssh,
            clock: std::sync::Arc::new(crate::clock::SystemClock),
            exe: std::env::current_exe().map_err(|e| e.to_string()),
        }
    }

    /// This `fleet` binary, to install on servers (the path a deploy uploads).
    pub fn fleet_binary(&self) -> Result<std::path::PathBuf, WorkflowError> {
        self.exe
            .clone()
            .map_err(|e| WorkflowError::failed(format!("cannot find this fleet binary to install it on servers: {e}")))
    }
}
