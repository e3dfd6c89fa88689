//! `fleet app create`: GitHub's App-manifest flow. A page on this machine posts the manifest
//! (the App's name, webhook URL, and the permissions and events fleetflow needs) to GitHub;
//! GitHub sends the browser back with a code, which becomes the App's id, private key and
//! webhook secret, written (0600) to the file `fleet serve` reads.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::report::WorkflowError;
use crate::github::manifest::CreatedApp;

/// Where `fleet app create` writes and `fleet serve` reads: `$XDG_CONFIG_HOME/fleetflow`
/// (else `~/.config/fleetflow`).
pub fn default_config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("fleetflow"))
}

/// The App's settings file in `dir`.
pub fn config_file(dir: &Path) -> PathBuf {
    dir.join("app.env")
}

/// The web URL's REST API: api.github.com for github.com, `{url}/api/v3` for GitHub
/// Enterprise Server.
pub fn api_url(github_url: &str) -> String {
    let url = github_url.trim_end_matches('/');
    match url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) {
        Some("github.com" | "www.github.com") => "https://api.github.com".to_owned(),
        _ => format!("{url}/api/v3"),
    }
}

/// What the App asks for: what the plan, the chat-ops and the deploys call.
pub fn manifest(name: &str, webhook_url: &str, redirect_url: &str) -> Value {
    json!({
        "name": name,
        "url": "https://github.com/fleetflow/fleetflow",
        "description": "Plans, builds and deploys the fleets of a monorepo (fleetflow).",
        "hook_attributes": { "url": webhook_url, "active": true },
        "redirect_url": redirect_url,
        "public": false,
        "default_permissions": {
            "contents": "read",
            "metadata": "read",
            "pull_requests": "write",
            "issues": "write",
            "checks": "write",
            "statuses": "write",
            "deployments": "write",
            "members": "read",
            "actions": "write"
        },
        "default_events": ["pull_request", "push", "issue_comment", "workflow_run"]
    })
}

/// Where the manifest is posted: the user's (or `org`'s) new-App page.
pub fn new_app_url(github_url: &str, org: Option<&str>, state: &str) -> String {
    let base = github_url.trim_end_matches('/');
    match org {
        Some(org) => format!("{base}/organizations/{org}/settings/apps/new?state={state}"),
        None => format!("{base}/settings/apps/new?state={state}"),
    }
}

/// The page the browser opens: a form that posts the manifest to GitHub by itself (with a
/// button, for browsers without scripts).
pub fn start_page(action: &str, manifest: &Value) -> String {
    let escape = crate::html::escape;
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>fleetflow: create the GitHub App</title></head>\n\
         <body><form id=\"manifest\" method=\"post\" action=\"{}\">\n\
         <input type=\"hidden\" name=\"manifest\" value=\"{}\">\n\
         <p>Creating the GitHub App on GitHub… <button type=\"submit\">Continue to GitHub</button></p></form>\n\
         <script>document.getElementById('manifest').submit();</script></body></html>\n",
        escape(action),
        escape(&manifest.to_string())
    )
}

/// GitHub's code for the App just created → its settings, written into `dir`.
pub async fn save_created_app(api_url: &str, code: &str, dir: &Path) -> Result<PathBuf, WorkflowError> {
    let app = crate::github::manifest::convert(api_url, code)
        .await
        .map_err(|e| WorkflowError::failed_with("cannot turn GitHub's code into the App's settings", &e))?;
    write_config(dir, &app, api_url)
}

/// Writes the App's key and settings into `dir`, both readable by this user only. Returns
/// the settings file.
pub fn write_config(dir: &Path, app: &CreatedApp, api_url: &str) -> Result<PathBuf, WorkflowError> {
    let fail = |what: &Path, e: std::io::Error| WorkflowError::failed(format!("cannot write {}: {e}", what.display()));
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    // The settings name the key by its absolute path: `fleet serve` may run anywhere.
    let dir = &std::fs::canonicalize(dir).map_err(|e| fail(dir, e))?;
    let key = dir.join("app.pem");
    write_private(&key, app.pem.expose()).map_err(|e| fail(&key, e))?;
    let file = config_file(dir);
    let text = format!(
        "# Written by `fleet app create` for the GitHub App {name} ({url}); `fleet serve` reads it.\n\
         GITHUB_APP_ID={id}\nGITHUB_APP_PRIVATE_KEY={key}\nGITHUB_WEBHOOK_SECRET={secret}\nGITHUB_API_URL={api_url}\n",
        name = app.name,
        url = app.html_url,
        id = app.id,
        key = key.display(),
        secret = app.webhook_secret.expose(),
    );
    write_private(&file, &text).map_err(|e| fail(&file, e))?;
    Ok(file)
}

/// A file only this user can read (0600 from its creation, never wider), written whole or not
/// at all: a temporary file beside it, synced, then renamed over it.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", crate::clock::random_hex()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// The settings a file written by [`write_config`] holds (`KEY=VALUE` lines).
pub fn read_config(path: &Path) -> Result<Vec<(String, String)>, WorkflowError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| WorkflowError::Usage(format!("cannot read the App's settings {}: {e}", path.display())))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

#[cfg(test)]
mod tests;
