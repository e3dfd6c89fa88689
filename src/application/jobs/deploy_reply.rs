//! The deploy reply's words: the comment a deploy request gets, edited in place as the job
//! goes (its marker, the request line, the routes table, the last lines of output).

use super::requests::DeployRequest;
use crate::application::deploy::release::ReleaseReport;
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
