//! A build on GitHub's runners that the App dispatched tells the App what it pushed: a check
//! run on the commit it built (`fleetflow/images <fleet>:<stage>`, external id the run's id)
//! whose text lists each image with the digest the registry took.

use std::path::Path;

use serde_json::json;

use super::{Run, on_github};
use crate::application::deploy::release::PushedImage;
use crate::application::image_build::BuildOutcome;
use crate::application::report::WorkflowError;
use crate::github::actions_api::images_check_name;

impl Run<'_> {
    /// Reports `built` when the App dispatched this run (a workflow_dispatch with a `sha`
    /// input) and it has an id (GITHUB_RUN_ID); a report that fails is a warning (the App then
    /// says it found none).
    pub(super) fn report_pushed(
        &self,
        fleet: &str,
        stage: &str,
        dir: &Path,
        built: &[BuildOutcome],
    ) -> Result<(), WorkflowError> {
        let dispatched = self.request.event["inputs"]["sha"].is_string();
        let Some(run_id) = self.request.runner.run_id.as_deref().filter(|_| dispatched) else {
            return Ok(());
        };
        let commit = crate::git::git_line(dir, &["rev-parse", "HEAD"])
            .ok_or_else(|| WorkflowError::failed("the built checkout has no commit to report the images on"))?;
        let pushed = pushed_images(built);
        let listed: Vec<String> = (pushed.iter())
            .map(|p| format!("- `{}` {}", p.image, p.digest.as_deref().unwrap_or("(digest unknown)")))
            .collect();
        let body = json!({
            "name": images_check_name(fleet, stage),
            "head_sha": commit,
            "external_id": run_id,
            "status": "completed",
            "conclusion": "success",
            "completed_at": crate::clock::timestamp_now(),
            "output": {
                "title": format!("{} images pushed", pushed.len()),
                "summary": listed.join("\n"),
                "text": serde_json::to_string(&pushed).map_err(WorkflowError::failed)?,
            },
        });
        let wanted = self.request.event["inputs"]["sha"].as_str().unwrap_or_default();
        if commit != wanted {
            let said = format!(
                "::warning::fleet action: the checkout is at {commit}, not the dispatch's sha {wanted}: nothing reported (check out `inputs.sha`)\n"
            );
            self.reporter.say(&said);
            return Ok(());
        }
        let body = &body;
        let sent = on_github(self.request, |gh, repo| async move {
            gh.create_check_run(0, &repo, body).await
        });
        let said = match sent {
            Ok(_) => format!("fleet action: reported {} pushed images on {commit}.", pushed.len()),
            Err(e) => format!(
                "::warning::fleet action: the pushed images were not reported (the job needs `checks: write`): {e}"
            ),
        };
        self.reporter.say(&format!("{said}\n"));
        Ok(())
    }
}

/// Each pushed reference with the digest the registry took for its service's image.
fn pushed_images(built: &[BuildOutcome]) -> Vec<PushedImage> {
    (built.iter().filter(|o| o.pushed))
        .flat_map(|o| {
            (o.images.iter()).map(|image| PushedImage {
                service: o.service.clone(),
                image: image.clone(),
                digest: o.digest.clone(),
            })
        })
        .collect()
}
