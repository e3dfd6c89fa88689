//! The Action's raw input → validated request (src/action/request.rs) and the runner's output
//! file format (src/action/runner.rs): what a workflow passes is checked once, at the edge.

#[path = "support/action_runner.rs"]
mod action_runner;
#[path = "support/fake_github.rs"]
mod fake_github;
mod support;

use std::collections::HashMap;

use action_runner::parse_outputs;
use fleetflow::action::request::{ActionCommand, ActionRequest, flag, input_from};
use fleetflow::action::runner::output_entry;
use fleetflow::application::deploy::history::RollbackTo;
use fleetflow::application::report::WorkflowError;

fn request(vars: &[(&str, &str)]) -> Result<ActionRequest, WorkflowError> {
    let mut vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    vars.entry("GITHUB_ACTIONS".into()).or_insert_with(|| "true".into());
    ActionRequest::from_env(&|k| vars.get(k).cloned())
}

#[test]
fn outside_a_workflow_the_action_says_where_it_runs_and_exits_2() {
    let Err(WorkflowError::Usage(message)) = request(&[("GITHUB_ACTIONS", "")]) else {
        panic!("a run without GITHUB_ACTIONS=true is a usage error");
    };
    assert!(
        message.contains("GitHub Actions workflow") && message.contains("GITHUB_EVENT_PATH"),
        "{message}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::cargo_bin("fleet")
        .unwrap()
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .arg("action")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("GITHUB_ACTIONS=true is not set"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("nothing to do"));
}

#[test]
fn inputs_keep_hyphens_and_uppercase() {
    let get = |k: &str| (k == "INPUT_DRY-RUN").then(|| " true ".to_owned());
    assert_eq!(input_from("dry-run", get).as_deref(), Some("true"));
    assert_eq!(input_from("dry_run", get), None);
}

#[test]
fn outputs_round_trip_through_the_runners_multiline_form() {
    let text = output_entry("a", "x\ny") + "b=1\n" + &output_entry("c", "");
    let parsed = parse_outputs(&text).unwrap();
    assert_eq!(
        parsed,
        vec![
            ("a".into(), "x\ny".into()),
            ("b".into(), "1".into()),
            ("c".into(), "".into())
        ]
    );
}

#[test]
fn boolean_inputs_take_yaml_words_and_name_the_input_when_wrong() {
    assert!(!flag("push", Some("False"), true).unwrap());
    assert!(flag("push", None, true).unwrap());
    let e = flag("push", Some("maybe"), true).unwrap_err();
    assert!(matches!(e, WorkflowError::Usage(_)), "{e:?}");
    assert_eq!(e.to_string(), "input push: expected true or false, got \"maybe\"");
}

#[test]
fn a_bad_boolean_input_or_command_stops_the_run_before_anything_happens() {
    let e = request(&[("INPUT_COMMENT", "sometimes")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "input comment: expected true or false, got \"sometimes\""
    );
    let e = request(&[("INPUT_COMMAND", "destroy")]).unwrap_err();
    assert!(matches!(e, WorkflowError::Usage(_)), "{e:?}");
    assert!(
        e.to_string().contains("expected plan, build, deploy, rollback or auto"),
        "{e}"
    );
    let e = request(&[("INPUT_COMMAND", "rollback"), ("INPUT_ROLLBACK-TO", "$(id)")]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("input rollback-to: `$(id)` is neither `previous` nor a commit"),
        "{e}"
    );
}

#[test]
fn command_rollback_names_previous_or_a_commit() {
    let rollback = |to: Option<&str>| {
        let mut vars = vec![("INPUT_COMMAND", "rollback")];
        vars.extend(to.map(|t| ("INPUT_ROLLBACK-TO", t)));
        request(&vars).expect("valid").command
    };
    assert_eq!(rollback(None), ActionCommand::Rollback(RollbackTo::Previous));
    assert_eq!(
        rollback(Some("previous")),
        ActionCommand::Rollback(RollbackTo::Previous)
    );
    assert_eq!(
        rollback(Some("ABC1234")),
        ActionCommand::Rollback(RollbackTo::Commit("abc1234".into()))
    );
}

#[test]
fn the_event_picks_the_command_and_a_dispatch_gives_fleet_and_stage() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(&event, r#"{"inputs": {"fleet": "api", "stage": "live"}}"#).unwrap();
    let event = event.to_string_lossy().into_owned();
    let r = request(&[
        ("GITHUB_EVENT_NAME", "workflow_dispatch"),
        ("GITHUB_EVENT_PATH", &event),
        ("GITHUB_REPOSITORY", "Acme/fleets"),
        ("INPUT_STAGE", "staging"),
    ])
    .unwrap();
    assert_eq!(r.command, ActionCommand::Dispatch);
    assert_eq!(r.inputs.fleet.as_deref(), Some("api"));
    assert_eq!(
        r.inputs.stage.as_deref(),
        Some("staging"),
        "the input wins over the event's"
    );
    assert_eq!(r.inputs.image_registry.as_deref(), Some("ghcr.io/acme"));
    assert!(r.inputs.comment && !r.inputs.dry_run && !r.inputs.push);
    let r = request(&[("GITHUB_EVENT_NAME", "release")]).unwrap();
    assert_eq!(r.command, ActionCommand::Nothing("release".into()));
    assert_eq!(r.inputs.image_registry, None, "no repository: no default registry");
}

#[test]
fn an_unreadable_event_file_is_named() {
    let e = request(&[("GITHUB_EVENT_PATH", "/nonexistent/event.json")]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot read the event file /nonexistent/event.json"),
        "{e}"
    );
}

#[test]
fn the_repository_must_be_owner_slash_name() {
    for bad in ["acme", "acme/", "/fleets", "acme/fleets/extra"] {
        let e = request(&[("GITHUB_REPOSITORY", bad)]).unwrap_err();
        assert!(matches!(e, WorkflowError::Usage(_)), "{bad}: {e:?}");
        assert!(e.to_string().contains("is not owner/name"), "{bad}: {e}");
    }
    let r = request(&[("GITHUB_REPOSITORY", "acme/fleets")]).unwrap();
    let repo = r.runner.repository.unwrap();
    assert_eq!((repo.owner.as_str(), repo.name.as_str()), ("acme", "fleets"));
    assert_eq!(repo.to_string(), "acme/fleets");
}
