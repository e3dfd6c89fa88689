//! The containerized GitHub Action (`fleet action`, issue 8): what the runner hands a Docker
//! action (INPUT_* variables, the event file, GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files) and
//! what it expects back (multiline outputs, `::error` annotations).

use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::Path;

use crate::config::ConfigDiagnostic;
use crate::config::diagnostic::Severity;

/// An action input as the runner passes it: `INPUT_` + the name uppercased, hyphens kept
/// (`dry-run` → `INPUT_DRY-RUN`); empty or unset → `None`.
pub fn input(name: &str) -> Option<String> {
    input_from(name, |k| std::env::var(k).ok())
}

/// [`input`] over any variable source.
pub fn input_from(name: &str, get: impl Fn(&str) -> Option<String>) -> Option<String> {
    let key = format!("INPUT_{}", name.replace(' ', "_").to_uppercase());
    get(&key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A boolean input (`true`/`false`, as YAML writes them); unset → `default`.
pub fn flag(value: Option<&str>, default: bool) -> Result<bool, String> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true" | "yes" | "1" | "on") => Ok(true),
        Some("false" | "no" | "0" | "off") => Ok(false),
        Some(other) => Err(format!("expected true or false, got {other:?}")),
    }
}

/// A random-looking hex string (std's per-process random hash keys, plus the time).
fn random_hex() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// One output in the runner's multiline form: `name<<DELIM\nvalue\nDELIM\n`, with a random
/// delimiter that occurs nowhere in the value.
pub fn output_entry(name: &str, value: &str) -> String {
    let delimiter = loop {
        let d = format!("ghadelimiter_{}", random_hex());
        if !value.contains(&d) {
            break d;
        }
    };
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
}

/// Parses a GITHUB_OUTPUT file (both `name=value` and `name<<DELIM` entries), in order.
pub fn parse_outputs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            loop {
                match lines.next() {
                    Some(l) if l == delimiter => break,
                    Some(l) => value.push(l),
                    None => return Err(format!("output {name}: delimiter {delimiter} never closes")),
                }
            }
            out.push((name.to_owned(), value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            out.push((name.to_owned(), value.to_owned()));
        } else {
            return Err(format!("not an output line: {line:?}"));
        }
    }
    Ok(out)
}

/// Appends to a file the runner named (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY).
pub fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(text.as_bytes())
}

/// Workflow-command escaping of a message (`%`, CR, LF).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Workflow-command escaping of a property value (also `:` and `,`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `::error file=…,line=…,col=…::message` for a configuration diagnostic, its file relative to
/// the workspace so GitHub can place it: `registry_dir` is the registry's directory (relative
/// names are read from it), `workspace` the checkout (canonical paths).
pub fn annotation(d: &ConfigDiagnostic, registry_dir: &Path, workspace: &Path) -> String {
    let at = d.location();
    let level = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let path = registry_dir.join(&d.file.display_name);
    let file = path
        .strip_prefix(workspace)
        .map_or_else(|_| d.file.display_name.clone(), |p| p.to_string_lossy().into_owned());
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    format!(
        "::{level} file={},line={},col={}::{}",
        escape_property(&file),
        at.line,
        at.column,
        escape_data(&message)
    )
}

#[cfg(test)]
mod tests;
