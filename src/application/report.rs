//! How a workflow talks to whoever started it: a [`Reporter`] for what happens as it happens,
//! a [`WorkflowError`] for why it stopped. Each front door implements the one and maps the
//! other (the console: stdout, stderr and exit codes; the Action: the step summary and
//! workflow commands; the App: the PR comment and check run).

use std::path::Path;

use crate::config::{Diagnostics, LoadError};

/// What a workflow tells its front door while it runs.
pub trait Reporter: Sync {
    /// Part of the result, for the user to read: a plan, `Server web-1: powered on`.
    fn say(&self, text: &str);
    /// Something the user should know that does not stop the workflow (drift, a provider
    /// this build lacks, a best-effort step that failed).
    fn note(&self, text: &str);
    /// One line of a command's output on `server`, as it arrives.
    fn remote_line(&self, server: &str, line: &str);
    /// One line of a service's build (or other) output, as it arrives.
    fn service_line(&self, service: &str, line: &str) {
        self.note(&format!("{service} | {line}"));
    }
    /// Warnings (or errors) about configuration files, named relative to `registry_dir`.
    fn diagnostics(&self, registry_dir: &Path, diagnostics: &Diagnostics);
    /// Whether to go on with `question` (a change to real infrastructure); the front door asks
    /// a person, or answers from a flag, or refuses with [`WorkflowError::Unconfirmed`].
    fn confirm(&self, question: &str) -> Result<(), WorkflowError>;
}

/// Why a workflow stopped; each front door turns it into its own words and codes, in one
/// place (for the console: `console::exit_code`).
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The request cannot be carried out as given: a bad argument, nothing to act on.
    #[error("{0}")]
    Usage(String),
    /// The configuration could not be loaded (its diagnostics say why).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The configuration at the base revision of a plan could not be loaded.
    #[error("the base configuration at {label} is invalid; pick another with --base REF")]
    BaseInvalid { label: String, error: LoadError },
    /// A change needed a confirmation nobody could give.
    #[error("{question} — refusing without confirmation: no terminal to ask on. Add --yes to proceed")]
    Unconfirmed { question: String },
    /// The user said no.
    #[error("cancelled; nothing was changed")]
    Cancelled,
    /// Some of the routes failed; each has been reported with its own error.
    #[error("{failed} of {total} route(s) failed")]
    Routes { failed: usize, total: usize },
    /// The workflow ran and failed.
    #[error("{0}")]
    Failed(String),
}

impl WorkflowError {
    /// A failure with `message`.
    pub fn failed(message: impl std::fmt::Display) -> Self {
        Self::Failed(message.to_string())
    }

    /// A failure that says `error` and its causes, each once ([`said_once`]), after `context`
    /// when there is one.
    pub fn failed_with(context: &str, error: &dyn std::error::Error) -> Self {
        let line = said_once(error);
        Self::Failed(if context.is_empty() {
            line
        } else {
            format!("{context}: {line}")
        })
    }
}

/// An error and its causes on one line, each said once: a cause whose words the line already
/// holds (an error that puts its source in its own message) is left out.
pub fn said_once(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

/// Records what a workflow reports (tests, and callers that report elsewhere).
#[derive(Debug, Default)]
pub struct RecordingReporter {
    pub lines: std::sync::Mutex<Vec<String>>,
    /// The answer to every confirmation.
    pub confirm: bool,
}

impl RecordingReporter {
    fn push(&self, line: String) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }

    /// Everything reported so far, one entry per call.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Reporter for RecordingReporter {
    fn say(&self, text: &str) {
        self.push(format!("say: {text}"));
    }
    fn note(&self, text: &str) {
        self.push(format!("note: {text}"));
    }
    fn remote_line(&self, server: &str, line: &str) {
        self.push(format!("[{server}] {line}"));
    }
    fn diagnostics(&self, _: &Path, diagnostics: &Diagnostics) {
        for d in &diagnostics.items {
            self.push(format!("diagnostic: {}", d.message));
        }
    }
    fn confirm(&self, question: &str) -> Result<(), WorkflowError> {
        self.push(format!("confirm: {question}"));
        if self.confirm {
            Ok(())
        } else {
            Err(WorkflowError::Cancelled)
        }
    }
}

#[cfg(test)]
mod tests;
