//! `fleet app create`: the GitHub App-manifest flow from this machine
//! ([`crate::application::app_setup`]): a short-lived page on 127.0.0.1 posts the manifest to
//! GitHub, GitHub sends the browser back with a code, and the App's id, key and webhook secret
//! are written (0600) where `fleet serve` reads them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use clap::{Args, Subcommand};

use crate::application::app_setup::{self, api_url, manifest, new_app_url, save_created_app, start_page};
use crate::application::report::WorkflowError;
use crate::console::Console;

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create the GitHub App with GitHub's manifest flow and save its id, key and webhook secret.
    Create(AppCreateArgs),
}

#[derive(Debug, Args)]
pub struct AppCreateArgs {
    /// Where GitHub will send webhooks: `fleet serve`'s public URL with /webhook.
    #[arg(long, value_name = "URL")]
    pub webhook_url: String,
    /// The App's name on GitHub (unique there).
    #[arg(long, value_name = "NAME", default_value = "fleetflow")]
    pub name: String,
    /// Create it in this organization (default: your user account).
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
    /// GitHub's web address (GitHub Enterprise Server: https://HOST).
    #[arg(long, value_name = "URL", default_value = "https://github.com")]
    pub github_url: String,
    /// Where to write app.env and app.pem (default: $XDG_CONFIG_HOME/fleetflow, ~/.config/fleetflow).
    #[arg(long, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// Address of the local page the browser opens (127.0.0.1; port 0: any free one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Give up after this many seconds without GitHub's answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub timeout: u64,
}

pub fn run(console: &Console, command: &AppCommand) -> Result<(), WorkflowError> {
    let AppCommand::Create(args) = command;
    if !args.listen.ip().is_loopback() {
        return Err(WorkflowError::Usage(format!(
            "--listen {}: the page that hands the App's key over listens on 127.0.0.1 only",
            args.listen
        )));
    }
    let dir = match &args.config_dir {
        Some(dir) => dir.clone(),
        None => app_setup::default_config_dir()
            .ok_or_else(|| WorkflowError::Usage("no HOME or XDG_CONFIG_HOME: pass --config-dir".into()))?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| WorkflowError::failed(format!("cannot start the runtime: {e}")))?;
    let file = runtime.block_on(create(console, args, &dir))?;
    console.print(&format!(
        "wrote {} and {} (readable by you only)\nnext: fleet serve (it reads {}), then install the App on your repositories\n",
        file.display(),
        dir.join("app.pem").display(),
        file.display()
    ));
    Ok(())
}

/// What the local page knows: the manifest's target and the state GitHub must send back.
struct Flow {
    start: String,
    state: String,
    api_url: String,
    dir: PathBuf,
    done: tokio::sync::mpsc::Sender<Result<PathBuf, WorkflowError>>,
    finished: Mutex<bool>,
}

async fn create(console: &Console, args: &AppCreateArgs, dir: &std::path::Path) -> Result<PathBuf, WorkflowError> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| WorkflowError::failed(format!("cannot listen on {}: {e}", args.listen)))?;
    let local = listener
        .local_addr()
        .map_err(|e| WorkflowError::failed(format!("cannot read the local address: {e}")))?;
    // The start page (it holds the state GitHub sends back) is at a path only this console
    // shows; any request naming another host (DNS rebinding) is refused.
    let state = random_hex16()?;
    let start = format!("/{}/", random_hex16()?);
    let redirect = format!("http://{local}/callback");
    let manifest = manifest(&args.name, &args.webhook_url, &redirect);
    let action = new_app_url(&args.github_url, args.org.as_deref(), &state);
    let (done, mut finished) = tokio::sync::mpsc::channel(1);
    let flow = Arc::new(Flow {
        start: start_page(&action, &manifest),
        state,
        api_url: api_url(&args.github_url),
        dir: dir.to_path_buf(),
        done,
        finished: Mutex::new(false),
    });
    let app = axum::Router::new()
        .route(
            &start,
            get(|State(f): State<Arc<Flow>>| async move { Html(f.start.clone()) }),
        )
        .route("/callback", get(callback))
        .with_state(flow)
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let host_ok = is_local_host(request.headers(), local);
                async move {
                    if host_ok {
                        next.run(request).await
                    } else {
                        (axum::http::StatusCode::MISDIRECTED_REQUEST, "not this host").into_response()
                    }
                }
            },
        ));
    // Stopped gracefully, so the browser still gets the page that says how it ended.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    console.print(&format!(
        "Open http://{local}{start} in a browser on this machine: it takes you to GitHub to create the App `{}`.\n",
        args.name
    ));
    let result = tokio::time::timeout(Duration::from_secs(args.timeout), finished.recv()).await;
    let _ = stop.send(());
    if tokio::time::timeout(Duration::from_secs(5), server).await.is_err() {
        tracing::debug!("the local page did not stop in 5 s");
    }
    match result {
        Ok(Some(result)) => result,
        Ok(None) => Err(WorkflowError::failed("the local page stopped before GitHub answered")),
        Err(_) => Err(WorkflowError::failed(format!(
            "no answer from GitHub in {} s; run `fleet app create` again",
            args.timeout
        ))),
    }
}

#[derive(serde::Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
}

/// GitHub's redirect: the code (checked against our state) becomes the App's settings.
async fn callback(State(flow): State<Arc<Flow>>, Query(q): Query<Callback>) -> Html<String> {
    if q.state.as_deref() != Some(flow.state.as_str()) {
        return Html(
            "<p>This answer was not for this run of <code>fleet app create</code>; nothing was saved.</p>".into(),
        );
    }
    {
        let mut finished = flow.finished.lock().unwrap_or_else(|e| e.into_inner());
        if *finished {
            return Html("<p>The App was already saved; you can close this page.</p>".into());
        }
        *finished = true;
    }
    let result = match q.code.as_deref() {
        None => Err(WorkflowError::failed(
            "GitHub sent no code back: the App was not created",
        )),
        Some(code) => save_created_app(&flow.api_url, code, &flow.dir).await,
    };
    let page = match &result {
        Ok(_) => "<p>The GitHub App was created and its settings saved (fleet app create: created). You can close this page.</p>".to_owned(),
        Err(e) => format!("<p>fleet app create failed: {}</p>", crate::html::escape(&e.to_string())),
    };
    let _ = flow.done.send(result).await;
    Html(page)
}

/// 32 hex characters from the OS's random source; without one, no guessable stand-in.
fn random_hex16() -> Result<String, WorkflowError> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| WorkflowError::failed(format!("cannot read /dev/urandom for the flow's secret state: {e}")))?;
    Ok(hex::encode(bytes))
}

/// Whether the request's Host is this page's own address (`127.0.0.1:PORT`, or `localhost:PORT`
/// on loopback): a page of another site that resolves its name to 127.0.0.1 gets nothing.
fn is_local_host(headers: &axum::http::HeaderMap, local: SocketAddr) -> bool {
    let Some(host) = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    host == local.to_string() || (local.ip().is_loopback() && host == format!("localhost:{}", local.port()))
}
