//! Sakura Cloud credentials: SAKURACLOUD_ACCESS_TOKEN / SAKURACLOUD_ACCESS_TOKEN_SECRET, else
//! usacloud's profile (`~/.usacloud/<profile>/config.json`, the profile named by
//! USACLOUD_PROFILE or `~/.usacloud/current`, else `default`). Never printed.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// An API key pair and where it came from. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub token: String,
    pub secret: String,
    /// The profile's default zone, when it came from usacloud.
    pub zone: Option<String>,
    /// `environment` or the profile file's path (for messages).
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("token", &"(sensitive value)")
            .field("secret", &"(sensitive value)")
            .field("zone", &self.zone)
            .field("source", &self.source)
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialsError {
    #[error(
        "no Sakura Cloud credentials: set SAKURACLOUD_ACCESS_TOKEN and SAKURACLOUD_ACCESS_TOKEN_SECRET, or configure usacloud (`usacloud config`; looked for {looked})"
    )]
    Missing { looked: String },
    #[error(
        "cannot read the usacloud profile {path}: {detail}; fix it with `usacloud config`, or set SAKURACLOUD_ACCESS_TOKEN and SAKURACLOUD_ACCESS_TOKEN_SECRET"
    )]
    BadProfile { path: String, detail: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProfileFile {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    access_token_secret: String,
    #[serde(default)]
    zone: Option<String>,
}

/// Credentials from `env` (a lookup, so tests need not touch the process environment) and
/// the usacloud directory under `home`.
pub fn load(env: &dyn Fn(&str) -> Option<String>, home: Option<&Path>) -> Result<Credentials, CredentialsError> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let (Some(token), Some(secret)) = (get("SAKURACLOUD_ACCESS_TOKEN"), get("SAKURACLOUD_ACCESS_TOKEN_SECRET")) {
        return Ok(Credentials {
            token,
            secret,
            zone: get("SAKURACLOUD_ZONE"),
            source: "environment".into(),
        });
    }
    let Some(dir) = home.map(|h| h.join(".usacloud")) else {
        return Err(CredentialsError::Missing {
            looked: "the environment (HOME is not set, so no usacloud profile)".into(),
        });
    };
    let profile = get("USACLOUD_PROFILE")
        .or_else(|| {
            std::fs::read_to_string(dir.join("current"))
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|p| !p.is_empty() && !p.contains(['/', '\\']) && p != "..")
        .unwrap_or_else(|| "default".into());
    let path: PathBuf = dir.join(&profile).join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CredentialsError::Missing {
                looked: format!("the environment and {}", path.display()),
            });
        }
        Err(e) => {
            return Err(CredentialsError::BadProfile {
                path: path.display().to_string(),
                detail: e.to_string(),
            });
        }
    };
    let parsed: ProfileFile = serde_json::from_str(&text).map_err(|e| CredentialsError::BadProfile {
        path: path.display().to_string(),
        detail: format!("not valid JSON ({e})"),
    })?;
    if parsed.access_token.is_empty() || parsed.access_token_secret.is_empty() {
        return Err(CredentialsError::BadProfile {
            path: path.display().to_string(),
            detail: "AccessToken or AccessTokenSecret is empty".into(),
        });
    }
    Ok(Credentials {
        token: parsed.access_token,
        secret: parsed.access_token_secret,
        zone: parsed.zone.filter(|z| !z.is_empty()),
        source: path.display().to_string(),
    })
}

/// [`load`] from the process environment and `$HOME`.
pub fn from_process() -> Result<Credentials, CredentialsError> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    load(&|k| std::env::var(k).ok(), home.as_deref())
}
