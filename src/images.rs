//! Image references: which image a service runs, and what `fleet build` produces.

use crate::config::{Service, Stage};

/// `{registry}/{project}-{stage}` when the stage builds one service (seed 001:
/// `ghcr.io/{owner}/{project}-live`), `{registry}/{project}-{stage}-{service}` when it builds
/// several; without a registry the name is local only.
pub fn built_image_name(project: &str, stage: &Stage, service: &str, registry: Option<&str>) -> String {
    let built = stage
        .services
        .iter()
        .filter(|s| s.image.is_none() && s.build.is_some())
        .count();
    let repo = if built <= 1 {
        format!("{project}-{stage}", stage = stage.name.value)
    } else {
        format!("{project}-{}-{service}", stage.name.value)
    };
    match registry.map(|r| r.trim_end_matches('/')).filter(|r| !r.is_empty()) {
        Some(r) => format!("{r}/{repo}"),
        None => repo,
    }
}

/// The image a service of a stage runs: its `image`, else its built image at `tag`.
pub fn service_image(project: &str, stage: &Stage, service: &Service, registry: Option<&str>, tag: &str) -> String {
    match &service.image {
        Some(image) => image.clone(),
        None => format!(
            "{}:{tag}",
            built_image_name(project, stage, &service.name.value, registry)
        ),
    }
}

/// A commit's short form for people (`1a2b3c4`); the whole text when it is shorter.
pub fn short_sha(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// The tag `fleet build` adds for a commit (`sha-1a2b3c4`) and deploys of it run; `None` for
/// a commit shorter than 7 characters.
pub fn commit_tag(commit: &str) -> Option<String> {
    commit.get(..7).map(|s| format!("sha-{s}"))
}
