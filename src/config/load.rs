//! Loading: files → raw KDL → typed model → cross-file checks (routes ↔ fleets ↔ servers).
//! Files come through [`ConfigFiles`] so the same code reads a checkout or a git commit.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diagnostic::{ConfigDiagnostic, ConfigError, Diagnostics};
use super::fleet::{FleetConfig, lower_fleet};
use super::lower::{Ctx, did_you_mean};
use super::registry::{Registry, lower_registry};
use super::source::{MAX_CONFIG_BYTES, ReadError, SourceFile, read_source};
use super::syntax::parse_document;

/// Where a fleet's configuration lives inside its directory.
pub const FLEET_FILE: &str = ".fleetflow/fleet.kdl";
/// The registry's file name (FS-004).
pub const REGISTRY_FILE: &str = "fleet-registry.kdl";

/// Read access to configuration files by path relative to the registry's directory.
pub trait ConfigFiles {
    /// The file's text, or `None` when it does not exist.
    fn read(&self, relative: &str) -> Result<Option<SourceFile>, ReadError>;

    /// The names of the files directly in directory `relative` (`""`: the top); `None` where
    /// files cannot be listed (a glob `include` then says so).
    fn list(&self, relative: &str) -> Option<Vec<String>> {
        let _ = relative;
        None
    }

    /// Whether `relative` is really inside directory `base` (no link leads out of it). Files
    /// that hold no links (memory, git objects) need not say.
    fn stays_inside(&self, base: &str, relative: &str) -> bool {
        let _ = (base, relative);
        true
    }
}

/// Files in a directory on disk.
pub struct DirFiles {
    pub root: PathBuf,
}

impl ConfigFiles for DirFiles {
    fn read(&self, relative: &str) -> Result<Option<SourceFile>, ReadError> {
        let path = if self.root.as_os_str().is_empty() {
            PathBuf::from(relative)
        } else {
            self.root.join(relative)
        };
        if !path.is_file() {
            return Ok(None);
        }
        // A link out of the directory is not read: a pull request's checkout could otherwise
        // name a file of the machine (its text would show in diagnostics).
        let root = if self.root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.root
        };
        let inside = match (root.canonicalize(), path.canonicalize()) {
            (Ok(root), Ok(real)) => real.starts_with(&root),
            _ => false,
        };
        if !inside {
            return Err(ReadError::Io {
                path: path.display().to_string(),
                source: std::io::Error::other("it is a link out of the directory it is read from; not read"),
            });
        }
        read_source(&path).map(Some)
    }

    fn stays_inside(&self, base: &str, relative: &str) -> bool {
        let root = if self.root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.root
        };
        if std::fs::symlink_metadata(root.join(relative)).is_err() {
            return true; // nothing there: reading it says so
        }
        let at = |p: &str| root.join(p).canonicalize();
        matches!((at(base), at(relative)), (Ok(base), Ok(real)) if real.starts_with(&base))
    }

    fn list(&self, relative: &str) -> Option<Vec<String>> {
        let dir = self.root.join(relative);
        let entries = match std::fs::read_dir(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &dir
        }) {
            Ok(entries) => entries,
            // No such directory: nothing in it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(Vec::new()),
            Err(_) => return None,
        };
        Some(
            (entries.flatten())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
        )
    }
}

/// Files held in memory (tests, git objects already read).
#[derive(Default)]
pub struct MemoryFiles {
    pub files: BTreeMap<String, String>,
}

impl ConfigFiles for MemoryFiles {
    fn read(&self, relative: &str) -> Result<Option<SourceFile>, ReadError> {
        match self.files.get(relative) {
            Some(text) if text.len() as u64 > MAX_CONFIG_BYTES => Err(ReadError::TooLarge {
                path: relative.to_owned(),
                size: text.len() as u64,
                limit: MAX_CONFIG_BYTES,
            }),
            Some(text) => Ok(Some(SourceFile::from_text(relative, text))),
            None => Ok(None),
        }
    }

    fn list(&self, relative: &str) -> Option<Vec<String>> {
        Some(names_in(self.files.keys().map(String::as_str), relative))
    }
}

/// The names of the paths directly in directory `dir` among `paths`.
pub fn names_in<'p>(paths: impl Iterator<Item = &'p str>, dir: &str) -> Vec<String> {
    (paths.filter_map(|p| {
        if dir.is_empty() {
            Some(p)
        } else {
            p.strip_prefix(dir)?.strip_prefix('/')
        }
    }))
    .filter(|rest| !rest.contains('/'))
    .map(str::to_owned)
    .collect()
}

/// Why loading stopped.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path} does not exist")]
    Missing { path: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// FS-002: check that every fleet's `.fleetflow/fleet.kdl` exists (`--no-verify` turns it off).
    pub verify_fleets: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { verify_fleets: true }
    }
}

/// A registry and every fleet it references, validated together.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub registry: Registry,
    pub fleets: BTreeMap<String, FleetConfig>,
    /// Non-fatal findings.
    pub warnings: Diagnostics,
}

/// A fleet loaded on its own (no registry).
#[derive(Debug, Clone)]
pub struct LoadedFleet {
    pub fleet: FleetConfig,
    pub warnings: Diagnostics,
}

fn finish<T>(value: Option<T>, diags: Diagnostics) -> Result<(T, Diagnostics), LoadError> {
    match value {
        Some(v) if !diags.has_errors() => Ok((v, diags)),
        _ => Err(ConfigError {
            diagnostics: diags.sorted(),
        }
        .into()),
    }
}

/// Parses and lowers the fleet file `source` (at `relative` in `files`) with the files it
/// includes.
pub fn lower_fleet_at(
    files: &dyn ConfigFiles,
    relative: &str,
    source: SourceFile,
    diags: &mut Diagnostics,
) -> Option<FleetConfig> {
    let combined = super::include::combine(files, relative, Arc::new(source), diags)?;
    let mut found = Diagnostics::default();
    let mut fleet = lower_fleet(&mut Ctx::new(&combined.file, &mut found), &combined.doc);
    combined.give_back(found, diags);
    fleet.included = combined.included();
    Some(fleet)
}

/// Parses and lowers one fleet file's text (its `include`s are not read: no files to read
/// them from).
pub fn lower_fleet_source(file: SourceFile, diags: &mut Diagnostics) -> Option<FleetConfig> {
    let file = Arc::new(file);
    match parse_document(&file) {
        Ok(doc) => Some(lower_fleet(&mut Ctx::new(&file, diags), &doc)),
        Err(d) => {
            diags.push(*d);
            None
        }
    }
}

/// Loads a single `.fleetflow/fleet.kdl` (with what it includes).
pub fn load_fleet_file(path: &Path) -> Result<LoadedFleet, LoadError> {
    let mut diags = Diagnostics::default();
    let files = DirFiles {
        root: path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fleet = lower_fleet_at(&files, &name, read_source(path)?, &mut diags);
    finish(fleet, diags).map(|(fleet, warnings)| LoadedFleet { fleet, warnings })
}

/// Loads `registry` (relative to `files`) and its fleets, reporting every problem at once.
pub fn load_workspace(
    files: &dyn ConfigFiles,
    registry_path: &str,
    options: LoadOptions,
) -> Result<Workspace, LoadError> {
    let source = files.read(registry_path)?.ok_or_else(|| LoadError::Missing {
        path: registry_path.to_owned(),
    })?;
    let file = Arc::new(source);
    let mut diags = Diagnostics::default();
    let registry = match parse_document(&file) {
        Ok(doc) => lower_registry(&mut Ctx::new(&file, &mut diags), &doc),
        Err(d) => {
            diags.push(*d);
            None
        }
    };
    let Some(registry) = registry else {
        return Err(ConfigError {
            diagnostics: diags.sorted(),
        }
        .into());
    };
    let base = Path::new(registry_path)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut fleets = BTreeMap::new();
    for entry in &registry.fleets {
        if super::registry::fleet_path_problem(&entry.path.value).is_some() {
            continue; // reported by the registry; never read outside the registry's directory
        }
        let relative = fleet_file_path(&base, &entry.path.value);
        match files.read(&relative) {
            Ok(Some(source)) => {
                if let Some(fleet) = lower_fleet_at(files, &relative, source, &mut diags) {
                    fleets.insert(entry.name.value.clone(), fleet);
                }
            }
            Ok(None) if options.verify_fleets => diags.push(
                ConfigDiagnostic::error(
                    &file,
                    entry.path.span.clone(),
                    format!(
                        "FS-002: fleet `{}` has no {FLEET_FILE} at {:?}",
                        entry.name.value, relative
                    ),
                )
                .with_help("fix `path`, create the file, or pass --no-verify to skip this check"),
            ),
            Ok(None) => {}
            Err(e) => diags.push(ConfigDiagnostic::error(&file, entry.path.span.clone(), e.to_string())),
        }
    }
    check_routes(&mut Ctx::new(&file, &mut diags), &registry, &fleets);
    let (registry, warnings) = finish(Some(registry), diags)?;
    Ok(Workspace {
        registry,
        fleets,
        warnings,
    })
}

/// `{registry dir}/{fleet path}/.fleetflow/fleet.kdl`, with `./` segments dropped.
pub fn fleet_file_path(base: &str, fleet_path: &str) -> String {
    let parts = base
        .split('/')
        .chain(fleet_path.split('/'))
        .filter(|p| !p.is_empty() && *p != ".");
    let mut joined: Vec<&str> = parts.collect();
    joined.push(FLEET_FILE);
    joined.join("/")
}

/// FS-003: routes name known fleets, stages and servers; one server per fleet+stage.
fn check_routes(ctx: &mut Ctx, registry: &Registry, fleets: &BTreeMap<String, FleetConfig>) {
    let fleet_names: Vec<&str> = registry.fleets.iter().map(|f| f.name.value.as_str()).collect();
    let server_names: Vec<&str> = registry.servers.iter().map(|s| s.name.value.as_str()).collect();
    let known_fleets: HashSet<&str> = fleet_names.iter().copied().collect();
    let known_servers: HashSet<&str> = server_names.iter().copied().collect();
    let mut seen: HashMap<(&str, &str), &super::registry::Route> = HashMap::with_capacity(registry.routes.len());
    for route in &registry.routes {
        let (fleet, stage, server) = (&route.fleet, &route.stage, &route.server);
        if !known_fleets.contains(fleet.value.as_str()) {
            unknown(ctx, &fleet.span, "fleet", &fleet.value, &fleet_names);
        } else if let Some(config) = fleets.get(&fleet.value) {
            let stages: Vec<&str> = config.stages.iter().map(|s| s.name.value.as_str()).collect();
            if !stages.contains(&stage.value.as_str()) {
                let mut d = ctx.diag(
                    stage.span.clone(),
                    format!("fleet `{}` defines no stage `{}`", fleet.value, stage.value),
                );
                d = match did_you_mean(&stage.value, stages.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None if stages.is_empty() => {
                        d.with_help(format!("add `stage \"{}\" {{ … }}` to its fleet.kdl", stage.value))
                    }
                    None => d.with_help(format!("its stages are: {}", stages.join(", "))),
                };
                ctx.push(d);
            }
        }
        if !known_servers.contains(server.value.as_str()) {
            unknown(ctx, &server.span, "server", &server.value, &server_names);
        }
        match seen.get(&(fleet.value.as_str(), stage.value.as_str())) {
            Some(first) if first.server.value == server.value => {
                let d = ctx
                    .diag(
                        route.span.clone(),
                        format!(
                            "route {}:{} → {} is given twice",
                            fleet.value, stage.value, server.value
                        ),
                    )
                    .with_related(first.span.clone(), "first given here");
                ctx.push(d);
            }
            Some(first) => {
                let d = ctx
                    .diag(
                        server.span.clone(),
                        format!(
                            "FS-003: {}:{} is already routed to `{}`; a fleet+stage goes to one server",
                            fleet.value, stage.value, first.server.value
                        ),
                    )
                    .with_related(first.span.clone(), "first route")
                    .with_help("remove one route, or deploy to another stage");
                ctx.push(d);
            }
            None => {
                seen.insert((&fleet.value, &stage.value), route);
            }
        }
    }
}

fn unknown(ctx: &mut Ctx, span: &super::source::Span, kind: &str, name: &str, known: &[&str]) {
    let mut d = ctx.diag(span.clone(), format!("route names unknown {kind} `{name}`"));
    d = match did_you_mean(name, known.iter().copied()) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None if known.is_empty() => d.with_help(format!("the registry defines no {kind}s")),
        None => d.with_help(format!("defined {kind}s: {}", known.join(", "))),
    };
    ctx.push(d);
}

/// Splits `dir/file` into the directory the registry's relative paths start from and the file.
pub fn split_path(path: &Path) -> (PathBuf, String) {
    let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (root, name)
}

/// The registry at `path` and every fleet it references, read from the directory it is in.
pub fn load_registry_file(path: &Path, options: LoadOptions) -> Result<Workspace, LoadError> {
    let (root, name) = split_path(path);
    load_workspace(&crate::config::DirFiles { root }, &name, options)
}
