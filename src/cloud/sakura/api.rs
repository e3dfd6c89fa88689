//! The Sakura Cloud REST API 1.1 over HTTP Basic auth: objects come wrapped (`{"Server":{…}}`),
//! lists as `{"Total","From","Count","Servers":[…]}`, search conditions as JSON in the query
//! string (`GET /server?{"Filter":{"Name":"x"}}`), errors as
//! `{"is_fatal":true,"serial":…,"status":"404 Not Found","error_code":"not_found","error_msg":"…"}`.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::auth::Credentials;
use crate::cloud::ProviderError;

/// The API's base URL for `zone`; FLEET_SAKURA_API_URL overrides it (`{zone}` is replaced).
pub fn base_url(zone: &str, override_url: Option<&str>) -> String {
    match override_url.filter(|u| !u.trim().is_empty()) {
        Some(url) => url.trim_end_matches('/').replace("{zone}", zone),
        None => format!("https://secure.sakura.ad.jp/cloud/zone/{zone}/api/cloud/1.1"),
    }
}

/// One failed call, before it becomes a [`ProviderError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status; 0 when no response arrived.
    pub status: u16,
    pub code: String,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    /// 429, 5xx and network failures are worth another attempt.
    pub fn is_transient(&self) -> bool {
        self.status == 0 || self.status == 429 || self.status >= 500
    }

    /// What went wrong and what to do, without any credential.
    pub fn describe(&self, what: &str) -> String {
        let detail = if self.message.is_empty() {
            self.code.clone()
        } else {
            self.message.clone()
        };
        let advice = match self.status {
            0 => "check the network (or FLEET_SAKURA_API_URL)",
            401 => {
                "check SAKURACLOUD_ACCESS_TOKEN / SAKURACLOUD_ACCESS_TOKEN_SECRET (or the usacloud profile): the key was refused"
            }
            403 => "the API key lacks permission for this: grant it in the control panel, or use another key",
            404 => "it no longer exists; run `fleet plan` to see the drift",
            409 => "the resource is busy or in a conflicting state; wait and run again",
            429 => "rate limited by Sakura Cloud; it was retried, run again later",
            s if s >= 500 => "Sakura Cloud had a server error; it was retried, run again later",
            _ => "the request was refused; check the server's settings in fleet.kdl",
        };
        let status = if self.status == 0 {
            "no response".to_owned()
        } else {
            format!("HTTP {}", self.status)
        };
        format!("{what}: {detail} ({status}); {advice}")
    }

    pub fn into_provider(self, what: &str) -> ProviderError {
        let text = self.describe(what);
        if self.is_transient() {
            ProviderError::Transient(text)
        } else {
            ProviderError::Permanent(text)
        }
    }
}

/// A client for one zone.
pub struct Api {
    base: String,
    credentials: Credentials,
    http: reqwest::blocking::Client,
}

impl Api {
    pub fn new(base: String, credentials: Credentials) -> Self {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("fleetflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::blocking::Client::new());
        Self {
            base,
            credentials,
            http,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// One request; `query` is sent as the JSON search condition.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        query: Option<&Value>,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.base)).map_err(|e| ApiError {
            status: 0,
            code: "bad_url".into(),
            message: format!("invalid API URL {}{path}: {e}", self.base),
            retry_after: None,
        })?;
        if let Some(q) = query {
            url.set_query(Some(&q.to_string()));
        }
        let mut request = self
            .http
            .request(method, url)
            .basic_auth(&self.credentials.token, Some(&self.credentials.secret));
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request.send().map_err(|e| ApiError {
            status: 0,
            code: "network".into(),
            message: without_url(&e),
            retry_after: None,
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().unwrap_or_default();
        let json: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        if (200..300).contains(&status) {
            return Ok(json);
        }
        let field = |k: &str| json.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        Err(ApiError {
            status,
            code: field("error_code"),
            message: field("error_msg"),
            retry_after,
        })
    }
}

/// reqwest's message without the URL (which never holds credentials here, but stays short).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

/// `{"Server":{…}}` → the inner object.
pub fn unwrap<'a>(json: &'a Value, key: &str) -> &'a Value {
    json.get(key).unwrap_or(&Value::Null)
}

/// A JSON ID (the API sends IDs as strings; numbers are accepted too).
pub fn id_of(v: &Value) -> Option<String> {
    match v.get("ID")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
