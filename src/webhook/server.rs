//! HTTP endpoints of `fleet serve`: POST /webhook, GET /healthz (the process answers),
//! GET /readyz (the database answers and its schema is this build's), GET /metrics.
//!
//! A delivery is checked (signature over the raw body), parsed, stored with its job in one
//! transaction and acknowledged at once; the GitHub calls happen later, in the workers.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::Notify;

use crate::application::jobs::RunWatch;

use super::body::{BodyBudget, BodyError};
use super::metrics::Metrics;
use super::pages;
use super::{parse_event, signature_digest, verify_signature};
use crate::application::jobs::db::{Store, Stored};
use crate::application::jobs::page_links::PageLinks;
use crate::event::Event;
use crate::secret::Secret;

pub struct AppState {
    pub store: Store,
    pub secrets: Vec<Secret>,
    pub metrics: Arc<Metrics>,
    /// Wakes a worker when a job was queued.
    pub wake: Arc<Notify>,
    /// Bounds the bytes of bodies read before their signature is checked.
    pub body_budget: BodyBudget,
    /// Checks the links of deploy pages; none: the pages are off.
    pub pages: Option<PageLinks>,
    /// Opens the overview; none: it is off.
    pub operator_token: Option<Secret>,
    /// Told when a workflow run ended (deploys building on GitHub's runners wait for it).
    pub runs: RunWatch,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/", get(pages::overview))
        .route("/deploys/{id}", get(pages::deploy_page))
        .route("/deploys/{id}/events", get(pages::deploy_events))
        .with_state(state)
}

fn reply(status: StatusCode, value: serde_json::Value) -> Response {
    (status, axum::Json(value)).into_response()
}

/// The events the App handles or may be sent (its subscriptions and GitHub's own); only these
/// name themselves in /metrics.
const KNOWN_EVENTS: &[&str] = &[
    "ping",
    "push",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "issue_comment",
    "issues",
    "check_run",
    "check_suite",
    "status",
    "deployment",
    "deployment_status",
    "workflow_run",
    "workflow_job",
    "installation",
    "installation_repositories",
    "installation_target",
    "github_app_authorization",
    "create",
    "delete",
    "release",
    "repository",
    "meta",
];

/// The metrics label of a signed delivery's event: the event itself when known, else `other`
/// (`none` without the header), so no request can add labels of its choosing.
fn event_label(event_name: &str) -> &'static str {
    match event_name {
        "" => "none",
        name => KNOWN_EVENTS
            .iter()
            .find(|known| **known == name)
            .copied()
            .unwrap_or("other"),
    }
}

/// The label of a request whose signature did not verify: nothing it sent is kept.
const UNVERIFIED: &str = "unverified";

fn unauthorized(state: &AppState) -> Response {
    state.metrics.delivery(UNVERIFIED, "unauthorized");
    reply(
        StatusCode::UNAUTHORIZED,
        json!({ "error": "missing or wrong X-Hub-Signature-256" }),
    )
}

/// The answer to a body that was not read (too large, no budget, too slow, broken).
fn unread(state: &AppState, e: &BodyError) -> Response {
    let (status, result) = match e {
        BodyError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        BodyError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        BodyError::TooSlow(_) => (StatusCode::REQUEST_TIMEOUT, "too_slow"),
        BodyError::Read(_) => (StatusCode::BAD_REQUEST, "unreadable"),
    };
    state.metrics.delivery(UNVERIFIED, result);
    let mut response = reply(status, json!({ "error": e.to_string() }));
    if matches!(e, BodyError::Busy) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    }
    response
}

async fn webhook(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Without a well-formed signature there is nothing to check the body against: not read.
    if signature_digest(text("x-hub-signature-256")).is_none() {
        return unauthorized(&state);
    }
    let declared = text("content-length").and_then(|v| v.parse::<u64>().ok());
    let body = match state.body_budget.read(body, declared).await {
        Ok(b) => b,
        Err(e) => return unread(&state, &e),
    };
    let body = &body.bytes;
    if !verify_signature(&state.secrets, body, text("x-hub-signature-256")) {
        return unauthorized(&state);
    }
    let event_name = text("x-github-event").unwrap_or("").to_owned();
    let label_for_metrics = event_label(&event_name);
    let Some(delivery) = text("x-github-delivery").filter(|d| !d.is_empty() && d.len() <= 200) else {
        state.metrics.delivery(label_for_metrics, "invalid");
        return reply(StatusCode::BAD_REQUEST, json!({ "error": "missing X-GitHub-Delivery" }));
    };
    if event_name.is_empty() {
        state.metrics.delivery(label_for_metrics, "invalid");
        return reply(StatusCode::BAD_REQUEST, json!({ "error": "missing X-GitHub-Event" }));
    }
    let event = match parse_event(&event_name, body) {
        Ok(e) => e,
        Err(e) => {
            state.metrics.delivery(label_for_metrics, "invalid");
            return reply(StatusCode::BAD_REQUEST, json!({ "error": e.to_string() }));
        }
    };
    let job = crate::application::jobs::requests::job_for(&event);
    if let Event::WorkflowRunCompleted { repo, run_id } = &event {
        state.runs.ended(repo, *run_id);
    }
    let action = match &event {
        Event::Ignored { action, .. } => action.clone(),
        other => other.label().split_once('.').map(|(_, a)| a.to_owned()),
    };
    match state
        .store
        .store_delivery(delivery, &event_name, action.as_deref(), job.as_ref())
        .await
    {
        Ok(Stored::Duplicate) => {
            state.metrics.delivery(label_for_metrics, "duplicate");
            reply(StatusCode::OK, json!({ "status": "duplicate", "delivery": delivery }))
        }
        Ok(Stored::New { job }) => {
            let result = match (&event, job) {
                (_, Some(_)) => "queued",
                (Event::Ignored { .. }, None) => "ignored",
                (_, None) => "accepted",
            };
            state.metrics.delivery(label_for_metrics, result);
            if job.is_some() {
                state.wake.notify_one();
            }
            tracing::info!(delivery, event = %event.label(), result, "delivery");
            reply(
                StatusCode::ACCEPTED,
                json!({ "status": result, "delivery": delivery, "job": job }),
            )
        }
        Err(e) => {
            tracing::error!(delivery, "cannot store the delivery: {e}");
            state.metrics.delivery(label_for_metrics, "error");
            reply(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "cannot store the delivery; redeliver later" }),
            )
        }
    }
}

/// Liveness: the process serves requests (a database outage is readiness, not a reason to
/// restart it).
async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// Readiness: deliveries can be stored — the database answers and has every migration.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.schema_version().await {
        Ok((have, want)) if have == want => (StatusCode::OK, "ready\n").into_response(),
        Ok((have, want)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database schema at version {have}, this build needs {want}\n"),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("database unavailable: {e}\n")).into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let counts = state.store.job_counts().await.ok();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(counts.as_ref()),
    )
        .into_response()
}
