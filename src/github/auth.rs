//! GitHub App authentication: an RS256 JWT signed with the App's private key, exchanged for
//! installation tokens that are cached until shortly before they expire.

use std::collections::HashMap;
use std::fmt;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::secret::Secret;

/// Refresh an installation token this long before GitHub says it expires.
pub const TOKEN_REFRESH_MARGIN_SECS: i64 = 5 * 60;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read the App private key {path}: {source}")]
    ReadKey {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the App private key is not an RSA key in PEM form: {0}")]
    BadKey(jsonwebtoken::errors::Error),
    #[error("cannot sign the App JWT: {0}")]
    Sign(jsonwebtoken::errors::Error),
}

/// The App's identity: its id and RSA signing key (never printed).
#[derive(Clone)]
pub struct AppKey {
    pub app_id: u64,
    key: EncodingKey,
}

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppKey")
            .field("app_id", &self.app_id)
            .field("key", &"[redacted]")
            .finish()
    }
}

#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

impl AppKey {
    /// `private_key` is the PEM itself or the path of a file holding it.
    pub fn new(app_id: u64, private_key: &Secret) -> Result<Self, AuthError> {
        let value = private_key.expose().trim();
        let pem = if value.starts_with("-----BEGIN") {
            value.as_bytes().to_vec()
        } else {
            std::fs::read(value).map_err(|source| AuthError::ReadKey {
                path: value.to_owned(),
                source,
            })?
        };
        let key = EncodingKey::from_rsa_pem(&pem).map_err(AuthError::BadKey)?;
        Ok(Self { app_id, key })
    }

    /// A JWT for the App at `now` (seconds): issued 60 s in the past (clock drift), valid 9 min.
    pub fn jwt_at(&self, now: i64) -> Result<String, AuthError> {
        let claims = Claims {
            iat: now - 60,
            exp: now + 9 * 60,
            iss: self.app_id.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key).map_err(AuthError::Sign)
    }

    pub fn jwt(&self) -> Result<String, AuthError> {
        self.jwt_at(chrono::Utc::now().timestamp())
    }
}

/// An installation token and when it stops working (seconds since the epoch).
#[derive(Clone)]
pub struct InstallationToken {
    pub token: Secret,
    pub expires_at: i64,
}

/// Installation tokens by installation id.
#[derive(Default)]
pub struct TokenCache {
    tokens: HashMap<u64, InstallationToken>,
}

impl TokenCache {
    /// The cached token, unless it expires within the refresh margin of `now`.
    pub fn get(&self, installation: u64, now: i64) -> Option<Secret> {
        self.tokens
            .get(&installation)
            .filter(|t| t.expires_at - TOKEN_REFRESH_MARGIN_SECS > now)
            .map(|t| t.token.clone())
    }

    pub fn put(&mut self, installation: u64, token: InstallationToken) {
        self.tokens.insert(installation, token);
    }

    pub fn forget(&mut self, installation: u64) {
        self.tokens.remove(&installation);
    }
}

#[cfg(test)]
mod tests;
