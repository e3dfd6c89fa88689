//! The plan job of a pull request: load the configuration at the base and head commits (their
//! trees and blobs, [`crate::github::files`]), plan, then show it as ONE comment (edited in place on later pushes, found
//! by [`PLAN_MARKER`] among the App's comments) and a `fleetflow/plan` check run on the head.

use crate::clock::timestamp_now;
use crate::images::short_sha;
use std::fmt::Write;

use serde_json::{Value, json};

use super::db::Store;
use super::db::objects::body_hash;
use crate::config::{ConfigDiagnostic, LoadError, LoadOptions, Severity};
use crate::event::{PullRequestRef, RepoRef};
use crate::github::files::{CommitFiles, load_at};
use crate::github::{GitHub, GitHubError};
use crate::plan::state::{STATE_FILE, State};
use crate::plan::{CHECK_RUN_LIMIT, COMMENT_LIMIT, PLAN_MARKER, Snapshot, plan, render_markdown};

/// The check run's name.
pub const CHECK_NAME: &str = "fleetflow/plan";
/// GitHub takes at most this many annotations per check-run request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;

/// What the job concluded, before it is shown.
struct Outcome {
    conclusion: &'static str,
    title: String,
    summary: String,
    /// `None`: leave the pull request's comment as it is.
    comment: Option<String>,
    annotations: Vec<Value>,
}

/// Creates the `fleetflow/plan` check run (in progress) on the head commit; returns its id.
pub async fn start_check(github: &GitHub, pr: &PullRequestRef) -> Result<u64, GitHubError> {
    start_check_again(github, pr, false).await
}

/// [`start_check`], but when `rerun` (the job's earlier claim was cut off, perhaps after it
/// created its check run) the check run it created is found and reused.
pub async fn start_check_again(github: &GitHub, pr: &PullRequestRef, rerun: bool) -> Result<u64, GitHubError> {
    let external_id = format!("pr-{}", pr.number);
    if rerun
        && let Some(id) = github
            .find_check_run(pr.installation_id, &pr.repo, &pr.head_sha, CHECK_NAME, &external_id)
            .await?
    {
        return Ok(id.id);
    }
    github
        .create_check_run(
            pr.installation_id,
            &pr.repo,
            &json!({
                "name": CHECK_NAME,
                "head_sha": pr.head_sha,
                "status": "in_progress",
                "started_at": timestamp_now(),
                "external_id": external_id,
            }),
        )
        .await
}

/// Runs the plan for `pr` and completes check run `check_id` with it. Errors are GitHub
/// failures (retried by the queue).
pub async fn run(github: &GitHub, store: &Store, pr: &PullRequestRef, check_id: u64) -> Result<(), GitHubError> {
    let inst = pr.installation_id;
    let outcome = evaluate(github, pr).await?;
    if let Some(body) = &outcome.comment {
        show_plan(github, store, pr, body).await?;
    }
    let mut batches = outcome.annotations.chunks(ANNOTATIONS_PER_REQUEST);
    let first = batches.next().unwrap_or(&[]);
    let output = |annotations: &[Value]| {
        json!({
            "title": outcome.title,
            "summary": outcome.summary,
            "annotations": annotations,
        })
    };
    github
        .update_check_run(
            inst,
            &pr.repo,
            check_id,
            &json!({
                "status": "completed",
                "conclusion": outcome.conclusion,
                "completed_at": timestamp_now(),
                "output": output(first),
            }),
        )
        .await?;
    // Annotations past the first 50 are appended by further updates.
    for batch in batches {
        github
            .update_check_run(inst, &pr.repo, check_id, &json!({ "output": output(batch) }))
            .await?;
    }
    Ok(())
}

/// Reports a job that was given up: check run `check_id` (or a new one) fails, saying why.
pub async fn report_failure(
    github: &GitHub,
    pr: &PullRequestRef,
    check_id: Option<u64>,
    error: &str,
) -> Result<(), GitHubError> {
    let summary: String = format!(
        "fleetflow could not compute the plan for `{}`:\n\n```\n{}\n```\n\nPush again or re-run this check to retry.",
        short_sha(&pr.head_sha),
        error.chars().take(4_000).collect::<String>()
    );
    let body = json!({
        "name": CHECK_NAME,
        "head_sha": pr.head_sha,
        "status": "completed",
        "conclusion": "failure",
        "completed_at": timestamp_now(),
        "output": { "title": "Plan failed", "summary": summary },
    });
    match check_id {
        Some(id) => {
            let mut body = body;
            if let Some(o) = body.as_object_mut() {
                o.remove("head_sha");
            }
            github.update_check_run(pr.installation_id, &pr.repo, id, &body).await
        }
        None => github
            .create_check_run(pr.installation_id, &pr.repo, &body)
            .await
            .map(|_| ()),
    }
}

async fn evaluate(github: &GitHub, pr: &PullRequestRef) -> Result<Outcome, GitHubError> {
    let inst = pr.installation_id;
    let no_registry = |path: &str| Outcome {
        conclusion: "neutral",
        title: format!("No {path}"),
        summary: format!(
            "`{path}` does not exist at `{}`: nothing to plan.",
            short_sha(&pr.head_sha)
        ),
        comment: None,
        annotations: Vec::new(),
    };
    let Some(commit) = CommitFiles::open(github, inst, &pr.repo, &pr.head_sha).await? else {
        return Ok(no_registry(crate::config::load::REGISTRY_FILE));
    };
    let head = match commit.load(LoadOptions::default()).await? {
        Ok(w) => w,
        Err(LoadError::Missing { path }) => return Ok(no_registry(&path)),
        Err(LoadError::Config(e)) => {
            let items = e.diagnostics.items;
            let n = items.iter().filter(|d| d.severity == Severity::Error).count();
            let title = format!("Configuration invalid: {n} error{}", if n == 1 { "" } else { "s" });
            return Ok(Outcome {
                conclusion: "failure",
                summary: diagnostics_markdown(&title, &pr.head_sha, &items, CHECK_RUN_LIMIT),
                comment: Some(diagnostics_markdown(&title, &pr.head_sha, &items, COMMENT_LIMIT)),
                title,
                annotations: items.iter().map(annotation).collect(),
            });
        }
        Err(e @ LoadError::Read(_)) => return Ok(unreadable("Configuration unreadable", pr, &e)),
    };
    // An invalid or missing base configuration: everything at the head is new.
    let base = load_at(
        github,
        inst,
        &pr.repo,
        &pr.base_sha,
        LoadOptions { verify_fleets: false },
    )
    .await?
    .ok();
    let base = base.as_ref().map(Snapshot::from_workspace);
    // The infrastructure state the pull request's tree records, as the Action and `fleet plan`
    // read it from a checkout: the same change gets the same plan at every front door.
    let state = match recorded_state(&commit).await? {
        Ok(state) => state,
        Err(e) => return Ok(unreadable("Infrastructure state unreadable", pr, &e)),
    };
    let plan = plan(base.as_ref(), &Snapshot::from_workspace(&head), state.as_ref());
    Ok(Outcome {
        conclusion: "success",
        title: plan.summary.line(),
        summary: render_markdown(&plan, CHECK_RUN_LIMIT),
        comment: Some(render_markdown(&plan, COMMENT_LIMIT)),
        annotations: head.warnings.items.iter().map(annotation).collect(),
    })
}

/// A failed plan whose input at the head cannot be read: `title` and why, in the check and
/// the comment.
fn unreadable(title: &str, pr: &PullRequestRef, why: &dyn std::fmt::Display) -> Outcome {
    let text = format!(
        "{PLAN_MARKER}\n### fleet plan\n\n**{title}** at `{}`: {why}\n",
        short_sha(&pr.head_sha)
    );
    Outcome {
        conclusion: "failure",
        title: title.to_owned(),
        summary: clamp(&text, CHECK_RUN_LIMIT),
        comment: Some(clamp(&text, COMMENT_LIMIT)),
        annotations: Vec::new(),
    }
}

/// `.fleetflow/state.json` beside the registry at the pull request's head, if there is one;
/// the inner error says why a recorded one does not read.
async fn recorded_state(commit: &CommitFiles<'_>) -> Result<Result<Option<State>, String>, GitHubError> {
    let path = format!(".fleetflow/{STATE_FILE}");
    let Some(bytes) = commit.file(&path).await? else {
        return Ok(Ok(None));
    };
    Ok(std::str::from_utf8(&bytes)
        .map_err(|e| format!("{path} is not UTF-8: {e}"))
        .and_then(|text| State::parse(text).map_err(|e| format!("{path}: {e}")))
        .map(Some))
}

/// Who may own the plan comment, and whether an unchanged plan is written again.
pub struct CommentOwner<'a> {
    /// The comment's author (the App's bot); `None`: any author (the Action's job token).
    pub author: Option<&'a str>,
    /// Edit even when the body is unchanged (the Action: a rerun shows as an edit).
    pub touch_unchanged: bool,
}

/// Edits the plan comment on pull request `number` (the comment starting with
/// [`PLAN_MARKER`], by `owner.author` when given), or creates it. The App and the Action keep
/// their plan comment the same way. Returns the comment's id.
pub async fn upsert_plan_comment(
    github: &GitHub,
    installation: u64,
    repo: &RepoRef,
    number: u64,
    owner: &CommentOwner<'_>,
    body: &str,
) -> Result<u64, GitHubError> {
    let comments = github.comments(installation, repo, number).await?;
    let ours = comments.iter().find(|c| {
        owner
            .author
            .is_none_or(|a| c.user.as_ref().is_some_and(|u| u.login == a))
            && c.body.as_deref().is_some_and(|b| b.starts_with(PLAN_MARKER))
    });
    match ours {
        Some(c) if !owner.touch_unchanged && c.body.as_deref() == Some(body) => Ok(c.id),
        Some(c) => github
            .update_comment(installation, repo, c.id, body)
            .await
            .map(|()| c.id),
        None => github.create_comment(installation, repo, number, body).await,
    }
}

/// The App's plan comment on `pr`, edited in place: by the id remembered in `store` (an
/// unchanged body costs no request), else found among the comments or created.
async fn show_plan(github: &GitHub, store: &Store, pr: &PullRequestRef, body: &str) -> Result<(), GitHubError> {
    let (inst, repo) = (pr.installation_id, &pr.repo);
    let remembered = store.plan_comment(repo, pr.number).await.unwrap_or_else(|e| {
        tracing::warn!("cannot read the remembered plan comment: {e}");
        None
    });
    match remembered {
        Some((_, hash)) if hash == body_hash(body) => return Ok(()),
        Some((id, _)) => match github.update_comment(inst, repo, id, body).await {
            Ok(()) => return remember(store, pr, id, body).await,
            // Deleted meanwhile: find or create it again.
            Err(GitHubError::Status { status, .. }) if status.as_u16() == 404 => {}
            Err(e) => return Err(e),
        },
        None => {}
    }
    let bot = github.bot_login().await?;
    let owner = CommentOwner {
        author: Some(&bot),
        touch_unchanged: false,
    };
    let id = upsert_plan_comment(github, inst, repo, pr.number, &owner, body).await?;
    remember(store, pr, id, body).await
}

async fn remember(store: &Store, pr: &PullRequestRef, id: u64, body: &str) -> Result<(), GitHubError> {
    if let Err(e) = store.set_plan_comment(&pr.repo, pr.number, id, body).await {
        tracing::warn!("cannot remember plan comment {id}: {e}");
    }
    Ok(())
}

/// A check-run annotation at the diagnostic's file and line.
fn annotation(d: &ConfigDiagnostic) -> Value {
    let start = d.file.location(d.span.start);
    let end = d.file.location(d.span.end.max(d.span.start));
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        let _ = write!(message, "\nhelp: {help}");
    }
    let mut a = json!({
        "path": d.file.display_name,
        "start_line": start.line,
        "end_line": end.line.max(start.line),
        "annotation_level": match d.severity {
            Severity::Error => "failure",
            Severity::Warning => "warning",
        },
        "title": "fleet configuration",
        "message": message,
    });
    if end.line == start.line && end.column > start.column {
        a["start_column"] = json!(start.column);
        a["end_column"] = json!(end.column);
    }
    a
}

/// The diagnostics as markdown of at most `limit` characters.
fn diagnostics_markdown(title: &str, sha: &str, items: &[ConfigDiagnostic], limit: usize) -> String {
    let mut out = format!(
        "{PLAN_MARKER}\n### fleet plan\n\n**{title}** at `{}`.\n\n",
        short_sha(sha)
    );
    let mut shown = 0;
    for d in items {
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut line = format!("- **{level}** `{}`: {}", d.position(), d.message.replace('\n', " "));
        if let Some(help) = &d.help {
            let _ = write!(line, " — {}", help.replace('\n', " "));
        }
        line.push('\n');
        // Keep room for the closing line.
        if out.chars().count() + line.chars().count() + 80 > limit {
            break;
        }
        out.push_str(&line);
        shown += 1;
    }
    if shown < items.len() {
        let _ = writeln!(
            out,
            "\n… and {} more (see the check run's annotations).",
            items.len() - shown
        );
    }
    clamp(&out, limit)
}

fn clamp(text: &str, limit: usize) -> String {
    text.chars().take(limit).collect()
}

#[cfg(test)]
mod tests;
