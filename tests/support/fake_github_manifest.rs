//! GitHub's App-manifest flow in the fake: the new-App page (web, not the API) takes the
//! posted manifest, checks it as GitHub does (a name, a URL, a redirect URL, a webhook URL when
//! the hook is active), creates the App — the user's click is implied — and redirects the
//! browser to the redirect URL with a one-time code and the state it was given; the API's
//! `apps/create-from-manifest` turns an unused code into the App (id, pem, webhook secret).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Default)]
pub struct ManifestWorld {
    /// The private key GitHub generates for the App (the test's, so the App can authenticate).
    pub key_pem: String,
    /// The App id it gets.
    pub app_id: u64,
    /// Every manifest posted, with the organization it was posted for.
    pub posted: Vec<(Option<String>, Value)>,
    /// Unused codes and their manifests.
    codes: BTreeMap<String, Value>,
    /// The webhook secret of each created App, by code.
    pub secrets: BTreeMap<String, String>,
}

/// Whether `path` is the web page of the flow (not under GitHub Enterprise's API prefix).
pub fn is_web(path: &str) -> bool {
    path == "/settings/apps/new" || (path.starts_with("/organizations/") && path.ends_with("/settings/apps/new"))
}

fn page(status: StatusCode, text: &str) -> Response {
    (status, [("content-type", "text/html")], format!("<p>{text}</p>")).into_response()
}

/// POST of the new-App page: `manifest` in a form body, `state` in the query.
pub fn new_app(world: &mut ManifestWorld, path: &str, query: Option<&str>, body: &[u8]) -> Response {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let query: BTreeMap<String, String> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let Some(manifest) = form.get("manifest").and_then(|m| serde_json::from_str::<Value>(m).ok()) else {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid GitHub App configuration: no manifest",
        );
    };
    for field in ["name", "url", "redirect_url"] {
        if manifest[field].as_str().is_none_or(str::is_empty) {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("Invalid GitHub App configuration: {field} is required"),
            );
        }
    }
    if manifest["hook_attributes"]["active"] != json!(false) && manifest["hook_attributes"]["url"].as_str().is_none() {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid GitHub App configuration: hook_attributes.url is required",
        );
    }
    let org = path
        .strip_prefix("/organizations/")
        .and_then(|rest| rest.split('/').next())
        .map(str::to_owned);
    world.posted.push((org, manifest.clone()));
    let code = format!("code{:08x}", world.posted.len() * 7919);
    world.codes.insert(code.clone(), manifest.clone());
    let redirect = manifest["redirect_url"].as_str().unwrap_or_default();
    let mut location = format!("{redirect}?code={code}");
    if let Some(state) = query.get("state") {
        location.push_str(&format!("&state={state}"));
    }
    (StatusCode::FOUND, [("location", location)]).into_response()
}

/// `apps/create-from-manifest`: an unused code → the App, as GitHub's description shapes it.
pub fn convert(world: &mut ManifestWorld, code: &str) -> Response {
    let Some(manifest) = world.codes.remove(code) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response();
    };
    let name = manifest["name"].as_str().unwrap_or_default().to_owned();
    let slug = name.to_lowercase().replace(' ', "-");
    let secret = format!("whsec-{code}");
    world.secrets.insert(code.to_owned(), secret.clone());
    let body = json!({
        "id": world.app_id,
        "slug": slug,
        "node_id": "MDM6QXBwNTk=",
        "client_id": "Iv1.8a61f9b3a7aba766",
        "owner": {"login": "octocat", "id": 1, "type": "User"},
        "name": name,
        "description": manifest["description"],
        "external_url": manifest["url"],
        "html_url": format!("https://github.com/apps/{slug}"),
        "created_at": "2026-12-03T00:00:00Z",
        "updated_at": "2026-12-03T00:00:00Z",
        "permissions": manifest["default_permissions"],
        "events": manifest["default_events"],
        "client_secret": "1726be1638095a19edd134c77bde3aa2ece1e5d8",
        "webhook_secret": secret,
        "pem": world.key_pem,
    });
    (StatusCode::CREATED, axum::Json(body)).into_response()
}
