//! The comment-command parser: typed commands, typed errors, one helpful reply.

use fleetflow::chatops::{Author, Command, CommandError, DeployTarget, Known, may_hold_command, parse};

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
        Some(Ok(Command::Deploy {
            target: DeployTarget::FleetStage {
                fleet: "creo".into(),
                stage: "live".into()
            },
            force: false
        }))
    );
    assert_eq!(
        p("  /deploy dev\n"),
        Some(Ok(Command::Deploy {
            target: DeployTarget::Stage("dev".into()),
            force: false
        }))
    );
    assert_eq!(
        p("/deploy bikeboy"),
        Some(Ok(Command::Deploy {
            target: DeployTarget::Fleet("bikeboy".into()),
            force: false
        }))
    );
    assert_eq!(p("LGTM!\n\n/plan"), Some(Ok(Command::Plan)));
    assert_eq!(p("/help"), Some(Ok(Command::Help)));
    assert_eq!(
        p("/DEPLOY creo dev"),
        Some(Ok(Command::Deploy {
            target: DeployTarget::FleetStage {
                fleet: "creo".into(),
                stage: "dev".into()
            },
            force: false
        }))
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

/// The probe's hidden commands: invisible on GitHub, or shown as code, yet run.
#[test]
fn hidden_commands_do_not_run() {
    for body in [
        // An HTML comment, on one line or several, and after visible text.
        "Looks good <!-- /deploy creo live -->",
        "<!--\n/deploy creo live\n-->",
        "LGTM <!-- start\n/deploy creo live\nend -->",
        // A four-backtick fence is not closed by three.
        "````\n```\n/deploy creo live\n````",
        "~~~~\n~~~\n/deploy creo live\n",
        // An unclosed fence runs to the end.
        "```\n/deploy creo live",
        // A tab, or spaces and a tab, make four columns: indented code.
        "\t/deploy creo live",
        "  \t/deploy creo live",
        // A fence inside a list item or a quote.
        "- ```\n  /deploy creo live\n  ```",
        "1. ```\n   /deploy creo live\n   ```",
        "> ```\n/deploy creo live",
        // Raw HTML blocks that show code or nothing.
        "<pre>\n/deploy creo live\n</pre>",
        "<SCRIPT>\n/deploy creo live\n</script>",
        // A command after a comment on its own line is not at the line's start.
        "<!-- x --> /deploy creo live",
    ] {
        assert_eq!(p(body), None, "{body:?}");
        assert!(!may_hold_command(body, &ALICE), "{body:?}");
    }
}

#[test]
fn visible_commands_around_code_and_comments_still_run() {
    for body in [
        "````\n```\n````\n/plan",
        "```\ncode\n```   \n/plan",
        "<!-- note -->\n/plan",
        "<!--\nnote\n-->\n/plan",
        "/plan <!-- why -->",
        "   /plan",
        "<pre>x</pre>\n/plan",
        "```rust\nfn x() {}\n```\n\n/plan",
    ] {
        assert_eq!(p(body), Some(Ok(Command::Plan)), "{body:?}");
        assert!(may_hold_command(body, &ALICE), "{body:?}");
    }
}

mod authorization {
    use fleetflow::chatops::{Actor, authorize};
    use fleetflow::config::registry::Permission;
    use fleetflow::config::{LoadOptions, MemoryFiles, load_workspace};

    fn policies() -> Vec<fleetflow::config::registry::DeployPolicy> {
        let mut files = MemoryFiles::default();
        files.files.insert(
            "fleet-registry.kdl".into(),
            "registry \"r\"\nfleet \"creo\" {\n    path \"creo\"\n}\nserver \"vps-01\"\ndeployment {\n    route fleet=\"creo\" stage=\"live\" server=\"vps-01\" auto-deploy=#true\n    route fleet=\"creo\" stage=\"dev\" server=\"vps-01\"\n}\ndeploy-policy \"live\" {\n    permission \"admin\"\n    teams \"acme/release\"\n    users \"carol\"\n}\n".into(),
        );
        let ws = load_workspace(&files, "fleet-registry.kdl", LoadOptions { verify_fleets: false }).expect("valid");
        assert!(ws.registry.routes[0].auto_deploy && !ws.registry.routes[1].auto_deploy);
        ws.registry.deploy_policies
    }

    fn actor(login: &str, permission: Permission, teams: &[&str]) -> Actor {
        Actor {
            login: login.into(),
            permission,
            teams: teams.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn write_by_default_and_the_stage_policy_when_there_is_one() {
        let p = policies();
        assert!(authorize("dev", &p, &actor("bob", Permission::Write, &[])).is_ok());
        let refused = authorize("dev", &p, &actor("eve", Permission::Read, &[])).expect_err("read only");
        assert_eq!(
            refused.to_string(),
            "@eve may not deploy to `dev`: deploying needs write permission on the repository (they have read)"
        );
        assert!(authorize("live", &p, &actor("root", Permission::Admin, &[])).is_ok());
        assert!(authorize("live", &p, &actor("dan", Permission::Write, &["acme/release"])).is_ok());
        assert!(authorize("live", &p, &actor("carol", Permission::Read, &[])).is_ok());
        let refused = authorize("live", &p, &actor("bob", Permission::Maintain, &["acme/devs"])).expect_err("policy");
        assert_eq!(
            refused.to_string(),
            "@bob may not deploy to `live`: the registry's deploy-policy for `live` allows only admin permission or members of acme/release or carol"
        );
    }

    #[test]
    fn a_bad_policy_is_a_positioned_error() {
        let mut files = MemoryFiles::default();
        files.files.insert(
            "fleet-registry.kdl".into(),
            "registry \"r\"\ndeploy-policy \"live\" {\n    permission \"owner\"\n}\n".into(),
        );
        let err =
            load_workspace(&files, "fleet-registry.kdl", LoadOptions { verify_fleets: false }).expect_err("invalid");
        let fleetflow::config::LoadError::Config(c) = err else {
            panic!("config error expected")
        };
        let d = &c.diagnostics.items[0];
        assert_eq!(
            (d.location().line, d.location().column, d.message.as_str()),
            (3, 16, "unknown permission \"owner\"")
        );
    }
}

#[test]
fn force_redeploys_and_may_hold_command_is_cheap() {
    assert_eq!(
        p("/deploy creo live --force"),
        Some(Ok(Command::Deploy {
            target: DeployTarget::FleetStage {
                fleet: "creo".into(),
                stage: "live".into()
            },
            force: true
        }))
    );
    use fleetflow::chatops::may_hold_command;
    assert!(may_hold_command("LGTM\n/deploy creo live", &ALICE));
    assert!(!may_hold_command("```\n/deploy creo live\n```", &ALICE));
    assert!(!may_hold_command("> /deploy creo live", &ALICE));
    let bot = Author {
        login: "fleetflow[bot]",
        kind: "Bot",
    };
    assert!(!may_hold_command("/deploy creo live", &bot));
}

#[test]
fn rollback_forms() {
    let rollback = |to: &str| {
        Some(Ok(Command::Rollback {
            fleet: "creo".into(),
            stage: "live".into(),
            to: to.into(),
        }))
    };
    assert_eq!(p("/rollback creo live"), rollback("previous"));
    assert_eq!(p("/rollback creo live 1a2b3c4"), rollback("1a2b3c4"));
    assert_eq!(p("/rollback creo"), Some(Err(CommandError::RollbackTarget)));
    assert_eq!(p("/rollback live"), Some(Err(CommandError::RollbackTarget)));
    assert_eq!(
        p("/rollback creo live $(x)"),
        Some(Err(CommandError::RollbackTo { word: "$(x)".into() }))
    );
    assert!(matches!(
        p("/rollback creo staging"),
        Some(Err(CommandError::UnknownStage { .. }))
    ));
    let Some(Err(e)) = p("/rollbak creo live") else {
        panic!("a typo is an unknown command");
    };
    assert!(e.reply().contains("Did you mean `/rollback`?"), "{}", e.reply());
    assert!(
        e.reply().contains("`/rollback <fleet> <stage> [commit]`"),
        "{}",
        e.reply()
    );
}
