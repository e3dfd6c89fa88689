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
