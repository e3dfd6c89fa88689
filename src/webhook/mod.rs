//! GitHub webhooks: signature checks (X-Hub-Signature-256); deliveries become our own
//! [`crate::event::Event`] ([`parse_event`]). The HTTP side (POST /webhook, /healthz, /metrics) is in [`server`].

pub mod app_create;
pub mod body;
pub mod metrics;
pub mod pages;
pub mod serve;
pub mod serve_args;
pub mod server;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub use crate::event::{ParseError, parse_event};
use crate::secret::Secret;

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under any of `secrets`
/// (several during a rotation). Compared in constant time.
pub fn verify_signature(secrets: &[Secret], body: &[u8], header: Option<&str>) -> bool {
    let Some(expected) = signature_digest(header) else {
        return false;
    };
    secrets.iter().any(|secret| {
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes()) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    })
}

/// The digest of an `X-Hub-Signature-256` header (`sha256=` and 64 hex digits); `None` when
/// missing or malformed, so such a request can be refused before its body is read.
pub fn signature_digest(header: Option<&str>) -> Option<Vec<u8>> {
    let hex_digest = header?.trim().strip_prefix("sha256=")?;
    hex::decode(hex_digest).ok().filter(|d| d.len() == 32)
}

/// `sha256=<hex>` for `body` under `secret` (tests, load scripts).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests;
