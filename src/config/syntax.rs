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
    let v1_error = match guarded(|| parse_v1(text)) {
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
    let before = &text[..start.min(text.len())];
    match before.strip_suffix('=') {
        Some(head) => {
            let key_start = head.rfind(|c: char| c.is_whitespace() || c == ';').map_or(0, |i| i + 1);
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

fn nesting_error(span: Span) -> SyntaxError {
    SyntaxError {
        message: format!("nodes are nested deeper than {MAX_NESTING} levels"),
        span,
    }
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// KDL v1 through the `kdl` crate. Its parser recurses, so nesting is measured first and the
/// parse runs on a thread with a generous stack.
/// How long the v1 fallback may take (a 4 MiB file parses in well under a second).
const V1_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

pub fn parse_v1(text: &str) -> Result<Vec<RawNode>, SyntaxError> {
    if let Some(offset) = v1_depth_exceeds(text, MAX_NESTING) {
        return Err(nesting_error(offset..offset + 1));
    }
    // The parse runs on its own thread (deep stack) and is given a deadline: a third-party parser
    // stuck on hostile input must not stall `fleet serve` (the thread is left to finish alone).
    let owned = text.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("kdl-v1".into())
        .stack_size(64 * 1024 * 1024)
        .spawn(move || drop(tx.send(kdl::KdlDocument::parse_v1(&owned))))
        .map_err(|e| SyntaxError {
            message: format!("cannot start the KDL v1 parser: {e}"),
            span: 0..0,
        })?;
    let parsed = rx.recv_timeout(V1_DEADLINE).map_err(|e| SyntaxError {
        message: match e {
            std::sync::mpsc::RecvTimeoutError::Timeout => format!("the KDL v1 parser gave up after {V1_DEADLINE:?}"),
            std::sync::mpsc::RecvTimeoutError::Disconnected => "the KDL v1 parser failed".into(),
        },
        span: 0..0,
    })?;
    match parsed {
        Ok(doc) => Ok(doc.nodes().iter().map(node_from_v1).collect()),
        Err(err) => {
            let first = err.diagnostics.first();
            let span = first.map_or(0..0, |d| {
                let start = char_to_byte(text, d.span.offset());
                start..char_to_byte(text, d.span.offset() + d.span.len()).max(start)
            });
            let message = first
                .and_then(|d| d.message.clone().or_else(|| d.label.clone()))
                .unwrap_or_else(|| "invalid KDL v1".into());
            Err(SyntaxError {
                message: lowercase_first(message.trim_end_matches('.')),
                span,
            })
        }
    }
}

/// The kdl crate documents its error offsets as characters; spans of parsed nodes are bytes.
fn char_to_byte(text: &str, offset: usize) -> usize {
    if text.is_ascii() {
        return offset.min(text.len());
    }
    text.char_indices().nth(offset).map_or(text.len(), |(i, _)| i)
}

fn node_from_v1(node: &kdl::KdlNode) -> RawNode {
    let mut raw = RawNode {
        name: node.name().value().to_string(),
        name_span: span_of(node.name().span()),
        children: node.children().map(|d| d.nodes().iter().map(node_from_v1).collect()),
        ..RawNode::default()
    };
    for entry in node.entries() {
        let span = span_of(entry.span());
        let value = RawValue {
            value: scalar_from_v1(entry.value()),
            span: span.clone(),
        };
        match entry.name() {
            Some(key) => raw.props.push(RawProp {
                key: key.value().to_string(),
                value,
            }),
            None => raw.args.push(value),
        }
    }
    raw
}

fn span_of(span: miette::SourceSpan) -> Span {
    span.offset()..span.offset() + span.len()
}

fn scalar_from_v1(value: &kdl::KdlValue) -> Scalar {
    match value {
        kdl::KdlValue::String(s) => Scalar::String(s.clone()),
        kdl::KdlValue::Integer(i) => i64::try_from(*i).map_or(Scalar::Float(*i as f64), Scalar::Integer),
        kdl::KdlValue::Float(f) => Scalar::Float(*f),
        kdl::KdlValue::Bool(b) => Scalar::Bool(*b),
        kdl::KdlValue::Null => Scalar::Null,
    }
}

/// Brace depth of KDL v1 text outside strings and comments; the byte offset where it first
/// exceeds `limit`, if it does.
fn v1_depth_exceeds(text: &str, limit: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut i, mut depth) = (0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i = skip_string(bytes, i + 1),
            b'r' if matches!(bytes.get(i + 1), Some(b'"' | b'#')) => i = skip_raw_string(bytes, i + 1),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |p| i + p);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i + 2),
            b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(i);
                }
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

fn skip_raw_string(bytes: &[u8], mut i: usize) -> usize {
    let hashes = bytes[i..].iter().take_while(|&&b| b == b'#').count();
    i += hashes;
    if bytes.get(i) != Some(&b'"') {
        return i;
    }
    i += 1;
    while i < bytes.len() {
        if bytes[i] == b'"' && bytes[i + 1..].iter().take(hashes).filter(|&&b| b == b'#').count() == hashes {
            return i + 1 + hashes;
        }
        i += 1;
    }
    bytes.len()
}

fn skip_block_comment(bytes: &[u8], mut i: usize) -> usize {
    let mut level = 1usize;
    while i < bytes.len() && level > 0 {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            level += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            level -= 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    i
}
