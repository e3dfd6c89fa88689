//! Positioned configuration diagnostics, rendered by miette with the source line and a caret.

use std::fmt;
use std::sync::Arc;

use miette::{LabeledSpan, SourceSpan};

use super::source::{Location, SourceFile, Span};

/// Whether a diagnostic stops the configuration from loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in one configuration file, with its position.
#[derive(Debug, Clone)]
pub struct ConfigDiagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    pub label: Option<String>,
    pub help: Option<String>,
    /// Other places in the same file that explain this one (e.g. the first definition).
    pub related: Vec<(Span, String)>,
    pub file: Arc<SourceFile>,
}

impl ConfigDiagnostic {
    pub fn error(file: &Arc<SourceFile>, span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: None,
            help: None,
            related: Vec::new(),
            file: Arc::clone(file),
        }
    }

    pub fn warning(file: &Arc<SourceFile>, span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(file, span, message)
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    pub fn location(&self) -> Location {
        self.file.location(self.span.start)
    }

    /// `file:line:column`, the form editors and CI annotations understand.
    pub fn position(&self) -> String {
        let at = self.location();
        format!("{}:{}:{}", self.file.display_name, at.line, at.column)
    }

    /// Machine-readable form for `--output json`.
    pub fn to_json(&self) -> serde_json::Value {
        let at = self.location();
        serde_json::json!({
            "severity": self.severity,
            "file": self.file.display_name,
            "line": at.line,
            "column": at.column,
            "message": self.message,
            "help": self.help,
        })
    }
}

impl fmt::Display for ConfigDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigDiagnostic {}

impl miette::Diagnostic for ConfigDiagnostic {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary = LabeledSpan::new_primary_with_span(self.label.clone(), to_source_span(&self.span));
        let related = self
            .related
            .iter()
            .map(|(span, label)| LabeledSpan::new_with_span(Some(label.clone()), to_source_span(span)));
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}

impl miette::SourceCode for ConfigDiagnostic {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let text: &'a str = &self.file.text;
        let contents = text.read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.file.display_name.clone(),
            contents.data(),
            *contents.span(),
            contents.line(),
            contents.column(),
            contents.line_count(),
        )))
    }
}

fn to_source_span(span: &Span) -> SourceSpan {
    SourceSpan::new(span.start.into(), span.end.saturating_sub(span.start))
}

/// Every diagnostic found while loading, in file order. Loading fails when any is an error.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<ConfigDiagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: ConfigDiagnostic) {
        self.items.push(diagnostic);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.severity == Severity::Error).count()
    }

    pub fn warnings(&self) -> impl Iterator<Item = &ConfigDiagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Warning)
    }

    /// One line per diagnostic, `file:line:column: message` (a reply or a log line).
    pub fn brief(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|d| format!("{}: {}", d.position(), d.message))
            .collect()
    }

    /// Sorted by file, then position, so output is stable.
    pub fn sorted(mut self) -> Self {
        self.items.sort_by(|a, b| {
            (a.file.display_name.as_str(), a.span.start).cmp(&(b.file.display_name.as_str(), b.span.start))
        });
        self
    }
}

/// Loading failed: the diagnostics say where and why.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub diagnostics: Diagnostics,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.diagnostics.error_count();
        write!(f, "configuration has {n} error{}", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for ConfigError {}
