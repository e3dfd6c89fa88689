//! The Cloudflare provider's test bench (tests/cloud_cloudflare.rs): the stage-dev Cloudflare
//! resources of seed 002, the fake API holding their zones, a provider on a recording clock,
//! and the actions `fleet apply` would give it.
//!
//! Use from a test file with `#[path = "support/cloudflare_bench.rs"] mod cloudflare_bench;`
//! beside `cloud_fixture` and `fake_cloudflare`.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use crate::cloud_fixture::{RecordingClock, snapshot};
use crate::fake_cloudflare::{ACCOUNT, FakeCloudflare, TOKEN};
use fleetflow::cloud::cloudflare::{CloudflareProvider, CloudflareSettings, desired_attributes, manages};
use fleetflow::cloud::{Action, ApplyReport, Op, RetryConfig, apply_actions};
use fleetflow::plan::state::State;
use fleetflow::plan::{self, Snapshot};

pub const ZONE: &str = "creo-memories.com";

/// The stage-dev Cloudflare resources of seed 002, with `edits` made to the text.
pub fn fleet(edits: &[(&str, &str)]) -> String {
    let base = r#"project "creo"
stage "dev" {
    server "creo-dev-01" { provider "sakura-cloud"; plan core=4 memory=4; }
    r2-bucket "creo-attachments" {
        provider "cloudflare"
        location "APAC"
        cors {
            allowed-origins "https://api.creo-memories.com"
            allowed-methods "GET" "PUT" "POST" "DELETE"
            max-age 3600
        }
        custom-domain "cdn.creo-memories.com"
    }
    worker "api-gateway" {
        provider "cloudflare"
        source "./workers/api-gateway"
        route "api.creo-memories.com/*"
        bindings {
            r2 "ATTACHMENTS" bucket="creo-attachments"
            kv "CACHE" namespace="creo-cache"
            var "MODE" value="dev"
        }
    }
    dns "creo-memories.com" {
        provider "cloudflare"
        record "api" type="A" value="203.0.113.7" proxied=#true
        record "assets" type="CNAME" value="creo-attachments.r2.cloudflarestorage.com" proxied=#true
    }
}
"#;
    edits.iter().fold(base.to_owned(), |text, (from, to)| {
        assert!(text.contains(from), "{from:?} is in the fixture");
        text.replacen(from, to, 1)
    })
}

/// What `fleet apply` does with a plan: the Cloudflare changes as provider actions.
pub fn cloudflare_actions(base: Option<&Snapshot>, head: &Snapshot, state: Option<&State>) -> Vec<Action> {
    let plan = plan::plan(base, head, state);
    plan.changes
        .iter()
        .filter(|c| c.after.as_ref().or(c.before.as_ref()).is_some_and(manages))
        .map(|c| Action {
            address: c.id.clone(),
            op: match c.action {
                plan::Action::Create => Op::Create,
                plan::Action::Update => Op::Update,
                plan::Action::Replace => Op::Replace,
                plan::Action::Delete => Op::Delete,
            },
            attributes: c.after.as_ref().and_then(desired_attributes).unwrap_or_default(),
        })
        .collect()
}

pub struct World {
    pub fake: FakeCloudflare,
    pub clock: Arc<RecordingClock>,
    pub dir: tempfile::TempDir,
    pub provider: CloudflareProvider,
}

pub fn provider_for(fake: &FakeCloudflare, dir: &Path, token: &str, clock: Arc<RecordingClock>) -> CloudflareProvider {
    let settings = CloudflareSettings {
        api_url: fake.url(),
        api_token: token.into(),
        account_id: Some(ACCOUNT.into()),
        source_dir: dir.to_path_buf(),
    };
    CloudflareProvider::new(settings).expect("provider").with_clock(clock)
}

pub fn world() -> World {
    let fake = FakeCloudflare::start(&[ZONE, "example.org"]);
    fake.world().add_kv_namespace("creo-cache");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("workers/api-gateway");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("index.js"),
        "export default { async fetch() { return new Response('hi'); } };\n",
    )
    .unwrap();
    let clock = Arc::new(RecordingClock::default());
    let provider = provider_for(&fake, dir.path(), TOKEN, Arc::clone(&clock));
    World {
        fake,
        clock,
        dir,
        provider,
    }
}

impl World {
    pub fn apply(&self, actions: &[Action], state: &mut State) -> ApplyReport {
        apply_actions(&self.provider, &*self.clock, &RetryConfig::default(), actions, state)
    }

    /// Creates everything of the base fixture; returns its snapshot and state.
    pub fn create_all(&self) -> (Snapshot, State) {
        let head = snapshot(&fleet(&[]));
        let actions = cloudflare_actions(None, &head, None);
        let mut state = State::default();
        let report = self.apply(&actions, &mut state);
        assert!(report.ok(), "{report:?}");
        (head, state)
    }
}

pub fn addresses(actions: &[Action]) -> Vec<(String, Op)> {
    actions.iter().map(|a| (a.address.clone(), a.op)).collect()
}
