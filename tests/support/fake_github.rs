//! A fake GitHub REST API on 127.0.0.1 for `fleet serve` tests: an in-memory world
//! (installations, repositories with files per commit, comments, check runs) behind a strict
//! gate. Every request is checked against the OpenAPI subset the App may use
//! (fixtures/external/github-openapi/api.github.com.subset.json): the method and path
//! template must exist, the body must carry the required fields with valid enum values, sizes
//! within limits. A request that does not conform gets HTTP 422 with a message and is recorded
//! in `violations`, which tests assert is empty.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[path = "percent.rs"]
mod percent;
use percent::percent_decode;
#[path = "fake_github_actions.rs"]
pub mod actions;
#[path = "fake_github_budget.rs"]
pub mod budget;
#[path = "fake_github_deploy.rs"]
pub mod deploy;
#[path = "fake_github_git.rs"]
pub mod git;
#[path = "fake_github_hooks.rs"]
pub mod hooks;
#[path = "fake_github_manifest.rs"]
pub mod manifest;
#[path = "fake_github_spec.rs"]
mod spec;
#[path = "fake_github_sweep.rs"]
mod sweep;
use spec::Spec;

pub const SUBSET: &str = "github-openapi/api.github.com.subset.json";

/// The vendored external fixtures (fixtures/external: webhook payloads, the signature vector,
/// the OpenAPI subset), or `$FLEET_FIXTURES_EXTERNAL`.
pub fn fixtures_external() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLEET_FIXTURES_EXTERNAL") {
        return dir.into();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/external")
}

#[derive(Debug, Clone)]
pub struct FakeComment {
    pub id: u64,
    pub repo: String,
    pub issue: u64,
    pub body: String,
    pub login: String,
    pub edits: usize,
    /// Every body it had, in order (the first is the one it was created with).
    pub history: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct FakeCheckRun {
    pub id: u64,
    pub repo: String,
    pub name: String,
    pub head_sha: String,
    pub external_id: Option<String>,
    pub status: String,
    pub conclusion: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    /// The App that made it: `github-actions` for a workflow's token, else ours.
    pub app_slug: String,
    pub annotations: Vec<Value>,
    /// Annotations per request, in order.
    pub annotation_batches: Vec<usize>,
}

#[derive(Default)]
pub struct World {
    pub app_id: u64,
    pub slug: String,
    pub installations: Vec<u64>,
    /// Issued token → installation.
    pub tokens: BTreeMap<String, u64>,
    pub tokens_issued: usize,
    /// Tokens not issued by an installation (a workflow's GITHUB_TOKEN) → the login they act as.
    pub user_tokens: BTreeMap<String, String>,
    /// (owner/repo, sha) → path → text.
    pub commits: BTreeMap<(String, String), BTreeMap<String, String>>,
    pub comments: Vec<FakeComment>,
    pub check_runs: Vec<FakeCheckRun>,
    pub violations: Vec<String>,
    /// `METHOD operationId` of every conforming request.
    pub calls: Vec<String>,
    /// While set, contents requests never answer (a job stuck mid-run).
    pub hang_contents: bool,
    /// Pull requests, permissions, deployments … (fake_github_deploy.rs).
    pub deploy: deploy::DeployWorld,
    /// Trees and blobs (fake_github_git.rs).
    pub git: git::GitWorld,
    /// Rate limits (fake_github_budget.rs).
    pub budget: budget::Budget,
    /// The App's webhook deliveries (fake_github_hooks.rs).
    pub hooks: hooks::HookWorld,
    /// The App-manifest flow (fake_github_manifest.rs).
    pub manifest: manifest::ManifestWorld,
    /// Workflow dispatches and runs (fake_github_actions.rs).
    pub actions: actions::ActionsWorld,
    /// Where the API lives under the host (GitHub Enterprise Server: `/api/v3`); `None`: at `/`.
    pub api_prefix: Option<String>,
    next_id: u64,
}

impl World {
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn add_commit(&mut self, repo: &str, sha: &str, files: &[(&str, &str)]) {
        let files: BTreeMap<String, String> = files.iter().map(|(p, t)| ((*p).to_owned(), (*t).to_owned())).collect();
        self.git.add_blobs(repo, files.values());
        self.commits.insert((repo.to_owned(), sha.to_owned()), files);
    }

    /// Accepts `token` everywhere but /app*, acting as `login` (e.g. `github-actions[bot]`).
    pub fn add_user_token(&mut self, token: &str, login: &str) {
        self.user_tokens.insert(token.to_owned(), login.to_owned());
    }

    /// A comment written by someone else.
    pub fn add_human_comment(&mut self, repo: &str, issue: u64, body: &str) {
        let id = self.next_id();
        self.comments.push(FakeComment {
            id,
            repo: repo.to_owned(),
            issue,
            body: body.to_owned(),
            login: "octocat".into(),
            edits: 0,
            history: vec![body.to_owned()],
        });
    }

    pub fn bot_login(&self) -> String {
        format!("{}[bot]", self.slug)
    }

    pub fn bot_comments(&self, repo: &str, issue: u64) -> Vec<FakeComment> {
        let bot = self.bot_login();
        self.comments
            .iter()
            .filter(|c| c.repo == repo && c.issue == issue && c.login == bot)
            .cloned()
            .collect()
    }
}

pub struct FakeGitHub {
    pub addr: SocketAddr,
    pub world: Arc<Mutex<World>>,
    pub public_key_pem: String,
}

impl FakeGitHub {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }

    /// Starts the fake on a free port; `public_key_pem` checks the App's JWTs.
    pub async fn start(app_id: u64, installations: &[u64], public_key_pem: &str) -> FakeGitHub {
        let world = Arc::new(Mutex::new(World {
            app_id,
            slug: "fleetflow-test".into(),
            installations: installations.to_vec(),
            ..World::default()
        }));
        let gate = Arc::new(Gate {
            spec: Spec::load(),
            world: Arc::clone(&world),
            key: jsonwebtoken::DecodingKey::from_rsa_pem(public_key_pem.as_bytes()).expect("public key"),
        });
        let app = Router::new().fallback(handle).with_state(gate);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeGitHub {
            addr,
            world,
            public_key_pem: public_key_pem.to_owned(),
        }
    }
}

impl FakeGitHub {
    /// Fails listing the requests the OpenAPI subset rejected, if any.
    pub fn assert_no_violations(&self) {
        let w = self.world();
        assert!(
            w.violations.is_empty(),
            "requests the OpenAPI subset rejects: {:#?}",
            w.violations
        );
    }
}

/// A real webhook payload of the vendored fixtures (`webhooks/<event>/<file>`).
pub fn webhook_fixture(event: &str, file: &str) -> Value {
    let path = fixtures_external().join("webhooks").join(event).join(file);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A local port free now (for the app to listen on, or for a server that is not there).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Gate {
    spec: Spec,
    world: Arc<Mutex<World>>,
    key: jsonwebtoken::DecodingKey,
}

pub fn message(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "message": text }))).into_response()
}

#[derive(serde::Deserialize)]
struct JwtClaims {
    iat: i64,
    exp: i64,
    /// The App id, as a number or a string (GitHub takes both).
    iss: serde_json::Value,
}

impl Gate {
    fn reject(&self, status: StatusCode, what: String) -> Response {
        self.world.lock().unwrap().violations.push(what.clone());
        message(status, &what)
    }

    /// The installation an installation token belongs to, or an error for an App JWT problem.
    fn check_jwt(&self, bearer: &str) -> Result<(), String> {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        // `iss` is checked below: GitHub takes the App id as a number (octocrab's) or a string,
        // which the library's own check would not.
        validation.set_required_spec_claims(&["exp", "iat"]);
        let data = jsonwebtoken::decode::<JwtClaims>(bearer, &self.key, &validation)
            .map_err(|e| format!("bad App JWT: {e}"))?;
        let now = chrono::Utc::now().timestamp();
        let c = data.claims;
        let iss = c.iss.as_str().map_or_else(|| c.iss.to_string(), str::to_owned);
        if iss != self.world.lock().unwrap().app_id.to_string() {
            return Err(format!("JWT iss {} is not the App id", c.iss));
        }
        if c.iat > now + 5 || c.exp > now + 600 || c.exp <= c.iat {
            return Err(format!("JWT times out of range: iat {} exp {} now {now}", c.iat, c.exp));
        }
        Ok(())
    }
}

/// Counts the request against its identity's budget (fake_github_budget.rs), then answers it.
/// With an API prefix (GitHub Enterprise Server's `/api/v3`), API paths must carry it.
async fn handle(State(gate): State<Arc<Gate>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let prefix = gate.world.lock().unwrap().api_prefix.clone();
    let uri = match prefix {
        Some(prefix) if !uri.path().starts_with("/_codeload/") && !manifest::is_web(uri.path()) => {
            let Some(rest) = uri.path().strip_prefix(prefix.as_str()).filter(|r| r.starts_with('/')) else {
                return message(StatusCode::NOT_FOUND, &format!("not under the API prefix {prefix}"));
            };
            let rest = match uri.query() {
                Some(q) => format!("{rest}?{q}"),
                None => rest.to_owned(),
            };
            rest.parse::<Uri>().unwrap_or(uri)
        }
        _ => uri,
    };
    let path = uri.path();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("token ")))
        .unwrap_or("");
    let admitted = {
        let mut world = gate.world.lock().unwrap();
        let identity = if path.starts_with("/app") || path.starts_with("/_codeload/") {
            None
        } else {
            (world.tokens.get(bearer).map(u64::to_string)).or_else(|| world.user_tokens.get(bearer).cloned())
        };
        match identity.map(|i| world.budget.admit(&i)) {
            Some(Err(refused)) => return *refused,
            Some(Ok(admitted)) => Some(admitted),
            None => None,
        }
    };
    let mut response = answer(Arc::clone(&gate), method, uri, headers, body).await;
    if let Some(admitted) = admitted {
        // A 304 to a conditional request does not count against the budget (GitHub's docs).
        let refund = response.status() == StatusCode::NOT_MODIFIED;
        gate.world
            .lock()
            .unwrap()
            .budget
            .finish(admitted, &mut response, refund);
    }
    response
}

async fn answer(gate: Arc<Gate>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    // The new-App page of the manifest flow: GitHub's web, not its API.
    if method == Method::POST && manifest::is_web(&path) {
        let mut world = gate.world.lock().unwrap();
        return manifest::new_app(&mut world.manifest, &path, uri.query(), &body);
    }
    // codeload: where the tarball operation redirects (not the API; no token, as on GitHub).
    if let Some(rest) = path.strip_prefix("/_codeload/") {
        while gate
            .world
            .lock()
            .is_ok_and(|w| w.deploy.hang_tarball && w.deploy.tarballs_served >= w.deploy.tarballs_before_hang)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut world = gate.world.lock().unwrap();
        let (repo, sha) = rest.rsplit_once('/').unwrap_or((rest, ""));
        return match deploy::tarball(&world, repo, sha) {
            Some(bytes) => {
                world.deploy.tarballs_served += 1;
                match world.deploy.tarball_pace {
                    None => ([("content-type", "application/x-gzip")], bytes).into_response(),
                    Some((piece, every)) => {
                        use futures_util::StreamExt as _;
                        let pieces: Vec<Bytes> = bytes.chunks(piece.max(1)).map(Bytes::copy_from_slice).collect();
                        let paced = futures_util::stream::iter(pieces).then(move |piece| async move {
                            tokio::time::sleep(every).await;
                            Ok::<_, std::io::Error>(piece)
                        });
                        let body = axum::body::Body::from_stream(paced);
                        ([("content-type", "application/x-gzip")], body).into_response()
                    }
                }
            }
            None => message(StatusCode::NOT_FOUND, "Not Found"),
        };
    }
    let Some((op, params)) = gate.spec.route(&method, &path) else {
        return gate.reject(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{method} {path}: no such operation in the subset"),
        );
    };
    let op_id = op.id.clone();
    // Body against the schema.
    let parsed: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(e) => {
                return gate.reject(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{op_id}: body is not JSON: {e}"),
                );
            }
        }
    };
    match (&op.body_schema, &parsed) {
        (Some(schema), Some(v)) => {
            let mut errors = Vec::new();
            gate.spec.validate(v, schema, "body", &mut errors);
            if !errors.is_empty() {
                return gate.reject(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{op_id}: {}", errors.join("; ")),
                );
            }
        }
        (Some(_), None) if op.body_required => {
            return gate.reject(StatusCode::UNPROCESSABLE_ENTITY, format!("{op_id}: a body is required"));
        }
        (None, Some(_)) => {
            return gate.reject(StatusCode::UNPROCESSABLE_ENTITY, format!("{op_id}: takes no body"));
        }
        _ => {}
    }
    // Authentication: App JWT for /app*, an installation token elsewhere.
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("token ")))
        .unwrap_or("")
        .to_owned();
    let user_login = gate.world.lock().unwrap().user_tokens.get(&bearer).cloned();
    // The manifest conversion needs no credentials: the code is one.
    let installation = if op_id == "apps/create-from-manifest" {
        None
    } else if path.starts_with("/app") {
        if let Err(e) = gate.check_jwt(&bearer) {
            return gate.reject(StatusCode::UNAUTHORIZED, format!("{op_id}: {e}"));
        }
        None
    } else if user_login.is_some() {
        None
    } else {
        let known = gate.world.lock().unwrap().tokens.get(&bearer).copied();
        match known {
            Some(i) => Some(i),
            None => {
                return gate.reject(
                    StatusCode::UNAUTHORIZED,
                    format!("{op_id}: no valid installation token"),
                );
            }
        }
    };
    let _ = installation;
    if op_id == "repos/get-content" || op_id == "git/get-blob" || op_id == "git/get-tree" {
        let accept = headers.get("accept").and_then(|v| v.to_str().ok()).unwrap_or("");
        let raw = op_id != "git/get-tree";
        if raw && !accept.contains("application/vnd.github.raw") {
            return gate.reject(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{op_id}: this fake serves raw contents only; Accept was {accept:?}"),
            );
        }
        while gate.world.lock().unwrap().hang_contents {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let query: BTreeMap<String, String> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mut world = gate.world.lock().unwrap();
    world.calls.push(format!("{method} {op_id}"));
    let repo = format!(
        "{}/{}",
        params.get("owner").cloned().unwrap_or_default(),
        params.get("repo").cloned().unwrap_or_default()
    );
    let body = parsed.unwrap_or(Value::Null);
    let num = |name: &str| params.get(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    match op_id.as_str() {
        "apps/create-from-manifest" => {
            let code = params.get("code").cloned().unwrap_or_default();
            manifest::convert(&mut world.manifest, &code)
        }
        "apps/create-installation-access-token" => {
            let id = num("installation_id");
            if !world.installations.contains(&id) {
                return message(StatusCode::NOT_FOUND, "Not Found");
            }
            world.tokens_issued += 1;
            let token = format!("ghs_fake{}_{}", id, world.tokens_issued);
            world.tokens.insert(token.clone(), id);
            let expires = chrono::Utc::now() + chrono::Duration::hours(1);
            let mut permissions = json!({
                "checks": "write", "contents": "read", "deployments": "write",
                "issues": "write", "metadata": "read", "pull_requests": "write",
            });
            if world.actions.actions_write {
                permissions["actions"] = json!("write");
            }
            (
                StatusCode::CREATED,
                // As GitHub answers: the token's permissions (the App's) and repository selection.
                axum::Json(json!({
                    "token": token,
                    "expires_at": expires.to_rfc3339(),
                    "permissions": permissions,
                    "repository_selection": "all",
                })),
            )
                .into_response()
        }
        "apps/get-authenticated" => {
            axum::Json(json!({ "id": world.app_id, "slug": world.slug, "name": "fleetflow test" })).into_response()
        }
        "repos/get-content" => {
            let Some(git_ref) = query.get("ref") else {
                return message(StatusCode::UNPROCESSABLE_ENTITY, "this fake needs ?ref=");
            };
            let file = percent_decode(&params["path"]);
            let Some(files) = world.commits.get(&(repo.clone(), git_ref.clone())) else {
                return message(StatusCode::NOT_FOUND, "No commit found for the ref");
            };
            match files.get(&file) {
                Some(text) => {
                    // GitHub's conditional requests: the same ETag again is a 304.
                    let etag = format!("\"{}\"", git::blob_sha(text));
                    let asked = headers.get("if-none-match").and_then(|v| v.to_str().ok());
                    if asked == Some(etag.as_str()) {
                        return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
                    }
                    let raw = ("content-type", "application/vnd.github.raw+json".to_owned());
                    ([raw, ("etag", etag)], text.clone()).into_response()
                }
                None => message(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        "apps/list-webhook-deliveries" => axum::Json(world.hooks.list()).into_response(),
        "apps/redeliver-webhook-delivery" => match world.hooks.redeliver(num("delivery_id")) {
            Some(post) => {
                tokio::spawn(post);
                (StatusCode::ACCEPTED, axum::Json(json!({}))).into_response()
            }
            None => message(StatusCode::NOT_FOUND, "Not Found"),
        },
        "git/get-tree" => {
            let recursive = query
                .get("recursive")
                .is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
            match git::tree(&mut world, &repo, &params["tree_sha"], recursive) {
                Some(tree) => axum::Json(tree).into_response(),
                None => message(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        "git/get-blob" => match git::blob(&mut world, &repo, &params["file_sha"]) {
            Some(text) => ([("content-type", "application/vnd.github.raw+json")], text).into_response(),
            None => message(StatusCode::NOT_FOUND, "Not Found"),
        },
        "checks/create" => {
            let id = world.next_id();
            let mut run = FakeCheckRun {
                id,
                repo,
                name: body["name"].as_str().unwrap_or_default().to_owned(),
                head_sha: body["head_sha"].as_str().unwrap_or_default().to_owned(),
                external_id: body["external_id"].as_str().map(str::to_owned),
                status: "queued".into(),
                conclusion: None,
                title: None,
                summary: None,
                text: None,
                app_slug: match &user_login {
                    Some(_) => "github-actions".to_owned(),
                    None => world.slug.clone(),
                },
                annotations: Vec::new(),
                annotation_batches: Vec::new(),
            };
            apply_check_update(&mut run, &body);
            let reply = json!({ "id": id, "name": run.name, "head_sha": run.head_sha, "status": run.status });
            world.check_runs.push(run);
            (StatusCode::CREATED, axum::Json(reply)).into_response()
        }
        "checks/update" => {
            let id = num("check_run_id");
            let Some(run) = world.check_runs.iter_mut().find(|r| r.id == id && r.repo == repo) else {
                return message(StatusCode::NOT_FOUND, "Not Found");
            };
            apply_check_update(run, &body);
            axum::Json(json!({ "id": id, "status": run.status, "conclusion": run.conclusion })).into_response()
        }
        "issues/list-comments" => {
            let issue = num("issue_number");
            let per_page: usize = query
                .get("per_page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(30)
                .min(100);
            let page: usize = query.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
            let all: Vec<Value> = world
                .comments
                .iter()
                .filter(|c| c.repo == repo && c.issue == issue)
                .map(|c| json!({ "id": c.id, "body": c.body, "user": { "login": c.login, "type": if c.login.ends_with("[bot]") { "Bot" } else { "User" } } }))
                .collect();
            let page: Vec<Value> = all.into_iter().skip((page - 1) * per_page).take(per_page).collect();
            axum::Json(Value::Array(page)).into_response()
        }
        "issues/create-comment" => {
            let id = world.next_id();
            let login = user_login.clone().unwrap_or_else(|| world.bot_login());
            let text = body["body"].as_str().unwrap_or_default().to_owned();
            world.comments.push(FakeComment {
                id,
                repo,
                issue: num("issue_number"),
                body: text.clone(),
                login,
                edits: 0,
                history: vec![text],
            });
            (StatusCode::CREATED, axum::Json(json!({ "id": id }))).into_response()
        }
        "issues/update-comment" => {
            let id = num("comment_id");
            let bot = user_login.clone().unwrap_or_else(|| world.bot_login());
            let Some(c) = world.comments.iter_mut().find(|c| c.id == id && c.repo == repo) else {
                return message(StatusCode::NOT_FOUND, "Not Found");
            };
            if c.login != bot {
                drop(world);
                return gate.reject(StatusCode::FORBIDDEN, format!("comment {id} is not the App's"));
            }
            c.body = body["body"].as_str().unwrap_or_default().to_owned();
            c.history.push(c.body.clone());
            c.edits += 1;
            axum::Json(json!({ "id": id })).into_response()
        }
        other if let Some(r) = deploy::handle(&mut world, other, &repo, &params, &body) => r,
        other if let Some(r) = sweep::handle(&world, other, &repo, &params, &query) => r,
        other if let Some(r) = actions::handle(&mut world, other, &repo, &params, &body) => r,
        other => {
            let what = format!("{other}: valid, but the App is not expected to call it");
            world.violations.push(what.clone());
            message(StatusCode::NOT_IMPLEMENTED, &what)
        }
    }
}

fn apply_check_update(run: &mut FakeCheckRun, body: &Value) {
    if let Some(s) = body["status"].as_str() {
        run.status = s.to_owned();
    }
    if let Some(c) = body["conclusion"].as_str() {
        run.conclusion = Some(c.to_owned());
        run.status = "completed".into();
    }
    let output = &body["output"];
    if let Some(t) = output["title"].as_str() {
        run.title = Some(t.to_owned());
    }
    if let Some(s) = output["summary"].as_str() {
        run.summary = Some(s.to_owned());
    }
    if let Some(t) = output["text"].as_str() {
        run.text = Some(t.to_owned());
    }
    if let Some(a) = output["annotations"].as_array() {
        run.annotation_batches.push(a.len());
        run.annotations.extend(a.iter().cloned());
    }
}

/// An RSA App key made now with Debian's openssl (never committed): (private PEM path, public PEM).
pub fn app_key(dir: &Path) -> (PathBuf, String) {
    let private = dir.join("app.pem");
    let ok = std::process::Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&private)
        .arg("2048")
        .output()
        .expect("openssl is installed");
    assert!(
        ok.status.success(),
        "openssl genrsa: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let public = std::process::Command::new("openssl")
        .args(["rsa", "-pubout", "-in"])
        .arg(&private)
        .output()
        .expect("openssl rsa");
    assert!(
        public.status.success(),
        "openssl rsa: {}",
        String::from_utf8_lossy(&public.stderr)
    );
    (private, String::from_utf8(public.stdout).expect("PEM is text"))
}
