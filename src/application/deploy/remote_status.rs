//! `fleet registry status` (FS-005): one `docker ps` round trip per server, one row per route.

use serde::Serialize;

use crate::docker::labels;
use crate::ssh::{Remote, SshError, quote};

/// The script a server runs: every fleetflow container as `project<TAB>stage<TAB>state`.
pub fn status_script() -> String {
    let format = format!(
        "{{{{.Label \"{}\"}}}}\t{{{{.Label \"{}\"}}}}\t{{{{.State}}}}",
        labels::PROJECT,
        labels::STAGE
    );
    format!(
        "docker ps --all --filter {} --format {}",
        quote(&format!("label={}", labels::PROJECT)),
        quote(&format)
    )
}

/// (project, stage, running) per container on a server.
pub type ServerContainers = Vec<(String, String, bool)>;

/// Parses [`status_script`]'s output.
pub fn parse_containers(stdout: &str) -> ServerContainers {
    stdout
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.to_owned(), f.next()?.to_owned(), f.next()? == "running"))
        })
        .collect()
}

/// One route's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteStatus {
    pub fleet: String,
    pub stage: String,
    pub server: String,
    pub status: String,
    pub running: usize,
    pub services: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The status text of a route: `Running (3/3 services)`, `Stopped`, `Not deployed`.
pub fn route_status(
    containers: &[(String, String, bool)],
    project: &str,
    stage: &str,
    services: usize,
) -> (String, usize) {
    let mine: Vec<_> = containers
        .iter()
        .filter(|(p, s, _)| p == project && s == stage)
        .collect();
    let running = mine.iter().filter(|(_, _, r)| *r).count();
    let total = services.max(mine.len());
    let text = match (mine.len(), running) {
        (0, _) => "Not deployed".to_owned(),
        (_, 0) => "Stopped".to_owned(),
        _ => format!("Running ({running}/{total} services)"),
    };
    (text, running)
}

/// Queries one server.
pub fn query(remote: &dyn Remote) -> Result<ServerContainers, SshError> {
    let out = remote.exec(&status_script(), None)?;
    if !out.success() {
        return Err(SshError::Io(std::io::Error::other(format!(
            "docker ps failed on {}: {}",
            remote.name(),
            out.stderr.trim()
        ))));
    }
    Ok(parse_containers(&out.stdout))
}

/// Why each server that could not be read was not: one line per server, however many routes
/// it carries (`server: error`).
pub fn unreachable_servers(rows: &[RouteStatus]) -> Vec<String> {
    let mut by_server = std::collections::BTreeMap::new();
    for r in rows {
        if let Some(e) = &r.error {
            by_server.entry(r.server.as_str()).or_insert(e.as_str());
        }
    }
    by_server
        .into_iter()
        .map(|(server, e)| format!("{server}: {e}"))
        .collect()
}

/// The FS-005 table.
pub fn render(registry: &str, rows: &[RouteStatus]) -> String {
    let w = |f: &dyn Fn(&RouteStatus) -> usize, min: usize| rows.iter().map(f).max().unwrap_or(0).max(min);
    let (fw, sw, vw) = (
        w(&|r| r.fleet.len(), 11),
        w(&|r| r.stage.len(), 8),
        w(&|r| r.server.len(), 9),
    );
    let mut out = format!("Fleet Registry: {registry}\n\n");
    out.push_str(&format!(
        "  {:<fw$} {:<sw$} {:<vw$} Status\n",
        "Fleet", "Stage", "Server"
    ));
    for r in rows {
        out.push_str(&format!(
            "  {:<fw$} {:<sw$} {:<vw$} {}\n",
            r.fleet, r.stage, r.server, r.status
        ));
    }
    out
}
