use super::*;
use crate::event::Event;

#[test]
fn documented_vector_verifies() {
    let secret = Secret::new("It's a Secret to Everybody");
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert!(verify_signature(
        std::slice::from_ref(&secret),
        b"Hello, World!",
        Some(sig)
    ));
    assert_eq!(sign(secret.expose(), b"Hello, World!"), sig);
    assert!(!verify_signature(
        std::slice::from_ref(&secret),
        b"Hello, World?",
        Some(sig)
    ));
    assert!(!verify_signature(std::slice::from_ref(&secret), b"Hello, World!", None));
    assert!(!verify_signature(
        std::slice::from_ref(&secret),
        b"Hello, World!",
        Some("sha256=zz")
    ));
    assert!(!verify_signature(&[secret], b"Hello, World!", Some("sha1=757107")));
    // Rotation: any configured secret may have signed it.
    let rotated = [Secret::new("new"), Secret::new("It's a Secret to Everybody")];
    assert!(verify_signature(&rotated, b"Hello, World!", Some(sig)));
}

#[test]
fn secrets_never_print() {
    let s = Secret::new("hunter2");
    assert!(!format!("{s:?}").contains("hunter2"));
}

#[test]
fn unknown_event_is_ignored() {
    let e = parse_event("deployment_review", br#"{"action":"approved"}"#).unwrap();
    assert_eq!(
        e,
        Event::Ignored {
            event: "deployment_review".into(),
            action: Some("approved".into())
        }
    );
    // A workflow run that did not end yet is not acted on; one that ended must say which.
    let requested = parse_event("workflow_run", br#"{"action":"requested"}"#).unwrap();
    assert!(matches!(requested, Event::Ignored { .. }), "{requested:?}");
    assert!(parse_event("workflow_run", br#"{"action":"completed"}"#).is_err());
    assert!(parse_event("pull_request", br#"{"action":"opened"}"#).is_err());
    assert!(parse_event("push", b"not json").is_err());
}
