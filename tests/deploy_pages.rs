//! The deploy page and the overview of `fleet serve`, in a real browser (Debian's chromium,
//! headless, over WebDriver): a running deploy's page shows new log lines before the deploy
//! ends, then its final state; the overview lists the lock and the deploy waiting behind it; an
//! altered or expired link is refused; no secret reaches a page. Screenshots of both pages go to
//! target/screenshots/ (and to docs/screenshots/ with FLEET_UPDATE_SCREENSHOTS=1).

#[path = "support/deploy_scenario.rs"]
mod deploy_scenario;
#[path = "support/fake_github.rs"]
mod fake_github;
mod support;
#[path = "support/webdriver.rs"]
mod webdriver;

use std::time::{Duration, Instant};

use deploy_scenario::*;
use fleetflow::application::jobs::page_links::PageLinks;
use fleetflow::secret::Secret;
use webdriver::Browser;

const PUBLIC: &str = "https://fleet.example.test";
const OPERATOR: &str = "operator-token-for-tests";

fn save(name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("target/screenshots")];
    if std::env::var_os("FLEET_UPDATE_SCREENSHOTS").is_some() {
        dirs.push(root.join("docs/screenshots"));
    }
    for dir in dirs {
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(name), png).expect("write the screenshot");
    }
}

/// The deploy page's link in the reply that mentions `needle`, pointed at the App's address.
fn page_link(s: &Scenario, needle: &str) -> Option<String> {
    s.bot_replies(PR).iter().filter(|r| r.contains(needle)).find_map(|r| {
        let start = r.find(&format!("({PUBLIC}/deploys/"))? + 1;
        let end = start + r[start..].find(')')?;
        Some(r[start..end].replace(PUBLIC, &format!("http://{}", s.addr)))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_deploys_page_streams_its_log_and_the_overview_shows_who_waits() {
    let world = support::test_world();
    let s = Scenario::start_with(vec![
        ("FLEET_PUBLIC_URL".into(), PUBLIC.into()),
        ("FLEET_OPERATOR_TOKEN".into(), OPERATOR.into()),
        ("FLEET_IMAGE_REGISTRY_USERNAME".into(), world.registry_user.clone()),
        ("FLEET_IMAGE_REGISTRY_TOKEN".into(), world.registry_password.clone()),
    ])
    .await;
    s.hold_a_deploy_with_another_waiting().await;
    let link = page_link(&s, "Building").expect("the running deploy's reply links its page");
    {
        let w = s.fake.world();
        let d = &w.deploy.deployments[0];
        assert!(
            d.log_urls.iter().any(|u| u
                .as_deref()
                .is_some_and(|u| u.starts_with(&format!("{PUBLIC}/deploys/")))),
            "the deployment status carries the page as log_url: {:?}",
            d.log_urls
        );
    }

    let browser = Browser::start(support_port()).await;
    // The overview: the lock, and the deploy waiting behind it.
    browser.open(&format!("http://{}/?token={OPERATOR}", s.addr)).await;
    let overview = browser.eval("return document.body.innerText").await;
    let overview = overview.as_str().unwrap_or_default().to_owned();
    assert!(overview.contains("Deploy locks"), "{overview}");
    assert!(overview.contains(":creo:live"), "the lock's target: {overview}");
    assert!(overview.contains("queued"), "the waiting deploy: {overview}");
    // The lock's row: target, holder (`#N …`), since, what waits behind it — the other deploy.
    let lock_row: Vec<&str> = overview
        .lines()
        .find(|l| l.starts_with("acme/monorepo:creo:live"))
        .expect("the lock's row")
        .split('\t')
        .collect();
    let holder = lock_row[1].split_whitespace().next().expect("the holder's job");
    let deploys: Vec<&str> = (overview.lines())
        .filter(|l| l.starts_with('#') && l.contains("Deploy creo → live"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(deploys.len(), 2, "both deploys listed: {overview}");
    let other = deploys.iter().find(|d| **d != holder).expect("the waiting deploy");
    assert_eq!(
        lock_row.last().map(|w| w.trim()),
        Some(*other),
        "{other} waits behind the lock: {lock_row:?}"
    );
    save("overview.png", &browser.screenshot().await);
    browser.open(&format!("http://{}/?token=wrong", s.addr)).await;
    let refused = browser.eval("return document.body.innerText").await;
    assert!(
        refused.as_str().unwrap_or_default().contains("Operator token needed"),
        "{refused}"
    );

    // The running deploy's page: one step so far; new lines arrive while it runs.
    browser.open(&link).await;
    let count = "return document.querySelectorAll('#log > div').length";
    let state = "return document.getElementById('state').textContent";
    assert_eq!(browser.eval(state).await, "running");
    let before = browser.eval(count).await.as_u64().unwrap_or(0);
    assert!(before >= 1, "the first step is shown");
    s.fake.world().deploy.hang_tarball = false;
    let until = Instant::now() + Duration::from_secs(120);
    let mut grew_while_running = false;
    loop {
        let (n, st) = (
            browser.eval(count).await.as_u64().unwrap_or(0),
            browser.eval(state).await,
        );
        if st == "running" && n > before {
            grew_while_running = true;
        }
        if st != "running" {
            assert_eq!(st, "done", "the final state");
            break;
        }
        assert!(Instant::now() < until, "the deploy did not end within 120 s");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(grew_while_running, "log lines appeared before the deploy ended");
    let text = browser.eval("return document.body.innerText").await;
    let text = text.as_str().unwrap_or_default().to_owned();
    assert!(text.contains("Deployed"), "the final step: {text}");
    assert!(text.contains("[box]"), "the server's lines: {text}");
    save("deploy-page.png", &browser.screenshot().await);
    // The App's history: who, how long, and a link to the page.
    browser.open(&format!("http://{}/?token={OPERATOR}", s.addr)).await;
    let recent = browser.eval("return document.body.innerText").await;
    let recent = recent.as_str().unwrap_or_default().to_owned();
    let row = recent
        .lines()
        .find(|l| l.starts_with("acme/monorepo:creo:live\tbbbbbbb"))
        .unwrap_or_else(|| panic!("the finished deploy in the history: {recent}"));
    assert!(row.contains("\tsuccess\talice\t") && row.contains(" s\t"), "{row:?}");
    assert!(
        row.contains("\tsite="),
        "the image each service ran, as the server recorded it: {row:?}"
    );
    let linked = browser
        .eval("return document.querySelector('td a').getAttribute('href')")
        .await;
    assert!(
        linked
            .as_str()
            .is_some_and(|h| h.starts_with(&format!("{PUBLIC}/deploys/"))),
        "{linked}"
    );
    let source = browser.source().await;
    for secret in [SECRET, world.registry_password.as_str(), OPERATOR] {
        assert!(!source.contains(secret), "a secret in the page");
    }

    // An altered or expired link opens nothing.
    let altered = link.replace("sig=", "sig=00");
    browser.open(&altered).await;
    let said = browser.eval("return document.body.innerText").await;
    assert!(
        said.as_str().unwrap_or_default().contains("this link is not valid"),
        "{said}"
    );
    let id: i64 = link
        .split("/deploys/")
        .nth(1)
        .and_then(|r| r.split('?').next())
        .and_then(|n| n.parse().ok())
        .expect("job id");
    let old = PageLinks::new(&format!("http://{}", s.addr), &Secret::new(SECRET))
        .link(id, chrono::Utc::now().timestamp() - 31 * 24 * 3600);
    browser.open(&old).await;
    let said = browser.eval("return document.body.innerText").await;
    assert!(
        said.as_str().unwrap_or_default().contains("this link has expired"),
        "{said}"
    );
    browser.quit().await;
    s.wait_for("the second deploy", Duration::from_secs(120), |w| deploy_finished(w, 2))
        .await;
    s.assert_no_violations();
}

fn support_port() -> u16 {
    fake_github::free_port()
}
