//! The App's own webhook deliveries (App JWT): the recent failed ones, and asking GitHub to
//! deliver one again — how deliveries missed while the App was down are recovered.

use http::Method;
use serde::Deserialize;

use super::{Auth, GitHub, GitHubError};

/// A delivery as GitHub lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct HookDelivery {
    pub id: u64,
    /// The `X-GitHub-Delivery` header, shared by every attempt of one event.
    pub guid: String,
    #[serde(default)]
    pub redelivery: bool,
    #[serde(default)]
    pub status_code: u16,
    #[serde(default)]
    pub event: String,
}

impl GitHub {
    /// The most recent failed deliveries of the App's webhook (one page of 100).
    pub async fn failed_deliveries(&self) -> Result<Vec<HookDelivery>, GitHubError> {
        let url = self.url(
            &["app", "hook", "deliveries"],
            &[("per_page", "100"), ("status", "failure")],
        );
        let path = url.path().to_owned();
        let value = self.call(Method::GET, url, Auth::App, None).await?;
        serde_json::from_value(value).map_err(|e| GitHubError::Decode {
            path,
            message: e.to_string(),
        })
    }

    /// Asks GitHub to deliver `delivery` again.
    pub async fn redeliver(&self, delivery: u64) -> Result<(), GitHubError> {
        let id = delivery.to_string();
        let url = self.url(&["app", "hook", "deliveries", &id, "attempts"], &[]);
        self.call(Method::POST, url, Auth::App, None).await.map(drop)
    }
}
