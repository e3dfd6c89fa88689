//! What the App's reconciliation sweep reads: a repository's pull requests (`state=open`, paged
//! as GitHub pages them) and a commit's check runs by name.

use std::collections::BTreeMap;

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::World;
use super::percent::percent_decode;

pub fn handle(
    world: &World,
    op_id: &str,
    repo: &str,
    params: &BTreeMap<String, String>,
    query: &BTreeMap<String, String>,
) -> Option<Response> {
    // A query is form-encoded: `+` is a space.
    let q = |name: &str| query.get(name).map(|v| percent_decode(&v.replace('+', " ")));
    let per_page = q("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = q("page").and_then(|v| v.parse::<usize>().ok()).unwrap_or(1).max(1);
    Some(match op_id {
        "pulls/list" => {
            let state = q("state").unwrap_or_else(|| "open".into());
            let pulls: Vec<Value> = (world.deploy.pulls.iter())
                .filter(|((r, _), _)| r == repo)
                .filter(|((r, n), _)| {
                    let closed = world.deploy.closed_pulls.contains(&(r.clone(), *n));
                    state == "all" || (state == "closed") == closed
                })
                .map(|((_, number), p)| {
                    json!({
                        "number": number, "state": "open",
                        "head": { "sha": p.head_sha, "ref": "feature", "repo": { "full_name": p.head_repo } },
                        "base": { "sha": p.base_sha, "ref": "main", "repo": { "full_name": repo } },
                    })
                })
                .skip((page - 1) * per_page)
                .take(per_page)
                .collect();
            Json(Value::Array(pulls)).into_response()
        }
        "checks/list-for-ref" => {
            let sha = params.get("ref").map(|r| percent_decode(r)).unwrap_or_default();
            let name = q("check_name");
            let runs: Vec<Value> = (world.check_runs.iter())
                .filter(|c| c.repo == repo && c.head_sha == sha)
                .filter(|c| name.as_ref().is_none_or(|n| *n == c.name))
                .map(|c| json!({ "id": c.id, "name": c.name, "head_sha": c.head_sha, "status": c.status, "external_id": c.external_id,
                    "output": { "title": c.title, "summary": c.summary, "text": c.text },
                    "app": { "slug": c.app_slug } }))
                .collect();
            let total = runs.len();
            let runs: Vec<Value> = runs.into_iter().skip((page - 1) * per_page).take(per_page).collect();
            Json(json!({ "total_count": total, "check_runs": runs })).into_response()
        }
        _ => return None,
    })
}
