//! `fleet serve`'s options, the environment and the App's settings file → the App's
//! [`ServeConfig`]; then the App runs (webhooks → durable queue → plan comment and check run).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::serve::{ServeConfig, default_database, serve_until_stopped, webhook_secrets};
use crate::application::app_setup::{config_file, default_config_dir, read_config};
use crate::application::effects::Effects;
use crate::application::jobs::RegistryToken;
use crate::application::jobs::page_links::PageLinks;
use crate::application::report::WorkflowError;
use crate::secret::Secret;

fn secret(value: &str) -> Result<Secret, String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(Secret::new(value))
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "FLEET_LISTEN", default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The GitHub App's id.
    #[arg(long, env = "GITHUB_APP_ID")]
    pub app_id: Option<u64>,
    /// The App's private key: a path to the PEM file, or the PEM itself.
    #[arg(long, env = "GITHUB_APP_PRIVATE_KEY", hide_env_values = true, value_parser = secret)]
    pub private_key: Option<Secret>,
    /// Webhook secret; several, comma-separated, while rotating.
    #[arg(long, env = "GITHUB_WEBHOOK_SECRET", hide_env_values = true, value_parser = secret)]
    pub webhook_secret: Option<Secret>,
    /// GitHub REST API base URL (GitHub Enterprise: https://HOST/api/v3). Default: the App
    /// settings', else https://api.github.com.
    #[arg(long, env = "GITHUB_API_URL", value_name = "URL")]
    pub github_api_url: Option<String>,
    /// The App's settings as `fleet app create` wrote them (default: app.env in
    /// $XDG_CONFIG_HOME/fleetflow, when it exists); options and the environment win over it.
    #[arg(long, env = "FLEET_APP_CONFIG", value_name = "PATH")]
    pub app_config: Option<PathBuf>,
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
    /// Seconds between looks at a build run on GitHub's runners (`builds "github-actions"`)
    /// when no workflow_run webhook said it ended.
    #[arg(long, env = "FLEET_RUN_POLL", default_value_t = 15, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub run_poll: u64,
    /// Minutes a deploy waits for its build run on GitHub's runners before it gives up.
    #[arg(long, env = "FLEET_RUN_TIMEOUT", default_value_t = 60, value_name = "MINUTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub run_timeout: u64,
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
    /// The URL this App is reached at (https://fleet.example.com): each deploy's page is linked
    /// from its reply, check run and GitHub deployment (no links without it).
    #[arg(long, env = "FLEET_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Opens the overview page at / (as `Authorization: Bearer TOKEN`, or ?token=); without
    /// it the overview is off.
    #[arg(long, env = "FLEET_OPERATOR_TOKEN", hide_env_values = true, value_parser = secret, value_name = "TOKEN")]
    pub operator_token: Option<Secret>,
}

/// The App's identity: from the options (and the environment), else the settings file.
struct AppIdentity {
    app_id: u64,
    private_key: Secret,
    webhook_secret: Secret,
    github_api_url: String,
}

fn app_identity(args: &ServeArgs) -> Result<AppIdentity, WorkflowError> {
    let file = match &args.app_config {
        Some(path) => Some(path.clone()),
        None => default_config_dir().map(|d| config_file(&d)).filter(|f| f.is_file()),
    };
    let settings = match &file {
        Some(path) => read_config(path)?,
        None => Vec::new(),
    };
    // An empty value in the file is no value (said as missing, with the file named).
    let setting = |key: &str| {
        settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.trim().is_empty())
    };
    // A relative key path in the file is relative to the file, not to where `fleet serve` runs.
    let key_in_file = |value: String| match (&file, value.trim_start().starts_with("-----BEGIN")) {
        (Some(f), false) if std::path::Path::new(&value).is_relative() => Secret::new(
            f.parent()
                .unwrap_or(std::path::Path::new(""))
                .join(&value)
                .display()
                .to_string(),
        ),
        _ => Secret::new(value),
    };
    let missing = |flag: &str, env: &str| {
        WorkflowError::Usage(format!(
            "no {flag} (or {env}){}: create the App with `fleet app create`, or pass it",
            file.as_ref()
                .map(|f| format!(", and {} has none", f.display()))
                .unwrap_or_default()
        ))
    };
    let app_id = match args.app_id {
        Some(id) => id,
        None => setting("GITHUB_APP_ID")
            .ok_or_else(|| missing("--app-id", "GITHUB_APP_ID"))?
            .parse()
            .map_err(|_| WorkflowError::Usage("GITHUB_APP_ID in the App's settings is not a number".into()))?,
    };
    let private_key = args
        .private_key
        .clone()
        .or_else(|| setting("GITHUB_APP_PRIVATE_KEY").map(key_in_file))
        .ok_or_else(|| missing("--private-key", "GITHUB_APP_PRIVATE_KEY"))?;
    let webhook_secret = args
        .webhook_secret
        .clone()
        .or_else(|| setting("GITHUB_WEBHOOK_SECRET").map(Secret::new))
        .ok_or_else(|| missing("--webhook-secret", "GITHUB_WEBHOOK_SECRET"))?;
    let github_api_url = args
        .github_api_url
        .clone()
        .or_else(|| setting("GITHUB_API_URL"))
        .unwrap_or_else(|| "https://api.github.com".to_owned());
    Ok(AppIdentity {
        app_id,
        private_key,
        webhook_secret,
        github_api_url,
    })
}

/// Runs the App until SIGTERM or SIGINT.
pub fn run(fx: &Effects, args: &ServeArgs) -> Result<(), WorkflowError> {
    let app = app_identity(args)?;
    let database_url = args.database.clone().map_or_else(default_database, Ok)?;
    let webhook_secrets = webhook_secrets(&app.webhook_secret);
    let pages = match (&args.public_url, webhook_secrets.first()) {
        (Some(url), Some(secret)) if url.starts_with("https://") || url.starts_with("http://") => {
            Some(PageLinks::new(url, secret))
        }
        (Some(url), _) => {
            return Err(WorkflowError::Usage(format!(
                "--public-url {url:?} is not an http(s) URL"
            )));
        }
        (None, _) => None,
    };
    let config = ServeConfig {
        listen: args.listen,
        app_id: app.app_id,
        private_key: app.private_key,
        webhook_secrets,
        operator_token: args.operator_token.clone(),
        github_api_url: app.github_api_url,
        database_url,
        workers: args.workers,
        grace: Duration::from_secs(args.grace),
        lease: Duration::from_secs(args.job_lease),
        deploy: crate::application::jobs::DeploySettings {
            connector: fx.ssh.clone(),
            docker: fx.docker.clone(),
            image_registry: args.image_registry.clone(),
            registry_login: (args.image_registry_token.clone()).map(|token| RegistryToken {
                username: args.image_registry_username.clone(),
                token,
            }),
            fleet_binary: args.fleet_binary.clone(),
            lock_poll: Duration::from_secs(1),
            pages,
            runs: Some(crate::application::jobs::RunWatch::new(
                Duration::from_secs(args.run_poll),
                Duration::from_secs(args.run_timeout * 60),
            )),
        },
    };
    serve_until_stopped(config).map_err(|e| WorkflowError::failed_with("", &*e))
}
