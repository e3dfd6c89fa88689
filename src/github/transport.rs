//! How a request reaches GitHub: octocrab's client, which signs App JWTs and mints, caches and
//! refreshes installation tokens (asking again once when GitHub answers 401). The client is
//! built on the first call, inside the runtime that makes it (octocrab's service runs a task
//! on that runtime).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use octocrab::secrecy::ExposeSecret;
use serde_json::Value;

use super::auth::{AppKey, TOKEN_REFRESH_MARGIN_SECS};
use super::{GitHubError, retry_after};
use crate::secret::Secret;

/// Who the client is: a GitHub App (JWT, then installation tokens) or one token for every call
/// (a workflow's GITHUB_TOKEN, a personal token).
#[derive(Clone)]
pub(super) enum Credentials {
    App(AppKey),
    Token(Secret),
}

/// Which identity a call is made as.
#[derive(Clone, Copy)]
pub(super) enum Auth {
    App,
    Installation(u64),
}

/// A route under the API URL: escaped path segments and query pairs (GitHub Enterprise's
/// `/api/v3` prefix is added by the client).
#[derive(Clone)]
pub(super) struct Route {
    uri: Uri,
}

impl Route {
    pub(super) fn new(segments: &[&str], query: &[(&str, &str)]) -> Self {
        let mut url = reqwest::Url::parse("http://api.invalid/").expect("a constant URL");
        {
            let mut path = url.path_segments_mut().expect("an http URL has a path");
            path.pop_if_empty();
            for s in segments {
                path.extend(s.split('/'));
            }
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let path_and_query = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        Self {
            uri: Uri::try_from(path_and_query).expect("an escaped path is a URI"),
        }
    }

    pub(super) fn path(&self) -> &str {
        self.uri.path()
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.uri.path_and_query().map_or("/", |p| p.as_str()))
    }
}

/// How long an answer's body may take to arrive: `base`, plus one second for every
/// `bytes_per_second` bytes received so far. A download that keeps coming is never cut off,
/// however large (its time limit grows with its size); one that stalls or trickles is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPace {
    pub base: Duration,
    pub bytes_per_second: u64,
}

impl BodyPace {
    /// API answers (JSON, a blob): a minute, plus a second per 64 KiB.
    pub const API: Self = Self {
        base: Duration::from_secs(60),
        bytes_per_second: 64 * 1024,
    };
    /// A repository's tarball: a minute, plus a second per 256 KiB (a 1 GiB archive may take
    /// 69 minutes, if it arrives at least that fast).
    pub const TARBALL: Self = Self {
        base: Duration::from_secs(60),
        bytes_per_second: 256 * 1024,
    };

    /// When the body must have arrived, given `received` bytes so far.
    fn deadline(&self, start: tokio::time::Instant, received: u64) -> tokio::time::Instant {
        let earned = Duration::from_secs_f64(received as f64 / self.bytes_per_second.max(1) as f64);
        start + self.base + earned
    }
}

impl fmt::Display for BodyPace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} s + 1 s per {} bytes", self.base.as_secs(), self.bytes_per_second)
    }
}

/// A whole answer: status, headers and body.
pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// The octocrab clients of one API URL: the App's (or the token's), and one per installation,
/// each holding that installation's token (shared, not cloned: a cloned octocrab client
/// copies the token it holds, and a token it mints later stays with the copy).
pub(super) struct Clients {
    app: Arc<Octocrab>,
    by_token: bool,
    installations: Mutex<HashMap<u64, Arc<Installation>>>,
}

/// An installation's client, and the lock under which its token is minted: concurrent first
/// calls (a job and the sweep) wait for one token instead of minting one each.
struct Installation {
    client: Octocrab,
    minting: tokio::sync::Mutex<()>,
}

impl Installation {
    /// The cached token, minted first when it is missing or expires within the refresh margin.
    async fn token(&self, id: u64) -> Result<Secret, GitHubError> {
        let _one_at_a_time = self.minting.lock().await;
        let margin = chrono::Duration::seconds(TOKEN_REFRESH_MARGIN_SECS);
        let token = (self.client.installation_token_with_buffer(margin).await)
            .map_err(|e| failed(&Method::POST, &token_path(id), e))?;
        Ok(Secret::new(token.expose_secret()))
    }
}

impl Clients {
    pub(super) fn build(api_url: &str, credentials: &Credentials) -> Result<Self, GitHubError> {
        let setup =
            |e: octocrab::Error| GitHubError::Setup(format!("cannot set up the GitHub client for {api_url}: {e}"));
        let builder = Octocrab::builder()
            .base_uri(api_url)
            .map_err(setup)?
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)));
        let app = match credentials {
            Credentials::App(key) => builder.app(AppId(key.app_id), key.encoding_key().clone()).build(),
            Credentials::Token(token) => builder.personal_token(token.expose().to_owned()).build(),
        }
        .map_err(setup)?;
        Ok(Self {
            app: Arc::new(app),
            by_token: matches!(credentials, Credentials::Token(_)),
            installations: Mutex::default(),
        })
    }

    /// An installation's client (not for a token client).
    fn installation(&self, id: u64) -> Result<Arc<Installation>, GitHubError> {
        let mut clients = self.installations.lock().expect("installation clients");
        if let Some(installation) = clients.get(&id) {
            return Ok(installation.clone());
        }
        let client =
            (self.app.installation(InstallationId(id))).map_err(|e| failed(&Method::POST, &token_path(id), e))?;
        let installation = Arc::new(Installation {
            client,
            minting: tokio::sync::Mutex::new(()),
        });
        clients.insert(id, installation.clone());
        Ok(installation)
    }

    /// A token for `installation` that stays valid for the refresh margin at least.
    pub(super) async fn installation_token(&self, installation: u64) -> Result<Secret, GitHubError> {
        self.installation(installation)?.token(installation).await
    }

    /// Drops an installation's client and its token (after GitHub refused it).
    pub(super) fn forget(&self, installation: u64) {
        self.installations
            .lock()
            .expect("installation clients")
            .remove(&installation);
    }

    /// Sends one request and reads the whole answer, whatever its status.
    pub(super) async fn send(
        &self,
        method: &Method,
        route: &Route,
        auth: Auth,
        headers: &[(http::header::HeaderName, &str)],
        body: Option<&Value>,
        pace: BodyPace,
    ) -> Result<Answer, GitHubError> {
        let installation = match auth {
            Auth::Installation(id) if !self.by_token => Some((id, self.installation(id)?)),
            _ => None,
        };
        if let Some((id, installation)) = &installation {
            // Minted (once) before the call, so octocrab finds it cached.
            installation.token(*id).await?;
        }
        let client = installation.as_ref().map_or(&*self.app, |(_, i)| &i.client);
        let mut request = http::Request::builder().method(method.clone()).uri(route.uri.clone());
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let fail = |e| failed(method, route.path(), e);
        let request = client.build_request(request, body).map_err(fail)?;
        let response = client.execute(request).await.map_err(fail)?;
        let (parts, mut stream) = response.into_parts();
        let (start, mut body) = (tokio::time::Instant::now(), Vec::new());
        loop {
            let deadline = pace.deadline(start, body.len() as u64);
            match tokio::time::timeout_at(deadline, stream.frame()).await {
                Ok(Some(frame)) => body.extend_from_slice(frame.map_err(fail)?.data_ref().map_or(&[][..], |d| d)),
                Ok(None) => break,
                Err(_) => {
                    return Err(GitHubError::TooSlow {
                        method: method.clone(),
                        path: route.path().to_owned(),
                        received: body.len() as u64,
                        elapsed: start.elapsed(),
                        pace,
                    });
                }
            }
        }
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

fn token_path(installation: u64) -> String {
    format!("/app/installations/{installation}/access_tokens")
}

/// An octocrab failure: GitHub's refusal (only the installation-token request reports one here)
/// keeps its status and wait; anything else is a transport failure.
fn failed(method: &Method, path: &str, e: octocrab::Error) -> GitHubError {
    match e {
        octocrab::Error::GitHub { source, .. } => GitHubError::Status {
            method: Method::POST,
            retry_after: (source.headers.as_ref()).and_then(|h| retry_after(source.status_code, h, SystemTime::now())),
            path: if path.ends_with("/access_tokens") {
                path.to_owned()
            } else {
                format!("the installation token for {path}")
            },
            status: source.status_code,
            message: source.message,
        },
        e => GitHubError::Http {
            method: method.clone(),
            path: path.to_owned(),
            source: Box::new(e),
        },
    }
}
