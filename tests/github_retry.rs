//! GitHub's own waits: Retry-After and the rate-limit reset decide when a job runs again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleetflow::github::retry_after;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).expect("header"));
    }
    h
}

#[test]
fn retry_after_and_rate_limit_reset_are_respected() {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    assert_eq!(
        retry_after(StatusCode::TOO_MANY_REQUESTS, &headers(&[("retry-after", "30")]), now),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        retry_after(StatusCode::FORBIDDEN, &headers(&[("retry-after", "7")]), now),
        Some(Duration::from_secs(7)),
        "secondary rate limit"
    );
    let reset = (1_800_000_000u64 + 90).to_string();
    assert_eq!(
        retry_after(
            StatusCode::FORBIDDEN,
            &headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)]),
            now
        ),
        Some(Duration::from_secs(90)),
        "primary rate limit: wait until the reset"
    );
    assert_eq!(
        retry_after(StatusCode::BAD_GATEWAY, &headers(&[("retry-after", "2")]), now),
        Some(Duration::from_secs(2))
    );
    assert_eq!(
        retry_after(StatusCode::BAD_GATEWAY, &HeaderMap::new(), now),
        None,
        "5xx without a wait: our backoff"
    );
    assert_eq!(
        retry_after(StatusCode::FORBIDDEN, &headers(&[("x-ratelimit-remaining", "12")]), now),
        None,
        "a plain 403 is not a rate limit"
    );
    assert_eq!(
        retry_after(StatusCode::NOT_FOUND, &headers(&[("retry-after", "5")]), now),
        None
    );
    let _ = SystemTime::now();
}
