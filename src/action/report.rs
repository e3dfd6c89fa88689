//! The Action's [`Reporter`]: the job log as the console writes it, configuration diagnostics
//! as `::error`/`::warning` annotations placed on their files, and no questions (the
//! workflow's trigger is the confirmation).

use std::path::{Path, PathBuf};

use super::runner::annotation;
use crate::application::report::{Reporter, WorkflowError};
use crate::config::Diagnostics;
use crate::console::{Console, ConsoleReporter};

pub struct ActionReporter<'a> {
    log: ConsoleReporter<'a>,
    /// The checkout (canonical): annotations name files relative to it.
    workspace: PathBuf,
}

impl<'a> ActionReporter<'a> {
    pub fn new(console: &'a Console, workspace: &Path) -> Self {
        Self {
            log: ConsoleReporter { console, yes: true },
            workspace: std::fs::canonicalize(workspace).unwrap_or_else(|_| workspace.to_path_buf()),
        }
    }
}

impl Reporter for ActionReporter<'_> {
    fn say(&self, text: &str) {
        self.log.say(text);
    }

    fn note(&self, text: &str) {
        self.log.note(text);
    }

    fn remote_line(&self, server: &str, line: &str) {
        self.log.remote_line(server, line);
    }

    fn service_line(&self, service: &str, line: &str) {
        self.log.service_line(service, line);
    }

    fn diagnostics(&self, registry_dir: &Path, diagnostics: &Diagnostics) {
        let lines: String = (diagnostics.items.iter())
            .map(|d| annotation(d, registry_dir, &self.workspace) + "\n")
            .collect();
        self.log.console.print(&lines);
    }

    fn confirm(&self, question: &str) -> Result<(), WorkflowError> {
        self.log.confirm(question)
    }
}
