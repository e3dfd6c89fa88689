//! An in-memory container engine behind `fleetflow::docker::Docker`, and a clock that never
//! waits: the deploy workflow without a Docker daemon.
//!
//! The engine keeps images, containers and networks, enforces what a real daemon enforces and
//! the deploy engine relies on (container names are unique, a container needs its network,
//! two running containers cannot publish the same host port, `rm` is `rm --force`), runs
//! healthchecks as `starting` then a result, and records every call in order
//! (`create shop-live-db`, `start ctr-1`, `rename ctr-1 shop-live-db-previous`, …).
//! Faults are scripted per service ([`MemoryDocker::fault`]) or per host port
//! ([`MemoryDocker::hold_port`]).
//!
//! Use from a test file with `#[path = "support/memory_docker.rs"] mod memory_docker;`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fleetflow::clock::Clock;
use fleetflow::docker::{BuildRequest, Builder, Container, ContainerSpec, Docker, DockerError, ImageInfo, labels};

/// What goes wrong with the containers of one service created after it is scripted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Starts, then its healthcheck reports `unhealthy` (the container needs a healthcheck).
    Unhealthy,
    /// Starts, then exits with this code.
    Exits(i64),
    /// `start` fails with [`DockerError::PortInUse`]; the container stays `created`.
    PortInUse,
}

/// One container as the memory engine holds it.
#[derive(Debug, Clone)]
pub struct MemContainer {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub labels: BTreeMap<String, String>,
    pub env: BTreeMap<String, String>,
    pub network: String,
    /// Published host ports.
    pub host_ports: Vec<u16>,
    pub ports: Vec<String>,
    pub has_healthcheck: bool,
    pub fault: Option<Fault>,
    pub running: bool,
    /// `created`, `running` or `exited`.
    pub status: String,
    pub health: Option<String>,
    /// The health the current `starting` turns into at the next inspection.
    pending_health: Option<String>,
    pub exit_code: i64,
    /// How many times it has been started.
    pub starts: u32,
}

impl MemContainer {
    pub fn service(&self) -> &str {
        self.labels.get(labels::SERVICE).map_or("", String::as_str)
    }

    fn view(&self) -> Container {
        Container {
            id: self.id.clone(),
            name: self.name.clone(),
            image_id: self.image_id.clone(),
            labels: self.labels.clone(),
            status: self.status.clone(),
            running: self.running,
            health: self.health.clone(),
            exit_code: self.exit_code,
            created: "2026-01-01T00:00:00Z".into(),
            started_at: format!("start #{}", self.starts),
            ports: self.ports.clone(),
        }
    }
}

#[derive(Default)]
struct State {
    images: BTreeMap<String, ImageInfo>,
    /// Every image on the engine by id, also those whose last reference moved on (dangling).
    by_id: BTreeMap<String, ImageInfo>,
    containers: Vec<MemContainer>,
    networks: BTreeMap<String, BTreeMap<String, String>>,
    calls: Vec<String>,
    /// Every container ever created, `(id, name, service)`, so calls stay readable after a remove.
    history: Vec<(String, String, String)>,
    faults: HashMap<String, Fault>,
    /// Verbs whose next call fails.
    fail_next: Vec<String>,
    held_ports: BTreeSet<u16>,
    next: u64,
}

impl State {
    /// An image by reference, or by id.
    fn image(&self, reference: &str) -> Option<ImageInfo> {
        self.images
            .get(reference)
            .or_else(|| self.by_id.get(reference))
            .cloned()
    }

    fn find(&self, id_or_name: &str) -> Option<usize> {
        self.containers
            .iter()
            .position(|c| c.id == id_or_name)
            .or_else(|| self.containers.iter().position(|c| c.name == id_or_name))
    }

    fn find_or_err(&self, id_or_name: &str, command: &str) -> Result<usize, DockerError> {
        self.find(id_or_name).ok_or_else(|| DockerError::Command {
            command: format!("docker {command}"),
            message: format!("Error response from daemon: No such container: {id_or_name}"),
            output: String::new(),
        })
    }

    /// Records `call`; fails it when its verb was scripted to fail next.
    fn call(&mut self, call: String) -> Result<(), DockerError> {
        let verb = call.split(' ').next().unwrap_or("").to_owned();
        self.calls.push(call);
        match self.fail_next.iter().position(|v| *v == verb) {
            Some(i) => {
                self.fail_next.remove(i);
                Err(conflict(&verb, format!("injected failure of `{verb}`")))
            }
            None => Ok(()),
        }
    }
}

/// The in-memory engine. Cheap to build; every method is safe to call from several threads.
#[derive(Default)]
pub struct MemoryDocker {
    state: Mutex<State>,
}

fn conflict(command: &str, message: String) -> DockerError {
    DockerError::Command {
        command: format!("docker {command}"),
        message,
        output: String::new(),
    }
}

impl MemoryDocker {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `reference` present locally with a fresh image id; returns that id.
    pub fn add_image(&self, reference: &str, has_healthcheck: bool) -> String {
        let mut s = self.lock();
        s.next += 1;
        let id = format!("sha256:{:064x}", 0xa000 + s.next);
        let info = ImageInfo {
            id: id.clone(),
            repo_digests: Vec::new(),
            has_healthcheck,
            labels: BTreeMap::new(),
        };
        s.by_id.insert(id.clone(), info.clone());
        s.images.insert(reference.to_owned(), info);
        id
    }

    /// Whether an image with this id is on the engine (tagged or dangling).
    pub fn has_image_id(&self, id: &str) -> bool {
        self.lock().by_id.contains_key(id)
    }

    /// Containers of `service` created from now on behave again.
    pub fn heal(&self, service: &str) {
        self.lock().faults.remove(service);
    }

    /// Containers of `service` created from now on misbehave this way.
    pub fn fault(&self, service: &str, fault: Fault) {
        self.lock().faults.insert(service.to_owned(), fault);
    }

    /// The next call with this verb (`ensure-network`, `stop`, `create`, …) fails.
    pub fn fail_next(&self, verb: &str) {
        self.lock().fail_next.push(verb.to_owned());
    }

    /// Something outside the fleet listens on host `port`: starting a container publishing it fails.
    pub fn hold_port(&self, port: u16) {
        self.lock().held_ports.insert(port);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Forgets the calls so far (the state stays).
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// The calls whose verb is one of `verbs`, each as `verb service` (container ids resolved to
    /// their service label; other arguments dropped).
    pub fn service_calls(&self, verbs: &[&str]) -> Vec<String> {
        let s = self.lock();
        s.calls
            .iter()
            .filter_map(|call| {
                let mut words = call.split(' ');
                let verb = words.next()?;
                if !verbs.contains(&verb) {
                    return None;
                }
                let target = words.next().unwrap_or("");
                let service = s
                    .history
                    .iter()
                    .find(|(id, name, _)| id == target || name == target)
                    .map_or(target, |(_, _, service)| service.as_str());
                Some(format!("{verb} {service}"))
            })
            .collect()
    }

    /// Every container, in creation order.
    pub fn containers(&self) -> Vec<MemContainer> {
        self.lock().containers.clone()
    }

    pub fn container_named(&self, name: &str) -> Option<MemContainer> {
        self.lock().containers.iter().find(|c| c.name == name).cloned()
    }

    pub fn container(&self, id: &str) -> Option<MemContainer> {
        self.lock().containers.iter().find(|c| c.id == id).cloned()
    }

    /// The ids of every container ever created for `service`, oldest first.
    pub fn created_ids(&self, service: &str) -> Vec<String> {
        let s = self.lock();
        s.history
            .iter()
            .filter(|(_, _, svc)| svc == service)
            .map(|(id, _, _)| id.clone())
            .collect()
    }

    pub fn networks(&self) -> Vec<String> {
        self.lock().networks.keys().cloned().collect()
    }

    fn record(&self, call: String) -> Result<(), DockerError> {
        self.lock().call(call)
    }

    fn start_locked(s: &mut State, id: &str) -> Result<(), DockerError> {
        let i = s.find_or_err(id, "start")?;
        if s.containers[i].running {
            return Ok(());
        }
        let c = &s.containers[i];
        let taken = c.host_ports.iter().copied().find(|p| {
            s.held_ports.contains(p)
                || s.containers
                    .iter()
                    .any(|o| o.running && o.id != c.id && o.host_ports.contains(p))
        });
        let port = match (c.fault, taken) {
            (_, Some(p)) => Some(p.to_string()),
            (Some(Fault::PortInUse), None) => Some(c.host_ports.first().map_or("8080".into(), u16::to_string)),
            _ => None,
        };
        if let Some(port) = port {
            return Err(DockerError::PortInUse { port });
        }
        let c = &mut s.containers[i];
        c.starts += 1;
        c.exit_code = 0;
        match c.fault {
            Some(Fault::Exits(code)) => {
                c.running = false;
                c.status = "exited".into();
                c.exit_code = code;
            }
            _ => {
                c.running = true;
                c.status = "running".into();
            }
        }
        if c.has_healthcheck {
            c.health = Some("starting".into());
            let result = if c.fault == Some(Fault::Unhealthy) {
                "unhealthy"
            } else {
                "healthy"
            };
            c.pending_health = Some(result.into());
        } else {
            assert!(
                c.fault != Some(Fault::Unhealthy),
                "memory docker: {} is scripted unhealthy but has no healthcheck",
                c.name
            );
            c.health = None;
        }
        Ok(())
    }

    fn stop_locked(s: &mut State, id: &str) -> Result<(), DockerError> {
        let i = s.find_or_err(id, "stop")?;
        let c = &mut s.containers[i];
        if c.running {
            c.running = false;
            c.status = "exited".into();
            c.exit_code = 0;
            c.pending_health = None;
        }
        Ok(())
    }
}

impl Docker for MemoryDocker {
    fn server_version(&self) -> Result<String, DockerError> {
        self.record("version".into())?;
        Ok("memory".into())
    }

    fn list_containers(&self, wanted: &[(&str, &str)]) -> Result<Vec<Container>, DockerError> {
        let mut s = self.lock();
        let filter: Vec<String> = wanted.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s.call(format!("list {}", filter.join(",")))?;
        Ok(s.containers
            .iter()
            .filter(|c| {
                wanted
                    .iter()
                    .all(|(k, v)| c.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(MemContainer::view)
            .collect())
    }

    fn inspect_container(&self, id: &str) -> Result<Container, DockerError> {
        let mut s = self.lock();
        s.call(format!("inspect {id}"))?;
        let i = s.find_or_err(id, "container inspect")?;
        let c = &mut s.containers[i];
        let view = c.view();
        // A healthcheck reports `starting` once, then its result.
        if c.running
            && c.health.as_deref() == Some("starting")
            && let Some(result) = c.pending_health.take()
        {
            c.health = Some(result);
        }
        Ok(view)
    }

    fn inspect_image(&self, reference: &str) -> Result<Option<ImageInfo>, DockerError> {
        let mut s = self.lock();
        s.call(format!("inspect-image {reference}"))?;
        Ok(s.image(reference))
    }

    fn pull(&self, image: &str) -> Result<(), DockerError> {
        let mut s = self.lock();
        s.call(format!("pull {image}"))?;
        if s.images.contains_key(image) {
            Ok(())
        } else {
            Err(DockerError::ImageNotFound { image: image.into() })
        }
    }

    fn ensure_network(&self, name: &str, net_labels: &BTreeMap<String, String>) -> Result<(), DockerError> {
        let mut s = self.lock();
        s.call(format!("ensure-network {name}"))?;
        s.networks.entry(name.to_owned()).or_insert_with(|| net_labels.clone());
        Ok(())
    }

    fn remove_network(&self, name: &str) -> Result<(), DockerError> {
        let mut s = self.lock();
        s.call(format!("remove-network {name}"))?;
        s.networks.remove(name);
        Ok(())
    }

    fn create(&self, spec: &ContainerSpec) -> Result<String, DockerError> {
        let mut s = self.lock();
        s.call(format!("create {}", spec.name))?;
        if s.find(&spec.name).is_some() {
            return Err(conflict(
                "create",
                format!("Conflict. The container name \"/{}\" is already in use", spec.name),
            ));
        }
        if !s.networks.contains_key(&spec.network) {
            return Err(conflict("create", format!("network {} not found", spec.network)));
        }
        let Some(image) = s.image(&spec.image) else {
            return Err(DockerError::ImageNotFound {
                image: spec.image.clone(),
            });
        };
        s.next += 1;
        let id = format!("ctr-{}", s.next);
        let service = spec.labels.get(labels::SERVICE).cloned().unwrap_or_default();
        let fault = s.faults.get(&service).copied();
        s.history.push((id.clone(), spec.name.clone(), service));
        s.containers.push(MemContainer {
            id: id.clone(),
            name: spec.name.clone(),
            image: spec.image.clone(),
            image_id: image.id,
            labels: spec.labels.clone(),
            env: spec.env.clone(),
            network: spec.network.clone(),
            host_ports: spec.ports.iter().map(|p| p.host).collect(),
            ports: spec
                .ports
                .iter()
                .map(|p| {
                    let ip = p.host_ip.as_deref().unwrap_or("0.0.0.0");
                    format!("{ip}:{}->{}/tcp", p.host, p.container)
                })
                .collect(),
            has_healthcheck: spec.healthcheck.is_some() || image.has_healthcheck,
            fault,
            running: false,
            status: "created".into(),
            health: None,
            pending_health: None,
            exit_code: 0,
            starts: 0,
        });
        Ok(id)
    }

    fn start(&self, id: &str) -> Result<(), DockerError> {
        let mut s = self.lock();
        s.call(format!("start {id}"))?;
        Self::start_locked(&mut s, id)
    }

    fn stop(&self, id: &str, _timeout: Duration) -> Result<(), DockerError> {
        let mut s = self.lock();
        s.call(format!("stop {id}"))?;
        Self::stop_locked(&mut s, id)
    }

    fn restart(&self, id: &str, _timeout: Duration) -> Result<(), DockerError> {
        let mut s = self.lock();
        s.call(format!("restart {id}"))?;
        Self::stop_locked(&mut s, id)?;
        Self::start_locked(&mut s, id)
    }

    fn remove(&self, id: &str) -> Result<(), DockerError> {
        let mut s = self.lock();
        s.call(format!("remove {id}"))?;
        let i = s.find_or_err(id, "rm")?;
        s.containers.remove(i);
        Ok(())
    }

    fn rename(&self, id: &str, new_name: &str) -> Result<(), DockerError> {
        let mut s = self.lock();
        s.call(format!("rename {id} {new_name}"))?;
        let i = s.find_or_err(id, "rename")?;
        if s.find(new_name).is_some_and(|j| j != i) {
            return Err(conflict(
                "rename",
                format!("Conflict. The container name \"/{new_name}\" is already in use"),
            ));
        }
        s.containers[i].name = new_name.to_owned();
        Ok(())
    }

    fn logs(
        &self,
        id: &str,
        _follow: bool,
        _tail: Option<usize>,
        _line: &mut dyn FnMut(&str),
    ) -> Result<(), DockerError> {
        let mut s = self.lock();
        s.call(format!("logs {id}"))?;
        s.find_or_err(id, "logs").map(drop)
    }

    fn buildx_available(&self) -> bool {
        false
    }

    /// Makes every tag of the request present (no healthcheck).
    fn build(&self, _builder: Builder, request: &BuildRequest, line: &mut dyn FnMut(&str)) -> Result<(), DockerError> {
        self.record(format!("build {}", request.tags.join(",")))?;
        for tag in &request.tags {
            self.add_image(tag, false);
            line(&format!("built {tag}"));
        }
        Ok(())
    }

    fn push(&self, image: &str, _line: &mut dyn FnMut(&str)) -> Result<(), DockerError> {
        self.record(format!("push {image}"))
    }

    fn login(&self, registry: &str, _username: &str, _password: &str) -> Result<(), DockerError> {
        self.record(format!("login {registry}"))
    }

    fn tag(&self, source: &str, target: &str) -> Result<(), DockerError> {
        let mut s = self.lock();
        s.call(format!("tag {source} {target}"))?;
        let image = s
            .image(source)
            .ok_or_else(|| DockerError::ImageNotFound { image: source.into() })?;
        s.images.insert(target.to_owned(), image);
        Ok(())
    }

    fn untag(&self, reference: &str) -> Result<(), DockerError> {
        let mut s = self.lock();
        s.call(format!("untag {reference}"))?;
        let image = s
            .images
            .get(reference)
            .cloned()
            .ok_or_else(|| DockerError::ImageNotFound {
                image: reference.into(),
            })?;
        let last = !s.images.iter().any(|(r, i)| r != reference && i.id == image.id);
        if last && s.containers.iter().any(|c| c.image_id == image.id) {
            return Err(conflict(
                "image rm",
                format!(
                    "conflict: unable to remove repository reference \"{reference}\" (must force) - container is using its referenced image"
                ),
            ));
        }
        s.images.remove(reference);
        if last {
            s.by_id.remove(&image.id);
        }
        Ok(())
    }

    fn tags_of(&self, repository: &str) -> Result<Vec<String>, DockerError> {
        let mut s = self.lock();
        s.call(format!("tags-of {repository}"))?;
        let prefix = format!("{repository}:");
        Ok(s.images.keys().filter(|r| r.starts_with(&prefix)).cloned().collect())
    }
}

/// Never waits: `sleep` moves its `now` on by the duration.
pub struct FakeClock {
    start: Instant,
    slept: Mutex<Duration>,
}

impl Default for FakeClock {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            slept: Mutex::new(Duration::ZERO),
        }
    }
}

impl FakeClock {
    /// The total time it was asked to wait.
    pub fn slept(&self) -> Duration {
        *self.slept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.start + self.slept()
    }

    fn sleep(&self, duration: Duration) {
        *self.slept.lock().unwrap_or_else(|e| e.into_inner()) += duration;
    }
}
