//! A stage with cloud servers as it is (seed 004's `fleet stage status`): its infrastructure
//! (servers, then DNS records, R2 buckets and workers) as it is live, then its services as the
//! servers report them. Read only: the state lock is not taken.
//!
//! Reading the servers needs only their provider's credentials; the Cloudflare resources are
//! read live when its credentials are set, else shown as the state records them (with a note).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::deploy::remote::{self, RemotePlan};
use super::infra::CloudTarget;
use super::report::{Reporter, WorkflowError};
use super::routes::for_each_route;
use super::stage::routes;
use crate::clock::Clock;
use crate::cloud::RetryConfig;
use crate::cloud::cloudflare::fqdn as fqdn_of;
use crate::cloud::infra::{self, Scope};
use crate::cloud::session::{ProvidersError, providers_for, servers_only};
use crate::config::cloud::Server;
use crate::plan::snapshot::{Address, Resource, Snapshot};
use crate::plan::state::{State, StateResource};
use crate::ssh::{Connector, quote};

/// A declared server with what its provider reports of it.
pub type LiveServer = (String, Server, Option<StateResource>);

/// The stage's declared infrastructure and its state: live where the providers could be read.
struct Live {
    desired: Snapshot,
    state: State,
    /// Why the Cloudflare resources are shown as recorded (no credentials), if they are.
    recorded_only: Option<String>,
}

/// Reads the stage's infrastructure; `servers` only: no other provider is set up.
fn read(clock: Arc<dyn Clock>, target: &CloudTarget, stage: &str, servers: bool) -> Result<Live, WorkflowError> {
    let scope = Scope {
        fleet: Some(target.name.clone()),
        stage: Some(stage.to_owned()),
    };
    let desired = infra::desired(&Snapshot::from_fleet(&target.name, &target.config), &scope);
    let recorded = target.store.load().map_err(WorkflowError::failed)?;
    let refresh = |providers, recorded: &State, desired: &Snapshot| {
        infra::refresh(
            &providers,
            clock.as_ref(),
            &RetryConfig::default(),
            recorded,
            desired,
            &scope,
        )
        .map_err(|e| WorkflowError::failed(format!("cannot read the live infrastructure: {e}")))
    };
    let mut recorded_only = None;
    if !servers {
        match providers_for(&target.config, &desired, &recorded, &scope, clock.clone()) {
            Ok(providers) => {
                let state = refresh(providers, &recorded, &desired)?.state;
                return Ok(Live {
                    desired,
                    state,
                    recorded_only,
                });
            }
            Err(e @ (ProvidersError::Cloudflare { .. } | ProvidersError::CloudflareAccount { .. })) => {
                recorded_only = Some(e.to_string());
            }
            Err(e) => return Err(WorkflowError::failed(e)),
        }
    }
    // The servers live, the rest as recorded.
    let (mut only, mut recorded_servers) = (desired.clone(), recorded.clone());
    servers_only(&mut only, &mut recorded_servers);
    let providers = providers_for(&target.config, &only, &recorded_servers, &scope, clock.clone())
        .map_err(|e| WorkflowError::failed_with("", &e))?;
    let mut state = refresh(providers, &recorded_servers, &only)?.state;
    for r in &recorded.resources {
        if state.resource(&r.address).is_none() && !recorded_servers.resources.iter().any(|s| s.address == r.address) {
            state.upsert(r.clone());
        }
    }
    Ok(Live {
        desired: if servers { only } else { desired },
        state,
        recorded_only,
    })
}

fn servers_of(live: &Live) -> Vec<LiveServer> {
    live.desired
        .resources
        .iter()
        .filter_map(|(address, resource)| match (address, resource) {
            (Address::Cloud { name, .. }, Resource::Server(s)) => Some((
                name.clone(),
                s.clone(),
                live.state.resource(&address.to_string()).cloned(),
            )),
            _ => None,
        })
        .collect()
}

/// The declared servers with their live state (no other provider is read).
pub fn live_servers(
    clock: Arc<dyn Clock>,
    target: &CloudTarget,
    stage: &str,
) -> Result<Vec<LiveServer>, WorkflowError> {
    read(clock, target, stage, true).map(|live| servers_of(&live))
}

/// The DNS records, R2 buckets and workers of the stage, as status entries.
fn other_resources(live: &Live) -> Vec<Value> {
    let mut out = Vec::new();
    for (address, resource) in &live.desired.resources {
        let Address::Cloud { name, .. } = address else {
            continue;
        };
        let r = live.state.resource(&address.to_string());
        let attr = |k: &str| json!(r.and_then(|r| r.attributes.get(k)));
        let (kind, shown, provider, details) = match resource {
            Resource::DnsRecord(d) => {
                let zone = name.split_once('/').map_or(name.as_str(), |(z, _)| z);
                let fqdn = r.and_then(|r| r.attributes.get("name").cloned());
                let details = vec![
                    (
                        "type",
                        json!(
                            r.and_then(|r| r.attributes.get("type"))
                                .unwrap_or(&d.record.record_type)
                        ),
                    ),
                    ("value", attr("value")),
                    (
                        "proxied",
                        json!(r.and_then(|r| r.attributes.get("proxied")).map(|p| p == "true")),
                    ),
                    ("ttl", attr("ttl")),
                ];
                let fqdn = fqdn.unwrap_or_else(|| fqdn_of(zone, &d.record.name.value));
                ("dns-record", fqdn, &d.provider, details)
            }
            Resource::R2Bucket(b) => {
                let details = vec![
                    ("location", attr("location")),
                    ("custom_domain", attr("custom-domain")),
                    ("cors_origins", attr("cors.allowed-origins")),
                ];
                ("r2-bucket", b.name.value.clone(), &b.provider, details)
            }
            Resource::Worker(w) => (
                "worker",
                w.name.value.clone(),
                &w.provider,
                vec![("routes", attr("routes"))],
            ),
            _ => continue,
        };
        let mut entry = json!({
            "kind": kind,
            "name": shown,
            "provider": provider.as_deref().unwrap_or("cloudflare"),
            "status": if r.is_some() { "created" } else { "not created" },
        });
        for (k, v) in details {
            entry[k] = v;
        }
        out.push(entry);
    }
    out
}

/// The text lines of one non-server entry (seed 004's layout, as for servers).
fn render_other(out: &mut String, entry: &Value) {
    let s = |k: &str| entry[k].as_str().unwrap_or("-").to_owned();
    let title = match s("kind").as_str() {
        "dns-record" => "DNS Record",
        "r2-bucket" => "R2 Bucket",
        _ => "Worker",
    };
    out.push_str(&format!(
        "  {title}: {}\n    Provider: {}\n    Status: {}\n",
        s("name"),
        s("provider"),
        s("status")
    ));
    if entry["status"] != "created" {
        return;
    }
    let details: &[(&str, &str)] = match s("kind").as_str() {
        "dns-record" => &[("Type", "type"), ("Value", "value")],
        "r2-bucket" => &[
            ("Location", "location"),
            ("Custom Domain", "custom_domain"),
            ("CORS Origins", "cors_origins"),
        ],
        _ => &[("Routes", "routes")],
    };
    for (label, key) in details {
        if let Some(v) = entry[*key].as_str().filter(|v| !v.is_empty()) {
            out.push_str(&format!("    {label}: {v}\n"));
        }
    }
    if let Some(p) = entry["proxied"].as_bool() {
        out.push_str(&format!("    Proxied: {}\n", if p { "yes" } else { "no" }));
    }
}

/// What `fleet stage status` shows: the stage's overall status, its infrastructure and its
/// services.
pub struct StageStatus {
    pub stage: String,
    /// `running`, `partial`, `stopped`, `suspended` or `not created`.
    pub overall: &'static str,
    /// The servers, as status entries.
    pub servers: Vec<Value>,
    /// The DNS records, R2 buckets and workers, as status entries.
    pub others: Vec<Value>,
    /// The containers the servers report (`fleet ps --output json` rows).
    pub containers: Vec<Value>,
    /// The stage's services by name, in declaration order.
    pub services: Vec<String>,
    /// Whether any server was running to ask.
    pub asked_servers: bool,
    /// What `fleet apply` would do to the stage's infrastructure as it is (`+ id will be
    /// created`): declared and not there, or not as declared.
    pub to_apply: Vec<String>,
}

/// The stage's status (see [`StageStatus`]); notes what is shown as recorded, not live.
pub fn status(
    reporter: &dyn Reporter,
    connector: &dyn Connector,
    clock: Arc<dyn Clock>,
    target: &CloudTarget,
    stage: &str,
) -> Result<StageStatus, WorkflowError> {
    let live = read(clock, target, stage, false)?;
    let scope = Scope {
        fleet: Some(target.name.clone()),
        stage: Some(stage.to_owned()),
    };
    let to_apply = (infra::plan_infra(&live.desired, &live.state, &scope).changes.iter())
        .map(|c| format!("{} {} {}", c.action.sign(), c.id, c.action.verb()))
        .collect();
    if let Some(why) = &live.recorded_only {
        reporter.note(&format!(
            "note: the Cloudflare resources are shown as the state records them ({why})"
        ));
    }
    let servers = servers_of(&live);
    let plans = routes(target, stage, &servers, &["ps".to_owned(), stage.to_owned()]).unwrap_or_default();
    let rows: Mutex<Vec<Value>> = Mutex::new(Vec::new());
    if !plans.is_empty() {
        let work = |r: &dyn crate::ssh::Remote, plan: &RemotePlan, _: &mut (dyn FnMut(&str) + Send)| {
            let script = format!(
                "cd {} && CI=true NO_COLOR=1 {} ps {} --output json",
                quote(&plan.remote_dir),
                quote(&remote::remote_binary(&plan.deploy_path)),
                quote(&plan.stage)
            );
            let out = r.exec(&script, None).map_err(|e| e.to_string())?;
            let parsed: Vec<Value> = serde_json::from_str(&out.stdout).unwrap_or_default();
            if let Ok(mut all) = rows.lock() {
                all.extend(parsed);
            }
            Ok(())
        };
        for_each_route(reporter, connector, &plans, &work);
    }
    let rows = rows.into_inner().unwrap_or_default();
    let services: Vec<String> = target
        .config
        .stage(stage)
        .map(|s| s.services.iter().map(|s| s.name.value.clone()).collect())
        .unwrap_or_default();
    let up = |r: &Option<StateResource>| {
        r.as_ref()
            .is_some_and(|r| r.attributes.get("power").is_some_and(|p| p == "up"))
    };
    let running = rows
        .iter()
        .filter(|r| r["status"].as_str().is_some_and(|s| s.starts_with("running")))
        .count();
    let overall = if servers.iter().all(|(_, _, r)| r.is_none()) {
        "not created"
    } else if servers.iter().all(|(_, _, r)| up(r)) && running >= services.len() {
        "running"
    } else if servers.iter().all(|(_, _, r)| !up(r)) {
        "suspended"
    } else if running == 0 {
        "stopped"
    } else {
        "partial"
    };
    let server_entries: Vec<Value> = servers
        .iter()
        .map(|(name, s, r)| {
            let attr = |k: &str| r.as_ref().and_then(|r| r.attributes.get(k).cloned());
            json!({
                "kind": "server",
                "server": name,
                "provider": s.provider.clone().unwrap_or_else(|| "sakura-cloud".into()),
                "status": match r { None => "not created".to_owned(), Some(_) => attr("status").unwrap_or_else(|| "unknown".into()) },
                "ip": attr("ip"),
                "cpu": attr("core"),
                "memory_gb": attr("memory"),
                "id": r.as_ref().and_then(|r| r.id.clone()),
            })
        })
        .collect();
    Ok(StageStatus {
        stage: stage.to_owned(),
        overall,
        servers: server_entries,
        others: other_resources(&live),
        containers: rows,
        services,
        asked_servers: !plans.is_empty(),
        to_apply,
    })
}

impl StageStatus {
    /// As `--output json` prints it.
    pub fn to_json(&self) -> Value {
        let infrastructure: Vec<&Value> = self.servers.iter().chain(&self.others).collect();
        json!({
            "stage": self.stage,
            "status": self.overall,
            "infrastructure": infrastructure,
            "to_apply": self.to_apply,
            "services": self.containers,
        })
    }

    /// In seed 004's layout.
    pub fn render_text(&self) -> String {
        let mut out = format!("Stage: {}\nStatus: {}\n\nInfrastructure:\n", self.stage, self.overall);
        for i in &self.servers {
            let s = |k: &str| i[k].as_str().unwrap_or("-").to_owned();
            out.push_str(&format!(
                "  Server: {}\n    Provider: {}\n    Status: {}\n",
                s("server"),
                s("provider"),
                s("status")
            ));
            if i["id"].is_string() {
                out.push_str(&format!(
                    "    IP: {}\n    CPU: {} cores\n    Memory: {} GB\n",
                    s("ip"),
                    s("cpu"),
                    s("memory_gb")
                ));
            }
        }
        for entry in &self.others {
            render_other(&mut out, entry);
        }
        if !self.to_apply.is_empty() {
            out.push_str(&format!("\nTo apply (`fleet apply --stage {}`):\n", self.stage));
            self.to_apply
                .iter()
                .for_each(|line| out.push_str(&format!("  {line}\n")));
        }
        out.push_str("\nServices:\n");
        for name in &self.services {
            let line = match self.containers.iter().find(|r| r["service"].as_str() == Some(name)) {
                Some(r) if r["status"].as_str().is_some_and(|s| s.starts_with("running")) => {
                    format!("  ✓ {name:<12} {}", r["status"].as_str().unwrap_or_default())
                }
                Some(r) => format!("  ✗ {name:<12} {}", r["status"].as_str().unwrap_or_default()),
                None if !self.asked_servers => format!("  ✗ {name:<12} server not running"),
                None => format!("  ✗ {name:<12} not created"),
            };
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}
