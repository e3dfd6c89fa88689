//! `fleet serve`: the GitHub App (webhooks → durable queue → plan comment and check run).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{Context, Exit, exit};
use crate::application::jobs::RegistryToken;
use crate::application::report::WorkflowError;
use crate::secret::Secret;
use crate::webhook::serve::{ServeConfig, default_database, serve_until_stopped, webhook_secrets};

fn secret(value: &str) -> Result<Secret, String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(Secret::new(value))
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "FLEET_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The GitHub App's id.
    #[arg(long, env = "GITHUB_APP_ID")]
    pub app_id: u64,
    /// The App's private key: a path to the PEM file, or the PEM itself.
    #[arg(long, env = "GITHUB_APP_PRIVATE_KEY", hide_env_values = true, value_parser = secret)]
    pub private_key: Secret,
    /// Webhook secret; several, comma-separated, while rotating.
    #[arg(long, env = "GITHUB_WEBHOOK_SECRET", hide_env_values = true, value_parser = secret)]
    pub webhook_secret: Secret,
    /// GitHub REST API base URL (GitHub Enterprise: https://HOST/api/v3).
    #[arg(long, env = "GITHUB_API_URL", default_value = "https://api.github.com")]
    pub github_api_url: String,
    /// Job database: sqlite://PATH (one replica), or postgres://USER:PASSWORD@HOST/DB for
    /// several replicas (pass it in the environment: arguments are visible to every user).
    /// Default: fleet.db in $XDG_DATA_HOME/fleetflow (~/.local/share/fleetflow).
    #[arg(long, env = "FLEET_DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database: Option<String>,
    /// Jobs run at once.
    #[arg(long, env = "FLEET_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Seconds running jobs get to finish after SIGTERM (the rest stay queued).
    #[arg(long, env = "FLEET_GRACE", default_value_t = 30, value_name = "SECONDS")]
    pub grace: u64,
    /// Seconds a replica holds a job without renewing it before another replica takes it
    /// over (renewed every third of it while the job runs).
    #[arg(long, env = "FLEET_JOB_LEASE", default_value_t = 30, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub job_lease: u64,
    /// Registry prefix of the images deploys build (default: ghcr.io/<repository owner>).
    #[arg(long, env = "FLEET_IMAGE_REGISTRY")]
    pub image_registry: Option<String>,
    /// User name for pushing to the image registry (with --image-registry-token).
    #[arg(
        long,
        env = "FLEET_IMAGE_REGISTRY_USERNAME",
        default_value = "fleetflow",
        value_name = "USER"
    )]
    pub image_registry_username: String,
    /// Token for pushing to the image registry when this host's docker has no login for it
    /// (ghcr.io: a token with write:packages; App installation tokens are not accepted there).
    #[arg(long, env = "FLEET_IMAGE_REGISTRY_TOKEN", hide_env_values = true, value_parser = secret, value_name = "TOKEN")]
    pub image_registry_token: Option<Secret>,
    /// The `fleet` binary to install on servers (default: this one; it must be a Linux
    /// binary the servers can run).
    #[arg(long, env = "FLEET_REMOTE_BINARY", value_name = "PATH")]
    pub fleet_binary: Option<PathBuf>,
}

pub fn run(cx: &Context, args: &ServeArgs) -> Exit {
    let database_url = args.database.clone().map_or_else(default_database, Ok)?;
    let config = ServeConfig {
        listen: args.listen,
        app_id: args.app_id,
        private_key: args.private_key.clone(),
        webhook_secrets: webhook_secrets(&args.webhook_secret),
        github_api_url: args.github_api_url.clone(),
        database_url,
        workers: args.workers,
        grace: Duration::from_secs(args.grace),
        lease: Duration::from_secs(args.job_lease),
        deploy: crate::application::jobs::DeploySettings {
            connector: cx.fx.ssh.clone(),
            docker: cx.fx.docker.clone(),
            image_registry: args.image_registry.clone(),
            registry_login: (args.image_registry_token.clone()).map(|token| RegistryToken {
                username: args.image_registry_username.clone(),
                token,
            }),
            fleet_binary: args.fleet_binary.clone(),
            lock_poll: Duration::from_secs(1),
        },
    };
    serve_until_stopped(config).map_err(|e| WorkflowError::failed_with("", &*e))?;
    Ok(exit::OK)
}
