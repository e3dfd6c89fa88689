//! A repository's tarball (the deploy's build context, a large commit's configuration) has its
//! own time limit, growing with what arrives (src/github/transport.rs `BodyPace`): a large
//! download that keeps coming finishes however long it takes past the base, a trickle is given
//! up as a transient failure (the job retries), before the download would have ended.

#[path = "support/fake_github.rs"]
mod fake_github;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_github::FakeGitHub;
use fleetflow::event::RepoRef;
use fleetflow::github::{BodyPace, GitHub, GitHubError, NoObserver};
use fleetflow::secret::Secret;

const TOKEN: &str = "ghp_tarball_pace";
const SHA: &str = "1234567890123456789012345678901234567890";

/// Bytes gzip cannot shrink (a xorshift sequence), so the tarball is as large as the file.
fn incompressible(len: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 90) as u8)
        })
        .collect()
}

async fn world(pace: BodyPace) -> (FakeGitHub, GitHub, RepoRef) {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = fake_github::app_key(dir.path());
    let fake = FakeGitHub::start(1, &[], &public).await;
    {
        let mut w = fake.world();
        w.add_user_token(TOKEN, "octocat");
        let big = incompressible(256 * 1024);
        w.add_commit(
            "acme/mono",
            SHA,
            &[("fleet-registry.kdl", "registry \"r\"\n"), ("assets/blob.txt", &big)],
        );
    }
    let gh = GitHub::with_token(&fake.url(), Secret::new(TOKEN), Arc::new(NoObserver))
        .unwrap()
        .with_tarball_pace(pace);
    (fake, gh, RepoRef::parse("acme/mono").unwrap())
}

/// One second, plus a second per 64 KiB.
const PACE: BodyPace = BodyPace {
    base: Duration::from_secs(1),
    bytes_per_second: 64 * 1024,
};

#[tokio::test]
async fn a_large_tarball_that_keeps_arriving_takes_longer_than_the_base_and_completes() {
    let (fake, gh, repo) = world(PACE).await;
    // 16 KiB every 100 ms: 160 KiB/s, the ~210 KiB archive in about 1.4 s (> the 1 s base).
    fake.world().deploy.tarball_pace = Some((16 * 1024, Duration::from_millis(100)));
    let started = Instant::now();
    let tarball = gh.tarball(0, &repo, SHA).await.expect("a steady download completes");
    let took = started.elapsed();
    assert!(tarball.len() > 200 * 1024, "the whole archive: {} bytes", tarball.len());
    assert!(
        took > PACE.base,
        "it took {took:?}, past the base: the limit grew with the size"
    );
    fake.assert_no_violations();
}

#[tokio::test]
async fn a_trickle_is_given_up_as_a_transient_failure_before_it_would_end() {
    let (fake, gh, repo) = world(PACE).await;
    // 1 KiB every 200 ms: 5 KiB/s, the archive would take about 50 s.
    fake.world().deploy.tarball_pace = Some((1024, Duration::from_millis(200)));
    let started = Instant::now();
    let error = gh.tarball(0, &repo, SHA).await.expect_err("a trickle is given up");
    let took = started.elapsed();
    assert!(matches!(error, GitHubError::TooSlow { .. }), "{error}");
    assert!(error.is_transient(), "retried later: {error}");
    let text = error.to_string();
    assert!(
        text.contains("/tarball/") && text.contains("slower than its pace"),
        "{text}"
    );
    assert!(
        took < Duration::from_secs(5),
        "given up after {took:?}, not at the end of the download"
    );
    fake.assert_no_violations();
}

#[tokio::test]
async fn an_archive_at_full_speed_is_read_whole_under_the_default_pace() {
    let (_fake, gh, repo) = world(BodyPace::TARBALL).await;
    let tarball = gh.tarball(0, &repo, SHA).await.unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball.as_slice()));
    let names: Vec<String> = (archive.entries().unwrap())
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().any(|n| n.ends_with("assets/blob.txt")), "{names:?}");
}
