//! The GitHub REST calls of the App and the Action — commits, files, comments, check runs,
//! deployments — over octocrab ([`transport`]), with each installation's rate limit watched
//! ([`budget`]) and what never changes cached ([`cache`]). Pointed at `--github-api-url`.

pub mod actions_api;
pub mod auth;
pub mod budget;
pub mod cache;
pub mod deliveries;
mod deploy_api;
pub mod files;
pub mod manifest;
pub mod open_pulls;
mod transport;
pub mod tree;

use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{Method, StatusCode, header};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::event::RepoRef;
use crate::secret::Secret;
pub use auth::{AppKey, AuthError};
use cache::ObjectCache;
pub use deploy_api::{DeploymentState, PullRequestInfo};
pub use transport::BodyPace;
use transport::{Answer, Auth, Clients, Credentials, Route};

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("GitHub request {method} {path} failed: {source}")]
    Http {
        method: Method,
        path: String,
        #[source]
        source: Box<octocrab::Error>,
    },
    #[error("GitHub answered {status} to {method} {path}: {message}")]
    Status {
        method: Method,
        path: String,
        status: StatusCode,
        message: String,
        /// How long GitHub asks us to wait (Retry-After, or the rate-limit reset).
        retry_after: Option<std::time::Duration>,
    },
    /// The answer's body came slower than its [`BodyPace`] allows.
    #[error(
        "GitHub request {method} {path} gave up after {} s: {received} bytes arrived, slower than its pace ({pace})",
        elapsed.as_secs()
    )]
    TooSlow {
        method: Method,
        path: String,
        received: u64,
        elapsed: std::time::Duration,
        pace: BodyPace,
    },
    #[error("unexpected answer to {path}: {message}")]
    Decode { path: String, message: String },
    /// The client could not be set up (a bad API URL, no TLS).
    #[error("{0}")]
    Setup(String),
}

impl GitHubError {
    /// Worth another attempt later: 5xx, rate limits (403/429 with a wait), network errors.
    pub fn is_transient(&self) -> bool {
        match self {
            GitHubError::Http { .. } | GitHubError::TooSlow { .. } => true,
            GitHubError::Status {
                status, retry_after, ..
            } => status.is_server_error() || retry_after.is_some(),
            _ => false,
        }
    }

    /// The wait before the rate limit lets requests through again, when that is why this failed
    /// (403 or 429 with `retry-after` or a spent `x-ratelimit-remaining`).
    pub fn rate_limited(&self) -> Option<std::time::Duration> {
        match self {
            GitHubError::Status {
                status, retry_after, ..
            } if *status == StatusCode::FORBIDDEN || *status == StatusCode::TOO_MANY_REQUESTS => *retry_after,
            _ => None,
        }
    }

    /// The wait GitHub asked for, if any.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            GitHubError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// GitHub's own wait: `Retry-After` (seconds) on 403/429/5xx, or the rate-limit reset time when
/// `x-ratelimit-remaining` is 0 (docs: "Rate limits for the REST API").
pub fn retry_after(status: StatusCode, headers: &http::HeaderMap, now: SystemTime) -> Option<std::time::Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if !(status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()) {
        return None;
    }
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(std::time::Duration::from_secs(secs));
    }
    if header("x-ratelimit-remaining") == Some("0") {
        let reset = header("x-ratelimit-reset")?.parse::<u64>().ok()?;
        let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
        return Some(std::time::Duration::from_secs(reset.saturating_sub(now).max(1)));
    }
    None
}

/// A comment on an issue or pull request.
#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    pub user: Option<User>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub login: String,
}

/// Where the client reports each call it made (the server's metrics); the client does not know
/// who counts.
pub trait CallObserver: Send + Sync {
    /// A call with `method` that ended with HTTP `status` (0: no answer).
    fn github_call(&self, method: &str, status: u16);
    /// What an installation's rate-limit headers said last.
    fn rate_limit(&self, _installation: u64, _seen: budget::Remaining) {}
}

/// Counts nothing: for front doors without metrics.
pub struct NoObserver;

impl CallObserver for NoObserver {
    fn github_call(&self, _method: &str, _status: u16) {}
}

/// The App's GitHub client: App JWTs, cached installation tokens, metrics per call.
#[derive(Clone)]
pub struct GitHub {
    api_url: String,
    credentials: Credentials,
    /// octocrab's clients, built on the first call ([`transport`]).
    clients: Arc<tokio::sync::OnceCell<Clients>>,
    slug: Arc<Mutex<Option<String>>>,
    metrics: Arc<dyn CallObserver>,
    /// Blobs and commit indexes seen before (see [`cache`]).
    objects: Arc<dyn ObjectCache>,
    /// Each installation's rate limit as last seen, and its bound on concurrent requests.
    budgets: Arc<budget::Budgets>,
    /// The last ETag and bytes of files read at a branch (see [`GitHub::file`]).
    etags: Arc<cache::Etags>,
    /// How fast a repository's tarball must arrive.
    tarball_pace: BodyPace,
}

/// How an answer is read: what is accepted, the ETag known, how fast its body must arrive.
struct Reading<'a> {
    accept: &'a str,
    if_none_match: Option<&'a str>,
    pace: BodyPace,
}

impl Reading<'_> {
    fn json() -> Self {
        Self {
            accept: "application/vnd.github+json",
            if_none_match: None,
            pace: BodyPace::API,
        }
    }
}

/// What a GET of bytes got.
enum Fetched {
    Bytes(Vec<u8>, Option<String>),
    Missing,
    NotModified,
}

/// The in-memory object cache a client starts with: 64 MiB.
pub const MEMORY_CACHE_BYTES: usize = 64 << 20;

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl GitHub {
    pub fn new(api_url: &str, key: AppKey, metrics: Arc<dyn CallObserver>) -> Result<Self, GitHubError> {
        Self::build(api_url, Credentials::App(key), metrics)
    }

    /// A client that sends `Authorization: Bearer <token>` on every call (a workflow's
    /// GITHUB_TOKEN or a personal token): no App JWT, no installation tokens. The
    /// `installation` arguments of the methods are ignored.
    pub fn with_token(api_url: &str, token: Secret, metrics: Arc<dyn CallObserver>) -> Result<Self, GitHubError> {
        Self::build(api_url, Credentials::Token(token), metrics)
    }

    fn build(api_url: &str, credentials: Credentials, metrics: Arc<dyn CallObserver>) -> Result<Self, GitHubError> {
        let base = reqwest::Url::parse(api_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.query().is_none())
            .ok_or_else(|| GitHubError::Setup(format!("--github-api-url {api_url:?} is not an http(s) URL")))?;
        Ok(Self {
            api_url: base.as_str().trim_end_matches('/').to_owned(),
            credentials,
            clients: Arc::default(),
            slug: Arc::default(),
            metrics,
            objects: Arc::new(cache::MemoryCache::new(MEMORY_CACHE_BYTES)),
            budgets: Arc::default(),
            etags: Arc::default(),
            tarball_pace: BodyPace::TARBALL,
        })
    }

    /// The client keeping what never changes in `objects` (the App: its database).
    /// Tarballs must arrive at `pace` (default [`BodyPace::TARBALL`]).
    pub fn with_tarball_pace(mut self, pace: BodyPace) -> Self {
        self.tarball_pace = pace;
        self
    }

    pub fn with_object_cache(mut self, objects: Arc<dyn ObjectCache>) -> Self {
        self.objects = objects;
        self
    }

    /// How long new work for `installation` should wait for its rate limit to reset, when the
    /// budget is nearly spent.
    pub fn budget_wait(&self, installation: u64) -> Option<Duration> {
        self.budgets.wait(installation)
    }

    /// `segments` are path segments (escaped here); `query` pairs are appended.
    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Route {
        Route::new(segments, query)
    }

    async fn clients(&self) -> Result<&Clients, GitHubError> {
        (self.clients)
            .get_or_try_init(|| async { Clients::build(&self.api_url, &self.credentials) })
            .await
    }

    /// One request as `auth`, under the installation's gate; counted, and its rate-limit
    /// headers observed.
    async fn send(
        &self,
        method: Method,
        url: Route,
        auth: Auth,
        body: Option<&Value>,
        reading: Reading<'_>,
    ) -> Result<Answer, GitHubError> {
        let Reading {
            accept,
            if_none_match,
            pace,
        } = reading;
        let installation = match auth {
            Auth::Installation(id) => Some(id),
            Auth::App => None,
        };
        let clients = self.clients().await?;
        let mut headers = vec![(header::ACCEPT, accept)];
        headers.extend(if_none_match.map(|etag| (header::IF_NONE_MATCH, etag)));
        let gate = installation.map(|id| self.budgets.gate(id));
        let permit = match &gate {
            Some(gate) => gate.acquire().await.ok(),
            None => None,
        };
        let result = clients.send(&method, &url, auth, &headers, body, pace).await;
        drop(permit);
        let status = result.as_ref().map_or(0, |r| r.status.as_u16());
        self.metrics.github_call(method.as_str(), status);
        if let (Some(id), Ok(answer)) = (installation, &result)
            && let Some(seen) = self.budgets.observe(id, &answer.headers)
        {
            self.metrics.rate_limit(id, seen);
        }
        result
    }

    /// Sends and expects a 2xx JSON answer.
    async fn call(&self, method: Method, url: Route, auth: Auth, body: Option<&Value>) -> Result<Value, GitHubError> {
        let path = url.path().to_owned();
        let answer = self.send(method.clone(), url, auth, body, Reading::json()).await?;
        let status = answer.status;
        let wait = retry_after(status, &answer.headers, SystemTime::now());
        let text = String::from_utf8_lossy(&answer.body);
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| text.chars().take(200).collect());
            return Err(GitHubError::Status {
                method,
                path,
                status,
                message,
                retry_after: wait,
            });
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| GitHubError::Decode {
            path,
            message: e.to_string(),
        })
    }

    /// A token for `installation` (octocrab's, cached until shortly before it expires); a
    /// token client's own token, which is what registries get too.
    pub async fn installation_token(&self, installation: u64) -> Result<Secret, GitHubError> {
        match &self.credentials {
            Credentials::Token(token) => Ok(token.clone()),
            Credentials::App(_) => self.clients().await?.installation_token(installation).await,
        }
    }

    /// The App's login as a comment author (`<slug>[bot]`), read once from GET /app.
    pub async fn bot_login(&self) -> Result<String, GitHubError> {
        if let Some(slug) = self.slug.lock().expect("slug").clone() {
            return Ok(format!("{slug}[bot]"));
        }
        let v = self.call(Method::GET, self.url(&["app"], &[]), Auth::App, None).await?;
        let slug = v
            .get("slug")
            .and_then(Value::as_str)
            .ok_or_else(|| GitHubError::Decode {
                path: "/app".into(),
                message: "no slug".into(),
            })?;
        *self.slug.lock().expect("slug") = Some(slug.to_owned());
        Ok(format!("{slug}[bot]"))
    }

    /// A file's bytes at `git_ref` (a branch may move: asked again with the answer's ETag, so
    /// an unchanged file is a 304 that costs no rate limit), or `None` when it does not exist.
    pub async fn file(
        &self,
        installation: u64,
        repo: &RepoRef,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<Vec<u8>>, GitHubError> {
        let url = self.url(
            &["repos", &repo.owner, &repo.name, "contents", path],
            &[("ref", git_ref)],
        );
        let key = url.to_string();
        let known = self.etags.get(&key);
        let answer = self
            .get_bytes_if(
                installation,
                url,
                "application/vnd.github.raw+json",
                known.as_ref(),
                BodyPace::API,
            )
            .await?;
        Ok(match answer {
            Fetched::NotModified => known.map(|(_, bytes)| bytes),
            Fetched::Bytes(bytes, etag) => {
                if let Some(etag) = etag {
                    self.etags.put(key, etag, &bytes);
                }
                Some(bytes)
            }
            Fetched::Missing => None,
        })
    }

    /// A GET whose answer is bytes (raw contents, archives): `None` on 404; other failures
    /// carry GitHub's text and wait.
    async fn get_bytes(
        &self,
        installation: u64,
        url: Route,
        accept: &str,
        pace: BodyPace,
    ) -> Result<Option<Vec<u8>>, GitHubError> {
        Ok(match self.get_bytes_if(installation, url, accept, None, pace).await? {
            Fetched::Bytes(bytes, _) => Some(bytes),
            Fetched::Missing | Fetched::NotModified => None,
        })
    }

    /// [`GitHub::get_bytes`], conditional on `known`'s ETag when given.
    async fn get_bytes_if(
        &self,
        installation: u64,
        url: Route,
        accept: &str,
        known: Option<&(String, Vec<u8>)>,
        pace: BodyPace,
    ) -> Result<Fetched, GitHubError> {
        let path = url.path().to_owned();
        let etag = known.map(|(etag, _)| etag.as_str());
        let Answer { status, headers, body } = self
            .send(
                Method::GET,
                url,
                Auth::Installation(installation),
                None,
                Reading {
                    accept,
                    if_none_match: etag,
                    pace,
                },
            )
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(Fetched::Missing);
        }
        if status == StatusCode::NOT_MODIFIED && known.is_some() {
            return Ok(Fetched::NotModified);
        }
        let etag = (headers.get(header::ETAG))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !status.is_success() {
            return Err(GitHubError::Status {
                method: Method::GET,
                path,
                status,
                message: String::from_utf8_lossy(&body).chars().take(200).collect(),
                retry_after: retry_after(status, &headers, SystemTime::now()),
            });
        }
        Ok(Fetched::Bytes(body, etag))
    }

    /// Every comment of an issue or pull request (all pages).
    pub async fn comments(&self, installation: u64, repo: &RepoRef, number: u64) -> Result<Vec<Comment>, GitHubError> {
        let number = number.to_string();
        self.all_pages(
            installation,
            &["repos", &repo.owner, &repo.name, "issues", &number, "comments"],
            50,
            "issue comments",
        )
        .await
    }

    /// Every item of a paginated list (100 a page, at most `max_pages` pages).
    async fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        installation: u64,
        segments: &[&str],
        max_pages: u32,
        what: &str,
    ) -> Result<Vec<T>, GitHubError> {
        let mut all = Vec::new();
        for page in 1..=max_pages {
            let page = page.to_string();
            let url = self.url(segments, &[("per_page", "100"), ("page", &page)]);
            let v = self
                .call(Method::GET, url, Auth::Installation(installation), None)
                .await?;
            let batch: Vec<T> = serde_json::from_value(v).map_err(|e| GitHubError::Decode {
                path: what.into(),
                message: e.to_string(),
            })?;
            let last = batch.len() < 100;
            all.extend(batch);
            if last {
                break;
            }
        }
        Ok(all)
    }

    pub async fn create_comment(
        &self,
        installation: u64,
        repo: &RepoRef,
        number: u64,
        body: &str,
    ) -> Result<u64, GitHubError> {
        let number = number.to_string();
        let url = self.url(&["repos", &repo.owner, &repo.name, "issues", &number, "comments"], &[]);
        let v = self
            .call(
                Method::POST,
                url,
                Auth::Installation(installation),
                Some(&json!({ "body": body })),
            )
            .await?;
        id_of(&v, "created comment")
    }

    pub async fn update_comment(
        &self,
        installation: u64,
        repo: &RepoRef,
        id: u64,
        body: &str,
    ) -> Result<(), GitHubError> {
        let id = id.to_string();
        let url = self.url(&["repos", &repo.owner, &repo.name, "issues", "comments", &id], &[]);
        self.call(
            Method::PATCH,
            url,
            Auth::Installation(installation),
            Some(&json!({ "body": body })),
        )
        .await?;
        Ok(())
    }

    /// Creates a check run (`body` holds name, head_sha, status…); returns its id.
    pub async fn create_check_run(&self, installation: u64, repo: &RepoRef, body: &Value) -> Result<u64, GitHubError> {
        let url = self.url(&["repos", &repo.owner, &repo.name, "check-runs"], &[]);
        let v = self
            .call(Method::POST, url, Auth::Installation(installation), Some(body))
            .await?;
        id_of(&v, "created check run")
    }

    pub async fn update_check_run(
        &self,
        installation: u64,
        repo: &RepoRef,
        id: u64,
        body: &Value,
    ) -> Result<(), GitHubError> {
        let id = id.to_string();
        let url = self.url(&["repos", &repo.owner, &repo.name, "check-runs", &id], &[]);
        self.call(Method::PATCH, url, Auth::Installation(installation), Some(body))
            .await?;
        Ok(())
    }

    /// Drops a cached token (after GitHub refused it).
    pub fn forget_token(&self, installation: u64) {
        if let Some(clients) = self.clients.get() {
            clients.forget(installation);
        }
    }
}

fn id_of(v: &Value, what: &str) -> Result<u64, GitHubError> {
    v.get("id").and_then(Value::as_u64).ok_or_else(|| GitHubError::Decode {
        path: what.to_owned(),
        message: "no id".into(),
    })
}
