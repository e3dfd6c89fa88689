//! The plan engine on fixtures covering every change kind (snapshots of text and markdown),
//! secrets, GitHub's size limits, and properties over generated configurations.

use std::collections::BTreeMap;
use std::fmt::Write;

use fleetflow::config::{LoadError, LoadOptions, MemoryFiles, Workspace, load_workspace};
use fleetflow::plan::snapshot::Address;
use fleetflow::plan::state::{State, StateResource};
use fleetflow::plan::{
    Action, CHECK_RUN_LIMIT, COMMENT_LIMIT, PLAN_MARKER, Plan, Snapshot, plan, render_markdown, render_text,
};

#[path = "../benches/support/generate.rs"]
mod generate;

fn load(files: &[(&str, &str)]) -> Workspace {
    let mut memory = MemoryFiles::default();
    for (path, text) in files {
        memory.files.insert((*path).to_owned(), (*text).to_owned());
    }
    match load_workspace(&memory, "fleet-registry.kdl", LoadOptions::default()) {
        Ok(w) => w,
        Err(LoadError::Config(e)) => panic!(
            "invalid fixture:\n{}",
            e.diagnostics
                .items
                .iter()
                .map(|d| format!("{}: {}\n", d.position(), d.message))
                .collect::<String>()
        ),
        Err(e) => panic!("invalid fixture: {e}"),
    }
}

const BASE_REGISTRY: &str = r#"registry "plan-fixture"
fleet "creo" {
    path "fleets/creo"
    description "Creo Memories - 永続記憶サービス"
}
fleet "shop" { path "fleets/shop"; }
fleet "legacy" { path "fleets/legacy"; }
server "vps-01" { provider "sakura-cloud"; plan "4core-8gb"; ssh-host "203.0.113.10"; deploy-path "/opt/apps"; }
server "vps-02" { provider "sakura-cloud"; plan "2core-4gb"; ssh-host "203.0.113.11"; deploy-path "/opt/apps"; }
server "old-box" { provider "sakura-cloud"; ssh-host "203.0.113.99"; deploy-path "/opt/apps"; }
deployment {
    route fleet="creo" stage="live" server="vps-01"
    route fleet="shop" stage="live" server="vps-01"
    route fleet="legacy" stage="live" server="old-box"
}
"#;

/// `base` with each `(from, to)` made once (every `from` must be there).
fn edited(base: &str, edits: &[(&str, &str)]) -> String {
    edits.iter().fold(base.to_owned(), |text, (from, to)| {
        assert!(text.contains(from), "{from:?} is in the base fixture");
        text.replacen(from, to, 1)
    })
}

fn head_registry() -> String {
    let old_box = r#"server "old-box" { provider "sakura-cloud"; ssh-host "203.0.113.99"; deploy-path "/opt/apps"; }"#;
    let vps_03 = r#"server "vps-03" { provider "sakura-cloud"; ssh-host "203.0.113.12"; deploy-path "/srv"; }"#;
    let new_routes = concat!(
        r#"route fleet="shop" stage="dev" server="vps-03""#,
        "\n    ",
        r#"route fleet="blog" stage="live" server="vps-03""#
    );
    edited(
        BASE_REGISTRY,
        &[
            (
                r#"fleet "legacy" { path "fleets/legacy"; }"#,
                r#"fleet "blog" { path "fleets/blog"; description "New blog"; }"#,
            ),
            (r#"plan "4core-8gb""#, r#"plan "8core-16gb""#),
            (old_box, vps_03),
            (r#"stage="live" server="vps-01""#, r#"stage="live" server="vps-02""#),
            (r#"route fleet="legacy" stage="live" server="old-box""#, new_routes),
        ],
    )
}

const BASE_CREO: &str = r#"project "creo"
service "api" {
    image "ghcr.io/acme/creo-api:1.0"
    port 8080
    volume "api-data:/data"
    env { LOG_LEVEL "info"; DB_PASSWORD "fixture-secret-db-password-1"; API_TOKEN env="HOST_API_TOKEN"; }
    command "serve" "--port" "8080"
    restart "always"
    healthcheck { test "wget" "-q" "http://127.0.0.1:8080/"; interval "5s"; retries 3; }
}
service "worker" {
    build "./worker"
    depends-on "api"
}
service "cache" { image "redis:7"; }
stage "dev" {
    server "creo-dev-01" { provider "sakura-cloud"; plan core=4 memory=4; disk size=100 os="ubuntu-24.04"; }
    scale "creo-dev-01" { min 1; max 3; }
    r2-bucket "creo-attachments" { provider "cloudflare"; location "APAC"; }
    worker "edge" {
        provider "cloudflare"
        source "./workers/edge"
        route "api.creo-memories.com/*"
        bindings { var "SIGNING_KEY" value="fixture-secret-signing-key-2"; r2 "FILES" bucket="creo-attachments"; }
    }
    dns "creo-memories.com" {
        provider "cloudflare"
        record "api" type="A" value="server.creo-dev-01.ip" proxied=#true
        record "www" type="A" value="198.51.100.7"
        record "old" type="TXT" value="v=spf1 -all"
    }
}
stage "live"
"#;

/// The head's creo: the base with every kind of change made to it.
fn head_creo() -> String {
    let edits = [
        ("creo-api:1.0", "creo-api:1.1"),
        ("port 8080\n", "port 8081 8080\n"),
        ("api-data:/data", "api-data:/var/lib/api"),
        (
            "LOG_LEVEL \"info\";",
            "LOG_LEVEL \"debug\"; FEATURE_FLAGS \"search,export\";",
        ),
        ("db-password-1", "db-password-CHANGED-3"),
        ("\"8080\"\n", "\"8080\" \"--verbose\"\n"),
        ("restart \"always\"", "restart \"unless-stopped\""),
        ("interval \"5s\"", "interval \"10s\""),
        (
            "build \"./worker\"",
            "build { context \"./worker\"; args { NPM_TOKEN \"fixture-secret-npm-token-4\"; } }",
        ),
        ("depends-on \"api\"\n", "depends-on \"api\" \"queue\"\n"),
        (
            "service \"cache\" { image \"redis:7\"; }",
            "service \"queue\" { image \"rabbitmq:3\"; }",
        ),
        (
            "plan core=4 memory=4; disk size=100",
            "plan core=8 memory=16; disk size=200",
        ),
        ("max 3", "max 5"),
        (
            "location \"APAC\"; }",
            "location \"WEUR\"; }\n    r2-bucket \"creo-backups\" { provider \"cloudflare\"; location \"APAC\"; }",
        ),
        ("route \"api.creo-memories.com/*\"", "route \"creo-memories.com/api/*\""),
        ("signing-key-2", "signing-key-6"),
        (
            "type=\"A\" value=\"198.51.100.7\"",
            "type=\"CNAME\" value=\"creo.example.net\"",
        ),
        ("        record \"old\" type=\"TXT\" value=\"v=spf1 -all\"\n", ""),
    ];
    edited(BASE_CREO, &edits)
}

const SHOP_BASE: &str = "project \"shop\"\nservice \"web\" { image \"nginx:1.25\"; port 80; }\nstage \"live\"\n";
const SHOP_HEAD: &str =
    "project \"shop\"\nservice \"web\" { image \"nginx:1.25\"; port 80; }\nstage \"dev\"\nstage \"live\"\n";
const LEGACY: &str = "project \"legacy\"\nservice \"app\" { image \"legacy:1\"; }\nstage \"live\"\n";
const BLOG: &str = r#"project "blog"
service "site" {
    build "."
    port 8080
    env { SESSION_SECRET "fixture-secret-session-5"; THEME "dark"; }
}
stage "live"
"#;

/// Every value the fixtures hold that must never be shown.
const SECRETS: &[&str] = &[
    "fixture-secret-db-password-1",
    "fixture-secret-db-password-CHANGED-3",
    "fixture-secret-signing-key-2",
    "fixture-secret-signing-key-6",
    "fixture-secret-npm-token-4",
    "fixture-secret-session-5",
    "HOST_API_TOKEN",
];

fn base() -> Workspace {
    load(&[
        ("fleet-registry.kdl", BASE_REGISTRY),
        ("fleets/creo/.fleetflow/fleet.kdl", BASE_CREO),
        ("fleets/shop/.fleetflow/fleet.kdl", SHOP_BASE),
        ("fleets/legacy/.fleetflow/fleet.kdl", LEGACY),
    ])
}

fn head() -> Workspace {
    load(&[
        ("fleet-registry.kdl", &head_registry()),
        ("fleets/creo/.fleetflow/fleet.kdl", &head_creo()),
        ("fleets/shop/.fleetflow/fleet.kdl", SHOP_HEAD),
        ("fleets/blog/.fleetflow/fleet.kdl", BLOG),
    ])
}

fn fixture_plan(state: Option<&State>) -> Plan {
    let (b, h) = (Snapshot::from_workspace(&base()), Snapshot::from_workspace(&head()));
    plan(Some(&b), &h, state)
}

fn assert_no_secrets(output: &str) {
    for secret in SECRETS {
        assert!(!output.contains(secret), "{secret:?} appears in:\n{output}");
    }
}

fn action_of(plan: &Plan, id: &str) -> Option<Action> {
    plan.changes.iter().find(|c| c.id == id).map(|c| c.action)
}

#[test]
fn fixture_plan_as_text_and_markdown() {
    let plan = fixture_plan(None);
    let text = render_text(&plan, false);
    let markdown = render_markdown(&plan, COMMENT_LIMIT);
    insta::assert_snapshot!("fixture_text", text);
    insta::assert_snapshot!("fixture_markdown", markdown);
}

#[test]
fn fixture_plan_has_every_change_kind() {
    let plan = fixture_plan(None);
    // Every change with its action, then the images to build and the deploys (reviewed snapshot).
    let mut listing: String = plan
        .changes
        .iter()
        .map(|c| format!("{:?} {}\n", c.action, c.id))
        .collect();
    for b in &plan.builds {
        let _ = writeln!(listing, "build {}:{}/{} {:?}", b.fleet, b.stage, b.service, b.context);
    }
    for d in &plan.deploys {
        let _ = writeln!(listing, "deploy {} <- {}:{}", d.server, d.fleet, d.stage);
    }
    insta::assert_snapshot!("fixture_changes", listing);
    // The replaced server makes the record's address known only after apply.
    assert_eq!(
        action_of(&plan, "creo:dev/dns-record.creo-memories.com/api"),
        Some(Action::Update)
    );
    assert_eq!(action_of(&plan, "route.shop:live"), None, "unchanged");
    let api = &plan
        .changes
        .iter()
        .find(|c| c.id == "creo:dev/service.api")
        .expect("api")
        .attributes;
    let paths: Vec<&str> = api.iter().map(|a| a.path.as_str()).collect();
    let expected =
        "image ports volumes env.DB_PASSWORD env.FEATURE_FLAGS env.LOG_LEVEL command restart healthcheck.interval";
    assert_eq!(paths.join(" "), expected);
}

#[test]
fn recorded_state_resolves_references_and_keeps_unrecorded_resources_planned() {
    let recorded = |address: &str, attributes: &[(&str, &str)]| StateResource {
        address: address.to_owned(),
        provider: Some("sakura-cloud".into()),
        id: Some("123456789".into()),
        attributes: attributes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        created_at: None,
    };
    // The worker was declared at the base but never applied; the rest exists.
    let state = State {
        version: 1,
        resources: vec![
            recorded("creo:dev/server.creo-dev-01", &[("ip", "192.0.2.10")]),
            recorded("creo:dev/r2-bucket.creo-attachments", &[]),
            recorded("creo:dev/dns-record.creo-memories.com/api", &[]),
            recorded("creo:dev/dns-record.creo-memories.com/www", &[]),
            recorded("creo:dev/dns-record.creo-memories.com/old", &[]),
        ],
    };
    let with_state = fixture_plan(Some(&state));
    let text = render_text(&with_state, false);
    assert!(
        text.contains(r#"~ value = "192.0.2.10" -> (known after apply)"#),
        "{text}"
    );
    assert_eq!(action_of(&with_state, "creo:dev/worker.edge"), Some(Action::Create));
    assert_eq!(
        action_of(&with_state, "creo:dev/server.creo-dev-01"),
        Some(Action::Replace)
    );
    // Without a replacement the recorded address is known; only unrecorded resources remain.
    let same = Snapshot::from_workspace(&head());
    let quiet = plan(Some(&same), &same, Some(&state));
    let ids: Vec<&str> = quiet.changes.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["creo:dev/r2-bucket.creo-backups", "creo:dev/worker.edge"]);
    assert!(quiet.changes.iter().all(|c| c.action == Action::Create));
}

#[test]
fn no_base_means_everything_is_new_and_no_fixture_secret_is_ever_shown() {
    let h = Snapshot::from_workspace(&head());
    let fresh = plan(None, &h, None);
    assert_eq!(fresh.summary.add, h.len());
    assert!(fresh.changes.iter().all(|c| c.action == Action::Create));
    let full = fixture_plan(None);
    let reverse = plan(Some(&h), &Snapshot::from_workspace(&base()), None);
    for p in [&fresh, &full, &reverse, &full.for_stage("dev")] {
        assert_no_secrets(&render_text(p, true));
        assert_no_secrets(&render_text(p, false));
        assert_no_secrets(&serde_json::to_string(p).expect("json"));
        for limit in [COMMENT_LIMIT, 2_000, 300] {
            assert_no_secrets(&render_markdown(p, limit));
        }
    }
    let text = render_text(&full, false) + &render_text(&fresh, false);
    for name in "env.DB_PASSWORD env.API_TOKEN env.SESSION_SECRET build.args.NPM_TOKEN bindings.SIGNING_KEY".split(' ')
    {
        let line = text
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} in\n{text}"));
        assert!(line.ends_with("= (sensitive value)"), "{line}");
    }
    assert!(
        text.contains(r#"+ env.THEME          = "dark""#),
        "other values are shown:\n{text}"
    );
}

#[test]
fn text_is_colored_only_when_asked_and_no_changes_says_so() {
    let plan = fixture_plan(None);
    assert!(render_text(&plan, true).contains("\x1b[32m+\x1b[0m"));
    assert!(!render_text(&plan, false).contains('\x1b'));
    let same = Snapshot::from_workspace(&base());
    let none = fleetflow::plan::plan(Some(&same), &same, None);
    assert!(none.changes.is_empty());
    assert!(render_text(&none, false).starts_with("No changes."));
    let md = render_markdown(&none, COMMENT_LIMIT);
    assert!(md.starts_with(PLAN_MARKER) && md.contains("**No changes.**"), "{md}");
}

#[test]
fn for_stage_keeps_that_stage_only() {
    let plan = fixture_plan(None).for_stage("dev");
    assert!(plan.changes.iter().all(|c| c.id.contains(":dev")), "{:?}", plan.changes);
    assert_eq!(action_of(&plan, "route.shop:dev"), Some(Action::Create));
    assert!(plan.deploys.iter().all(|d| d.stage == "dev"));
}

/// Registry and fleet files for `n` generated fleets, with `changed` applied to fleet `i`.
fn generated(fleets: usize, servers: usize, changed: impl Fn(usize, String) -> String) -> Workspace {
    let mut files = vec![("fleet-registry.kdl".to_owned(), generate::registry(fleets, servers))];
    for i in 0..fleets {
        let path = format!("fleets/fleet-{i:04}/.fleetflow/fleet.kdl");
        files.push((path, changed(i, generate::fleet_file(i))));
    }
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    load(&refs)
}

#[test]
fn a_plan_of_thousands_of_changes_fits_githubs_limits_with_the_summary_first() {
    let base = Snapshot::from_workspace(&generated(1000, 200, |_, f| f));
    let head = Snapshot::from_workspace(&generated(700, 150, |i, f| match i % 3 {
        0 => f.replace("postgres:16", "postgres:17"),
        1 => f
            .replace("port 8080", "port 8080\n    volume \"logs:/var/log\"")
            .replace(
                "stage \"dev\"",
                "service \"extra\" { image \"busybox\"; }\nstage \"dev\"",
            ),
        _ => f,
    }));
    let plan = plan(Some(&base), &head, None);
    assert!(plan.changes.len() >= 5_000, "{} changes", plan.changes.len());
    let destroys = plan.changes.iter().filter(|c| c.action == Action::Delete).count();
    for limit in [COMMENT_LIMIT, CHECK_RUN_LIMIT] {
        let md = render_markdown(&plan, limit);
        assert!(md.chars().count() <= limit, "{} > {limit}", md.chars().count());
        assert!(md.starts_with(PLAN_MARKER));
        assert!(md.contains(&format!("**{}**", plan.summary.line())));
        assert!(md.contains("| `registry` |"), "summary table");
        assert!(md.contains("more changes — run `fleet plan` locally"));
        // Destroys come first: none is cut while an addition is shown.
        let shown_destroys = md.matches("will be destroyed").count();
        let shown_adds = md.matches("will be created").count();
        assert!(
            shown_adds == 0 || shown_destroys == destroys,
            "{shown_destroys}/{destroys} with {shown_adds} adds"
        );
        assert!(shown_destroys > 0);
    }
    for limit in [0, 1, 10, 80, 200, 1_000, 4_000, 20_000] {
        let md = render_markdown(&plan, limit);
        assert!(md.chars().count() <= limit, "limit {limit}: {}", md.chars().count());
    }
}

#[test]
fn markdown_counts_characters_not_bytes() {
    let plan = fixture_plan(None);
    let full = render_markdown(&plan, COMMENT_LIMIT);
    assert!(full.len() > full.chars().count(), "the fixture has multi-byte text");
    for limit in (100..full.chars().count()).step_by(97) {
        let md = render_markdown(&plan, limit);
        assert!(md.chars().count() <= limit);
    }
    // Exactly as many characters as the limit (more bytes than that): nothing is cut.
    assert_eq!(render_markdown(&plan, full.chars().count()), full);
    assert!(render_markdown(&plan, full.chars().count() - 1).contains("more changes"));
}

/// xorshift64*, fixed seeds: the same configurations on every run.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A generated configuration. Each part draws from its own stream (seed + part name), and
/// `mutation` rewrites that stream for some parts, so two configurations of one seed share
/// most parts and differ in a few.
struct Gen {
    seed: u64,
    mutation: u64,
}

impl Gen {
    fn rng(&self, part: &str) -> Rng {
        let mut h = self.seed;
        for b in part.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
        }
        let mut rng = Rng::new(h);
        if self.mutation > 0 && rng.chance(25) {
            rng = Rng::new(h ^ self.mutation);
        }
        rng
    }

    fn workspace(&self) -> Workspace {
        let mut r = self.rng("registry");
        let fleets: Vec<&str> = ["alpha", "beta", "gamma", "delta"]
            .into_iter()
            .filter(|_| r.chance(70))
            .collect();
        let servers: Vec<&str> = ["s1", "s2", "s3"].into_iter().filter(|_| r.chance(70)).collect();
        let mut reg = String::from("registry \"gen\"\n");
        let mut files = BTreeMap::new();
        for f in &fleets {
            let _ = writeln!(reg, "fleet \"{f}\" {{ path \"fleets/{f}\"; }}");
        }
        for s in &servers {
            let mut r = self.rng(s);
            let plan = r.pick(&["2core-4gb", "4core-8gb"]);
            let _ = writeln!(
                reg,
                "server \"{s}\" {{ plan \"{plan}\"; disk size={}; }}",
                50 * (1 + r.below(3))
            );
        }
        reg.push_str("deployment {\n");
        for f in &fleets {
            let (text, stages) = self.fleet(f);
            for stage in stages {
                let mut r = self.rng(&format!("{f}:{stage}:route"));
                if !servers.is_empty() && r.chance(60) {
                    let server = r.pick(&servers);
                    let _ = writeln!(reg, "route fleet=\"{f}\" stage=\"{stage}\" server=\"{server}\"");
                }
            }
            files.insert(format!("fleets/{f}/.fleetflow/fleet.kdl"), text);
        }
        reg.push_str("}\n");
        files.insert("fleet-registry.kdl".to_owned(), reg);
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        load(&refs)
    }

    fn fleet(&self, fleet: &str) -> (String, Vec<&'static str>) {
        let mut r = self.rng(fleet);
        let mut out = format!("project \"{fleet}\"\n");
        let services: Vec<&str> = ["web", "db", "cache", "job"]
            .into_iter()
            .filter(|_| r.chance(60))
            .collect();
        for (i, s) in services.iter().enumerate() {
            let mut r = self.rng(&format!("{fleet}/{s}"));
            let _ = writeln!(out, "service \"{s}\" {{");
            if r.chance(40) {
                let _ = writeln!(out, "build {{ context \"./{s}\"; args {{ V \"{}\"; }} }}", r.below(3));
            } else {
                let _ = writeln!(out, "image \"{s}:{}\"", r.below(3));
            }
            if r.chance(50) {
                let _ = writeln!(out, "port {} 80", 8000 + r.below(3));
            }
            for key in ["LOG_LEVEL", "API_TOKEN", "MODE"] {
                if r.chance(40) {
                    let _ = writeln!(out, "env {{ {key} \"v{}\"; }}", r.below(3));
                }
            }
            if r.chance(30) {
                let _ = writeln!(out, "volume \"{s}-data:/data{}\"", r.below(2));
            }
            if i > 0 && r.chance(40) {
                let _ = writeln!(out, "depends-on \"{}\"", services[r.below(i)]);
            }
            if r.chance(30) {
                let _ = writeln!(out, "restart \"{}\"", r.pick(&["always", "no"]));
            }
            out.push_str("}\n");
        }
        let stages: Vec<&'static str> = ["dev", "live"].into_iter().filter(|_| r.chance(70)).collect();
        for stage in &stages {
            out.push_str(&self.stage(fleet, stage));
        }
        (out, stages)
    }

    fn stage(&self, fleet: &str, stage: &str) -> String {
        let mut r = self.rng(&format!("{fleet}:{stage}"));
        let mut out = format!("stage \"{stage}\" {{\n");
        let server = format!("{fleet}-{stage}-01");
        let has_server = r.chance(50);
        if has_server {
            let os = r.pick(&["ubuntu-24.04", "debian-12"]);
            let _ = writeln!(
                out,
                "server \"{server}\" {{ disk size={} os=\"{os}\"; }}",
                100 * (1 + r.below(2))
            );
        }
        if r.chance(50) {
            let location = r.pick(&["APAC", "WEUR"]);
            let _ = writeln!(out, "r2-bucket \"{fleet}-files\" {{ location \"{location}\"; }}");
        }
        if r.chance(50) {
            out.push_str("dns \"example.com\" {\n");
            let value = if has_server && r.chance(50) {
                format!("server.{server}.ip")
            } else {
                format!("192.0.2.{}", r.below(3))
            };
            let _ = writeln!(
                out,
                "record \"{fleet}\" type=\"{}\" value=\"{value}\"",
                r.pick(&["A", "AAAA"])
            );
            out.push_str("}\n");
        }
        out.push_str("}\n");
        out
    }
}

/// Creates, updates, replacements, deletions.
fn counts(p: &Plan) -> [usize; 4] {
    let n = |a: Action| p.changes.iter().filter(|c| c.action == a).count();
    [
        n(Action::Create),
        n(Action::Update),
        n(Action::Replace),
        n(Action::Delete),
    ]
}

#[test]
fn property_plans_are_empty_for_equal_inputs_and_apply_exactly() {
    let snapshot = |seed, mutation| Snapshot::from_workspace(&Gen { seed, mutation }.workspace());
    let mut nonempty = 0;
    for seed in 1..=150u64 {
        let (a, b, c) = (snapshot(seed, 0), snapshot(seed, seed * 7919), snapshot(seed + 1000, 0));
        for (x, y) in [(&a, &b), (&b, &a), (&a, &c), (&c, &b)] {
            let same = plan(Some(x), x, None);
            assert!(same.changes.is_empty(), "seed {seed}: plan(x, x)");
            // Nothing recorded: every provisioned resource x declares is still to be created.
            let provisioned = (x.resources.keys())
                .filter(|a| matches!(a, Address::Cloud { kind, .. } if kind.is_provisioned()))
                .count();
            assert_eq!(
                same.unapplied.len(),
                provisioned,
                "seed {seed}: unapplied of plan(x, x)"
            );
            assert!(same.unapplied.iter().all(|c| c.action == Action::Create), "seed {seed}");
            let forward = plan(Some(x), y, None);
            assert_eq!(forward.apply_to(x), *y, "seed {seed}: plan(a, b) applied to a");
            // Symmetric: what a → b creates, b → a deletes; updates and replacements match.
            let [create, update, replace, delete] = counts(&plan(Some(y), x, None));
            assert_eq!(counts(&forward), [delete, update, replace, create], "seed {seed}");
            let limit = (seed as usize * 131) % 6_000;
            assert!(render_markdown(&forward, limit).chars().count() <= limit);
            nonempty += usize::from(!forward.is_empty());
        }
        assert_eq!(plan(None, &b, None).apply_to(&Snapshot::default()), b);
    }
    assert!(nonempty > 400, "the generator makes real differences ({nonempty})");
}
