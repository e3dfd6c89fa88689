//! The comment-command parser: typed commands, typed errors, one helpful reply.

use fleetflow::chatops::{Author, Command, CommandError, DeployTarget, Known, parse};

fn known() -> Known {
    Known {
        fleets: vec!["creo".into(), "bikeboy".into(), "live".into()],
        routes: vec![
            ("creo".into(), "live".into()),
            ("creo".into(), "dev".into()),
            ("bikeboy".into(), "live".into()),
            ("live".into(), "dev".into()),
        ],
    }
}

const ALICE: Author = Author {
    login: "alice",
    kind: "User",
};

fn p(body: &str) -> Option<Result<Command, CommandError>> {
    parse(body, &ALICE, &known())
}

#[test]
fn deploy_forms() {
    assert_eq!(
        p("/deploy creo live"),
        Some(Ok(Command::Deploy(DeployTarget::FleetStage {
            fleet: "creo".into(),
            stage: "live".into()
        })))
    );
    assert_eq!(
        p("  /deploy dev\n"),
        Some(Ok(Command::Deploy(DeployTarget::Stage("dev".into()))))
    );
    assert_eq!(
        p("/deploy bikeboy"),
        Some(Ok(Command::Deploy(DeployTarget::Fleet("bikeboy".into()))))
    );
    assert_eq!(p("LGTM!\n\n/plan"), Some(Ok(Command::Plan)));
    assert_eq!(p("/help"), Some(Ok(Command::Help)));
    assert_eq!(
        p("/DEPLOY creo dev"),
        Some(Ok(Command::Deploy(DeployTarget::FleetStage {
            fleet: "creo".into(),
            stage: "dev".into()
        })))
    );
}

#[test]
fn a_word_that_is_both_fleet_and_stage_is_ambiguous() {
    let err = p("/deploy live").expect("a command").expect_err("ambiguous");
    assert_eq!(err, CommandError::Ambiguous { word: "live".into() });
    assert!(
        err.reply().contains("`/deploy live <stage>`") && err.reply().contains("`/deploy <fleet> live`"),
        "{}",
        err.reply()
    );
}

#[test]
fn unknown_names_get_did_you_mean() {
    let err = p("/deploy creo lvie").expect("a command").expect_err("unknown stage");
    assert_eq!(err.reply(), "unknown stage `lvie`. Did you mean `live`?");
    let err = p("/deploy croe live").expect("a command").expect_err("unknown fleet");
    assert_eq!(err.reply(), "unknown fleet `croe`. Did you mean `creo`?");
    let err = p("/deploi creo live").expect("a command").expect_err("unknown command");
    assert!(
        err.reply()
            .starts_with("unknown command `/deploi`. Did you mean `/deploy`?"),
        "{}",
        err.reply()
    );
    let err = p("/deploy bikeboy dev").expect("a command").expect_err("no route");
    assert_eq!(
        err.reply(),
        "fleet `bikeboy` has no route for stage `dev`; its stages with routes are: live."
    );
    assert_eq!(p("/deploy").expect("a command"), Err(CommandError::MissingTarget));
    assert!(matches!(
        p("/deploy creo live now"),
        Some(Err(CommandError::TooManyWords { .. }))
    ));
    assert!(matches!(
        p("/plan everything"),
        Some(Err(CommandError::TooManyWords { .. }))
    ));
}

#[test]
fn code_quotes_inline_code_and_bots_are_not_commands() {
    for body in [
        "```\n/deploy creo live\n```",
        "~~~sh\n/deploy creo live\n~~~",
        "> /deploy creo live",
        "Run `/deploy creo live` when ready",
        "    /deploy creo live",
        "// /deploy creo live",
        "no command here",
    ] {
        assert_eq!(p(body), None, "{body:?}");
    }
    // After a closed fence, a command counts.
    assert_eq!(p("```\ncode\n```\n/plan"), Some(Ok(Command::Plan)));
    for bot in [
        Author {
            login: "fleetflow[bot]",
            kind: "Bot",
        },
        Author {
            login: "ci",
            kind: "Bot",
        },
    ] {
        assert_eq!(parse("/deploy creo live", &bot, &known()), None);
    }
}
