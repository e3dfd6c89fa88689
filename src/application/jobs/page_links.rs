//! Links to a deploy's page, `{public-url}/deploys/{job}?exp={unix}&sig={hex}`: unguessable
//! (an HMAC-SHA256 of the job and the expiry under a key derived from the App's webhook secret,
//! which only the App holds) and valid until `exp`. They are posted where only the repository's
//! readers see them: the deploy's reply comment, its check run, its GitHub deployment.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secret::Secret;

/// How long a posted link opens its page.
pub const LINK_LIFETIME_SECS: i64 = 30 * 24 * 3600;

/// Why a link does not open its page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this link has expired; the deploy's reply comment links a fresh one while the deploy is recent")]
    Expired,
    #[error("this link is not valid")]
    Altered,
}

/// Makes and checks deploy page links.
#[derive(Clone)]
pub struct PageLinks {
    /// `https://fleet.example.com`, without a trailing slash.
    base: String,
    key: Secret,
}

impl std::fmt::Debug for PageLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageLinks")
            .field("base", &self.base)
            .field("key", &"[redacted]")
            .finish()
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length")
}

impl PageLinks {
    /// Links under `public_url`, keyed by `webhook_secret` (the key is derived, never the
    /// secret itself).
    pub fn new(public_url: &str, webhook_secret: &Secret) -> Self {
        let mut derive = mac(webhook_secret.expose().as_bytes());
        derive.update(b"fleetflow deploy pages v1");
        Self {
            base: public_url.trim_end_matches('/').to_owned(),
            key: Secret::new(hex::encode(derive.finalize().into_bytes())),
        }
    }

    fn signed(&self, job_id: i64, expires: i64) -> Hmac<Sha256> {
        let mut m = mac(self.key.expose().as_bytes());
        m.update(format!("deploy:{job_id}:{expires}").as_bytes());
        m
    }

    /// The page of `job_id`, valid for [`LINK_LIFETIME_SECS`] from `now` (unix seconds).
    pub fn link(&self, job_id: i64, now: i64) -> String {
        let expires = now + LINK_LIFETIME_SECS;
        let sig = hex::encode(self.signed(job_id, expires).finalize().into_bytes());
        format!("{}/deploys/{job_id}?exp={expires}&sig={sig}", self.base)
    }

    /// Whether `sig` signs `job_id` until `expires`, and that is after `now`; compared in
    /// constant time.
    pub fn verify(&self, job_id: i64, expires: i64, sig: &str, now: i64) -> Result<(), LinkError> {
        let digest = hex::decode(sig).map_err(|_| LinkError::Altered)?;
        self.signed(job_id, expires)
            .verify_slice(&digest)
            .map_err(|_| LinkError::Altered)?;
        if expires < now {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
