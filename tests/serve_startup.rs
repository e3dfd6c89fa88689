//! `fleet serve` checks its inputs before it says it listens: a missing or malformed App key
//! and a database it cannot open end the start with one clear line, said once.

#[path = "support/fake_github.rs"]
mod fake_github;

use assert_cmd::Command;

fn serve(key: &str, database: &str) -> (bool, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::cargo_bin("fleet")
        .unwrap()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database",
            database,
        ])
        .env("GITHUB_APP_ID", "1")
        .env("GITHUB_APP_PRIVATE_KEY", key)
        .env("GITHUB_WEBHOOK_SECRET", "s3cret")
        .env("GITHUB_API_URL", "http://127.0.0.1:9")
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_missing_key_file_is_said_once_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("fleet.db").display());
    let (ok, stderr) = serve("/nonexistent/app.pem", &db);
    assert!(!ok);
    assert!(
        stderr.contains("cannot read the App private key /nonexistent/app.pem"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "said once: {stderr}"
    );
    assert!(!stderr.contains("listening"), "{stderr}");
}

#[test]
fn a_key_that_is_not_a_pem_says_what_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("app.pem");
    std::fs::write(&key, "not a key\n").unwrap();
    let db = format!("sqlite://{}", dir.path().join("fleet.db").display());
    let (ok, stderr) = serve(&key.display().to_string(), &db);
    assert!(!ok);
    assert!(stderr.contains("not an RSA private key in PEM form"), "{stderr}");
    assert!(
        !stderr.contains("InvalidKeyFormat") && !stderr.contains("listening"),
        "{stderr}"
    );
}

#[test]
fn a_database_that_cannot_be_opened_fails_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = fake_github::app_key(dir.path());
    let db = format!("sqlite://{}", dir.path().join("no/such/dir/fleet.db").display());
    let (ok, stderr) = serve(&key.display().to_string(), &db);
    assert!(!ok);
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(!stderr.contains("listening"), "{stderr}");
}

/// `fleet serve --app-config FILE` run elsewhere: the file's relative key path is the file's
/// neighbour, and an empty value is no value.
#[test]
fn the_app_settings_file_names_its_key_relative_to_itself_and_empty_values_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("app.env");
    let run = |text: &str| {
        std::fs::write(&settings, text).unwrap();
        let out = Command::cargo_bin("fleet")
            .unwrap()
            .current_dir(std::env::temp_dir())
            .args(["serve", "--listen", "127.0.0.1:0", "--app-config"])
            .arg(&settings)
            .args([
                "--database",
                &format!("sqlite://{}", dir.path().join("fleet.db").display()),
            ])
            .env_remove("GITHUB_APP_ID")
            .env_remove("GITHUB_APP_PRIVATE_KEY")
            .env_remove("GITHUB_WEBHOOK_SECRET")
            .env("GITHUB_API_URL", "http://127.0.0.1:9")
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, stderr) = run("GITHUB_APP_ID=1\nGITHUB_APP_PRIVATE_KEY=app.pem\nGITHUB_WEBHOOK_SECRET=s3cret\n");
    assert!(!ok);
    let beside = dir.path().join("app.pem");
    assert!(
        stderr.contains(&format!("cannot read the App private key {}", beside.display())),
        "the key beside the file: {stderr}"
    );
    let (ok, stderr) = run("GITHUB_APP_ID=1\nGITHUB_APP_PRIVATE_KEY=app.pem\nGITHUB_WEBHOOK_SECRET=\n");
    assert!(!ok);
    assert!(
        stderr.contains("no --webhook-secret (or GITHUB_WEBHOOK_SECRET)") && stderr.contains("has none"),
        "{stderr}"
    );
}
