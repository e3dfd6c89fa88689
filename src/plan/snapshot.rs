//! A validated workspace flattened into addressed resources, without source positions, so
//! two commits compare by meaning: moving a line in a file changes nothing.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;

use serde::Serialize;

use crate::config::cloud::{Scale, Server};
use crate::config::cloudflare::{DnsRecord, R2Bucket, Worker};
use crate::config::fleet::Infrastructure;
use crate::config::lower::Spanned;
use crate::config::{FleetConfig, Registry, Service, Workspace};

/// The stage name used for the services of a fleet that defines no stages (not a valid
/// stage name, so it never collides with one).
pub const NO_STAGE: &str = "-";

/// Kinds of cloud resource a fleet declares (seed 002).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloudKind {
    Server,
    Scale,
    R2Bucket,
    Worker,
    DnsRecord,
}

impl CloudKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CloudKind::Server => "server",
            CloudKind::Scale => "scale",
            CloudKind::R2Bucket => "r2-bucket",
            CloudKind::Worker => "worker",
            CloudKind::DnsRecord => "dns-record",
        }
    }

    /// Whether a provider creates it (and the state file records it); `scale` is not applied yet.
    pub fn is_provisioned(self) -> bool {
        self != CloudKind::Scale
    }
}

/// Where a resource lives. Orders registry-wide resources first, then by fleet and stage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Address {
    /// A fleet entry of the registry.
    Fleet { fleet: String },
    /// A server of the registry (where routes deploy to).
    Server { server: String },
    /// Who may `/deploy` to a stage.
    DeployPolicy { stage: String },
    /// fleet + stage → server (FS-003).
    Route { fleet: String, stage: String },
    /// A resolved service of a stage.
    Service {
        fleet: String,
        stage: String,
        service: String,
    },
    /// A cloud resource declared at the top of a fleet file (`stage: None`) or in a stage.
    Cloud {
        fleet: String,
        stage: Option<String>,
        kind: CloudKind,
        name: String,
    },
}

/// The group a change is shown in: the registry, a fleet, or a fleet's stage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Section {
    pub fleet: Option<String>,
    pub stage: Option<String>,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.fleet, &self.stage) {
            (Some(fleet), Some(stage)) => write!(f, "{fleet}:{stage}"),
            (Some(fleet), None) => f.write_str(fleet),
            (None, _) => f.write_str("registry"),
        }
    }
}

impl Address {
    pub fn section(&self) -> Section {
        let (fleet, stage) = match self {
            Address::Fleet { .. } | Address::Server { .. } | Address::DeployPolicy { .. } => (None, None),
            Address::Route { fleet, stage } | Address::Service { fleet, stage, .. } => {
                (Some(fleet.clone()), Some(stage.clone()))
            }
            Address::Cloud { fleet, stage, .. } => (Some(fleet.clone()), stage.clone()),
        };
        Section { fleet, stage }
    }

    pub fn stage(&self) -> Option<&str> {
        match self {
            Address::Route { stage, .. } | Address::Service { stage, .. } => Some(stage),
            Address::Cloud { stage, .. } => stage.as_deref(),
            Address::Fleet { .. } | Address::Server { .. } | Address::DeployPolicy { .. } => None,
        }
    }

    /// The resource type and name as written in KDL: `service "site"`, `route web:live`.
    pub fn label(&self) -> String {
        match self {
            Address::Fleet { fleet } => format!("fleet {fleet:?}"),
            Address::Server { server } => format!("server {server:?}"),
            Address::DeployPolicy { stage } => format!("deploy-policy {stage:?}"),
            Address::Route { fleet, stage } => format!("route {fleet}:{stage}"),
            Address::Service { service, .. } => format!("service {service:?}"),
            Address::Cloud { kind, name, .. } => format!("{} {name:?}", kind.as_str()),
        }
    }
}

/// `fleet.web`, `server.vps-01`, `route.web:live`, `web:live/service.site`,
/// `creo:dev/server.creo-dev-01`, `creo/r2-bucket.assets`; state files key resources by it.
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Fleet { fleet } => write!(f, "fleet.{fleet}"),
            Address::Server { server } => write!(f, "server.{server}"),
            Address::DeployPolicy { stage } => write!(f, "deploy-policy.{stage}"),
            Address::Route { fleet, stage } => write!(f, "route.{fleet}:{stage}"),
            Address::Service { fleet, stage, service } => write!(f, "{fleet}:{stage}/service.{service}"),
            Address::Cloud {
                fleet,
                stage: Some(stage),
                kind,
                name,
            } => write!(f, "{fleet}:{stage}/{}.{name}", kind.as_str()),
            Address::Cloud {
                fleet,
                stage: None,
                kind,
                name,
            } => write!(f, "{fleet}/{}.{name}", kind.as_str()),
        }
    }
}

/// A DNS record with the provider of its zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsEntry {
    pub provider: Option<String>,
    pub record: DnsRecord,
}

/// What is at an address. Source positions are zeroed so only meaning compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Fleet {
        path: String,
        description: Option<String>,
    },
    Route {
        server: String,
    },
    Server(Server),
    DeployPolicy {
        permission: Option<String>,
        teams: Vec<String>,
        users: Vec<String>,
    },
    Service(Service),
    Scale(Scale),
    R2Bucket(R2Bucket),
    Worker(Worker),
    DnsRecord(DnsEntry),
}

/// Everything a plan compares: every addressed resource of a workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub resources: BTreeMap<Address, Resource>,
}

impl Snapshot {
    /// The registry, its servers and routes, and every loaded fleet's stages and cloud resources.
    pub fn from_workspace(workspace: &Workspace) -> Self {
        Self::from_parts(&workspace.registry, &workspace.fleets)
    }

    pub fn from_parts(registry: &Registry, fleets: &BTreeMap<String, FleetConfig>) -> Self {
        let mut snap = Snapshot::default();
        for entry in &registry.fleets {
            let fleet = Address::Fleet {
                fleet: entry.name.value.clone(),
            };
            let resource = Resource::Fleet {
                path: entry.path.value.clone(),
                description: entry.description.clone(),
            };
            snap.resources.insert(fleet, resource);
        }
        for server in &registry.servers {
            let address = Address::Server {
                server: server.name.value.clone(),
            };
            snap.resources.insert(address, Resource::Server(bare_server(server)));
        }
        for policy in &registry.deploy_policies {
            let address = Address::DeployPolicy {
                stage: policy.stage.value.clone(),
            };
            let resource = Resource::DeployPolicy {
                permission: policy.permission.map(|p| p.as_str().to_owned()),
                teams: policy.teams.clone(),
                users: policy.users.clone(),
            };
            snap.resources.insert(address, resource);
        }
        for route in &registry.routes {
            let address = Address::Route {
                fleet: route.fleet.value.clone(),
                stage: route.stage.value.clone(),
            };
            let server = route.server.value.clone();
            snap.resources.insert(address, Resource::Route { server });
        }
        for (name, fleet) in fleets {
            snap.add_fleet(name, fleet);
        }
        snap
    }

    /// One fleet alone (no registry), under the name `fleet`.
    pub fn from_fleet(fleet: &str, config: &FleetConfig) -> Self {
        let mut snap = Snapshot::default();
        snap.add_fleet(fleet, config);
        snap
    }

    fn add_fleet(&mut self, fleet: &str, config: &FleetConfig) {
        self.add_infrastructure(fleet, None, &config.infrastructure);
        if config.stages.is_empty() {
            self.add_services(fleet, NO_STAGE, &config.services);
        }
        for stage in &config.stages {
            self.add_services(fleet, &stage.name.value, &stage.services);
            self.add_infrastructure(fleet, Some(&stage.name.value), &stage.infrastructure);
        }
    }

    fn add_services(&mut self, fleet: &str, stage: &str, services: &[Service]) {
        for service in services {
            let address = Address::Service {
                fleet: fleet.to_owned(),
                stage: stage.to_owned(),
                service: service.name.value.clone(),
            };
            self.resources.insert(address, Resource::Service(bare_service(service)));
        }
    }

    fn add_infrastructure(&mut self, fleet: &str, stage: Option<&str>, infra: &Infrastructure) {
        let mut add = |kind: CloudKind, name: &str, resource: Resource| {
            // Names the validator lets repeat (two buckets, two records of one name) stay
            // apart as `name#2`, so nothing is silently dropped.
            let mut n = 1;
            loop {
                let name = if n == 1 { name.to_owned() } else { format!("{name}#{n}") };
                let address = Address::Cloud {
                    fleet: fleet.to_owned(),
                    stage: stage.map(str::to_owned),
                    kind,
                    name,
                };
                if let Entry::Vacant(slot) = self.resources.entry(address) {
                    slot.insert(resource);
                    return;
                }
                n += 1;
            }
        };
        for s in &infra.servers {
            add(CloudKind::Server, &s.name.value, Resource::Server(bare_server(s)));
        }
        for s in &infra.scales {
            let scale = Scale {
                server: bare(&s.server),
                ..s.clone()
            };
            add(CloudKind::Scale, &s.server.value, Resource::Scale(scale));
        }
        for b in &infra.r2_buckets {
            let bucket = R2Bucket {
                name: bare(&b.name),
                ..b.clone()
            };
            add(CloudKind::R2Bucket, &b.name.value, Resource::R2Bucket(bucket));
        }
        for w in &infra.workers {
            let worker = Worker {
                name: bare(&w.name),
                ..w.clone()
            };
            add(CloudKind::Worker, &w.name.value, Resource::Worker(worker));
        }
        for zone in &infra.dns {
            for r in &zone.records {
                let entry = DnsEntry {
                    provider: zone.provider.clone(),
                    record: DnsRecord {
                        name: bare(&r.name),
                        ..r.clone()
                    },
                };
                let name = format!("{}/{}", zone.zone.value, r.name.value);
                add(CloudKind::DnsRecord, &name, Resource::DnsRecord(entry));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.resources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}

fn bare(s: &Spanned<String>) -> Spanned<String> {
    Spanned::new(s.value.clone(), 0..0)
}

fn bare_server(s: &Server) -> Server {
    Server {
        name: bare(&s.name),
        ..s.clone()
    }
}

fn bare_service(s: &Service) -> Service {
    Service {
        name: bare(&s.name),
        depends_on: s.depends_on.iter().map(bare).collect(),
        ..s.clone()
    }
}
