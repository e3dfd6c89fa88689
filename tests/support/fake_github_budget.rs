//! The fake GitHub's rate limits, as GitHub documents them for a GitHub App installation: a
//! primary budget of requests per hour (5,000 by default) with the `X-RateLimit-*` headers on
//! every answer and 403 "API rate limit exceeded" once it is spent, and a secondary limit on
//! concurrent requests (403 with `retry-after`). Requests with the App's JWT (`/app…`) and
//! codeload downloads do not count, as on GitHub.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One identity's budget (an installation, or a user token's login).
#[derive(Debug, Clone)]
pub struct Window {
    pub used: u64,
    /// When the window resets (Unix seconds).
    pub reset: u64,
}

pub struct Budget {
    /// Requests per window (GitHub: 5,000 per hour for an installation).
    pub limit: u64,
    pub window: Duration,
    /// Concurrent requests per identity before the secondary limit answers (GitHub: 100).
    pub max_concurrent: usize,
    pub windows: BTreeMap<String, Window>,
    in_flight: BTreeMap<String, usize>,
    /// Every counted request per identity, never reset (for tests to read the economy).
    pub counted: BTreeMap<String, u64>,
    /// Requests refused by the primary or the secondary limit.
    pub refused: u64,
    /// Conditional requests answered 304 (not counted).
    pub not_modified: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            limit: 5_000,
            window: Duration::from_secs(3600),
            max_concurrent: 100,
            windows: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            counted: BTreeMap::new(),
            refused: 0,
            not_modified: 0,
        }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A counted request that was let through: release it with [`Budget::finish`].
pub struct Admitted {
    pub identity: String,
    headers: [(&'static str, String); 5],
}

impl Budget {
    /// Counts a request of `identity`: admitted, or GitHub's 403 answer.
    pub fn admit(&mut self, identity: &str) -> Result<Admitted, Box<Response>> {
        let t = now();
        let window = self.window.as_secs().max(1);
        let w = self.windows.entry(identity.to_owned()).or_insert(Window {
            used: 0,
            reset: t + window,
        });
        if t >= w.reset {
            *w = Window {
                used: 0,
                reset: t + window,
            };
        }
        let headers = |used: u64, reset: u64, limit: u64| {
            [
                ("x-ratelimit-limit", limit.to_string()),
                ("x-ratelimit-remaining", limit.saturating_sub(used).to_string()),
                ("x-ratelimit-used", used.to_string()),
                ("x-ratelimit-reset", reset.to_string()),
                ("x-ratelimit-resource", "core".to_owned()),
            ]
        };
        if w.used >= self.limit {
            self.refused += 1;
            let body = json!({
                "message": format!("API rate limit exceeded for installation ID {identity}."),
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            });
            let mut r = (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
            set_headers(&mut r, &headers(w.used, w.reset, self.limit));
            return Err(Box::new(r));
        }
        let in_flight = self.in_flight.entry(identity.to_owned()).or_default();
        if *in_flight >= self.max_concurrent {
            self.refused += 1;
            let body = json!({
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
            });
            let mut r = (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
            r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
            return Err(Box::new(r));
        }
        *in_flight += 1;
        w.used += 1;
        *self.counted.entry(identity.to_owned()).or_default() += 1;
        Ok(Admitted {
            identity: identity.to_owned(),
            headers: headers(w.used, w.reset, self.limit),
        })
    }

    /// Ends an admitted request: its answer gets the rate-limit headers; `refund`: it does not
    /// count after all (a 304).
    pub fn finish(&mut self, admitted: Admitted, response: &mut Response, refund: bool) {
        if let Some(n) = self.in_flight.get_mut(&admitted.identity) {
            *n = n.saturating_sub(1);
        }
        if refund {
            if let Some(w) = self.windows.get_mut(&admitted.identity) {
                w.used = w.used.saturating_sub(1);
            }
            if let Some(n) = self.counted.get_mut(&admitted.identity) {
                *n = n.saturating_sub(1);
            }
            self.not_modified += 1;
        }
        set_headers(response, &admitted.headers);
    }

    /// Every counted request so far, over all identities.
    pub fn total(&self) -> u64 {
        self.counted.values().sum()
    }
}

fn set_headers(response: &mut Response, headers: &[(&'static str, String)]) {
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, v);
        }
    }
}
