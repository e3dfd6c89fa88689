//! fleetflow: from a pull request to running servers.
//!
//! Data flows config → plan → pipeline → build/deploy; the front doors (CLI, GitHub App,
//! Action) are thin layers over this library.

pub mod action;
pub mod build;
pub mod chatops;
pub mod cli;
pub mod clock;
pub mod cloud;
pub mod config;
pub mod deploy;
pub mod docker;
pub mod github;
pub mod images;
pub mod pipeline;
pub mod plan;
pub mod ssh;
pub mod webhook;
