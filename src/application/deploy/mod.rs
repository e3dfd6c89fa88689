//! Containers on an engine: deploy a stage (health-gated, with rollback) and the local
//! lifecycle (down, ps, logs, restart).

pub mod desired;
pub mod engine;
pub mod health;
pub mod history;
pub mod lifecycle;
pub mod progress;
pub mod release;
pub mod remote;
pub mod remote_run;
pub mod remote_status;
pub mod source_archive;

pub use desired::{DesiredService, Target, desired_services, project_name};
pub use engine::{DeployError, DeployOptions, DeployReport, ServiceAction, deploy};
