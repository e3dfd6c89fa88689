use super::*;

#[test]
fn a_key_path_that_does_not_exist_says_which() {
    let err = AppKey::new(1, &Secret::new("/nonexistent/app.pem")).unwrap_err();
    assert!(
        matches!(err, AuthError::ReadKey { ref path, .. } if path == "/nonexistent/app.pem"),
        "{err}"
    );
}

#[test]
fn a_pem_that_is_not_an_rsa_key_is_refused_without_echoing_it() {
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----";
    let err = AppKey::new(1, &Secret::new(pem)).unwrap_err();
    assert!(matches!(err, AuthError::BadKey), "{err}");
    assert!(!err.to_string().contains("bm90IGEga2V5"), "{err}");
}

#[test]
fn a_key_pasted_without_its_header_is_never_shown_as_a_path() {
    let pasted = "MIIEpAIBAAKCAQEA".repeat(20);
    let err = AppKey::new(1, &Secret::new(pasted.clone())).expect_err("no such file");
    let text = format!("{err}");
    assert!(!text.contains(&pasted[..32]), "{text}");
    assert!(text.contains("not shown"), "{text}");
    let err = AppKey::new(1, &Secret::new("/etc/fleet/app.pem")).expect_err("no such file");
    assert!(err.to_string().ends_with("/etc/fleet/app.pem"), "{err}");
}
