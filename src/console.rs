//! The terminal, for the front doors that write to one (the CLI, the Action's log): colors
//! (NO_COLOR, --color), diagnostics, errors and their exit codes, progress, and the console
//! as a workflow's [`Reporter`].

use std::io::{BufRead, IsTerminal, Write};

use clap::ValueEnum;
use miette::{GraphicalReportHandler, GraphicalTheme};

pub use crate::application::effects::Effects;
use crate::application::report::{Reporter, WorkflowError};
use crate::config::{ConfigDiagnostic, ConfigError, Diagnostics, LoadError};

/// Exit codes scripts can rely on.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The command ran and failed (invalid configuration, failed operation).
    pub const FAILURE: u8 = 1;
    /// Wrong usage: bad arguments, a missing confirmation, nothing to act on.
    pub const USAGE: u8 = 2;
    /// `fleet plan --detailed-exitcode`: the plan changes something (as terraform says it).
    pub const CHANGES: u8 = 2;

    /// OK when `ok`, else FAILURE (a command that said what failed).
    pub fn ok_if(ok: bool) -> u8 {
        if ok { OK } else { FAILURE }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Where and how the CLI writes.
pub struct Console {
    color: bool,
}

impl Console {
    pub fn new(choice: ColorChoice) -> Self {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
            }
        };
        Self { color }
    }

    pub fn color(&self) -> bool {
        self.color
    }

    fn handler(&self) -> GraphicalReportHandler {
        let theme = if self.color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .with_context_lines(1)
    }

    /// A diagnostic as miette draws it: `[file:line:col]`, the source line, a caret, the help.
    pub fn render(&self, diagnostic: &ConfigDiagnostic) -> String {
        let mut out = String::new();
        if self.handler().render_report(&mut out, diagnostic).is_err() {
            out = format!("{diagnostic}\n");
        }
        out
    }

    /// Prints diagnostics to stderr.
    pub fn print_diagnostics(&self, diagnostics: &Diagnostics) {
        let mut err = std::io::stderr().lock();
        for d in &diagnostics.items {
            let _ = write!(err, "{}", self.render(d));
        }
    }

    /// Reports a load failure; returns the exit code.
    pub fn report_load_error(&self, error: &LoadError) -> u8 {
        match error {
            LoadError::Config(ConfigError { diagnostics }) => {
                self.print_diagnostics(diagnostics);
                let n = diagnostics.error_count();
                self.error(&format!(
                    "configuration is invalid: {n} error{}",
                    if n == 1 { "" } else { "s" }
                ));
            }
            other => self.error(&other.to_string()),
        }
        exit::FAILURE
    }

    pub fn error(&self, message: &str) {
        self.labelled("error", "1;31", message);
    }

    pub fn warn(&self, message: &str) {
        self.labelled("warning", "1;33", message);
    }

    /// `label: message` on stderr, the label in `sgr` on a color terminal.
    fn labelled(&self, label: &str, sgr: &str, message: &str) {
        if self.color {
            eprintln!("\x1b[{sgr}m{label}\x1b[0m: {message}");
        } else {
            eprintln!("{label}: {message}");
        }
    }

    /// Writes to stdout in one go (so failures never leave half a success on screen).
    pub fn print(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// One line of a service's build (or other) output, on stderr: `service | line`, the
    /// prefix dimmed on a color terminal outside CI.
    pub fn service_line(&self, service: &str, line: &str) {
        if !self.color || std::env::var_os("CI").is_some() {
            eprintln!("{service} | {line}");
        } else {
            eprintln!("\x1b[2m{service} |\x1b[0m {line}");
        }
    }

    pub fn print_json<T: serde::Serialize + ?Sized>(&self, value: &T) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        self.print(&format!("{text}\n"));
    }
}

/// The console as a workflow's [`Reporter`]: results on stdout, notes on stderr, each server's
/// lines prefixed with `[server]`; a confirmation is asked on a terminal, given by `--yes`, or
/// refused without either.
pub struct ConsoleReporter<'a> {
    pub console: &'a Console,
    /// `--yes`: every confirmation is given.
    pub yes: bool,
}

impl Reporter for ConsoleReporter<'_> {
    fn say(&self, text: &str) {
        self.console.print(text);
    }

    fn note(&self, text: &str) {
        eprintln!("{text}");
    }

    fn remote_line(&self, server: &str, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "[{server}] {line}");
    }

    fn service_line(&self, service: &str, line: &str) {
        self.console.service_line(service, line);
    }

    fn diagnostics(&self, _: &std::path::Path, diagnostics: &Diagnostics) {
        self.console.print_diagnostics(diagnostics);
    }

    fn confirm(&self, question: &str) -> Result<(), WorkflowError> {
        if self.yes {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            return Err(WorkflowError::Unconfirmed {
                question: question.to_owned(),
            });
        }
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if matches!(answer.trim(), "y" | "Y" | "yes") {
            Ok(())
        } else {
            Err(WorkflowError::Cancelled)
        }
    }
}

/// The exit code of a workflow's error: the one place they are mapped.
pub fn exit_code(error: &WorkflowError) -> u8 {
    match error {
        WorkflowError::Usage(_) | WorkflowError::Unconfirmed { .. } => exit::USAGE,
        WorkflowError::Load(_)
        | WorkflowError::BaseInvalid { .. }
        | WorkflowError::Cancelled
        | WorkflowError::Routes { .. }
        | WorkflowError::Failed(_) => exit::FAILURE,
    }
}

impl Console {
    /// The exit code of a command that ran (its own), or shows why it stopped and maps that.
    pub fn exit_with(&self, result: Result<u8, WorkflowError>) -> u8 {
        result.unwrap_or_else(|e| self.finish(Err(e)))
    }

    /// Shows how a workflow ended and returns the exit code.
    pub fn finish(&self, result: Result<(), WorkflowError>) -> u8 {
        match result {
            Ok(()) => exit::OK,
            Err(WorkflowError::Load(e)) => self.report_load_error(&e),
            Err(e) => {
                if let WorkflowError::BaseInvalid { error, .. } = &e {
                    self.report_load_error(error);
                }
                self.error(&e.to_string());
                exit_code(&e)
            }
        }
    }
}

/// Deploy progress on stderr: on a terminal, steps of one service rewrite its line; elsewhere
/// (CI, pipes) each step is a plain line.
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

impl crate::application::deploy::progress::Progress for StderrProgress {
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

/// Tracing logs on stderr: warnings, `-v` info, `-vv` debug; RUST_LOG overrides.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none())
        .try_init();
}

#[cfg(test)]
mod tests;
