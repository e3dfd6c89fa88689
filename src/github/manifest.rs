//! The App-manifest conversion (`POST /app-manifests/{code}/conversions`): the code GitHub
//! hands back after the App is created becomes its id, key and webhook secret. The code is
//! the credential: the request carries no token.

use http::{Method, StatusCode};
use serde::Deserialize;

use super::GitHubError;
use crate::secret::Secret;

/// The App GitHub created.
#[derive(Debug, Clone)]
pub struct CreatedApp {
    pub id: u64,
    pub slug: String,
    pub name: String,
    pub html_url: String,
    pub pem: Secret,
    pub webhook_secret: Secret,
}

#[derive(Deserialize)]
struct Conversion {
    id: u64,
    #[serde(default)]
    slug: Option<String>,
    name: String,
    html_url: String,
    pem: String,
    webhook_secret: Option<String>,
}

/// Exchanges `code` for the App at `api_url` (https://api.github.com, or GHES's /api/v3).
pub async fn convert(api_url: &str, code: &str) -> Result<CreatedApp, GitHubError> {
    // The code is a credential until used: it is never part of a message.
    let path = "/app-manifests/…/conversions".to_owned();
    let fail = |status: StatusCode, message: String| GitHubError::Status {
        method: Method::POST,
        path: path.clone(),
        status,
        message,
        retry_after: None,
    };
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "the code GitHub sent back is malformed".into(),
        ));
    }
    let url = format!("{}/app-manifests/{code}/conversions", api_url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .header("User-Agent", concat!("fleetflow/", env!("CARGO_PKG_VERSION")))
        .send()
        .await
        .map_err(|e| GitHubError::Setup(format!("cannot reach {api_url}: {}", e.without_url())))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status.as_u16() != 201 {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| body.chars().take(200).collect());
        return Err(fail(
            StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            message,
        ));
    }
    let c: Conversion = serde_json::from_str(&body).map_err(|e| GitHubError::Decode {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let webhook_secret = c
        .webhook_secret
        .filter(|s| !s.is_empty())
        .ok_or_else(|| GitHubError::Decode {
            path: path.clone(),
            message: "the App has no webhook secret (was its webhook left out of the manifest?)".into(),
        })?;
    Ok(CreatedApp {
        id: c.id,
        slug: c.slug.unwrap_or_default(),
        name: c.name,
        html_url: c.html_url,
        pem: Secret::new(c.pem),
        webhook_secret: Secret::new(webhook_secret),
    })
}
