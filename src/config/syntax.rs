//! Stage 1: KDL text → a raw tree of nodes with byte spans.
//!
//! KDL v2 is read with our own zero-copy parser ([`super::kdl_v2`]: byte spans, no recursion,
//! linear time); when that fails, KDL v1 is tried with the `kdl` crate, because the specs'
//! examples still write `proxied true`. See README "Why two KDL parsers".

use std::sync::Arc;

use super::diagnostic::ConfigDiagnostic;
use super::source::{SourceFile, Span};

/// Configuration is never deeper than this; deeper input is refused before any recursion.
pub const MAX_NESTING: usize = 32;

/// Which KDL dialect a file was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum KdlVersion {
    V2,
    V1,
}

/// A scalar KDL value.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl Scalar {
    /// Name of the KDL type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Scalar::String(_) => "a string",
            Scalar::Integer(_) => "an integer",
            Scalar::Float(_) => "a number",
            Scalar::Bool(_) => "a boolean",
            Scalar::Null => "null",
        }
    }
}

/// A value with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct RawValue {
    pub value: Scalar,
    pub span: Span,
}

/// A `key=value` property.
#[derive(Debug, Clone, PartialEq)]
pub struct RawProp {
    pub key: String,
    pub value: RawValue,
}

/// A node: name, positional arguments, properties (in order), children.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawNode {
    pub name: String,
    pub name_span: Span,
    pub args: Vec<RawValue>,
    pub props: Vec<RawProp>,
    pub children: Option<Vec<RawNode>>,
}

impl RawNode {
    pub fn children(&self) -> &[RawNode] {
        self.children.as_deref().unwrap_or(&[])
    }

    pub fn prop(&self, key: &str) -> Option<&RawValue> {
        self.props.iter().rev().find(|p| p.key == key).map(|p| &p.value)
    }
}

/// A parsed file.
#[derive(Debug, Clone)]
pub struct RawDocument {
    pub nodes: Vec<RawNode>,
    pub version: KdlVersion,
}

/// Parses KDL v2, falling back to v1. On failure, the error of the parser that read further
/// (the dialect the author most likely meant) is reported, with a hint about the other.
pub fn parse_document(file: &Arc<SourceFile>) -> Result<RawDocument, Box<ConfigDiagnostic>> {
    let text: &str = &file.text;
    let v2_error = match guarded(|| super::kdl_v2::parse(text)) {
        Ok(nodes) => {
            return Ok(RawDocument {
                nodes,
                version: KdlVersion::V2,
            });
        }
        Err(e) => e,
    };
    let v1_error = match guarded(|| super::kdl_v1::parse(text)) {
        Ok(nodes) => {
            return Ok(RawDocument {
                nodes,
                version: KdlVersion::V1,
            });
        }
        Err(e) => e,
    };
    Err(Box::new(choose_error(file, v2_error, v1_error)))
}

fn text_of(file: &SourceFile) -> &str {
    &file.text
}

/// `key=value` around a value at `start`, or just the value.
fn entry_text(text: &str, start: usize, value: &str) -> String {
    let Some(before) = text.get(..start.min(text.len())) else {
        return value.to_owned();
    };
    match before.strip_suffix('=') {
        Some(head) => {
            // After the separator, which may be any Unicode space (U+3000 is three bytes).
            let key_start = head
                .char_indices()
                .rfind(|&(_, c)| c.is_whitespace() || c == ';')
                .map_or(0, |(i, c)| i + c.len_utf8());
            format!("{}={value}", &head[key_start..])
        }
        None => value.to_owned(),
    }
}

/// Runs a third-party parser so that a bug in it becomes a diagnostic, not a crash of
/// `fleet serve` on a file from a pull request.
fn guarded(parse: impl FnOnce() -> Result<Vec<RawNode>, SyntaxError>) -> Result<Vec<RawNode>, SyntaxError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).unwrap_or_else(|_| {
        Err(SyntaxError {
            message: "the KDL parser failed on this input (a parser bug)".into(),
            span: 0..0,
        })
    })
}

/// A syntax error from one parser.
#[derive(Debug)]
pub struct SyntaxError {
    pub message: String,
    pub span: Span,
}

fn choose_error(file: &Arc<SourceFile>, v2: SyntaxError, v1: SyntaxError) -> ConfigDiagnostic {
    let v1_at = file.location(v1.span.start);
    // KDL v2 is the primary dialect: its error is reported; the v1 attempt is mentioned.
    let keyword = file.slice(&v2.span).trim();
    let token = entry_text(text_of(file), v2.span.start, keyword);
    let help = match keyword {
        "true" | "false" | "null" => format!(
            "KDL v2 writes `{keyword}` as `#{keyword}`: write `{}`. (Read as KDL v1 instead, the file \
             fails at line {}, column {}: {})",
            token.replacen(keyword, &format!("#{keyword}"), 1),
            v1_at.line,
            v1_at.column,
            v1.message
        ),
        _ => format!(
            "the file is not valid KDL v2, nor KDL v1 (as v1 it fails at line {}, column {}: {})",
            v1_at.line, v1_at.column, v1.message
        ),
    };
    ConfigDiagnostic::error(file, v2.span, format!("invalid KDL: {}", v2.message))
        .with_label("here")
        .with_help(help)
}

pub(super) fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
