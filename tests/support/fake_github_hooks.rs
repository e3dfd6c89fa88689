//! The fake GitHub's record of the App's webhook deliveries: the failed ones a test says were
//! missed (the App was down), listed as GitHub lists them, and redelivered on request — signed
//! and posted to the App's webhook URL with the same X-GitHub-Delivery, as GitHub does.

use std::future::Future;

use serde_json::{Value, json};

/// A delivery GitHub made (and that failed).
#[derive(Debug, Clone)]
pub struct Missed {
    pub id: u64,
    pub guid: String,
    pub event: String,
    pub body: Vec<u8>,
    /// What the App answered (502: it was down; 400: it refused the delivery).
    pub status_code: u16,
}

#[derive(Default)]
pub struct HookWorld {
    pub failed: Vec<Missed>,
    /// Delivery ids asked to be delivered again, in order.
    pub attempts: Vec<u64>,
    /// Where redeliveries go: the App's webhook URL and its secret.
    pub target: Option<(String, String)>,
}

impl HookWorld {
    /// GitHub's list of the failed deliveries.
    pub fn list(&self) -> Value {
        Value::Array(
            (self.failed.iter())
                .map(|m| {
                    json!({
                        "id": m.id, "guid": m.guid, "delivered_at": "2026-12-02T10:00:00Z",
                        "redelivery": false, "duration": 10.0,
                        "status": format!("Invalid HTTP Response: {}", m.status_code),
                        "status_code": m.status_code, "event": m.event, "action": null,
                        "installation_id": null, "repository_id": null,
                    })
                })
                .collect(),
        )
    }

    /// Records an attempt of delivery `id`; the posting to the App, when it is known.
    pub fn redeliver(&mut self, id: u64) -> Option<impl Future<Output = ()> + Send + 'static> {
        let missed = self.failed.iter().find(|m| m.id == id)?.clone();
        self.attempts.push(id);
        let target = self.target.clone();
        Some(async move {
            let Some((url, secret)) = target else { return };
            let signature = fleetflow::webhook::sign(&secret, &missed.body);
            let _ = reqwest::Client::new()
                .post(url)
                .header("X-GitHub-Event", &missed.event)
                .header("X-GitHub-Delivery", &missed.guid)
                .header("X-Hub-Signature-256", signature)
                .header("Content-Type", "application/json")
                .body(missed.body)
                .send()
                .await;
        })
    }
}
