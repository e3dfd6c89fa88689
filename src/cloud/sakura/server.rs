//! Creating and changing one server: plan lookup (`GET /product/server`), the server
//! (`POST /server`), its disk from a public archive (`GET /archive`, `POST /disk`), the SSH key
//! and host name (`PUT /disk/{id}/config`), power on; a plan change (`PUT /server/{id}/plan`).
//!
//! Plans and archives are found as Sakura's own SDK (iaas-api-go) finds them: a plan of the
//! standard commitment, not a confidential VM, newest generation first; an archive by its tags
//! (`ubuntu-24.04-latest`, or `current-stable` + `distro-ubuntu` for plain `ubuntu`), never a
//! cloud-init (`cloudimg`) archive — those ignore the disk-edit API that writes the SSH key.

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};

use super::api::{id_of, unwrap};
use super::{DESCRIPTION_PREFIX, PROVIDER, SakuraProvider, TAG, instance_status};
use crate::cloud::{Action, ProviderError};
use crate::plan::state::StateResource;

/// SSD (the disk plan fleetflow creates).
const DISK_PLAN_SSD: u64 = 4;

/// What a server should be, from an action's attributes (`name`, `core`, `memory` in GB,
/// `disk-size` in GB, `os`, `ssh-key`: a public key file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub name: String,
    pub core: u32,
    pub memory_gb: u32,
    pub disk_gb: u32,
    pub os: String,
    pub ssh_key: Option<String>,
}

impl ServerSpec {
    pub fn from_action(action: &Action) -> Result<ServerSpec, ProviderError> {
        let get = |k: &str| action.attributes.get(k).map(String::as_str);
        let missing = |k: &str, example: &str| {
            ProviderError::Permanent(format!(
                "{}: a Sakura Cloud server needs `{example}` in fleet.kdl ({k} is missing)",
                action.address
            ))
        };
        let num = |k: &str, example: &str| -> Result<u32, ProviderError> {
            get(k)
                .ok_or_else(|| missing(k, example))?
                .parse()
                .map_err(|_| missing(k, example))
        };
        Ok(ServerSpec {
            name: get("name")
                .map(str::to_owned)
                .ok_or_else(|| missing("name", "server \"<name>\""))?,
            core: num("core", "plan core=2 memory=4")?,
            memory_gb: num("memory", "plan core=2 memory=4")?,
            disk_gb: num("disk-size", "disk size=40 os=\"ubuntu-24.04\"")?,
            os: get("os")
                .map(str::to_owned)
                .ok_or_else(|| missing("os", "disk size=40 os=\"ubuntu-24.04\""))?,
            ssh_key: get("ssh-key").map(str::to_owned),
        })
    }

    /// The public key to install: the `ssh-key` file, or `<file>.pub` when it names a private key.
    fn public_key(&self) -> Result<Option<String>, ProviderError> {
        let Some(path) = &self.ssh_key else {
            return Ok(None);
        };
        let path = expand_home(path);
        let candidates = if path.extension().is_some_and(|e| e == "pub") {
            vec![path.clone()]
        } else {
            vec![PathBuf::from(format!("{}.pub", path.display())), path.clone()]
        };
        for candidate in &candidates {
            if let Ok(text) = std::fs::read_to_string(candidate) {
                let key = text.trim();
                if key.starts_with("ssh-") || key.starts_with("ecdsa-") {
                    return Ok(Some(key.to_owned()));
                }
            }
        }
        Err(ProviderError::Permanent(format!(
            "server {}: cannot read an SSH public key from {}; `ssh-key` must name a public key file (such as ~/.ssh/id_ed25519.pub)",
            self.name,
            candidates[0].display()
        )))
    }
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// The tag public archives of cloud-init images carry.
const CLOUD_INIT_TAG: &str = "cloud-init";

/// How to find an `os` value's archive: by tags (a known distribution), else by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArchiveQuery {
    Tags(Vec<String>),
    Name(String),
}

/// `ubuntu-24.04` → the tag `ubuntu-24.04-latest`; `ubuntu` → `current-stable` and
/// `distro-ubuntu` (likewise debian, rockylinux, almalinux); anything else is a name.
pub(crate) fn archive_query(os: &str) -> ArchiveQuery {
    let os = os.to_ascii_lowercase();
    // (what users write, the distribution's short name in Sakura's tags)
    let known = [
        ("ubuntu", "ubuntu"),
        ("debian", "debian"),
        ("rockylinux", "rocky"),
        ("almalinux", "alma"),
    ];
    for (name, short) in known {
        if os == name {
            return ArchiveQuery::Tags(vec!["current-stable".into(), format!("distro-{short}")]);
        }
        if let Some(version) = os.strip_prefix(name).and_then(|v| v.strip_prefix('-')) {
            return ArchiveQuery::Tags(vec![format!("{short}-{version}-latest")]);
        }
    }
    ArchiveQuery::Name(os)
}

/// A live server as a state resource (`recorded`: what the state knew, for `os`).
pub fn server_state(address: &str, server: &Value, recorded: Option<&StateResource>) -> StateResource {
    let mut attributes = std::collections::BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            attributes.insert(k.to_owned(), v);
        }
    };
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    put("name", str_of(server, "Name"));
    let plan = server.get("ServerPlan").unwrap_or(&Value::Null);
    put("core", plan.get("CPU").and_then(Value::as_u64).map(|c| c.to_string()));
    put(
        "memory",
        plan.get("MemoryMB")
            .and_then(Value::as_u64)
            .map(|m| (m / 1024).to_string()),
    );
    let disk = server
        .get("Disks")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .cloned()
        .unwrap_or(Value::Null);
    put(
        "disk-size",
        disk.get("SizeMB")
            .and_then(Value::as_u64)
            .map(|m| (m / 1024).to_string()),
    );
    put("disk-id", id_of(&disk));
    let described_os = server
        .get("Description")
        .and_then(Value::as_str)
        .and_then(|d| d.lines().find_map(|l| l.trim().strip_prefix("os: ").map(str::to_owned)));
    put(
        "os",
        described_os.or_else(|| recorded.and_then(|r| r.attributes.get("os").cloned())),
    );
    let ip = server
        .get("Interfaces")
        .and_then(Value::as_array)
        .and_then(|i| i.first())
        .and_then(|i| str_of(i, "IPAddress").or_else(|| str_of(i, "UserIPAddress")));
    put("ip", ip);
    let power = instance_status(server).map(str::to_owned);
    put(
        "status",
        power
            .as_deref()
            .map(|p| if p == "up" { "running" } else { "stopped" }.to_owned()),
    );
    put("power", power);
    put("zone", server.get("Zone").and_then(|z| str_of(z, "Name")));
    StateResource {
        address: address.to_owned(),
        provider: Some(PROVIDER.to_owned()),
        id: id_of(server),
        attributes,
        created_at: str_of(server, "CreatedAt").or_else(|| recorded.and_then(|r| r.created_at.clone())),
    }
}

impl SakuraProvider {
    /// The plan with the spec's CPU and memory: standard commitment (not dedicated CPU), not
    /// a confidential VM, available, of the newest generation.
    fn plan_id(&self, spec: &ServerSpec) -> Result<String, ProviderError> {
        let memory_mb = u64::from(spec.memory_gb) * 1024;
        let query = json!({
            "Count": 1000,
            "Filter": {"CPU": spec.core, "MemoryMB": memory_mb, "Commitment": "standard", "ConfidentialVM": 0},
            "Sort": ["-Generation"],
        });
        let what = format!("looking up the server plan {}core-{}gb", spec.core, spec.memory_gb);
        let list = self
            .call(Method::GET, "/product/server", Some(&query), None)
            .map_err(|e| e.into_provider(&what))?;
        let text = |p: &Value, k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
        list.get("ServerPlans")
            .and_then(Value::as_array)
            .and_then(|plans| {
                plans
                    .iter()
                    .filter(|p| {
                        p.get("CPU").and_then(Value::as_u64) == Some(u64::from(spec.core))
                            && p.get("MemoryMB").and_then(Value::as_u64) == Some(memory_mb)
                            && text(p, "Commitment").is_none_or(|c| c == "standard")
                            && !p.get("ConfidentialVM").and_then(Value::as_bool).unwrap_or(false)
                            && text(p, "Availability").is_none_or(|a| a == "available")
                    })
                    .max_by_key(|p| p.get("Generation").and_then(Value::as_u64).unwrap_or(0))
            })
            .and_then(id_of)
            .ok_or_else(|| {
                ProviderError::Permanent(format!(
                    "server {}: zone {} has no server plan with {} core(s) and {} GB memory; change `plan core=… memory=…`",
                    spec.name,
                    self.zone(),
                    spec.core,
                    spec.memory_gb
                ))
            })
    }

    fn archive_id(&self, spec: &ServerSpec) -> Result<String, ProviderError> {
        if spec.os.to_ascii_lowercase().contains("cloudimg") {
            return Err(ProviderError::Permanent(format!(
                "server {}: os \"{}\" is a cloud-init image, which ignores the disk edit that installs the SSH key; use the plain archive (e.g. \"ubuntu-24.04\")",
                spec.name, spec.os
            )));
        }
        let search = archive_query(&spec.os);
        let (filter, searched) = match &search {
            ArchiveQuery::Tags(tags) => (
                json!({"Scope": "shared", "Tags.Name": tags}),
                format!("tags {}", tags.join(" + ")),
            ),
            ArchiveQuery::Name(name) => (json!({"Scope": "shared", "Name": name}), format!("\"{name}\"")),
        };
        let list = self
            .call(Method::GET, "/archive", Some(&json!({"Filter": filter})), None)
            .map_err(|e| e.into_provider(&format!("looking up the {} archive", spec.os)))?;
        let has_tag = |a: &Value, tag: &str| {
            (a.get("Tags").and_then(Value::as_array)).is_some_and(|t| t.iter().any(|x| x.as_str() == Some(tag)))
        };
        let matches = |a: &Value| match &search {
            ArchiveQuery::Tags(tags) => tags.iter().all(|t| has_tag(a, t)),
            ArchiveQuery::Name(name) => {
                (a.get("Name").and_then(Value::as_str)).is_some_and(|n| n.to_ascii_lowercase().contains(name))
            }
        };
        list.get("Archives")
            .and_then(Value::as_array)
            .and_then(|all| {
                all.iter()
                    .filter(|a| matches(a) && !has_tag(a, CLOUD_INIT_TAG))
                    .find(|a| a.get("Availability").and_then(Value::as_str).is_none_or(|s| s == "available"))
            })
            .and_then(id_of)
            .ok_or_else(|| {
                ProviderError::Permanent(format!(
                    "server {}: zone {} has no public archive for os \"{}\" (searched for {searched}, cloud-init images left out); use an os such as \"ubuntu-24.04\"",
                    spec.name,
                    self.zone(),
                    spec.os
                ))
            })
    }

    /// Creates what is missing of the server (itself, its disk, power), resuming `existing`.
    pub(super) fn create(
        &self,
        spec: &ServerSpec,
        address: &str,
        existing: Option<Value>,
    ) -> Result<StateResource, ProviderError> {
        let public_key = spec.public_key()?;
        let server = match existing {
            Some(s) => s,
            None => {
                let plan = self.plan_id(spec)?;
                let body = json!({"Server": {
                    "Name": spec.name,
                    "Description": format!("{DESCRIPTION_PREFIX}{address}\nos: {}", spec.os),
                    "Tags": [TAG],
                    "ServerPlan": {"ID": plan},
                    "ConnectedSwitches": [{"Scope": "shared"}],
                    "InterfaceDriver": "virtio",
                }});
                let created = self.req(
                    &format!("creating server {}", spec.name),
                    Method::POST,
                    "/server",
                    Some(&body),
                )?;
                unwrap(&created, "Server").clone()
            }
        };
        let id = id_of(&server).ok_or_else(|| {
            ProviderError::Transient(format!("creating server {}: the API returned no server ID", spec.name))
        })?;
        let has_disk = server
            .get("Disks")
            .and_then(Value::as_array)
            .is_some_and(|d| !d.is_empty());
        if !has_disk {
            self.create_disk(spec, &id, public_key)?;
        }
        self.set_power_and_wait(&id, true)?;
        self.reread(spec, address, &id, "right after it was created")
    }

    /// The server `id` as it is now, after `after` (it must still exist).
    fn reread(&self, spec: &ServerSpec, address: &str, id: &str, after: &str) -> Result<StateResource, ProviderError> {
        let live = self
            .server(id)?
            .ok_or_else(|| ProviderError::Transient(format!("server {} ({id}) vanished {after}", spec.name)))?;
        Ok(server_state(address, &live, None))
    }

    fn create_disk(&self, spec: &ServerSpec, server_id: &str, public_key: Option<String>) -> Result<(), ProviderError> {
        let archive = self.archive_id(spec)?;
        let body = json!({"Disk": {
            "Name": spec.name,
            "Plan": {"ID": DISK_PLAN_SSD},
            "SizeMB": spec.disk_gb * 1024,
            "Connection": "virtio",
            "SourceArchive": {"ID": archive},
            "Server": {"ID": server_id},
            "Tags": [TAG],
        }});
        let what = format!("creating the disk of server {}", spec.name);
        let created = self.req(&what, Method::POST, "/disk", Some(&body))?;
        let disk_id = id_of(unwrap(&created, "Disk"))
            .ok_or_else(|| ProviderError::Transient(format!("{what}: the API returned no disk ID")))?;
        let deadline = self.clock.now() + self.wait_limit;
        loop {
            let disk = self.req(&what, Method::GET, &format!("/disk/{disk_id}"), None)?;
            match unwrap(&disk, "Disk").get("Availability").and_then(Value::as_str) {
                Some("available") | None => break,
                Some("failed") => {
                    return Err(ProviderError::Permanent(format!(
                        "{what}: copying the archive failed; delete the disk {disk_id} in the control panel and run again"
                    )));
                }
                Some(_) if self.clock.now() >= deadline => {
                    return Err(ProviderError::Transient(format!(
                        "{what}: still copying after {:?}; run again to keep waiting",
                        self.wait_limit
                    )));
                }
                Some(_) => self.clock.sleep(self.poll_interval),
            }
        }
        let mut config = json!({"HostName": spec.name});
        if let Some(key) = public_key {
            config["SSHKey"] = json!({"PublicKey": key});
        }
        self.req(
            &format!("setting the SSH key of server {}", spec.name),
            Method::PUT,
            &format!("/disk/{disk_id}/config"),
            Some(&config),
        )?;
        Ok(())
    }

    /// A plan change (power off, `PUT /server/{id}/plan`, power back on); the server gets a new ID.
    pub(super) fn update(
        &self,
        spec: &ServerSpec,
        address: &str,
        server: &Value,
    ) -> Result<StateResource, ProviderError> {
        let id = id_of(server).unwrap_or_default();
        let live = server_state(address, server, None);
        let same_plan = live.attributes.get("core") == Some(&spec.core.to_string())
            && live.attributes.get("memory") == Some(&spec.memory_gb.to_string());
        if same_plan {
            return Ok(live);
        }
        let was_up = instance_status(server) == Some("up");
        self.set_power_and_wait(&id, false)?;
        let body = json!({"CPU": spec.core, "MemoryMB": spec.memory_gb * 1024});
        let changed = self.req(
            &format!("changing the plan of server {}", spec.name),
            Method::PUT,
            &format!("/server/{id}/plan"),
            Some(&body),
        )?;
        let new_id = id_of(unwrap(&changed, "Server")).unwrap_or(id);
        if was_up {
            self.set_power_and_wait(&new_id, true)?;
        }
        self.reread(spec, address, &new_id, "after its plan change")
    }
}

#[cfg(test)]
mod tests;
