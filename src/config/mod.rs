//! Configuration: `fleet-registry.kdl` and each fleet's `.fleetflow/fleet.kdl`.
//!
//! Stage 1 ([`syntax`]) turns KDL text into raw nodes with spans; stage 2 ([`registry`],
//! [`fleet`], [`service`], [`cloud`], [`cloudflare`]) lowers them into a typed model and
//! reports every problem as a positioned [`ConfigDiagnostic`]; [`load`] ties files together.

pub mod cloud;
pub mod cloudflare;
pub mod diagnostic;
pub mod discovery;
pub mod fleet;
pub mod fleetflow_dialect;
pub mod format;
pub mod include;
pub mod kdl_v1;
pub mod kdl_v2;
pub mod load;
pub mod lower;
pub mod order;
pub mod registry;
pub mod service;
pub mod source;
pub mod syntax;

pub use diagnostic::{ConfigDiagnostic, ConfigError, Diagnostics, Severity};
pub use fleet::{FleetConfig, Stage};
pub use load::{
    ConfigFiles, DirFiles, LoadError, LoadOptions, MemoryFiles, Workspace, load_fleet_file, load_workspace,
};
pub use registry::{FleetEntry, ImageBuilds, Registry, Route};
pub use service::Service;
