//! `fleet build`: which images a stage builds, how (buildx for linux/amd64, or the classic
//! builder), with which tags and OCI labels, and skipping services whose inputs did not change.

pub mod credentials;
pub mod inputs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Stage;
use crate::docker::{BuildRequest, Builder, Docker, DockerError};
use crate::images::built_image_name;

/// Label holding the hash of a build's inputs (to skip unchanged rebuilds).
pub const INPUTS_LABEL: &str = "io.fleetflow.build-inputs";
/// The platform of non-local stages (seed 001: servers are linux/amd64).
pub const SERVER_PLATFORM: &str = "linux/amd64";

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Only these services (all built services when empty).
    pub services: Vec<String>,
    pub push: bool,
    pub tag: Option<String>,
    pub registry: Option<String>,
    pub platform: Option<String>,
    pub no_cache: bool,
    /// Full git commit, when known (adds `sha-<7>` and the revision label).
    pub commit: Option<String>,
    /// The fleet's files differ from `commit` (uncommitted or untracked changes): the commit
    /// tag becomes `sha-<7>-dirty`, so it never names what the commit would build.
    pub dirty: bool,
    /// Repository URL for `org.opencontainers.image.source` (ghcr.io links packages by it).
    pub source_url: Option<String>,
    /// RFC 3339 build time for `org.opencontainers.image.created`.
    pub created: String,
}

/// One image to build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedBuild {
    pub service: String,
    pub builder: Builder,
    pub request: BuildRequest,
    pub inputs_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("stage `{stage}` has no service `{service}` that is built; built services: {known}")]
    UnknownService {
        stage: String,
        service: String,
        known: String,
    },
    #[error("stage `{0}` builds nothing: no service has `build`")]
    NothingToBuild(String),
    #[error("build context {path} of `{service}` is not readable: {source}")]
    Context {
        service: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the {what} `{path}` of `{service}` resolves outside the fleet's directory; nothing was built")]
    OutsideFleet {
        service: String,
        what: &'static str,
        path: String,
    },
    #[error("build of `{service}` failed: {source}")]
    Failed {
        service: String,
        #[source]
        source: DockerError,
    },
    #[error("push of {image} failed: {source}")]
    Push {
        image: String,
        #[source]
        source: DockerError,
    },
}

/// Refuses a context or Dockerfile that resolves (symbolic links followed) outside
/// `fleet_dir`: the configuration checks the text, this checks the tree being built. A path
/// that does not exist cannot leak anything; the build reports it.
fn ensure_inside(
    fleet_dir: &Path,
    service: &str,
    context_text: &str,
    context: &Path,
    dockerfile: Option<&Path>,
) -> Result<(), BuildError> {
    let Ok(root) = fleet_dir.canonicalize() else {
        return Ok(());
    };
    let default_dockerfile = context.join("Dockerfile");
    let checks = [
        ("build context", context, context_text.to_owned()),
        (
            "dockerfile",
            dockerfile.unwrap_or(&default_dockerfile),
            dockerfile.unwrap_or(&default_dockerfile).display().to_string(),
        ),
    ];
    for (what, path, text) in checks {
        if path.canonicalize().is_ok_and(|real| !real.starts_with(&root)) {
            let shown = Path::new(&text)
                .strip_prefix(fleet_dir)
                .map_or(text.clone(), |p| p.display().to_string());
            return Err(BuildError::OutsideFleet {
                service: service.to_owned(),
                what,
                path: shown,
            });
        }
    }
    Ok(())
}

/// The builds of a stage (pure but for hashing the context files).
pub fn plan_builds(
    project: &str,
    stage: &Stage,
    fleet_dir: &Path,
    options: &BuildOptions,
    buildx: bool,
) -> Result<Vec<PlannedBuild>, BuildError> {
    let stage_name = stage.name.value.as_str();
    let built: Vec<_> = stage
        .services
        .iter()
        .filter(|s| s.image.is_none() && s.build.is_some())
        .collect();
    if built.is_empty() {
        return Err(BuildError::NothingToBuild(stage_name.into()));
    }
    for wanted in &options.services {
        if !built.iter().any(|s| &s.name.value == wanted) {
            return Err(BuildError::UnknownService {
                stage: stage_name.into(),
                service: wanted.clone(),
                known: built
                    .iter()
                    .map(|s| s.name.value.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let local = stage_name == "local";
    let platform = options
        .platform
        .clone()
        .or_else(|| (!local).then(|| SERVER_PLATFORM.to_owned()));
    let builder = if !local && buildx {
        Builder::Buildx
    } else {
        Builder::Classic
    };
    let push = options.push && !local;
    let tag = options.tag.clone().unwrap_or_else(|| "latest".into());
    let mut plans = Vec::new();
    for service in built
        .into_iter()
        .filter(|s| options.services.is_empty() || options.services.contains(&s.name.value))
    {
        let Some(build) = &service.build else { continue };
        let name = &service.name.value;
        let context = fleet_dir.join(&build.context);
        let dockerfile = build.dockerfile.as_ref().map(|f| context.join(f));
        ensure_inside(fleet_dir, name, &build.context, &context, dockerfile.as_deref())?;
        let image = built_image_name(
            project,
            stage,
            name,
            if local { None } else { options.registry.as_deref() },
        );
        let mut tags = vec![format!("{image}:{tag}")];
        if let Some(tag) = options.commit.as_deref().and_then(crate::images::commit_tag) {
            let dirty = if options.dirty { "-dirty" } else { "" };
            tags.push(format!("{image}:{tag}{dirty}"));
        }
        let inputs_hash =
            inputs::hash_inputs(&context, dockerfile.as_deref(), build, platform.as_deref()).map_err(|source| {
                BuildError::Context {
                    service: name.clone(),
                    path: context.display().to_string(),
                    source,
                }
            })?;
        let mut labels = BTreeMap::from([
            ("org.opencontainers.image.created".to_owned(), options.created.clone()),
            (INPUTS_LABEL.to_owned(), inputs_hash.clone()),
        ]);
        if let Some(url) = &options.source_url {
            labels.insert("org.opencontainers.image.source".into(), url.clone());
        }
        if let Some(commit) = &options.commit {
            labels.insert("org.opencontainers.image.revision".into(), commit.clone());
        }
        plans.push(PlannedBuild {
            service: name.clone(),
            builder,
            request: BuildRequest {
                context,
                dockerfile,
                target: build.target.clone(),
                args: build.args.clone(),
                tags,
                labels,
                platform: platform.clone(),
                no_cache: options.no_cache,
                push,
                metadata_file: None,
            },
            inputs_hash,
        });
    }
    Ok(plans)
}

/// What a build run did for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildOutcome {
    pub service: String,
    pub images: Vec<String>,
    /// false when the inputs were unchanged and the existing image was kept.
    pub built: bool,
    pub pushed: bool,
    /// `sha256:…`: the manifest digest the registry took for the push.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Runs planned builds (and pushes with the classic builder), skipping unchanged inputs.
pub fn run_builds(
    docker: &dyn Docker,
    plans: &[PlannedBuild],
    output: &mut dyn FnMut(&str, &str),
) -> Result<Vec<BuildOutcome>, BuildError> {
    let mut outcomes = Vec::new();
    for plan in plans {
        let r = &plan.request;
        let primary = &r.tags[0];
        let existing = docker.inspect_image(primary).ok().flatten();
        let unchanged = !r.no_cache
            && existing.is_some_and(|i| i.labels.get(INPUTS_LABEL) == Some(&plan.inputs_hash))
            && plan.builder == Builder::Classic;
        // buildx pushes from its builder: the digest is in its metadata file, not the engine.
        let metadata = (r.push && plan.builder == Builder::Buildx)
            .then(tempfile::NamedTempFile::new)
            .transpose()
            .map_err(|e| BuildError::Failed {
                service: plan.service.clone(),
                source: e.into(),
            })?;
        let request = BuildRequest {
            metadata_file: metadata.as_ref().map(|f| f.path().to_path_buf()),
            ..r.clone()
        };
        if unchanged {
            output(&plan.service, &format!("inputs unchanged, keeping {primary}"));
        } else {
            docker
                .build(plan.builder, &request, &mut |l| output(&plan.service, l))
                .map_err(|source| BuildError::Failed {
                    service: plan.service.clone(),
                    source,
                })?;
        }
        let mut pushed = false;
        if r.push && plan.builder == Builder::Classic {
            for image in &r.tags {
                docker
                    .push(image, &mut |l| output(&plan.service, l))
                    .map_err(|source| BuildError::Push {
                        image: image.clone(),
                        source,
                    })?;
            }
            pushed = true;
        }
        let digest = match &metadata {
            Some(file) => std::fs::read_to_string(file.path())
                .ok()
                .and_then(|t| pushed_digest(&t)),
            None if pushed => (docker.inspect_image(primary).ok().flatten())
                .and_then(|info| repo_digest_of(primary, &info.repo_digests)),
            None => None,
        };
        outcomes.push(BuildOutcome {
            service: plan.service.clone(),
            images: r.tags.clone(),
            built: !unchanged,
            pushed: pushed || (r.push && plan.builder == Builder::Buildx),
            digest,
        });
    }
    Ok(outcomes)
}

/// The digest buildx's metadata file (`--metadata-file`) gives for the pushed image.
pub fn pushed_digest(metadata: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(metadata).ok()?;
    let digest = v.get("containerimage.digest")?.as_str()?;
    digest.starts_with("sha256:").then(|| digest.to_owned())
}

/// The digest of `image`'s repository among an image's `RepoDigests` (`repo@sha256:…`).
pub fn repo_digest_of(image: &str, repo_digests: &[String]) -> Option<String> {
    let last = image.rsplit('/').next().unwrap_or(image);
    let repository = match last.rsplit_once(':') {
        Some(_) => image.rsplit_once(':').map_or(image, |(r, _)| r),
        None => image,
    };
    repo_digests
        .iter()
        .find_map(|d| d.strip_prefix(repository)?.strip_prefix('@').map(str::to_owned))
}

/// The repository URL for the source label: GitHub Actions' variables, else `origin`.
pub fn source_url(env: &dyn Fn(&str) -> Option<String>, origin: Option<&str>) -> Option<String> {
    if let (Some(server), Some(repo)) = (env("GITHUB_SERVER_URL"), env("GITHUB_REPOSITORY")) {
        return Some(format!("{}/{repo}", server.trim_end_matches('/')));
    }
    let origin = origin?.trim().trim_end_matches(".git");
    if let Some(rest) = origin.strip_prefix("git@") {
        let (host, path) = rest.split_once(':')?;
        return Some(format!("https://{host}/{path}"));
    }
    origin.starts_with("https://").then(|| origin.to_owned())
}

/// Paths of a fleet relative to the current directory, for messages.
pub fn display_path(p: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| p.to_path_buf())
}
