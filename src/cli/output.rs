//! Terminal output: colors (NO_COLOR, --color), diagnostics rendering, errors.

use std::io::{IsTerminal, Write};

use clap::ValueEnum;
use miette::{GraphicalReportHandler, GraphicalTheme};

use crate::config::{ConfigDiagnostic, ConfigError, Diagnostics, LoadError};

pub use super::Output as OutputFormat;

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
        super::exit::FAILURE
    }

    pub fn error(&self, message: &str) {
        let prefix = if self.color { "\x1b[1;31merror\x1b[0m" } else { "error" };
        eprintln!("{prefix}: {message}");
    }

    /// Writes to stdout in one go (so failures never leave half a success on screen).
    pub fn print(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    pub fn print_json<T: serde::Serialize + ?Sized>(&self, value: &T) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        self.print(&format!("{text}\n"));
    }
}
