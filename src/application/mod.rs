//! The application layer: every workflow once — plan a change, run a comment's command, deploy
//! a fleet+stage (build → push → routes), a merge's deploys, stage up/down/status, apply —
//! each given its effects (GitHub, Docker, SSH, cloud providers, a clock, the configuration
//! source) by the front door that calls it, and reporting through that front door.
//!
//! - [`app_setup`]: creating the GitHub App (`fleet app create`) and its settings file;
//! - [`jobs`]: the App's durable jobs and the workers that run them;
//! - [`deploy`]: deploys, locally and over SSH, with their locks and rollback;
//! - [`image_build`]: which images a stage builds and building them;
//! - [`merge`]: what a merge deploys;
//! - [`local`]: a fleet on this machine's engine (build, deploy, lifecycle);
//! - [`plan_change`]: planning a change (base → head, with state and live drift);
//! - [`releases`]: releasing fleet+stages from a checkout (a merge's, a dispatch's);
//! - [`infra`]: applying a fleet's infrastructure plan;
//! - [`init`]: a repository's first configuration (`fleet init`);
//! - [`routes`]: a registry's routes over SSH (deploy, run, status, unlock);
//! - [`stage`], [`stage_status`]: a stage with cloud servers, up, down and as it is;
//! - [`validate`]: validating configuration;
//! - [`workspace`]: the registry a command works on, found and loaded;
//! - [`report`]: how workflows report to their front door, and why they stop.

pub mod action_run;
pub mod app_setup;
pub mod deploy;
pub mod deploy_history;
pub mod effects;
pub mod format;
pub mod image_build;
pub mod infra;
pub mod init;
pub mod jobs;
pub mod local;
pub mod merge;
pub mod migrate;
pub mod plan_change;
pub mod releases;
pub mod report;
pub mod rollback;
pub mod routes;
pub mod stage;
pub mod stage_ops;
pub mod stage_status;
pub mod validate;
pub mod workspace;
