use super::*;

#[test]
fn github_com_and_enterprise_servers_have_their_api_and_new_app_pages() {
    assert_eq!(api_url("https://github.com"), "https://api.github.com");
    assert_eq!(api_url("https://github.com/"), "https://api.github.com");
    assert_eq!(api_url("https://ghe.example"), "https://ghe.example/api/v3");
    assert_eq!(
        new_app_url("https://github.com", None, "s1"),
        "https://github.com/settings/apps/new?state=s1"
    );
    assert_eq!(
        new_app_url("https://ghe.example/", Some("acme"), "s2"),
        "https://ghe.example/organizations/acme/settings/apps/new?state=s2"
    );
}

#[test]
fn the_start_page_carries_the_manifest_escaped() {
    let m = manifest(
        "a \"quoted\" <name>",
        "https://x.example/webhook",
        "http://127.0.0.1:1/callback",
    );
    let page = start_page("https://github.com/settings/apps/new?state=s&x=1", &m);
    assert!(
        page.contains("action=\"https://github.com/settings/apps/new?state=s&amp;x=1\""),
        "{page}"
    );
    assert!(!page.contains("<name>"), "{page}");
    assert!(
        page.contains("&quot;name&quot;:&quot;a \\&quot;quoted\\&quot; &lt;name&gt;&quot;"),
        "{page}"
    );
}

#[test]
fn settings_are_read_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let app = CreatedApp {
        id: 42,
        slug: "fleetflow".into(),
        name: "fleetflow".into(),
        html_url: "https://github.com/apps/fleetflow".into(),
        pem: crate::secret::Secret::new("-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n"),
        webhook_secret: crate::secret::Secret::new("s3cret"),
    };
    let file = write_config(dir.path(), &app, "https://api.github.com").unwrap();
    let settings = read_config(&file).unwrap();
    let get = |k: &str| settings.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    assert_eq!(get("GITHUB_APP_ID"), Some("42"));
    assert_eq!(get("GITHUB_WEBHOOK_SECRET"), Some("s3cret"));
    assert_eq!(
        get("GITHUB_APP_PRIVATE_KEY"),
        Some(dir.path().join("app.pem").to_str().unwrap())
    );
    // Written again (a second App): replaced, still 0600.
    write_config(dir.path(), &app, "https://api.github.com").unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
}
