//! The fake GitHub's deploy-side operations (issue 7): pull requests and their files, compare,
//! collaborator permissions, team memberships, reactions, deployments and their statuses, and
//! the tarball of a commit (a 302 to a codeload-like URL on the fake, as GitHub answers).

use std::collections::BTreeMap;
use std::io::Write;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{World, message};

#[derive(Debug, Clone)]
pub struct FakePull {
    pub head_sha: String,
    pub base_sha: String,
    /// `owner/name` of the head repository (another one for a fork).
    pub head_repo: String,
}

#[derive(Debug, Clone)]
pub struct FakeDeployment {
    pub id: u64,
    pub repo: String,
    pub sha: String,
    pub environment: String,
    /// States in order.
    pub statuses: Vec<String>,
    pub descriptions: Vec<String>,
    /// When each status came.
    pub status_times: Vec<std::time::Instant>,
    /// Each status's `log_url`.
    pub log_urls: Vec<Option<String>>,
}

#[derive(Debug, Default)]
pub struct DeployWorld {
    /// (owner/repo, number) → pull request.
    pub pulls: BTreeMap<(String, u64), FakePull>,
    /// login → permission (`admin`, `write`, `read`, …); others are not collaborators (404).
    pub permissions: BTreeMap<String, String>,
    /// (`org/team-slug`, login) of active members.
    pub team_members: Vec<(String, String)>,
    /// (comment id, content).
    pub reactions: Vec<(u64, String)>,
    pub deployments: Vec<FakeDeployment>,
    pub tarballs_served: usize,
    /// While set, source downloads (codeload) never answer (a deploy stuck mid-run).
    pub hang_tarball: bool,
    /// Tarballs served before `hang_tarball` holds them (the configuration's read goes through).
    pub tarballs_before_hang: usize,
    /// Tarballs sent in pieces of this many bytes, this long apart (a slow or large download).
    pub tarball_pace: Option<(usize, std::time::Duration)>,
    /// Pull requests (repository, number) that are closed.
    pub closed_pulls: std::collections::BTreeSet<(String, u64)>,
}

/// The paths that differ between two commits' file maps.
fn diff(world: &World, repo: &str, base: &str, head: &str) -> Option<Vec<String>> {
    let a = world.commits.get(&(repo.to_owned(), base.to_owned()))?;
    let b = world.commits.get(&(repo.to_owned(), head.to_owned()))?;
    let mut changed: Vec<String> = b
        .iter()
        .filter(|(p, t)| a.get(*p) != Some(*t))
        .map(|(p, _)| p.clone())
        .collect();
    changed.extend(a.keys().filter(|p| !b.contains_key(*p)).cloned());
    changed.sort();
    Some(changed)
}

/// A gzipped tar of a commit's files under `owner-repo-sha7/`, like GitHub's archives.
pub fn tarball(world: &World, repo: &str, sha: &str) -> Option<Vec<u8>> {
    let files = world.commits.get(&(repo.to_owned(), sha.to_owned()))?;
    let top = format!("{}-{}/", repo.replace('/', "-"), &sha[..7.min(sha.len())]);
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    tar.append_data(&mut dir, &top, std::io::empty()).ok()?;
    for (path, text) in files {
        let text = world.git.tarball_text.get(path).unwrap_or(text);
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(text.len() as u64);
        tar.append_data(&mut h, format!("{top}{path}"), text.as_bytes()).ok()?;
    }
    let mut gz = tar.into_inner().ok()?;
    gz.flush().ok()?;
    gz.finish().ok()
}

/// Answers one deploy-side operation, or `None` when `op_id` is not one of them.
pub fn handle(
    world: &mut World,
    op_id: &str,
    repo: &str,
    params: &BTreeMap<String, String>,
    body: &Value,
) -> Option<Response> {
    let num = |name: &str| params.get(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some(match op_id {
        "pulls/get" => match world.deploy.pulls.get(&(repo.to_owned(), num("pull_number"))) {
            Some(p) => axum::Json(json!({
                "number": num("pull_number"),
                "state": if world.deploy.closed_pulls.contains(&(repo.to_owned(), num("pull_number"))) { "closed" } else { "open" },
                "head": { "sha": p.head_sha, "ref": "feature", "repo": { "full_name": p.head_repo } },
                "base": { "sha": p.base_sha, "ref": "main", "repo": { "full_name": repo, "default_branch": "main" } },
            }))
            .into_response(),
            None => message(StatusCode::NOT_FOUND, "Not Found"),
        },
        "pulls/list-files" => {
            let Some(p) = world.deploy.pulls.get(&(repo.to_owned(), num("pull_number"))).cloned() else {
                return Some(message(StatusCode::NOT_FOUND, "Not Found"));
            };
            let files = diff(world, repo, &p.base_sha, &p.head_sha).unwrap_or_default();
            let items: Vec<Value> = files
                .iter()
                .map(|f| json!({ "filename": f, "status": "modified", "sha": "0", "additions": 1, "deletions": 0, "changes": 1 }))
                .collect();
            axum::Json(Value::Array(items)).into_response()
        }
        "repos/compare-commits-with-basehead" => {
            let basehead = params.get("basehead").cloned().unwrap_or_default();
            let Some((base, head)) = basehead.split_once("...") else {
                return Some(message(StatusCode::NOT_FOUND, "Not Found"));
            };
            match diff(world, repo, base, head) {
                Some(files) => axum::Json(json!({
                    "status": "ahead",
                    "files": files.iter().map(|f| json!({ "filename": f, "status": "modified" })).collect::<Vec<_>>(),
                }))
                .into_response(),
                None => message(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        "repos/get-collaborator-permission-level" => {
            let user = params.get("username").cloned().unwrap_or_default();
            match world.deploy.permissions.get(&user) {
                Some(p) => axum::Json(json!({
                    "permission": p,
                    "role_name": p,
                    "user": { "login": user },
                }))
                .into_response(),
                None => message(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        "teams/get-membership-for-user-in-org" => {
            let team = format!(
                "{}/{}",
                params.get("org").cloned().unwrap_or_default(),
                params.get("team_slug").cloned().unwrap_or_default()
            );
            let user = params.get("username").cloned().unwrap_or_default();
            if world.deploy.team_members.iter().any(|(t, u)| *t == team && *u == user) {
                axum::Json(json!({ "state": "active", "role": "member", "url": "" })).into_response()
            } else {
                message(StatusCode::NOT_FOUND, "Not Found")
            }
        }
        "reactions/create-for-issue-comment" => {
            let id = num("comment_id");
            let content = body["content"].as_str().unwrap_or_default().to_owned();
            world.deploy.reactions.push((id, content.clone()));
            (StatusCode::CREATED, axum::Json(json!({ "id": id, "content": content }))).into_response()
        }
        "repos/create-deployment" => {
            let id = world.next_id();
            world.deploy.deployments.push(FakeDeployment {
                id,
                repo: repo.to_owned(),
                sha: body["ref"].as_str().unwrap_or_default().to_owned(),
                environment: body["environment"].as_str().unwrap_or("production").to_owned(),
                statuses: Vec::new(),
                descriptions: Vec::new(),
                status_times: Vec::new(),
                log_urls: Vec::new(),
            });
            (StatusCode::CREATED, axum::Json(json!({ "id": id }))).into_response()
        }
        "repos/create-deployment-status" => {
            let id = num("deployment_id");
            let Some(d) = world
                .deploy
                .deployments
                .iter_mut()
                .find(|d| d.id == id && d.repo == repo)
            else {
                return Some(message(StatusCode::NOT_FOUND, "Not Found"));
            };
            d.statuses.push(body["state"].as_str().unwrap_or_default().to_owned());
            d.descriptions
                .push(body["description"].as_str().unwrap_or_default().to_owned());
            d.status_times.push(std::time::Instant::now());
            d.log_urls.push(body["log_url"].as_str().map(str::to_owned));
            (
                StatusCode::CREATED,
                axum::Json(json!({ "id": id, "state": body["state"] })),
            )
                .into_response()
        }
        "repos/download-tarball-archive" => {
            let sha = params.get("ref").cloned().unwrap_or_default();
            if !world.commits.contains_key(&(repo.to_owned(), sha.clone())) {
                return Some(message(StatusCode::NOT_FOUND, "Not Found"));
            }
            (StatusCode::FOUND, [("location", format!("/_codeload/{repo}/{sha}"))]).into_response()
        }
        _ => return None,
    })
}
