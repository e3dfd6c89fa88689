//! Reading a commit's configuration through the git database API (src/github/files.rs,
//! tree.rs) against the fake GitHub: a truncated tree is walked level by level, a blob that
//! vanished (a force-push) is a transient error the job retries, a warm cache costs nothing,
//! and the database keeps objects within its bound.

#[path = "support/fake_github.rs"]
mod fake_github;

use std::sync::Arc;

use fake_github::FakeGitHub;
use fleetflow::application::jobs::db::Store;
use fleetflow::config::LoadOptions;
use fleetflow::event::RepoRef;
use fleetflow::github::cache::ObjectCache;
use fleetflow::github::files::load_at;
use fleetflow::github::{GitHub, NoObserver};
use fleetflow::secret::Secret;

const TOKEN: &str = "ghp_commit_reading";
const SHA: &str = "abcdefabcdefabcdefabcdefabcdefabcdefabcd";
const SHA2: &str = "bcdefabcdefabcdefabcdefabcdefabcdefabcde";

fn registry(fleets: usize) -> String {
    let mut kdl = String::from("registry \"r\"\n");
    for i in 0..fleets {
        kdl.push_str(&format!(
            "fleet \"f{i}\" {{\n    path \"apps/group{}/f{i}\"\n}}\n",
            i % 3
        ));
    }
    kdl
}

fn fleet(i: usize) -> String {
    format!("project \"f{i}\"\nservice \"web\" {{\n    image \"ghcr.io/r/f{i}:1\"\n}}\nstage \"live\" {{\n}}\n")
}

async fn world(fleets: usize) -> (FakeGitHub, GitHub, RepoRef) {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = fake_github::app_key(dir.path());
    let fake = FakeGitHub::start(1, &[], &public).await;
    {
        let mut w = fake.world();
        w.add_user_token(TOKEN, "octocat");
        let mut files = vec![("fleet-registry.kdl".to_owned(), registry(fleets))];
        for i in 0..fleets {
            let dir = format!("apps/group{}/f{i}", i % 3);
            files.push((format!("{dir}/.fleetflow/fleet.kdl"), fleet(i)));
            files.push((format!("{dir}/src/lib.rs"), format!("// {i}\n")));
        }
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        w.add_commit("acme/mono", SHA, &refs);
    }
    let gh = GitHub::with_token(&fake.url(), Secret::new(TOKEN), Arc::new(NoObserver)).unwrap();
    let repo = RepoRef::parse("acme/mono").unwrap();
    (fake, gh, repo)
}

#[tokio::test]
async fn a_truncated_tree_is_walked_level_by_level() {
    let (fake, gh, repo) = world(12).await;
    fake.world().git.tree_entry_limit = Some(10);
    let index = gh.commit_index(0, &repo, SHA).await.unwrap().unwrap();
    let files = fake.world().commits[&("acme/mono".to_owned(), SHA.to_owned())].clone();
    let listed: Vec<&String> = index.entries.keys().collect();
    assert_eq!(listed, files.keys().collect::<Vec<_>>(), "every file, none twice");
    let ws = load_at(&gh, 0, &repo, SHA, LoadOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ws.fleets.len(), 12);
    fake.assert_no_violations();
    assert!(fake.world().git.trees_served > 2, "the truncated root was walked");
}

#[tokio::test]
async fn a_vanished_blob_is_a_transient_error_and_an_unknown_commit_has_no_registry() {
    let (fake, gh, repo) = world(3).await;
    load_at(&gh, 0, &repo, SHA, LoadOptions::default())
        .await
        .unwrap()
        .unwrap();
    // A later commit changes one fleet (one blob to fetch), and that blob is gone.
    let changed = fleet(0).replace(":1", ":2");
    {
        let mut w = fake.world();
        let mut files = w.commits[&("acme/mono".to_owned(), SHA.to_owned())].clone();
        files.insert("apps/group0/f0/.fleetflow/fleet.kdl".into(), changed.clone());
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        w.add_commit("acme/mono", SHA2, &refs);
        w.git.gone_blobs.insert(fake_github::git::blob_sha(&changed));
    }
    let e = load_at(&gh, 0, &repo, SHA2, LoadOptions::default()).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(e.to_string().contains("is gone"), "{e}");
    let missing = load_at(&gh, 0, &repo, &"0".repeat(40), LoadOptions::default())
        .await
        .unwrap();
    assert!(missing.unwrap_err().to_string().contains("fleet-registry.kdl"));
}

#[tokio::test]
async fn a_warm_cache_reads_a_commit_without_a_request() {
    let (fake, gh, repo) = world(30).await;
    load_at(&gh, 0, &repo, SHA, LoadOptions::default())
        .await
        .unwrap()
        .unwrap();
    let first = fake.world().calls.len();
    assert!(first <= 2, "one tree and one tarball: {:?}", fake.world().calls);
    load_at(&gh, 0, &repo, SHA, LoadOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fake.world().calls.len(), first, "{:?}", fake.world().calls);
}

#[tokio::test]
async fn the_database_cache_keeps_objects_and_drops_the_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("db").display()))
        .await
        .unwrap();
    store.put("a", b"alpha").await;
    store.put("b", b"beta").await;
    assert_eq!(store.get("a").await.as_deref(), Some(&b"alpha"[..]));
    assert_eq!(store.get("missing").await, None);
    // The same key keeps its first bytes (a key names its bytes for ever).
    store.put("a", b"other").await;
    assert_eq!(store.get("a").await.as_deref(), Some(&b"alpha"[..]));
    assert_eq!(store.object_usage().await.unwrap(), (2, 9));
    let big = vec![7u8; (fleetflow::application::jobs::db::objects::OBJECT_CACHE_BYTES / 2) as usize];
    store.put("big1", &big).await;
    // Over the bound: the least recently used go (recency is kept to the minute, so here the
    // oldest) until a tenth of the bound is free.
    store.put("big2", &big).await;
    assert!(store.get("big2").await.is_some());
    assert!(
        store.get("a").await.is_none() && store.get("b").await.is_none(),
        "the oldest went first"
    );
    let (_, bytes) = store.object_usage().await.unwrap();
    assert!(bytes <= fleetflow::application::jobs::db::objects::OBJECT_CACHE_BYTES);
    store.close().await;
}

#[tokio::test]
async fn a_file_read_again_at_a_branch_is_a_conditional_request_that_costs_nothing() {
    let (fake, gh, repo) = world(1).await;
    {
        let mut w = fake.world();
        let files = w.commits[&("acme/mono".to_owned(), SHA.to_owned())].clone();
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        w.add_commit("acme/mono", "main", &refs);
    }
    let first = gh.file(0, &repo, "fleet-registry.kdl", "main").await.unwrap().unwrap();
    let counted = fake.world().budget.total();
    let again = gh.file(0, &repo, "fleet-registry.kdl", "main").await.unwrap().unwrap();
    assert_eq!(first, again);
    {
        let w = fake.world();
        assert_eq!(w.budget.not_modified, 1, "the second read was a 304");
        assert_eq!(w.budget.total(), counted, "a 304 costs no rate limit");
    }
    // The branch moves: the file changes, and the new text is read.
    fake.world()
        .commits
        .get_mut(&("acme/mono".to_owned(), "main".to_owned()))
        .unwrap()
        .insert("fleet-registry.kdl".into(), "registry \"moved\"\n".into());
    let moved = gh.file(0, &repo, "fleet-registry.kdl", "main").await.unwrap().unwrap();
    assert_eq!(moved, b"registry \"moved\"\n");
    fake.assert_no_violations();
}

#[tokio::test]
async fn a_tarball_copy_that_is_not_the_blob_is_read_by_blob_and_never_cached() {
    let (fake, gh, repo) = world(3).await;
    let path = "apps/group1/f1/.fleetflow/fleet.kdl";
    // `export-subst` in .gitattributes: the tarball's copy is not the committed blob.
    fake.world()
        .git
        .tarball_text
        .insert(path.into(), fleet(1).replace("ghcr.io/r/f1:1", "ghcr.io/evil/f1:1"));
    for _ in 0..2 {
        let ws = load_at(&gh, 0, &repo, SHA, LoadOptions::default())
            .await
            .unwrap()
            .unwrap();
        assert!(ws.fleets["f1"].file.text.contains("ghcr.io/r/f1:1"), "the blob's text");
    }
    let w = fake.world();
    assert_eq!(w.deploy.tarballs_served, 1);
    assert_eq!(w.git.blobs_served, 1, "the differing file read by blob, once");
}

#[tokio::test]
async fn a_tree_that_would_cost_too_many_listings_is_refused_for_good() {
    let (fake, gh, repo) = world(1).await;
    {
        let mut w = fake.world();
        let mut files = w.commits[&("acme/mono".to_owned(), SHA.to_owned())].clone();
        for d in 0..150 {
            files.insert(format!("dir{d:03}/readme"), format!("{d}\n"));
        }
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        w.add_commit("acme/mono", SHA2, &refs);
        w.git.tree_entry_limit = Some(1);
    }
    let e = gh.commit_index(0, &repo, SHA2).await.unwrap_err();
    assert!(!e.is_transient(), "not retried: {e}");
    assert!(e.to_string().contains("tree"), "{e}");
    let listings = fake.world().git.trees_served;
    assert!(listings <= fleetflow::github::tree::MAX_TREE_REQUESTS, "{listings}");
}
