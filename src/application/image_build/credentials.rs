//! Registry credentials: what docker already has (config.json `auths`, `credsStore`,
//! `credHelpers`, read through docker_credential), else a token from the environment for ghcr.io.

use std::path::Path;

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

/// Looks up credentials for `host` in the docker config at `config_dir` (or the default one),
/// then GHCR_TOKEN / GITHUB_TOKEN for ghcr.io.
pub fn find_credentials(
    host: &str,
    config_dir: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> CredentialSource {
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

/// `docker`, logged in to the registries of `plans`' tags that need a token (from `env`, see
/// [`find_credentials`]) — in a private, temporary docker config, so the user's own
/// config.json is never written. The directory lives as long as the returned guard.
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
    let dir = tempfile::tempdir()?;
    let private = crate::docker::DockerCli {
        config_dir: Some(dir.path().to_path_buf()),
        ..docker
    };
    for login in logins {
        crate::docker::Docker::login(&private, &login.registry, &login.username, &login.secret)?;
    }
    Ok((private, Some(dir)))
}
