//! Registry credentials: what docker already has (config.json `auths`, `credsStore`,
//! `credHelpers`, read through docker_credential), else a token from the environment for ghcr.io.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Credentials for one registry. Debug never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryLogin {
    pub registry: String,
    pub username: String,
    pub secret: String,
}

impl std::fmt::Debug for RegistryLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryLogin")
            .field("registry", &self.registry)
            .field("username", &self.username)
            .finish()
    }
}

/// Where credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// Docker can already authenticate (stored in config.json or a helper).
    Stored,
    /// Log in with this first (the password goes through stdin).
    Token(RegistryLogin),
    /// Nothing known: pushing will fail unless the registry is open.
    None,
}

/// The registry host of an image reference (`ghcr.io/acme/app:1` → `ghcr.io`); Docker Hub for
/// references without one.
pub fn registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// The image registry's token given to fleetflow (`fleet serve --image-registry-token`, or the
/// environment), and its user name.
pub const REGISTRY_TOKEN_ENV: &str = "FLEET_IMAGE_REGISTRY_TOKEN";
pub const REGISTRY_USERNAME_ENV: &str = "FLEET_IMAGE_REGISTRY_USERNAME";

/// Credentials for `host`: a token given for the image registry (FLEET_IMAGE_REGISTRY_TOKEN),
/// else what the docker config at `config_dir` (or the default one) has, else GHCR_TOKEN /
/// GITHUB_TOKEN for ghcr.io.
pub fn find_credentials(
    host: &str,
    config_dir: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> CredentialSource {
    if let Some(secret) = env(REGISTRY_TOKEN_ENV).filter(|t| !t.is_empty()) {
        return CredentialSource::Token(RegistryLogin {
            registry: host.into(),
            username: env(REGISTRY_USERNAME_ENV)
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "fleetflow".into()),
            secret,
        });
    }
    let stored = match config_dir {
        Some(dir) => std::fs::File::open(dir.join("config.json"))
            .ok()
            .and_then(|f| docker_credential::get_credential_from_reader(f, host).ok()),
        None => docker_credential::get_credential(host).ok(),
    };
    if stored.is_some() {
        return CredentialSource::Stored;
    }
    if host == "ghcr.io" {
        let token = env("GHCR_TOKEN")
            .or_else(|| env("GITHUB_TOKEN"))
            .filter(|t| !t.is_empty());
        if let Some(secret) = token {
            let username = env("GITHUB_ACTOR")
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| "fleetflow".into());
            return CredentialSource::Token(RegistryLogin {
                registry: host.into(),
                username,
                secret,
            });
        }
    }
    CredentialSource::None
}

/// The user's docker config directory: `DOCKER_CONFIG` as given to the CLI, else `~/.docker`.
fn user_config_dir(docker: &crate::docker::DockerCli) -> Option<PathBuf> {
    (docker.config_dir.clone()).or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")))
}

/// What of the user's docker config directory a private one links to: CLI plugins (buildx is
/// one: docker looks for them in `$DOCKER_CONFIG/cli-plugins`), buildx's builders and the
/// selected one, and docker contexts.
const SHARED_WITH_THE_USER: [&str; 3] = ["cli-plugins", "buildx", "contexts"];

/// A private docker config for logging in to `hosts` without writing the user's: a copy of the
/// user's config.json (other registries' credentials, helpers, the current context) in which
/// `hosts` use the file store of the copy (`credHelpers[host] = ""`, so a login never lands in
/// the user's credential store), and links to the user's plugins, builders and contexts.
pub fn private_config(user: Option<&Path>, hosts: &[&str]) -> std::io::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let read = |file: &Path| {
        std::fs::read(file)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    };
    let mut config = user
        .and_then(|u| read(&u.join("config.json")))
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    for host in hosts {
        if let Some(auths) = config.get_mut("auths").and_then(Value::as_object_mut) {
            auths.remove(*host);
        }
        if !config.get("credHelpers").is_some_and(Value::is_object) {
            config["credHelpers"] = json!({});
        }
        config["credHelpers"][*host] = json!("");
    }
    std::fs::write(dir.path().join("config.json"), config.to_string())?;
    for name in SHARED_WITH_THE_USER {
        if let Some(theirs) = user.map(|u| u.join(name)).filter(|p| p.is_dir()) {
            std::os::unix::fs::symlink(theirs, dir.path().join(name))?;
        }
    }
    Ok(dir)
}

/// `docker`, logged in to the registries of `plans`' tags that need a token (from `env`, see
/// [`find_credentials`]) — in a private, temporary docker config ([`private_config`]), so the
/// user's own config.json and credential store are never written while buildx, its builder and
/// other registries' credentials stay as they were. The directory lives as long as the
/// returned guard.
pub fn login_for_push(
    docker: crate::docker::DockerCli,
    plans: &[super::PlannedBuild],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(crate::docker::DockerCli, Option<tempfile::TempDir>), crate::docker::DockerError> {
    let mut hosts: Vec<&str> = plans
        .iter()
        .flat_map(|p| p.request.tags.iter().map(|t| registry_host(t)))
        .collect();
    hosts.sort_unstable();
    hosts.dedup();
    let logins: Vec<_> = hosts
        .iter()
        .filter_map(|h| match find_credentials(h, docker.config_dir.as_deref(), env) {
            CredentialSource::Token(login) => Some(login),
            _ => None,
        })
        .collect();
    if logins.is_empty() {
        return Ok((docker, None));
    }
    let hosts: Vec<&str> = logins.iter().map(|l| l.registry.as_str()).collect();
    let dir = private_config(user_config_dir(&docker).as_deref(), &hosts)?;
    let private = crate::docker::DockerCli {
        config_dir: Some(dir.path().to_path_buf()),
        ..docker
    };
    for login in logins {
        crate::docker::Docker::login(&private, &login.registry, &login.username, &login.secret)?;
    }
    Ok((private, Some(dir)))
}
