//! The GitHub App's identity: its id and private key, read from the PEM or its file. octocrab
//! signs the JWTs and mints installation tokens with it ([`super::transport`]).

use std::fmt;

use jsonwebtoken::EncodingKey;

use crate::secret::Secret;

/// Refresh an installation token this long before GitHub says it expires.
pub const TOKEN_REFRESH_MARGIN_SECS: i64 = 5 * 60;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read the App private key {path}")]
    ReadKey {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the App private key is not an RSA private key in PEM form (-----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----): download a new one from the App's settings"
    )]
    BadKey,
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

/// The key's path as an error may show it: a value that does not look like a path (several
/// lines, or long without a `/` — a key pasted without its PEM header) is a secret, not shown.
fn shown_key_path(value: &str) -> String {
    let path_like = !value.contains('\n') && value.len() <= 1024 && (value.contains('/') || value.len() <= 64);
    if path_like {
        value.to_owned()
    } else {
        "(the value given, not shown: neither a PEM starting with -----BEGIN nor a file path)".to_owned()
    }
}

impl AppKey {
    /// `private_key` is the PEM itself or the path of a file holding it.
    pub fn new(app_id: u64, private_key: &Secret) -> Result<Self, AuthError> {
        let value = private_key.expose().trim();
        let pem = if value.starts_with("-----BEGIN") {
            value.as_bytes().to_vec()
        } else {
            std::fs::read(value).map_err(|source| AuthError::ReadKey {
                path: shown_key_path(value),
                source,
            })?
        };
        let key = EncodingKey::from_rsa_pem(&pem).map_err(|_| AuthError::BadKey)?;
        Ok(Self { app_id, key })
    }

    /// The key octocrab signs the App's JWTs with (RS256, issued 60 s in the past for clock
    /// drift, valid 9 minutes).
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.key
    }
}

#[cfg(test)]
mod tests;
