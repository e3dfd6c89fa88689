//! What the GitHub runner expects back from a Docker action: outputs in GITHUB_OUTPUT's
//! multiline form, the step summary, and workflow commands (`::error` annotations).

use std::io::Write;
use std::path::Path;

use crate::config::ConfigDiagnostic;
use crate::config::diagnostic::Severity;

/// One output in the runner's multiline form: `name<<DELIM\nvalue\nDELIM\n`, with a random
/// delimiter that occurs nowhere in the value.
pub fn output_entry(name: &str, value: &str) -> String {
    let delimiter = loop {
        let d = format!("ghadelimiter_{}", crate::clock::random_hex());
        if !value.contains(&d) {
            break d;
        }
    };
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
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
    let file = (registry_dir.join(&d.file.display_name).strip_prefix(workspace))
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
