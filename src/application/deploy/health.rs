//! Waiting for a started container to be healthy (or, without a healthcheck, to stay up).

use std::time::Duration;

use crate::clock::Clock;
use crate::docker::{Docker, DockerError};

/// Poll interval while waiting.
const POLL: Duration = Duration::from_millis(200);
/// Without a healthcheck, a container that is still running after this is taken as up.
const SETTLE: Duration = Duration::from_millis(600);

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("its healthcheck reports unhealthy")]
    Unhealthy,
    #[error("it exited with code {0}")]
    Exited(i64),
    #[error("it was not healthy after {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Docker(#[from] DockerError),
}

pub fn wait_healthy(docker: &dyn Docker, clock: &dyn Clock, id: &str, timeout: Duration) -> Result<(), HealthError> {
    let start = clock.now();
    loop {
        let c = docker.inspect_container(id)?;
        if !c.running && c.status != "created" && c.status != "restarting" {
            return Err(HealthError::Exited(c.exit_code));
        }
        let elapsed = clock.now().duration_since(start);
        match c.health.as_deref() {
            Some("healthy") => return Ok(()),
            Some("unhealthy") => return Err(HealthError::Unhealthy),
            None if c.running && elapsed >= SETTLE => return Ok(()),
            _ => {}
        }
        if elapsed >= timeout {
            return Err(HealthError::Timeout(timeout));
        }
        clock.sleep(POLL);
    }
}
