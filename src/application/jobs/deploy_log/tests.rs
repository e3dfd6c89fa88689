use super::*;

#[test]
fn secrets_are_masked_wherever_they_appear() {
    let secrets = vec!["s3cr3t-token".to_owned(), "abc".to_owned()];
    assert_eq!(
        redact("login with s3cr3t-token and again s3cr3t-token; abc stays", &secrets),
        "login with ••• and again •••; abc stays",
        "values under four characters are not masked (they would mask everything)"
    );
}
