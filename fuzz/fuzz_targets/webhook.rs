//! A webhook delivery: the first byte picks the X-GitHub-Event name, the rest is the body.
//! `parse_event` returns Ok or Err, never panics; signatures check as they should.
#![no_main]

use fleetflow::secret::Secret;
use fleetflow::webhook::{parse_event, sign, verify_signature};
use libfuzzer_sys::fuzz_target;

/// The events we act on, one we know only by name, and one we do not know at all.
const EVENTS: [&str; 8] = [
    "push",
    "pull_request",
    "issue_comment",
    "ping",
    "installation",
    "check_run",
    "installation_repositories",
    "workflow_run",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let event = EVENTS[usize::from(selector) % EVENTS.len()];
    if let Ok(parsed) = parse_event(event, body) {
        std::hint::black_box((parsed.label(), parsed.plan_request().is_some()));
    }
    let secrets = [Secret::new("It's a Secret to Everybody"), Secret::new("")];
    assert!(verify_signature(&secrets, body, Some(&sign("", body))));
    // The body as a header: whatever it holds, only a yes or a no.
    let header = String::from_utf8_lossy(body);
    std::hint::black_box(verify_signature(&secrets, body, Some(&header)));
});
