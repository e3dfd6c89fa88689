//! The input as a pull-request comment (UTF-8, lossy) for the comment-command parser, by a
//! user and by a bot. `may_hold_command` (what the webhook handler queues on) must agree with
//! `parse`, and a command found must name fleets and routes that exist.
#![no_main]

use fleetflow::chatops::{Author, Command, DeployTarget, Known, may_hold_command, parse};
use libfuzzer_sys::fuzz_target;

fn known() -> Known {
    let pairs = [("web", "live"), ("web", "local"), ("api", "live"), ("jobs", "staging")];
    Known {
        fleets: ["web", "api", "jobs", "live-docs"].map(String::from).to_vec(),
        routes: pairs.map(|(f, s)| (f.to_owned(), s.to_owned())).to_vec(),
    }
}

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let known = known();
    let user = Author {
        login: "octocat",
        kind: "User",
    };
    let bot = Author {
        login: "fleetflow[bot]",
        kind: "Bot",
    };
    let found = parse(&body, &user, &known);
    assert_eq!(
        found.is_some(),
        may_hold_command(&body, &user),
        "parse and may_hold_command disagree on {body:?}"
    );
    assert!(parse(&body, &bot, &known).is_none() && !may_hold_command(&body, &bot));
    match found {
        Some(Ok(Command::Deploy { target, .. })) => match target {
            DeployTarget::FleetStage { fleet, stage } => {
                assert!(known.routes.contains(&(fleet, stage)), "a deploy to no route: {body:?}")
            }
            DeployTarget::Fleet(f) => assert!(known.fleets.contains(&f), "an unknown fleet: {body:?}"),
            DeployTarget::Stage(s) => {
                assert!(known.routes.iter().any(|(_, r)| *r == s), "an unknown stage: {body:?}")
            }
        },
        Some(Err(e)) => {
            std::hint::black_box(e.reply());
        }
        _ => {}
    }
});
