//! From nothing to a plan comment (issue 19): `fleet init` writes the repository's
//! configuration, `fleet app create` runs GitHub's App-manifest flow — a headless Chromium
//! opens its page, which posts the manifest to the fake GitHub's new-App page (a GitHub
//! Enterprise Server: the API under /api/v3), is redirected back with a code, and the code is
//! converted (`apps/create-from-manifest`, held to GitHub's description) — and `fleet serve`,
//! started with nothing but the settings file that wrote, posts the plan on a pull request.

#[path = "support/databases.rs"]
mod databases;
#[path = "support/fake_github.rs"]
mod fake_github;
#[path = "support/serve_harness.rs"]
mod serve_harness;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_github::{FakeGitHub, app_key};
use fleetflow::application::init::init_files;
use fleetflow::plan::PLAN_MARKER;
use serve_harness::{APP_ID, BASE, HEAD, INSTALLATION, KillOnDrop, REPO, free_port, pull_request, wait_exit};

fn wait_listening(addr: SocketAddr, child: &mut std::process::Child) {
    let start = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the process ended before listening on {addr}"
        );
        assert!(start.elapsed() < Duration::from_secs(20), "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_app_create_and_a_pull_request_get_a_plan_comment() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = app_key(dir.path());
    let pem = std::fs::read_to_string(&key).unwrap();
    let fake = FakeGitHub::start(APP_ID, &[INSTALLATION], &public).await;
    // What `fleet init` writes is the repository at the base; the head changes the image.
    let files = init_files("shop", "web");
    let base: Vec<(String, String)> = files
        .iter()
        .map(|f| (f.path.display().to_string(), f.text.clone()))
        .collect();
    let head: Vec<(String, String)> = base
        .iter()
        .map(|(p, t)| (p.clone(), t.replace("nginx:1.27", "nginx:1.28")))
        .collect();
    {
        let mut w = fake.world();
        w.api_prefix = Some("/api/v3".into());
        w.manifest.key_pem = pem.clone();
        w.manifest.app_id = APP_ID;
        let refs = |files: &[(String, String)]| -> Vec<(String, String)> { files.to_vec() };
        for (sha, files) in [(BASE, refs(&base)), (HEAD, refs(&head))] {
            w.add_commit(
                REPO,
                sha,
                &files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect::<Vec<_>>(),
            );
        }
    }

    // fleet app create, its page opened by a headless Chromium.
    let config = dir.path().join("config");
    let (page_port, serve_port) = (free_port(), free_port());
    let page: SocketAddr = format!("127.0.0.1:{page_port}").parse().unwrap();
    let webhook_url = format!("http://127.0.0.1:{serve_port}/webhook");
    let mut create = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_fleet"))
            .args(["app", "create", "--name", "fleetflow test", "--timeout", "60"])
            .args(["--webhook-url", &webhook_url, "--github-url", &fake.url()])
            .arg("--config-dir")
            .arg(&config)
            .args(["--listen", &page.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fleet app create starts"),
    );
    wait_listening(page, &mut create.0);
    // The start page is at a path only the console shows; `/` and another Host get nothing.
    let mut out = std::io::BufReader::new(create.0.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut out, &mut first).unwrap();
    let start_url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("the start page's address: {first:?}"))
        .to_owned();
    assert!(
        start_url.len() > format!("http://{page}/").len() + 30,
        "a random path: {start_url}"
    );
    let http = reqwest::Client::new();
    let root = http.get(format!("http://{page}/")).send().await.unwrap();
    assert_eq!(root.status(), 404);
    let rebound = (http.get(&start_url))
        .header("Host", format!("attacker.example:{page_port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        rebound.status(),
        421,
        "a page of another site resolved to 127.0.0.1 gets nothing"
    );
    let profile = tempfile::tempdir().unwrap();
    let browser = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=20000", "--dump-dom", &start_url])
        .output()
        .expect("chromium runs (scripts/test-world.sh installs it)");
    let dom = String::from_utf8_lossy(&browser.stdout);
    assert!(
        dom.contains("fleet app create: created"),
        "the browser ends on the success page:\n{dom}\n{}",
        String::from_utf8_lossy(&browser.stderr)
    );
    let status = wait_exit(&mut create.0, Duration::from_secs(30)).expect("fleet app create ends");
    let mut stdout = first.clone();
    std::io::Read::read_to_string(&mut out, &mut stdout).unwrap();
    assert!(status.success(), "fleet app create: {status}\n{stdout}");
    assert!(stdout.contains("wrote"), "{stdout}");

    // What GitHub was asked for, and what was saved (0600; the key is GitHub's).
    {
        let w = fake.world();
        let (org, manifest) = &w.manifest.posted[0];
        assert_eq!(org, &None);
        assert_eq!(manifest["hook_attributes"]["url"], webhook_url.as_str());
        assert_eq!(manifest["redirect_url"], format!("http://{page}/callback").as_str());
        for (permission, level) in [
            ("pull_requests", "write"),
            ("checks", "write"),
            ("contents", "read"),
            // Dispatches the build workflow of `builds "github-actions"`.
            ("actions", "write"),
        ] {
            assert_eq!(manifest["default_permissions"][permission], level, "{manifest}");
        }
        assert_eq!(
            manifest["default_events"],
            serde_json::json!(["pull_request", "push", "issue_comment", "workflow_run"])
        );
        assert!(
            w.violations.is_empty(),
            "requests off the REST description: {:?}",
            w.violations
        );
    }
    let (settings, key_file) = (config.join("app.env"), config.join("app.pem"));
    assert_eq!((mode(&settings), mode(&key_file)), (0o600, 0o600));
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), pem);
    let text = std::fs::read_to_string(&settings).unwrap();
    assert!(text.contains(&format!("GITHUB_APP_ID={APP_ID}\n")), "{text}");
    assert!(
        text.contains(&format!("GITHUB_API_URL={}/api/v3\n", fake.url())),
        "{text}"
    );
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("GITHUB_WEBHOOK_SECRET="))
        .expect("a webhook secret")
        .to_owned();

    // fleet serve with nothing but that file: a pull request gets its plan.
    let database = format!("sqlite://{}", dir.path().join("fleet.db").display());
    let mut serve = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_fleet"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{serve_port}"),
                "--database",
                &database,
            ])
            .env("FLEET_APP_CONFIG", &settings)
            .env_remove("GITHUB_APP_ID")
            .env_remove("GITHUB_APP_PRIVATE_KEY")
            .env_remove("GITHUB_WEBHOOK_SECRET")
            .env_remove("GITHUB_API_URL")
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("fleet serve starts"),
    );
    wait_listening(format!("127.0.0.1:{serve_port}").parse().unwrap(), &mut serve.0);
    let body = pull_request("opened", 7, HEAD, BASE);
    let answer = reqwest::Client::new()
        .post(&webhook_url)
        .header("X-GitHub-Event", "pull_request")
        .header("X-GitHub-Delivery", "app-create-1")
        .header("X-Hub-Signature-256", fleetflow::webhook::sign(&secret, &body))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 202);
    let start = Instant::now();
    loop {
        let comments = fake.world().bot_comments(REPO, 7);
        if let Some(c) = comments.first() {
            assert!(c.body.starts_with(PLAN_MARKER), "{}", c.body);
            assert!(c.body.contains("nginx:1.28"), "{}", c.body);
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no plan comment in 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fake.assert_no_violations();
}
