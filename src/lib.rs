//! fleetflow: from a pull request to running servers.
//!
//! Data flows config → plan → pipeline → build/deploy; the front doors (CLI, GitHub App,
//! Action) are thin layers over this library.

pub mod build;
pub mod cli;
pub mod clock;
pub mod config;
pub mod deploy;
pub mod docker;
pub mod images;
pub mod plan;
pub mod ssh;
