//! The command job: a pull-request comment that may hold `/deploy`, `/plan` or `/help`. It
//! reads the registry at the pull request's head, parses the comment (the shared pure parser),
//! checks who asks (forks; repository permission and the deploy-policy of the *default
//! branch's* registry; a pull request that changes who may deploy or where needs admin, see
//! [`crate::chatops::rules`]), reacts 👀 and queues one deploy job per fleet+stage, each with
//! its own reply comment. Every refusal or mistake gets one reply saying why, and nothing runs.

use std::collections::BTreeSet;

use super::db::{NewJob, Store};
use super::requests::{CommandRequest, DEPLOY_JOB, DeployRequest, Job, PLAN_JOB, Trigger, plan_job};
use crate::application::merge::changed_fleets;
use crate::chatops::rules::{RULES_PERMISSION, changed_deploy_rules};
use crate::chatops::{Actor, Author, Command, DeployTarget, HELP, Known, authorize, parse};
use crate::config::registry::DeployPolicy;
use crate::config::{LoadError, LoadOptions, Workspace};
use crate::event::PullRequestRef;
use crate::github::files::{load_at, registry_at};
use crate::github::{GitHub, GitHubError, PullRequestInfo};

use super::deploy_job::reply_body;
use crate::images::short_sha;

/// Runs one command request.
pub async fn run(github: &GitHub, store: &Store, delivery: &str, req: &CommandRequest) -> Result<(), GitHubError> {
    let (inst, repo) = (req.installation_id, &req.repo);
    let reply = |text: String| async move {
        let body = format!("> {}\n\n@{} {text}", first_line(&req.comment.body), req.comment.author);
        github.create_comment(inst, repo, req.number, &body).await.map(drop)
    };
    let pr = github.pull_request(inst, repo, req.number).await?;
    let ws = match load_at(github, inst, repo, &pr.head_sha, LoadOptions::default()).await? {
        Ok(ws) => ws,
        Err(e) => {
            let why = match e {
                LoadError::Config(c) => c.diagnostics.brief().join("\n- "),
                other => other.to_string(),
            };
            return reply(format!(
                "the configuration at `{}` does not load, so no command can run:\n- {why}",
                short_sha(&pr.head_sha)
            ))
            .await;
        }
    };
    let known = Known {
        fleets: ws.registry.fleets.iter().map(|f| f.name.value.clone()).collect(),
        routes: ws
            .registry
            .routes
            .iter()
            .map(|r| (r.fleet.value.clone(), r.stage.value.clone()))
            .collect(),
    };
    let author = Author {
        login: &req.comment.author,
        kind: &req.comment.author_type,
    };
    let command = match parse(&req.comment.body, &author, &known) {
        None => return Ok(()),
        Some(Err(e)) => return reply(e.reply()).await,
        Some(Ok(c)) => c,
    };
    let (target, force, rollback_to) = match command {
        Command::Help => return reply(HELP.to_owned()).await,
        Command::Plan => {
            github.react(inst, repo, req.comment.id, "eyes").await?;
            let plan = PullRequestRef {
                installation_id: inst,
                repo: repo.clone(),
                number: req.number,
                head_sha: pr.head_sha.clone(),
                base_sha: pr.base_sha.clone(),
            };
            return enqueue(store, delivery, PLAN_JOB, &plan_job(&plan)).await;
        }
        Command::Deploy { target, force } => (target, force, None),
        // A rollback runs whatever runs now; it is a deploy under the same rules, without a build.
        Command::Rollback { fleet, stage, to } => (DeployTarget::FleetStage { fleet, stage }, true, Some(to)),
    };
    if pr.is_from_fork() {
        return reply(format!(
            "this pull request comes from `{}`, a fork: fleetflow never builds or deploys a fork's code with \
             this repository's credentials. Nothing was run. A maintainer can push the branch to `{}` and \
             deploy from a pull request there.",
            pr.head_repo.as_deref().unwrap_or("a deleted repository"),
            pr.base_repo
        ))
        .await;
    }
    let targets = match resolve(github, req, &pr, &ws, &target).await? {
        Ok(t) => t,
        Err(why) => return reply(why).await,
    };
    // Who may deploy, and where to, is the default branch's word, not the PR's.
    let trusted = registry_at(github, inst, repo, &pr.default_branch).await?;
    let policies = trusted.as_ref().map_or(&[][..], |r| r.deploy_policies.as_slice());
    let actor = actor(github, req, policies, &targets).await?;
    for (_, stage) in &targets {
        if let Err(refusal) = authorize(stage, policies, &actor) {
            return reply(format!("{refusal}. Nothing was run.")).await;
        }
    }
    let changed = changed_deploy_rules(trusted.as_ref(), &ws.registry, &targets);
    if !changed.is_empty() && actor.permission < RULES_PERMISSION {
        return reply(rules_refusal(&pr.default_branch, trusted.is_some(), &changed)).await;
    }
    github.react(inst, repo, req.comment.id, "eyes").await?;
    for (fleet, stage) in targets {
        let key = format!("{DEPLOY_JOB}:{fleet}:{stage}");
        if store.is_queued(delivery, &key).await.unwrap_or(false) {
            continue; // queued by an earlier attempt of this job
        }
        let mut deploy = DeployRequest {
            installation_id: inst,
            repo: repo.clone(),
            sha: pr.head_sha.clone(),
            fleet,
            stage,
            requested_by: req.comment.author.clone(),
            force,
            trigger: Trigger::Push,
            // Where images are built is the default branch's word too; a rollback builds nothing.
            runner_build: (trusted.as_ref())
                .filter(|_| rollback_to.is_none())
                .and_then(|r| super::runner_build::of_registry(r, &pr.default_branch)),
            rollback_to: rollback_to.clone(),
        };
        let queued = reply_body(&deploy, "⏳ Queued.", "");
        let reply_id = github.create_comment(inst, repo, req.number, &queued).await?;
        deploy.trigger = Trigger::Comment {
            reply_id,
            pull: Some(req.number),
        };
        enqueue(store, delivery, &key, &Job::Deploy(deploy).queued()).await?;
    }
    Ok(())
}

/// The command line of a comment (its first line starting with `/`), at most 120 characters.
pub(super) fn first_line(body: &str) -> String {
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with('/'))
        .unwrap_or_default();
    line.chars().take(120).collect()
}

/// Queues `job` under `key` (once per delivery), as a GitHub-shaped error for the job's retry.
pub(super) async fn enqueue(store: &Store, delivery: &str, key: &str, job: &NewJob) -> Result<(), GitHubError> {
    store
        .enqueue(delivery, key, job)
        .await
        .map(drop)
        .map_err(|e| GitHubError::Decode {
            path: "the job queue".into(),
            message: format!("cannot queue the {} job: {e}", job.kind),
        })
}

/// The fleet+stage pairs a `/deploy` means, or the reply saying why there are none.
async fn resolve(
    github: &GitHub,
    req: &CommandRequest,
    pr: &PullRequestInfo,
    ws: &Workspace,
    target: &DeployTarget,
) -> Result<Result<Vec<(String, String)>, String>, GitHubError> {
    let routes = |fleet: &str| -> Vec<(String, String)> {
        let stages: BTreeSet<String> = ws.registry.routes_of(fleet).map(|r| r.stage.value.clone()).collect();
        stages.into_iter().map(|s| (fleet.to_owned(), s)).collect()
    };
    Ok(Ok(match target {
        DeployTarget::FleetStage { fleet, stage } => vec![(fleet.clone(), stage.clone())],
        DeployTarget::Fleet(fleet) => routes(fleet),
        DeployTarget::Stage(stage) => {
            let files = github
                .pull_request_files(req.installation_id, &req.repo, pr.number)
                .await?;
            let fleets = ws
                .registry
                .fleets
                .iter()
                .map(|f| (f.name.value.as_str(), f.path.value.as_str()));
            let changed = changed_fleets(fleets, "", &files);
            let picked: Vec<(String, String)> = changed
                .iter()
                .filter(|f| ws.registry.routes_of(f).any(|r| &r.stage.value == stage))
                .map(|f| (f.clone(), stage.clone()))
                .collect();
            if picked.is_empty() {
                return Ok(Err(format!(
                    "this pull request changes no fleet that routes `{stage}` (it changes: {}). Name the fleet: \
                     `/deploy <fleet> {stage}`.",
                    if changed.is_empty() {
                        "none".to_owned()
                    } else {
                        changed.iter().cloned().collect::<Vec<_>>().join(", ")
                    }
                )));
            }
            picked
        }
    }))
}

/// The commenter as the policy sees them: permission, and the teams the policies name.
async fn actor(
    github: &GitHub,
    req: &CommandRequest,
    policies: &[DeployPolicy],
    targets: &[(String, String)],
) -> Result<Actor, GitHubError> {
    let login = req.comment.author.clone();
    let permission = github.permission(req.installation_id, &req.repo, &login).await?;
    let mut teams = Vec::new();
    let named: BTreeSet<&String> = policies
        .iter()
        .filter(|p| targets.iter().any(|(_, s)| *s == p.stage.value))
        .flat_map(|p| p.teams.iter())
        .collect();
    for team in named {
        if github.is_team_member(req.installation_id, team, &login).await? {
            teams.push(team.clone());
        }
    }
    Ok(Actor {
        login,
        permission,
        teams,
    })
}

/// The reply to a `/deploy` of a pull request that changes the deploy rules it would run under.
fn rules_refusal(default_branch: &str, has_rules: bool, changed: &[String]) -> String {
    let what = changed.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
    let base = if has_rules {
        format!("the rules on `{default_branch}`")
    } else {
        format!("`{default_branch}`, which has no `fleet-registry.kdl` yet")
    };
    format!(
        "this pull request changes who may deploy or where ({what}) compared with {base}, so deploying it \
         needs {} permission on the repository until it is merged. Nothing was run.",
        RULES_PERMISSION.as_str()
    )
}
