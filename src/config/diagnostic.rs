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
            message: clip_quoted(&message.into()),
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
        self.help = Some(clip_quoted(&help.into()));
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

/// Lines longer than this (in bytes) are shown as a window around the label, not whole: a
/// generated or hostile file can put an error tens of thousands of columns into one line, and
/// miette's renderer panics on columns past 65,535.
pub const LONGEST_SHOWN_LINE: usize = 240;
/// Bytes kept on each side of a label in a clipped line.
const CLIP_MARGIN: usize = 60;

impl miette::SourceCode for ConfigDiagnostic {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let text: &'a str = &self.file.text;
        let contents = text.read_span(span, context_lines_before, context_lines_after)?;
        let data = contents.data();
        if data.split(|&b| b == b'\n').all(|line| line.len() <= LONGEST_SHOWN_LINE) {
            return Ok(Box::new(miette::MietteSpanContents::new_named(
                self.file.display_name.clone(),
                data,
                *contents.span(),
                contents.line(),
                contents.column(),
                contents.line_count(),
            )));
        }
        // One line, clipped around the span. Without context lines miette asks for the header's
        // `line:column`, so the window then starts at the span itself.
        let start = floor_char(text, span.offset());
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let from = if context_lines_before == 0 && context_lines_after == 0 {
            start
        } else {
            floor_char(text, start.saturating_sub(CLIP_MARGIN).max(line_start))
        };
        let to = floor_char(
            text,
            (start + span.len())
                .min(line_end)
                .saturating_add(CLIP_MARGIN)
                .min(line_end),
        );
        let to = floor_char(text, to.min(from + LONGEST_SHOWN_LINE)).max(from);
        let column = text[line_start..from].chars().count();
        let line = self.file.location(start).line.saturating_sub(1);
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.file.display_name.clone(),
            &text.as_bytes()[from..to],
            SourceSpan::new(from.into(), to - from),
            line,
            column,
            1,
        )))
    }
}

/// Characters of a quoted value kept in a message; a longer one is cut with `…`. Messages quote
/// what the file says, and a file may say a 40,000-character name.
const LONGEST_QUOTED: usize = 80;

/// `message` with every `` `quoted` `` or `"quoted"` run longer than [`LONGEST_QUOTED`]
/// characters cut short.
fn clip_quoted(message: &str) -> String {
    if message.chars().count() <= 2 * LONGEST_QUOTED {
        return message.to_owned();
    }
    let mut out = String::with_capacity(4 * LONGEST_QUOTED);
    let (mut quote, mut run) = (None::<char>, 0usize);
    for c in message.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                out.push(c);
            }
            Some(_) => {
                run += 1;
                if run <= LONGEST_QUOTED {
                    out.push(c);
                } else if run == LONGEST_QUOTED + 1 {
                    out.push('…');
                }
            }
            None => {
                if c == '`' || c == '"' {
                    quote = Some(c);
                    run = 0;
                }
                out.push(c);
            }
        }
    }
    out
}

/// The nearest char boundary at or before `i`.
fn floor_char(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
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
