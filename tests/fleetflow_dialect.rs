//! FleetFlow's service spellings (src/config/fleetflow_dialect.rs), read beside the seeds' form
//! into the one model: a corpus of fleet files written from FleetFlow's guide
//! (tests/fleetflow_corpus/), each lowered and checked field by field and validated by the
//! `fleet` binary; bad variants get a diagnostic at file:line:column.

use std::path::Path;

use assert_cmd::Command;
use fleetflow::config::load::lower_fleet_source;
use fleetflow::config::service::{EnvValue, Port, Protocol, RestartPolicy, Service};
use fleetflow::config::source::SourceFile;
use fleetflow::config::{Diagnostics, FleetConfig};

fn corpus(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fleetflow_corpus")
        .join(name)
}

fn lowered(name: &str) -> FleetConfig {
    let text = std::fs::read_to_string(corpus(name)).unwrap();
    let mut diags = Diagnostics::default();
    let fleet = lower_fleet_source(SourceFile::from_text(name, &text), &mut diags).expect("parses");
    let said: Vec<String> = diags.items.iter().map(|d| format!("{}: {d}", d.position())).collect();
    assert!(!diags.has_errors(), "{name}: {said:#?}");
    fleet
}

fn service<'f>(fleet: &'f FleetConfig, stage: &str, name: &str) -> &'f Service {
    let stage = fleet.stage(stage).unwrap_or_else(|| panic!("stage {stage}"));
    stage
        .services
        .iter()
        .find(|s| s.name.value == name)
        .unwrap_or_else(|| panic!("service {name}"))
}

fn literal(v: &str) -> EnvValue {
    EnvValue::Literal(v.to_owned())
}

/// Errors of `text` as `line:column message`.
fn errors(text: &str) -> Vec<String> {
    let mut diags = Diagnostics::default();
    let _ = lower_fleet_source(SourceFile::from_text("fleet.kdl", text), &mut diags);
    let at = |d: &fleetflow::config::ConfigDiagnostic| {
        let l = d.location();
        format!("{}:{} {d}", l.line, l.column)
    };
    diags.items.iter().map(at).collect()
}

#[test]
fn a_service_by_name_and_version_with_blocks_of_ports_environment_and_volumes() {
    let fleet = lowered("postgres.kdl");
    let db = service(&fleet, "local", "postgres");
    assert_eq!(db.image.as_deref(), Some("postgres:16"), "the name is the image");
    let port = Port {
        host: 11432,
        container: 5432,
        protocol: Protocol::Tcp,
        host_ip: None,
    };
    assert_eq!(db.ports, [port]);
    assert_eq!(db.env.get("POSTGRES_PASSWORD"), Some(&literal("postgres")));
    assert_eq!(db.env.get("POSTGRES_DB"), Some(&literal("app")));
    assert_eq!(
        db.volumes,
        [
            "./data:/var/lib/postgresql/data",
            "./init:/docker-entrypoint-initdb.d:ro"
        ]
    );
}

#[test]
fn properties_on_the_service_node_and_underscored_names() {
    let fleet = lowered("properties.kdl");
    let cache = service(&fleet, "local", "cache");
    assert_eq!(cache.image.as_deref(), Some("redis:7"));
    let argv = ["redis-server", "--appendonly", "yes"].map(String::from).to_vec();
    assert_eq!(cache.command.as_ref(), Some(&argv));
    assert_eq!(cache.restart, Some(RestartPolicy::Always));
    let web = service(&fleet, "local", "web");
    assert_eq!(web.image.as_deref(), Some("nginx:1.25"));
    assert_eq!(web.ports[0].host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!((web.ports[0].host, web.ports[0].container), (8080, 80));
    let deps: Vec<&str> = web.depends_on.iter().map(|d| d.value.as_str()).collect();
    assert_eq!(deps, ["cache"]);
}

#[test]
fn a_build_given_on_the_service_and_a_stage_override() {
    let fleet = lowered("build.kdl");
    let local = service(&fleet, "local", "api");
    let build = local.build.as_ref().expect("a build");
    assert_eq!(build.context, ".");
    assert_eq!(build.dockerfile.as_deref(), Some("Dockerfile"));
    assert_eq!(build.target.as_deref(), Some("runtime"));
    assert_eq!(build.args.get("RUST_VERSION").map(String::as_str), Some("1.80"));
    assert_eq!(local.env.get("RUST_LOG"), Some(&literal("info")));
    let live = service(&fleet, "live", "api");
    assert_eq!(
        live.env.get("RUST_LOG"),
        Some(&literal("warn")),
        "the stage's environment wins there"
    );
    assert_eq!(live.build, local.build, "the rest is shared");
}

#[test]
fn a_stage_overrides_with_properties_on_the_service_node() {
    let text = "project \"p\"\nservice \"db\" image=\"postgres:16\"\nstage \"local\" {\n    service \"db\"\n}\nstage \"live\" {\n    service \"db\" image=\"postgres:17\"\n}\n";
    let mut diags = Diagnostics::default();
    let fleet = lower_fleet_source(SourceFile::from_text("fleet.kdl", text), &mut diags).expect("parses");
    assert!(
        !diags.has_errors(),
        "{:?}",
        diags.items.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    assert_eq!(service(&fleet, "local", "db").image.as_deref(), Some("postgres:16"));
    assert_eq!(
        service(&fleet, "live", "db").image.as_deref(),
        Some("postgres:17"),
        "not a bare reference"
    );
}

#[test]
fn both_spellings_in_one_file() {
    let fleet = lowered("mixed.kdl");
    let db = service(&fleet, "local", "db");
    assert_eq!(db.image.as_deref(), Some("postgres:15"));
    assert_eq!(db.volumes, ["db-data:/var/lib/postgresql/data"]);
    assert_eq!((db.ports[0].host, db.ports[0].container), (5432, 5432));
    let app = service(&fleet, "local", "app");
    assert_eq!(app.depends_on[0].value, "db");
    assert_eq!((app.ports[0].host, app.ports[0].container), (3000, 3000));
}

#[test]
fn variables_of_the_file_and_the_stage_fill_templates() {
    let fleet = lowered("variables.kdl");
    let local = service(&fleet, "local", "db");
    assert_eq!(local.image.as_deref(), Some("postgres:16"));
    assert_eq!(local.env.get("APP_ENV"), Some(&literal("development")));
    assert_eq!(
        local.env.get("FORMAT"),
        Some(&literal("{{.Name}}")),
        "not a variable's name: kept"
    );
    let live = service(&fleet, "live", "db");
    assert_eq!(
        live.env.get("APP_ENV"),
        Some(&literal("production")),
        "the stage's variable wins"
    );
    assert_eq!(live.image.as_deref(), Some("postgres:16"));
}

#[test]
fn every_corpus_file_validates_with_the_binary() {
    for name in [
        "postgres.kdl",
        "properties.kdl",
        "build.kdl",
        "mixed.kdl",
        "variables.kdl",
        "cloud.kdl",
        "oneshot.kdl",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let fleetflow = dir.path().join(".fleetflow");
        std::fs::create_dir_all(&fleetflow).unwrap();
        std::fs::copy(corpus(name), fleetflow.join("fleet.kdl")).unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        let out = Command::cargo_bin("fleet")
            .unwrap()
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env_remove("FLEET_REGISTRY_PATH")
            .args(["validate", fleetflow.join("fleet.kdl").to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.starts_with("ok: "), "{name}: {text}");
    }
}

#[test]
fn bad_variants_are_said_where_they_are() {
    let both_tags = "project \"p\"\nservice \"r\" {\n    image \"redis:7\"\n    version \"7\"\n}\n";
    let said = errors(both_tags);
    assert!(
        said.iter()
            .any(|e| e.starts_with("4:5 ") && e.contains("`version` \"7\" and an image that has its own tag")),
        "{said:?}"
    );

    let ro_alone = "project \"p\"\nservice \"r\" {\n    image \"redis\"\n    volume \"a:/b\" read_only=#true\n}\n";
    let said = errors(ro_alone);
    assert!(
        said.iter()
            .any(|e| e.starts_with("4:29 ") && e.contains("`read_only` goes with")),
        "{said:?}"
    );

    let two_builds = "project \"p\"\nservice \"r\" {\n    build \".\"\n    dockerfile \"Dockerfile\"\n}\n";
    let said = errors(two_builds);
    assert!(
        said.iter()
            .any(|e| e.starts_with("4:5 ") && e.contains("the build is given twice")),
        "{said:?}"
    );

    let stray = "project \"p\"\nservice \"r\" {\n    image \"redis\"\n    ports {\n        volume \"a:/b\"\n    }\n}\n";
    let said = errors(stray);
    assert!(
        said.iter()
            .any(|e| e.starts_with("5:9 ") && e.contains("`volume`") && e.contains("`ports`")),
        "{said:?}"
    );

    let unknown = "project \"p\"\nvariables {\n    OTHER \"1\"\n}\nservice \"r\" {\n    image \"redis:{{ TAG }}\"\n}\nstage \"live\" {\n    service \"r\"\n}\n";
    let said = errors(unknown);
    assert!(
        said.iter()
            .any(|e| e.starts_with("9:13 ") && e.contains("uses `{{ TAG }}`, and stage `live` has no variable `TAG`")),
        "{said:?}"
    );
    // No variables declared: no templates in use, `{{ … }}` is text as before.
    let plain =
        "project \"p\"\nservice \"r\" {\n    image \"redis\"\n    env {\n        GREETING \"{{ user }}\"\n    }\n}\n";
    assert_eq!(errors(plain), Vec::<String>::new());
    // What a template fills is checked like what is written: a build context stays inside.
    let escaping = "project \"p\"\nvariables {\n    C \"../../..\"\n}\nservice \"r\" {\n    build \"{{ C }}\"\n}\nstage \"live\" {\n    service \"r\"\n}\n";
    let said = errors(escaping);
    assert!(
        said.iter()
            .any(|e| e.starts_with("9:13 ") && e.contains("build context")),
        "{said:?}"
    );

    let twice = "project \"p\"\nservice \"r\" image=\"a\" {\n    image \"b\"\n}\n";
    let said = errors(twice);
    assert!(
        said.iter()
            .any(|e| e.starts_with("2:19 ") && e.contains("`image` is given twice")),
        "{said:?}"
    );
}

/// Warnings of corpus file `name` as `line:column message`.
fn warnings(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(corpus(name)).unwrap();
    let mut diags = Diagnostics::default();
    let _ = lower_fleet_source(SourceFile::from_text(name, &text), &mut diags);
    (diags.items.iter())
        .filter(|d| d.severity == fleetflow::config::diagnostic::Severity::Warning)
        .map(|d| format!("{}:{} {d}", d.location().line, d.location().column))
        .collect()
}

#[test]
fn providers_servers_and_a_stage_running_on_one_of_them() {
    let fleet = lowered("cloud.kdl");
    let sakura = fleet.providers.sakura_cloud.as_ref().expect("sakura-cloud");
    assert_eq!(sakura.zone.as_deref(), Some("tk1a"));
    assert!(fleet.providers.cloudflare.is_some());
    let server = &fleet.infrastructure.servers[0];
    assert_eq!(server.name.value, "app-1");
    let disk = server.disk.as_ref().expect("disk-size and os are the disk");
    assert_eq!((disk.size_gb, disk.os.as_deref()), (Some(40), Some("ubuntu-24.04")));
    let live = fleet.stage("live").unwrap();
    let runs_on: Vec<&str> = live.runs_on.iter().map(|s| s.value.as_str()).collect();
    assert_eq!(runs_on, ["app-1"], "a reference, not a second server");
    assert!(live.infrastructure.servers.is_empty());
    let said = warnings("cloud.kdl");
    for (at, what) in [("16:5", "`tags`"), ("17:5", "`startup-script`"), ("18:5", "`dns`")] {
        assert!(
            said.iter().any(|w| w.starts_with(at) && w.contains(what)),
            "{at} {what}: {said:#?}"
        );
    }
}

#[test]
fn a_service_named_as_its_image_and_a_command_line_split_like_a_shell() {
    let fleet = lowered("oneshot.kdl");
    let hello = service(&fleet, "default", "hello");
    assert_eq!(hello.image.as_deref(), Some("hello:latest"));
    let words: Vec<&str> = hello.command.iter().flatten().map(String::as_str).collect();
    assert_eq!(words, ["echo", "Hello World from FleetFlow!"]);
    assert_eq!(
        service(&fleet, "default", "worker").image.as_deref(),
        Some("busybox:1.36")
    );
    let said = warnings("oneshot.kdl");
    for (at, what) in [
        ("10:18", "`type`"),
        ("13:5", "`wait_for`"),
        ("16:5", "`readiness`"),
        ("22:9", "`variables`"),
    ] {
        assert!(
            said.iter().any(|w| w.starts_with(at) && w.contains(what)),
            "{at} {what}: {said:#?}"
        );
    }
}

#[test]
fn bad_cloud_and_command_variants_are_said_where_they_are() {
    for (text, at, what) in [
        (
            "project \"p\"\nservice \"s\" {\n    image \"x\"\n    command \"echo 'open\"\n}\n",
            "4:13",
            "a quote that is not closed",
        ),
        (
            "project \"p\"\nprovider \"aws\" {\n}\n",
            "2:10",
            "unknown provider `aws`",
        ),
        (
            "project \"p\"\nserver \"s\" {\n    disk size=10\n    disk-size 20\n}\n",
            "4:5",
            "the disk is given twice",
        ),
    ] {
        let said = errors(text);
        assert!(
            said.iter()
                .any(|e| e.starts_with(&format!("{at} ")) && e.contains(what)),
            "{what}: {said:#?}"
        );
    }
}

#[test]
fn a_stage_giving_only_a_version_retags_the_shared_image() {
    let text = "project \"p\"\nservice \"db\" {\n    image \"registry.example:5000/library/postgres\"\n    version \"15\"\n}\nservice \"cache\" {\n    image \"redis:7\"\n}\nstage \"local\" {\n    service \"db\"\n}\nstage \"live\" {\n    service \"db\" {\n        version \"16\"\n    }\n    service \"cache\" version=\"8\"\n}\n";
    let mut diags = Diagnostics::default();
    let fleet = lower_fleet_source(SourceFile::from_text("fleet.kdl", text), &mut diags).expect("parses");
    assert!(!diags.has_errors(), "{:?}", diags.items);
    let image = |stage: &str, name: &str| service(&fleet, stage, name).image.clone();
    assert_eq!(
        image("local", "db").as_deref(),
        Some("registry.example:5000/library/postgres:15")
    );
    assert_eq!(
        image("live", "db").as_deref(),
        Some("registry.example:5000/library/postgres:16"),
        "not `db:16`"
    );
    assert_eq!(
        image("live", "cache").as_deref(),
        Some("redis:8"),
        "a tagged image re-tagged"
    );
    for (image, untagged) in [
        ("postgres", "postgres"),
        ("postgres:16", "postgres"),
        ("ghcr.io:443/acme/db:1.2", "ghcr.io:443/acme/db"),
        ("localhost:5000/x", "localhost:5000/x"),
        ("x@sha256:abc", "x"),
    ] {
        assert_eq!(fleetflow::config::fleetflow_dialect::untagged(image), untagged);
    }
}

#[test]
fn a_stages_registry_and_backend_are_warnings_and_an_unread_include_says_why() {
    let text = "project \"p\"\nregistry \"ghcr.io/acme\"\ninclude \"services/*.kdl\"\nservice \"db\" {\n    image \"postgres:16\"\n}\nstage \"live\" {\n    registry \"ghcr.io/acme\"\n    backend \"docker\"\n    service \"db\"\n}\n";
    let mut diags = Diagnostics::default();
    let _ = lower_fleet_source(SourceFile::from_text("fleet.kdl", text), &mut diags);
    let said: Vec<String> = (diags.items.iter())
        .map(|d| format!("{}:{} {:?} {d}", d.location().line, d.location().column, d.severity))
        .collect();
    for (at, what) in [
        ("2:1 Warning", "FleetFlow's `registry` is read but not used"),
        // Lowered from its text alone there are no files to include from.
        ("3:1 Error", "`include` is read in a fleet's fleet.kdl only"),
        ("8:5 Warning", "FleetFlow's `registry` is read but not used"),
        ("9:5 Warning", "FleetFlow's `backend` is read but not used"),
    ] {
        assert!(
            said.iter().any(|s| s.starts_with(at) && s.contains(what)),
            "{at} {what}: {said:#?}"
        );
    }
    assert_eq!(diags.error_count(), 1, "{said:#?}");
}

#[test]
fn a_service_declared_again_merges_into_the_first() {
    let text = "project \"p\"\nservice \"db\" {\n    image \"postgres\"\n    version \"15\"\n    env {\n        A \"1\"\n    }\n}\nservice \"db\" {\n    version \"16\"\n    environment {\n        B \"2\"\n    }\n}\nstage \"local\" {\n    service \"db\"\n}\n";
    let mut diags = Diagnostics::default();
    let fleet = lower_fleet_source(SourceFile::from_text("fleet.kdl", text), &mut diags).expect("parses");
    assert!(!diags.has_errors(), "{:?}", diags.items);
    let db = service(&fleet, "local", "db");
    assert_eq!(db.image.as_deref(), Some("postgres:16"));
    assert_eq!(db.env.get("A"), Some(&literal("1")));
    assert_eq!(db.env.get("B"), Some(&literal("2")));
    let warning = diags
        .items
        .iter()
        .find(|d| d.message.contains("declared again"))
        .expect("said");
    assert_eq!((warning.location().line, warning.location().column), (9, 9));
}

/// Each corpus file lowers to the model its snapshot holds (tests/snapshots/), so a change in
/// what FleetFlow's spelling means shows up as a diff.
#[test]
fn every_corpus_file_lowers_to_its_snapshot() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleetflow_corpus");
    let mut names: Vec<String> = (std::fs::read_dir(dir).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let fleet = lowered(&name);
        let model = serde_json::to_value(&fleet).unwrap();
        insta::assert_json_snapshot!(format!("fleetflow_model_{}", name.trim_end_matches(".kdl")), model);
    }
}
