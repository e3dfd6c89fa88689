//! The App's read-only web pages: `/deploys/{job}` (a deploy's steps and log, streamed live
//! with server-sent events while it runs, kept afterwards), opened by the signed, expiring link
//! the deploy posts ([`PageLinks`]); and `/` (the queue, the running deploys, the locks and what
//! waits behind them, the recent deploys), opened by the operator token. Server-rendered HTML,
//! a few lines of JavaScript, nothing writable; log lines were redacted when stored.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::server::AppState;
use crate::application::jobs::db::Store;
use crate::application::jobs::db::deploy_pages::PageJob;
use crate::application::jobs::deploy_log::STEP;
use crate::application::jobs::page_links::PageLinks;
use crate::application::jobs::requests::{DEPLOY_JOB, DeployRequest, Job};
use crate::html::escape;
use crate::images::short_sha;

/// How often a live page's stream looks for new lines.
const POLL: Duration = Duration::from_millis(300);

#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    exp: i64,
    #[serde(default)]
    sig: String,
    /// Events: the last line the page has.
    #[serde(default = "minus_one")]
    after: i64,
}

fn minus_one() -> i64 {
    -1
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><meta name=\"referrer\" content=\"no-referrer\">\
         <style>{STYLE}</style></head><body>{body}</body></html>",
        title = escape(title)
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, "no-store".parse().expect("a header value"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'"
            .parse()
            .expect("a header value"),
    );
    response
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1f2328}\
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:collapse;width:100%}\
td,th{border-bottom:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}\
#log{background:#0d1117;color:#e6edf3;font:13px/1.4 ui-monospace,monospace;padding:1rem;border-radius:6px;white-space:pre-wrap;min-height:6rem}\
.step{color:#7ee787;font-weight:600}.state{display:inline-block;padding:.1rem .6rem;border-radius:1rem;background:#ddf4ff}\
.state.done{background:#dafbe1}.state.failed,.state.quarantined{background:#ffebe9}.muted{color:#656d76}";

fn refused(why: &str) -> Response {
    page(
        StatusCode::FORBIDDEN,
        "Not available",
        &format!("<h1>Not available</h1><p>{}</p>", escape(why)),
    )
}

/// The deploy job `id`, when the link opens it.
async fn linked_job(state: &AppState, id: i64, q: &LinkQuery) -> Result<(PageJob, DeployRequest), Response> {
    let Some(links) = &state.pages else {
        return Err(refused("deploy pages are off: fleet serve runs without --public-url"));
    };
    links
        .verify(id, q.exp, &q.sig, chrono::Utc::now().timestamp())
        .map_err(|e| refused(&e.to_string()))?;
    let job = match state.store.page_job(id).await {
        Ok(Some(job)) if job.kind == DEPLOY_JOB => job,
        Ok(_) => return Err(refused("there is no such deploy")),
        Err(e) => {
            tracing::error!("cannot read job {id}: {e}");
            return Err(page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "<p>The database does not answer.</p>",
            ));
        }
    };
    match target_of(&job) {
        Some(req) => Ok((job, req)),
        None => Err(refused("there is no such deploy")),
    }
}

fn headline(req: &DeployRequest) -> String {
    match &req.rollback_to {
        Some(to) => format!("Roll back {} → {} to {to}", req.fleet, req.stage),
        None => format!("Deploy {} → {} at {}", req.fleet, req.stage, short_sha(&req.sha)),
    }
}

fn log_line(line: &str) -> String {
    match line.strip_prefix(STEP) {
        Some(step) => format!("<div class=\"step\">▶ {}</div>", escape(step)),
        None => format!("<div>{}</div>", escape(line)),
    }
}

/// GET /deploys/{id}
pub async fn deploy_page(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let (job, req) = match linked_job(&state, id, &q).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let lines = state.store.log_after(id, -1, 10_000).await.unwrap_or_default();
    let last = lines.last().map_or(-1, |(seq, _)| *seq);
    let rendered: String = lines.iter().map(|(_, l)| log_line(l)).collect();
    let title = headline(&req);
    let events = format!("/deploys/{id}/events?exp={}&sig={}", q.exp, escape(&q.sig));
    let script = if job.ended() {
        String::new()
    } else {
        format!(
            "<script>(function(){{var log=document.getElementById('log'),st=document.getElementById('state');\
             var es=new EventSource('{events}&after={last}');\
             es.addEventListener('line',function(e){{var d=document.createElement('div');var t=e.data;\
             if(t.indexOf('\\u25b6 ')===0){{d.className='step';}}d.textContent=t;log.appendChild(d);}});\
             es.addEventListener('state',function(e){{st.textContent=e.data;st.className='state '+e.data;\
             if(e.data!=='queued'&&e.data!=='running'){{es.close();}}}});}})();</script>"
        )
    };
    let body = format!(
        "<h1>{}</h1><p>{} · requested by @{} · <span id=\"state\" class=\"state {state}\">{state}</span></p>\
         <div id=\"log\">{rendered}</div>\
         <p class=\"muted\">If this went wrong: <code>/rollback {} {}</code> in the pull request, or \
         <code>fleet rollback {} {}</code>.</p>{script}",
        escape(&title),
        escape(&format!("{}/{}", req.repo.owner, req.repo.name)),
        escape(&req.requested_by),
        escape(&req.fleet),
        escape(&req.stage),
        escape(&req.fleet),
        escape(&req.stage),
        state = escape(&job.state),
    );
    page(StatusCode::OK, &title, &body)
}

fn event(name: &str, id: Option<i64>, data: &str) -> Bytes {
    let mut text = String::new();
    if let Some(id) = id {
        text.push_str(&format!("id: {id}\n"));
    }
    text.push_str(&format!("event: {name}\n"));
    // A browser ends a field at CR as at LF: neither may reach it inside one.
    for line in data.split(['\n', '\r']) {
        text.push_str(&format!("data: {line}\n"));
    }
    text.push('\n');
    Bytes::from(text)
}

/// GET /deploys/{id}/events: `line` events (new log lines after `after`, or after the
/// `Last-Event-ID` a reconnecting browser sends), `state` events when the job's state changes;
/// ends once the job ended and every line was sent.
pub async fn deploy_events(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Query(q): Query<LinkQuery>,
) -> Response {
    if let Err(refusal) = linked_job(&state, id, &q).await {
        return refusal;
    }
    let resumed = (headers.get("last-event-id"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let store = state.store.clone();
    let stream = futures_util::stream::unfold(
        (store, resumed.unwrap_or(q.after), String::new(), false),
        move |(store, after, mut shown, done)| async move {
            if done {
                return None;
            }
            loop {
                // The state first, then the lines: an ended job's last lines were stored before
                // it ended, so they are in this read, and the end is said only after them.
                let Ok(Some(job)) = store.page_job(id).await else {
                    return None;
                };
                let Ok(lines) = store.log_after(id, after, 500).await else {
                    return None;
                };
                let mut chunk = Vec::new();
                let mut last = after;
                for (seq, line) in &lines {
                    chunk.extend_from_slice(&event("line", Some(*seq), line));
                    last = *seq;
                }
                // An ended state waits until no line is left to send (the page closes on it).
                let say_state = job.state != shown && (!job.ended() || lines.is_empty());
                if say_state {
                    chunk.extend_from_slice(&event("state", None, &job.state));
                }
                if say_state {
                    shown.clone_from(&job.state);
                }
                let finished = job.ended() && lines.is_empty();
                if !chunk.is_empty() || finished {
                    let next = (store, last, shown, finished);
                    return Some((Ok::<Bytes, Infallible>(Bytes::from(chunk)), next));
                }
                tokio::time::sleep(POLL).await;
            }
        },
    );
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        "text/event-stream".parse().expect("a header value"),
    );
    headers.insert(header::CACHE_CONTROL, "no-store".parse().expect("a header value"));
    response
}

/// Whether the request carries the operator token (constant-time compare).
fn operator(state: &AppState, headers: &HeaderMap, q: &TokenQuery) -> bool {
    let Some(token) = &state.operator_token else {
        return false;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or_else(|| q.token.clone())
        .unwrap_or_default();
    let (a, b) = (given.as_bytes(), token.expose().as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

fn target_of(job: &PageJob) -> Option<DeployRequest> {
    match Job::decode(&job.kind, &job.payload) {
        Ok(Job::Deploy(req)) => Some(req),
        _ => None,
    }
}

/// `site=1a2b3c4d5e6f` per service (the first server's record), from the stored JSON.
fn images_of(json: Option<&str>) -> String {
    let Some(servers) = json.and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok()) else {
        return String::new();
    };
    let services = servers[0]["services"].as_array().cloned().unwrap_or_default();
    services
        .iter()
        .map(|s| {
            let id = s["image_id"].as_str().unwrap_or("").trim_start_matches("sha256:");
            format!(
                "{}={}",
                s["service"].as_str().unwrap_or("?"),
                id.get(..12).unwrap_or(id)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// GET /: the overview, for the operator.
pub async fn overview(State(state): State<Arc<AppState>>, headers: HeaderMap, Query(q): Query<TokenQuery>) -> Response {
    if state.operator_token.is_none() {
        return refused("the overview is off: fleet serve runs without --operator-token");
    }
    if !operator(&state, &headers, &q) {
        return page(
            StatusCode::UNAUTHORIZED,
            "Operator token needed",
            "<h1>Operator token needed</h1>",
        );
    }
    match render_overview(&state.store, state.pages.as_ref()).await {
        Ok(body) => page(StatusCode::OK, "fleetflow", &body),
        Err(e) => {
            tracing::error!("cannot read the overview: {e}");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "<p>The database does not answer.</p>",
            )
        }
    }
}

async fn render_overview(store: &Store, links: Option<&PageLinks>) -> Result<String, sqlx::Error> {
    let active = store.active_deploys(DEPLOY_JOB).await?;
    let locks = store.held_locks().await?;
    let recent = store.recent_deploys(30).await?;
    let counts = store.job_counts().await?;
    let mut body = format!(
        "<h1>fleetflow</h1><p class=\"muted\">Jobs: {} queued, {} running, {} done, {} failed.</p>",
        counts.queued, counts.running, counts.done, counts.failed
    );
    body.push_str("<h2>Deploys running and queued</h2><table><tr><th>job</th><th>deploy</th><th>state</th><th>since</th><th>waiting for</th></tr>");
    for job in &active {
        let what = target_of(job).map_or_else(
            || "?".to_owned(),
            |r| format!("{}/{} {}", r.repo.owner, r.repo.name, headline(&r)),
        );
        body.push_str(&format!(
            "<tr><td>#{}</td><td>{}</td><td><span class=\"state {s}\">{s}</span></td><td>{}</td><td>{}</td></tr>",
            job.id,
            escape(&what),
            when(job.created_at),
            escape(job.last_error.as_deref().unwrap_or("")),
            s = escape(&job.state),
        ));
    }
    if active.is_empty() {
        body.push_str("<tr><td colspan=5 class=\"muted\">none</td></tr>");
    }
    body.push_str("</table><h2>Deploy locks</h2><table><tr><th>fleet:stage</th><th>held by</th><th>since</th><th>waiting behind it</th></tr>");
    for lock in &locks {
        let waiting: Vec<String> = active
            .iter()
            .filter(|j| j.id != lock.job_id && target_of(j).is_some_and(|r| r.target() == lock.target))
            .map(|j| format!("#{}", j.id))
            .collect();
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&lock.target),
            escape(&lock.holder),
            when(lock.acquired_at),
            escape(&waiting.join(", "))
        ));
    }
    if locks.is_empty() {
        body.push_str("<tr><td colspan=4 class=\"muted\">none</td></tr>");
    }
    body.push_str("</table><h2>Recent deploys</h2><table><tr><th>fleet:stage</th><th>what ran</th><th>result</th><th>by</th><th>took</th><th>finished</th><th>images</th><th>rollback</th></tr>");
    for d in &recent {
        let (fleet, stage) = {
            let mut parts = d.target.rsplitn(3, ':');
            let stage = parts.next().unwrap_or_default();
            (parts.next().unwrap_or_default(), stage)
        };
        let ran = match d.sha.strip_prefix("rollback:") {
            Some(to) => format!("rollback to {to}"),
            None => short_sha(&d.sha).to_owned(),
        };
        let ran = match (links, d.job_id) {
            (Some(links), Some(id)) => format!(
                "<a href=\"{}\">{}</a>",
                escape(&links.link(id, chrono::Utc::now().timestamp())),
                escape(&ran)
            ),
            _ => escape(&ran),
        };
        body.push_str(&format!(
            "<tr><td>{}</td><td>{ran}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>/rollback {} {}</code></td></tr>",
            escape(&d.target),
            escape(&d.result),
            escape(d.requested_by.as_deref().unwrap_or("")),
            d.duration_ms.map_or_else(String::new, |ms| format!("{:.1} s", ms as f64 / 1000.0)),
            when(d.finished_at),
            escape(&images_of(d.images.as_deref())),
            escape(fleet),
            escape(stage),
        ));
    }
    body.push_str("</table>");
    Ok(body)
}
