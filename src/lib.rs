//! fleetflow: from a pull request to running servers.
//!
//! Three front doors (the CLI, the GitHub App's webhook server, the Action) over one
//! application layer ([`application`]: every workflow once), which works on the domain
//! (configuration, plans, chat-ops) through adapters (GitHub, Docker, SSH, cloud providers).
//! `tests/architecture.rs` keeps the arrows pointing that way.
//!
//! Comments cite requirements as `seed 000`…`seed 004` and `FS-001`…`FS-005`: each has a
//! heading in docs/requirements.md, an English summary of the specification.

pub mod action;
pub mod application;
pub mod chatops;
pub mod cli;
pub mod clock;
pub mod cloud;
pub mod config;
pub mod console;
pub mod docker;
pub mod event;
pub mod git;
pub mod github;
pub mod html;
pub mod images;
pub mod operator;
pub mod plan;
pub mod secret;
pub mod ssh;
pub mod state_store;
pub mod webhook;
