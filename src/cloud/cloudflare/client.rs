//! The narrow HTTP client under the Cloudflare provider: REST API v4 over `reqwest`, driven
//! from the provider's synchronous methods by a private Tokio runtime.
//!
//! Every answer is the v4 envelope `{"success", "errors": [{"code", "message"}], "messages",
//! "result"}` (plus `result_info` on lists). HTTP 429 and 5xx and network failures become
//! [`ProviderError::Transient`] (a 429's `Retry-After` is waited out on the [`Clock`] first);
//! other failures are [`ProviderError::Permanent`] with the envelope's codes and a hint. The
//! token goes into the `Authorization` header only: no message ever contains it.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::clock::Clock;
use crate::cloud::ProviderError;

/// The longest `Retry-After` honoured before handing the retry to the caller's backoff.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Items per page when listing: 100, except where an endpoint documents a lower maximum
/// ([`per_page`]).
const PER_PAGE: usize = 100;
/// `GET /zones` takes at most 50 a page (and answers 400 above).
const ZONES_PER_PAGE: usize = 50;
/// Pages read at most from one list (a runaway `result_info` cannot loop forever).
const MAX_PAGES: usize = 50;

/// A request body.
pub(crate) enum Body {
    None,
    Json(Value),
    /// `multipart/form-data` already encoded, with its boundary.
    Multipart {
        boundary: String,
        bytes: Vec<u8>,
    },
}

pub(crate) struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    clock: Arc<dyn Clock>,
}

impl Api {
    pub(crate) fn new(base: &str, token: &str, clock: Arc<dyn Clock>) -> std::io::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("fleetflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(std::io::Error::other)?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http,
            rt,
            clock,
        })
    }

    pub(crate) fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    /// `result` of a GET, `None` for HTTP 404; `need` names the permission the token needs
    /// (for a 403's hint).
    pub(crate) fn get_opt(&self, path: &str, need: &str) -> Result<Option<Value>, ProviderError> {
        match self.call(Method::GET, path, Body::None, need)? {
            Reply::NotFound(_) => Ok(None),
            Reply::Ok(v) => Ok(Some(v)),
        }
    }

    pub(crate) fn send(&self, method: Method, path: &str, body: Body, need: &str) -> Result<Value, ProviderError> {
        match self.call(method.clone(), path, body, need)? {
            Reply::Ok(v) => Ok(v),
            Reply::NotFound(detail) => Err(ProviderError::Permanent(format!(
                "{method} {path}: HTTP 404 Not Found{detail}"
            ))),
        }
    }

    /// DELETE that treats "already gone" (404) as done.
    pub(crate) fn delete(&self, path: &str, need: &str) -> Result<(), ProviderError> {
        self.call(Method::DELETE, path, Body::None, need).map(drop)
    }

    /// The first item of a paged list whose `key` is `value`.
    pub(crate) fn find(&self, path: &str, key: &str, value: &str, need: &str) -> Result<Option<Value>, ProviderError> {
        let items = self.list(path, None, need)?;
        Ok(items.into_iter().find(|item| str_of(item, key) == Some(value)))
    }

    /// Every item of a paged list (`page`/`per_page`, following `result_info.total_pages`).
    /// `key` picks the array out of an object `result` (R2 answers `{"buckets": [...]}`).
    pub(crate) fn list(&self, path: &str, key: Option<&str>, need: &str) -> Result<Vec<Value>, ProviderError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        for page in 1..=MAX_PAGES {
            let per_page = per_page(path);
            let url = format!("{path}{sep}page={page}&per_page={per_page}");
            let (result, info) = match self.call_full(Method::GET, &url, Body::None, need)? {
                Full::Ok { result, info } => (result, info),
                Full::NotFound(_) => return Ok(items),
            };
            let list = match key {
                Some(k) => result.get(k).cloned().unwrap_or(Value::Null),
                None => result,
            };
            let got = list.as_array().map_or(0, Vec::len);
            items.extend(list.as_array().cloned().unwrap_or_default());
            let total_pages = info.get("total_pages").and_then(Value::as_u64).unwrap_or(1) as usize;
            if got < per_page || page >= total_pages {
                break;
            }
        }
        Ok(items)
    }

    fn call(&self, method: Method, path: &str, body: Body, need: &str) -> Result<Reply, ProviderError> {
        Ok(match self.call_full(method, path, body, need)? {
            Full::Ok { result, .. } => Reply::Ok(result),
            Full::NotFound(d) => Reply::NotFound(d),
        })
    }

    fn call_full(&self, method: Method, path: &str, body: Body, need: &str) -> Result<Full, ProviderError> {
        let url = format!("{}{path}", self.base);
        let what = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let mut request = self.http.request(method, &url);
        let auth = HeaderValue::from_str(&format!("Bearer {}", self.token))
            .map_err(|_| ProviderError::Permanent("CF_API_TOKEN is not a valid header value".into()))?;
        request = request.header(AUTHORIZATION, auth);
        request = match body {
            Body::None => request,
            Body::Json(v) => request.json(&v),
            Body::Multipart { boundary, bytes } => request
                .header(CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
                .body(bytes),
        };
        let fut = async move {
            let response = request.send().await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let text = response.text().await?;
            Ok::<_, reqwest::Error>((status, retry_after, text))
        };
        let (status, retry_after, text) = self.block_on(fut).map_err(|e| {
            // reqwest's message names the URL, never the headers.
            ProviderError::Transient(format!("{what}: {}", e.without_url()))
        })?;
        let envelope: Option<Value> = serde_json::from_str(&text).ok();
        let errors = envelope.as_ref().map(envelope_errors).unwrap_or_default();
        let detail = if errors.is_empty() {
            String::new()
        } else {
            format!(": {errors}")
        };
        if status == StatusCode::TOO_MANY_REQUESTS {
            if let Some(secs) = retry_after {
                self.clock.sleep(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
            }
            return Err(ProviderError::Transient(format!(
                "{what}: HTTP 429 rate limited{detail}"
            )));
        }
        if status.is_server_error() {
            return Err(ProviderError::Transient(format!("{what}: HTTP {status}{detail}")));
        }
        if status == StatusCode::NOT_FOUND {
            return Ok(Full::NotFound(detail));
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ProviderError::Permanent(format!(
                "{what}: HTTP {status}{detail} — check that CF_API_TOKEN is valid and has {need}"
            )));
        }
        let Some(envelope) = envelope else {
            return Err(ProviderError::Permanent(format!(
                "{what}: HTTP {status}: the answer is not the API's JSON envelope"
            )));
        };
        if !status.is_success() || envelope.get("success") == Some(&Value::Bool(false)) {
            return Err(ProviderError::Permanent(format!(
                "{what}: HTTP {status}{detail} — the request was refused as it is; fix the configuration and apply again"
            )));
        }
        Ok(Full::Ok {
            result: envelope.get("result").cloned().unwrap_or(Value::Null),
            info: envelope.get("result_info").cloned().unwrap_or(Value::Null),
        })
    }

    /// Runs a request on the private runtime; from inside another runtime, on a scoped thread
    /// (a runtime cannot be entered from within one).
    fn block_on<F: std::future::Future + Send>(&self, fut: F) -> F::Output
    where
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.rt.block_on(fut);
        }
        std::thread::scope(|s| match s.spawn(|| self.rt.block_on(fut)).join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }
}

enum Reply {
    Ok(Value),
    NotFound(String),
}

enum Full {
    Ok { result: Value, info: Value },
    NotFound(String),
}

/// `[code 81057] Record already exists.; …` from an envelope's `errors`.
fn envelope_errors(envelope: &Value) -> String {
    envelope
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| {
            let code = e.get("code").map(|c| c.to_string()).unwrap_or_else(|| "?".into());
            let message = e.get("message").and_then(Value::as_str).unwrap_or("(no message)");
            format!("[code {code}] {message}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `item[key]` as text.
pub(crate) fn str_of<'a>(item: &'a Value, key: &str) -> Option<&'a str> {
    item.get(key).and_then(Value::as_str)
}

/// A path segment with everything but unreserved characters percent-encoded.
pub(crate) fn seg(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `multipart/form-data` with the given parts: (name, filename, content type, bytes).
pub(crate) fn multipart(parts: &[(&str, Option<&str>, &str, &[u8])]) -> Body {
    let boundary = format!("fleetflow-{:016x}", {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for (name, _, _, bytes) in parts {
            h.update(name.as_bytes());
            h.update(bytes);
        }
        let d = h.finalize();
        u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
    });
    let mut bytes = Vec::new();
    for (name, filename, content_type, data) in parts {
        bytes.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let file = filename.map(|f| format!("; filename=\"{f}\"")).unwrap_or_default();
        bytes.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"{file}\r\n").as_bytes());
        bytes.extend_from_slice(format!("Content-Type: {content_type}\r\n\r\n").as_bytes());
        bytes.extend_from_slice(data);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Body::Multipart { boundary, bytes }
}

/// The page size for listing `path`: the zones list documents 5–50; the others take 100.
fn per_page(path: &str) -> usize {
    let endpoint = path.split('?').next().unwrap_or(path);
    if endpoint == "/zones" { ZONES_PER_PAGE } else { PER_PAGE }
}
