//! Comment commands (`/deploy creo live`, `/plan`, `/help`): a pure parser from a comment to a
//! typed command or a typed error whose text becomes the bot's one reply. Shared by the GitHub
//! App and the Action.

mod markdown;
pub mod rules;

use crate::config::lower::did_you_mean;
use markdown::command_lines;

/// Who wrote a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author<'a> {
    pub login: &'a str,
    /// GitHub's `user.type`: `User`, `Bot`, `Organization`.
    pub kind: &'a str,
}

impl Author<'_> {
    /// Bots (ours included) never issue commands.
    pub fn is_bot(&self) -> bool {
        self.kind.eq_ignore_ascii_case("bot") || self.login.ends_with("[bot]")
    }
}

/// What a comment can ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `force`: deploy even when the SHA already runs (`/deploy creo live --force`).
    Deploy {
        target: DeployTarget,
        force: bool,
    },
    /// `/rollback creo live [commit]`: run the images of an earlier deploy of the route again
    /// (`to`: `previous`, a commit or a history id; checked again where it runs).
    Rollback {
        fleet: String,
        stage: String,
        to: String,
    },
    Plan,
    Help,
}

/// Which routes a `/deploy` means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployTarget {
    /// `/deploy creo live`
    FleetStage { fleet: String, stage: String },
    /// `/deploy live`: every fleet the pull request changes that routes this stage.
    Stage(String),
    /// `/deploy creo`: all of the fleet's routes.
    Fleet(String),
}

/// The fleets and routes a command may name (from fleet-registry.kdl).
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub fleets: Vec<String>,
    /// (fleet, stage)
    pub routes: Vec<(String, String)>,
}

impl Known {
    fn stages(&self) -> Vec<&str> {
        let mut s: Vec<&str> = self.routes.iter().map(|(_, s)| s.as_str()).collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    fn is_fleet(&self, w: &str) -> bool {
        self.fleets.iter().any(|f| f == w)
    }

    fn is_stage(&self, w: &str) -> bool {
        self.routes.iter().any(|(_, s)| s == w)
    }
}

/// Why a command cannot run; `reply()` is the text the bot answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command `/{name}`")]
    UnknownCommand { name: String, suggestion: Option<String> },
    #[error("`/deploy` needs a fleet and/or a stage")]
    MissingTarget,
    #[error("`/rollback` needs a fleet and a stage: `/rollback <fleet> <stage> [commit]`")]
    RollbackTarget,
    #[error("`{word}` is neither `previous` nor a commit")]
    RollbackTo { word: String },
    #[error("`/{command}` takes at most {max} words")]
    TooManyWords { command: String, max: usize },
    #[error("unknown fleet `{name}`")]
    UnknownFleet { name: String, suggestion: Option<String> },
    #[error("unknown stage `{name}`")]
    UnknownStage { name: String, suggestion: Option<String> },
    #[error("`{word}` is both a fleet and a stage")]
    Ambiguous { word: String },
    #[error("fleet `{fleet}` has no route for stage `{stage}`")]
    NoRoute {
        fleet: String,
        stage: String,
        stages: Vec<String>,
    },
}

pub const HELP: &str = "Commands: `/deploy <fleet> <stage>`, `/deploy <stage>` (every fleet this pull request changes \
that routes the stage), `/deploy <fleet>` (all of its routes), add `--force` to deploy a SHA that already runs, \
`/rollback <fleet> <stage> [commit]` (run the images of the previous deploy, or of that commit's, again), \
`/plan` (plan again), `/help`.";

impl CommandError {
    /// One helpful reply.
    pub fn reply(&self) -> String {
        let hint = |s: &Option<String>| s.as_ref().map(|s| format!(" Did you mean `{s}`?")).unwrap_or_default();
        match self {
            CommandError::UnknownCommand { suggestion, .. } => format!("{self}.{} {HELP}", hint(suggestion)),
            CommandError::UnknownFleet { suggestion, .. } | CommandError::UnknownStage { suggestion, .. } => {
                format!("{self}.{}", hint(suggestion))
            }
            CommandError::Ambiguous { word } => format!(
                "`{word}` names both a fleet and a stage: say `/deploy {word} <stage>` for the fleet, or \
                 `/deploy <fleet> {word}` for the stage."
            ),
            CommandError::NoRoute { stages, .. } if !stages.is_empty() => {
                format!("{self}; its stages with routes are: {}.", stages.join(", "))
            }
            _ => format!("{self}. {HELP}"),
        }
    }
}

const COMMANDS: &[&str] = &["deploy", "rollback", "plan", "help"];

/// Whether `body` may hold a command at all (cheap; the webhook handler queues only these).
pub fn may_hold_command(body: &str, author: &Author) -> bool {
    !author.is_bot() && command_lines(body).next().is_some()
}

/// The first command in `body`, if any. Lines in fenced code blocks, in quotes (`>`) and in
/// inline code are not commands; comments by bots never are.
pub fn parse(body: &str, author: &Author, known: &Known) -> Option<Result<Command, CommandError>> {
    if author.is_bot() {
        return None;
    }
    command_lines(body).next().map(|line| parse_line(line, known))
}

fn parse_line(line: &str, known: &Known) -> Result<Command, CommandError> {
    let mut words = line.split_whitespace();
    let name = words.next().unwrap_or("/").trim_start_matches('/').to_lowercase();
    let args: Vec<&str> = words.collect();
    match name.as_str() {
        "deploy" => {
            let force = args.contains(&"--force");
            let args: Vec<&str> = args.into_iter().filter(|a| *a != "--force").collect();
            parse_deploy(&args, known).map(|target| Command::Deploy { target, force })
        }
        "rollback" => parse_rollback(&args, known),
        "plan" | "help" if !args.is_empty() => Err(CommandError::TooManyWords { command: name, max: 0 }),
        "plan" => Ok(Command::Plan),
        "help" => Ok(Command::Help),
        _ => Err(CommandError::UnknownCommand {
            suggestion: did_you_mean(&name, COMMANDS.iter().copied()).map(|s| format!("/{s}")),
            name,
        }),
    }
}

fn parse_deploy(args: &[&str], known: &Known) -> Result<DeployTarget, CommandError> {
    match args {
        [] => Err(CommandError::MissingTarget),
        [word] => {
            let word = *word;
            match (known.is_fleet(word), known.is_stage(word)) {
                (true, true) => Err(CommandError::Ambiguous { word: word.into() }),
                (true, false) => Ok(DeployTarget::Fleet(word.into())),
                (false, true) => Ok(DeployTarget::Stage(word.into())),
                (false, false) => {
                    let names = known.fleets.iter().map(String::as_str).chain(known.stages());
                    Err(CommandError::UnknownFleet {
                        suggestion: did_you_mean(word, names).map(str::to_owned),
                        name: word.into(),
                    })
                }
            }
        }
        [fleet, stage] => {
            if !known.is_fleet(fleet) {
                return Err(CommandError::UnknownFleet {
                    name: (*fleet).into(),
                    suggestion: did_you_mean(fleet, known.fleets.iter().map(String::as_str)).map(str::to_owned),
                });
            }
            let stages: Vec<String> = known
                .routes
                .iter()
                .filter(|(f, _)| f == fleet)
                .map(|(_, s)| s.clone())
                .collect();
            if stages.iter().any(|s| s == stage) {
                return Ok(DeployTarget::FleetStage {
                    fleet: (*fleet).into(),
                    stage: (*stage).into(),
                });
            }
            if !known.is_stage(stage) {
                return Err(CommandError::UnknownStage {
                    name: (*stage).into(),
                    suggestion: did_you_mean(stage, stages.iter().map(String::as_str)).map(str::to_owned),
                });
            }
            Err(CommandError::NoRoute {
                fleet: (*fleet).into(),
                stage: (*stage).into(),
                stages,
            })
        }
        _ => Err(CommandError::TooManyWords {
            command: "deploy".into(),
            max: 2,
        }),
    }
}

/// `/rollback <fleet> <stage> [to]`: a route, and a word that can name an earlier deploy.
fn parse_rollback(args: &[&str], known: &Known) -> Result<Command, CommandError> {
    let (route, to) = match args {
        [fleet, stage] => ([*fleet, *stage], "previous"),
        [fleet, stage, to] => ([*fleet, *stage], *to),
        [] | [_] => return Err(CommandError::RollbackTarget),
        _ => {
            return Err(CommandError::TooManyWords {
                command: "rollback".into(),
                max: 3,
            });
        }
    };
    let names_a_deploy = to.len() <= 64 && to.len() >= 4 && to.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !names_a_deploy {
        return Err(CommandError::RollbackTo { word: to.into() });
    }
    match parse_deploy(&route, known)? {
        DeployTarget::FleetStage { fleet, stage } => Ok(Command::Rollback {
            fleet,
            stage,
            to: to.to_owned(),
        }),
        DeployTarget::Fleet(_) | DeployTarget::Stage(_) => Err(CommandError::RollbackTarget),
    }
}

/// Who asks for a deploy, as GitHub knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub login: String,
    /// From `GET /repos/{owner}/{repo}/collaborators/{user}/permission`.
    pub permission: crate::config::registry::Permission,
    /// `org/team-slug` of the teams the actor belongs to (only needed when a policy names teams).
    pub teams: Vec<String>,
}

/// Why a command was refused; the text is the reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("@{login} may not deploy to `{stage}`: {why}")]
pub struct Refusal {
    pub login: String,
    pub stage: String,
    pub why: String,
}

/// A `/deploy` to `stage`: write permission or more by default; with a `deploy-policy` for the
/// stage, its permission level, one of its teams, or one of its users.
pub fn authorize(
    stage: &str,
    policies: &[crate::config::registry::DeployPolicy],
    actor: &Actor,
) -> Result<(), Refusal> {
    use crate::config::registry::Permission;
    let refuse = |why: String| Refusal {
        login: actor.login.clone(),
        stage: stage.to_owned(),
        why,
    };
    let Some(policy) = policies.iter().find(|p| p.stage.value == stage) else {
        return if actor.permission >= Permission::Write {
            Ok(())
        } else {
            Err(refuse(
                format!(
                    "deploying needs write permission on the repository (they have {:?})",
                    actor.permission
                )
                .to_lowercase(),
            ))
        };
    };
    let by_permission = policy.permission.is_some_and(|needed| actor.permission >= needed);
    let by_team = policy
        .teams
        .iter()
        .any(|t| actor.teams.iter().any(|m| m.eq_ignore_ascii_case(t)));
    let by_user = policy.users.iter().any(|u| u.eq_ignore_ascii_case(&actor.login));
    if by_permission || by_team || by_user {
        return Ok(());
    }
    let mut allowed = Vec::new();
    if let Some(p) = policy.permission {
        allowed.push(format!("{p:?} permission").to_lowercase());
    }
    if !policy.teams.is_empty() {
        allowed.push(format!("members of {}", policy.teams.join(", ")));
    }
    if !policy.users.is_empty() {
        allowed.push(policy.users.join(", "));
    }
    Err(refuse(format!(
        "the registry's deploy-policy for `{stage}` allows only {}",
        if allowed.is_empty() {
            "nobody".to_owned()
        } else {
            allowed.join(" or ")
        }
    )))
}
