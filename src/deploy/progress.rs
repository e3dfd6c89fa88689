//! Deploy progress: one line per service step. On a terminal, steps of one service rewrite
//! its line; elsewhere (CI, pipes) each step is a plain line.

use std::io::{IsTerminal, Write};

pub trait Progress {
    fn service(&mut self, service: &str, step: &str);
}

/// Writes progress to stderr.
pub struct StderrProgress {
    terminal: bool,
    last: Option<String>,
}

impl StderrProgress {
    pub fn new() -> Self {
        let ci = std::env::var_os("CI").is_some();
        Self {
            terminal: std::io::stderr().is_terminal() && !ci,
            last: None,
        }
    }
}

impl Default for StderrProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for StderrProgress {
    fn service(&mut self, service: &str, step: &str) {
        let mut err = std::io::stderr().lock();
        if self.terminal && self.last.as_deref() == Some(service) {
            let _ = write!(err, "\r\x1b[2K  {service:<16} {step}");
        } else {
            if self.terminal && self.last.is_some() {
                let _ = writeln!(err);
            }
            let _ = if self.terminal {
                write!(err, "  {service:<16} {step}")
            } else {
                writeln!(err, "{service}: {step}")
            };
        }
        let _ = err.flush();
        self.last = Some(service.to_owned());
    }
}

impl Drop for StderrProgress {
    fn drop(&mut self) {
        if self.terminal && self.last.is_some() {
            eprintln!();
        }
    }
}

/// Records steps (tests, and callers that report elsewhere such as a PR comment).
#[derive(Debug, Default)]
pub struct RecordedProgress {
    pub steps: Vec<(String, String)>,
}

impl Progress for RecordedProgress {
    fn service(&mut self, service: &str, step: &str) {
        self.steps.push((service.to_owned(), step.to_owned()));
    }
}
