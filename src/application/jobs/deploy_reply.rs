//! The deploy reply's words: the comment a deploy request gets, edited in place as the job
//! goes (its marker, the request line, the routes table, the last lines of output).

use serde_json::json;

use super::deploy_log::LogLine;
use super::requests::{DeployRequest, Trigger};
use crate::application::deploy::release::ReleaseReport;
use crate::github::{GitHub, GitHubError};
use crate::images::short_sha;

/// The marker of a deploy reply (one per fleet+stage request).
pub fn reply_marker(fleet: &str, stage: &str) -> String {
    format!("<!-- fleetflow:deploy {fleet}:{stage} -->")
}

/// The reply comment's text at one step.
pub fn reply_body(req: &DeployRequest, status: &str, details: &str) -> String {
    let what = match &req.rollback_to {
        Some(to) => format!("Roll back `{}` → `{}`** to `{to}`", req.fleet, req.stage),
        None => format!(
            "Deploy `{}` → `{}`** at `{}`",
            req.fleet,
            req.stage,
            short_sha(&req.sha)
        ),
    };
    let mut body = format!(
        "{}\n**{what}, requested by @{}\n\n{status}\n",
        reply_marker(&req.fleet, &req.stage),
        req.requested_by
    );
    if !details.is_empty() {
        body.push('\n');
        body.push_str(details);
        body.push('\n');
    }
    body
}

pub(super) fn details_or(status: &str, details: &str) -> String {
    if details.is_empty() {
        status.to_owned()
    } else {
        details.to_owned()
    }
}

pub(super) fn routes_table(report: &ReleaseReport) -> String {
    let mut t = String::from("| route | result |\n|---|---|\n");
    for (label, r) in &report.routes {
        let cell = match r {
            Ok(secs) => format!("ok ({secs:.1} s)"),
            Err(e) => format!("failed: {}", e.replace('|', "\\|").replace('\n', " ")),
        };
        t.push_str(&format!("| {label} | {cell} |\n"));
    }
    if !report.images.is_empty() {
        t.push_str(&format!(
            "\nImages: {}\n",
            report
                .images
                .iter()
                .map(|i| format!("`{i}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    t
}

pub(super) fn log_block(tail: &[String]) -> String {
    if tail.is_empty() {
        return String::new();
    }
    format!(
        "<details><summary>Last {} lines of output</summary>\n\n```\n{}\n```\n</details>",
        tail.len(),
        tail.join("\n").replace("```", "'''")
    )
}

/// Where a deploy shows its progress: the request's reply comment, or a check run for a merge.
pub(super) struct ReplyProgress<'a> {
    pub(super) github: &'a GitHub,
    pub(super) req: &'a DeployRequest,
    pub(super) check_run: Option<u64>,
    /// The deploy page's log, and its link.
    pub(super) log: Option<LogLine>,
    pub(super) link: Option<String>,
    /// The build run on GitHub's runners, once dispatched.
    pub(super) run_link: Option<String>,
}

impl ReplyProgress<'_> {
    /// `status` as a step of the page's log (said again: once).
    pub(super) fn step(&self, status: &str) {
        if let Some(log) = &self.log {
            log.step(status);
        }
    }

    /// A check run's summary: the details, and the build run once there is one.
    fn summary(&self, status: &str, details: &str) -> String {
        let mut summary = details_or(status, details);
        if let Some(link) = &self.run_link {
            summary.push_str(&format!("\n\n[Build run on GitHub's runners]({link})"));
        }
        summary
    }
}

impl ReplyProgress<'_> {
    pub(super) async fn show(&self, status: &str, details: &str) -> Result<(), GitHubError> {
        self.step(status);
        match &self.req.trigger {
            Trigger::Comment { reply_id, .. } => {
                let mut body = reply_body(self.req, status, details);
                if let Some(link) = &self.run_link {
                    body.push_str(&format!("\n[Build run on GitHub's runners]({link})\n"));
                }
                if let Some(link) = &self.link {
                    body.push_str(&format!("\n[Deploy log]({link})\n"));
                }
                self.github
                    .update_comment(self.req.installation_id, &self.req.repo, *reply_id, &body)
                    .await
            }
            Trigger::Push => match self.check_run {
                Some(id) => {
                    let body = json!({
                        "status": "in_progress",
                        "output": { "title": status, "summary": self.summary(status, details) },
                    });
                    self.github
                        .update_check_run(self.req.installation_id, &self.req.repo, id, &body)
                        .await
                }
                None => Ok(()),
            },
        }
    }

    pub(super) async fn finish(&self, ok: bool, status: &str, details: &str) -> Result<(), GitHubError> {
        match (&self.req.trigger, self.check_run) {
            (Trigger::Push, Some(id)) => {
                self.step(status);
                let body = json!({
                    "status": "completed",
                    "conclusion": if ok { "success" } else { "failure" },
                    "completed_at": crate::clock::timestamp_now(),
                    "output": { "title": status, "summary": self.summary(status, details) },
                });
                self.github
                    .update_check_run(self.req.installation_id, &self.req.repo, id, &body)
                    .await
            }
            _ => self.show(status, details).await,
        }
    }
}
