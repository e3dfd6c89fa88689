//! The docker command lines fleetflow runs, built from typed requests. Pure, so tests can
//! pin exactly what runs (e.g. the buildx call GitHub runners get).

use std::path::Path;
use std::time::Duration;

use super::{BuildRequest, Builder, ContainerSpec};
use crate::config::service::{Healthcheck, Protocol, RestartPolicy};

/// `docker create …` for a spec. Environment values go through `env_file` (never argv, where
/// `ps` and `-v` logs would show them).
pub fn create(spec: &ContainerSpec, env_file: Option<&Path>) -> Vec<String> {
    let mut a: Vec<String> = vec!["create".into(), "--name".into(), spec.name.clone()];
    a.extend([
        "--network".into(),
        spec.network.clone(),
        "--network-alias".into(),
        spec.alias.clone(),
    ]);
    for (k, v) in &spec.labels {
        a.extend(["--label".into(), format!("{k}={v}")]);
    }
    if let Some(file) = env_file {
        a.extend(["--env-file".into(), file.display().to_string()]);
    }
    for p in &spec.ports {
        let proto = match p.protocol {
            Protocol::Tcp => "",
            Protocol::Udp => "/udp",
        };
        let ip = p.host_ip.as_deref().map(|ip| format!("{ip}:")).unwrap_or_default();
        a.extend(["--publish".into(), format!("{ip}{}:{}{proto}", p.host, p.container)]);
    }
    for v in &spec.volumes {
        a.extend(["--volume".into(), v.clone()]);
    }
    if let Some(policy) = spec.restart {
        a.extend(["--restart".into(), restart_name(policy).into()]);
    }
    if let Some(h) = &spec.healthcheck {
        a.extend(healthcheck(h));
    }
    a.push(spec.image.clone());
    if let Some(cmd) = &spec.command {
        a.extend(cmd.iter().cloned());
    }
    a
}

fn restart_name(policy: RestartPolicy) -> &'static str {
    match policy {
        RestartPolicy::No => "no",
        RestartPolicy::Always => "always",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::UnlessStopped => "unless-stopped",
    }
}

fn duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// The CLI only takes a shell string: argv is quoted word by word (`CMD-SHELL s` passes `s`).
fn healthcheck(h: &Healthcheck) -> Vec<String> {
    let cmd = match h.test.as_slice() {
        [first] if first == "NONE" => return vec!["--no-healthcheck".into()],
        [first, shell] if first == "CMD-SHELL" => shell.clone(),
        [first, rest @ ..] if first == "CMD" => shell_words(rest),
        all => shell_words(all),
    };
    let mut a = vec!["--health-cmd".into(), cmd];
    let pairs = [
        ("--health-interval", h.interval),
        ("--health-timeout", h.timeout),
        ("--health-start-period", h.start_period),
    ];
    for (flag, value) in pairs {
        if let Some(d) = value {
            a.extend([flag.into(), duration(d)]);
        }
    }
    if let Some(r) = h.retries {
        a.extend(["--health-retries".into(), r.to_string()]);
    }
    a
}

/// POSIX shell quoting of each word (single quotes; `'` becomes `'\''`).
pub fn shell_words(words: &[String]) -> String {
    words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ")
}

pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+%".contains(&b))
    {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// `docker buildx build …` or `docker build …` for a request.
pub fn build(builder: Builder, r: &BuildRequest) -> Vec<String> {
    let mut a: Vec<String> = match builder {
        Builder::Buildx => vec!["buildx".into(), "build".into()],
        // A failed step's container stays behind without --force-rm.
        Builder::Classic => vec!["build".into(), "--force-rm".into()],
    };
    if let Some(p) = &r.platform {
        a.extend(["--platform".into(), p.clone()]);
    }
    if let Some(f) = &r.dockerfile {
        a.extend(["--file".into(), f.display().to_string()]);
    }
    if let Some(t) = &r.target {
        a.extend(["--target".into(), t.clone()]);
    }
    for (k, v) in &r.args {
        a.extend(["--build-arg".into(), format!("{k}={v}")]);
    }
    for (k, v) in &r.labels {
        a.extend(["--label".into(), format!("{k}={v}")]);
    }
    for t in &r.tags {
        a.extend(["--tag".into(), t.clone()]);
    }
    if r.no_cache {
        a.push("--no-cache".into());
    }
    if builder == Builder::Buildx {
        // Push from the builder (no round trip through the local image store); keep a local copy
        // otherwise. Single-platform provenance attestations make ghcr.io show "unknown/unknown".
        a.push(if r.push { "--push".into() } else { "--load".into() });
        a.push("--provenance=false".into());
        if let Some(file) = &r.metadata_file {
            a.extend(["--metadata-file".into(), file.display().to_string()]);
        }
    }
    a.push(r.context.display().to_string());
    a
}
