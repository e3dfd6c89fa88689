//! Helpers for stage 2 (raw nodes → typed model): typed reads that record a positioned
//! diagnostic instead of failing, so one pass reports every problem.

use std::sync::Arc;

use super::diagnostic::{ConfigDiagnostic, Diagnostics};
use super::source::{SourceFile, Span};
use super::syntax::{RawNode, RawValue, Scalar};

/// A value and where it was written. Serializes as the bare value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

impl<T: serde::Serialize> serde::Serialize for Spanned<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// The name rule for fleets, stages, servers and services: they become container names,
/// directory names and remote shell arguments.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

/// The closest candidate within a small edit distance, for "did you mean".
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = word.chars().count().div_ceil(3);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of
/// neighbours (`wbe` → `web`) each count one.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            d[i * width + j] = if i == 0 || j == 0 {
                i + j
            } else {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (d[(i - 1) * width + j] + 1)
                    .min(d[i * width + j - 1] + 1)
                    .min(d[(i - 1) * width + j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[(i - 2) * width + j - 2] + 1);
                }
                best
            };
        }
    }
    d[a.len() * width + b.len()]
}

/// Lowering context for one file: collects diagnostics.
pub struct Ctx<'a> {
    pub file: &'a Arc<SourceFile>,
    pub diags: &'a mut Diagnostics,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a Arc<SourceFile>, diags: &'a mut Diagnostics) -> Self {
        Self { file, diags }
    }

    /// An empty file is valid KDL but never a useful configuration.
    pub fn reject_empty(&mut self, what: &str, example: &str) -> bool {
        if !self.file.text.trim().is_empty() {
            return false;
        }
        let d = self
            .diag(0..0, "the file is empty")
            .with_help(format!("{what} starts with `{example}`"));
        self.push(d);
        true
    }

    pub fn diag(&self, span: Span, message: impl Into<String>) -> ConfigDiagnostic {
        ConfigDiagnostic::error(self.file, span, message)
    }

    /// [`Ctx::diag`] for what validates but deserves a word.
    pub fn warning(&self, span: Span, message: impl Into<String>) -> ConfigDiagnostic {
        ConfigDiagnostic::warning(self.file, span, message)
    }

    pub fn error(&mut self, span: Span, message: impl Into<String>) {
        let d = self.diag(span, message);
        self.diags.push(d);
    }

    pub fn push(&mut self, diagnostic: ConfigDiagnostic) {
        self.diags.push(diagnostic);
    }

    /// An unknown node inside `context`, with a suggestion from `known`.
    pub fn unknown_node(&mut self, node: &RawNode, context: &str, known: &[&str]) {
        let mut d = self
            .diag(
                node.name_span.clone(),
                format!("unknown node `{}` in {context}", node.name),
            )
            .with_label("not recognised here");
        d = match did_you_mean(&node.name, known.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!("expected one of: {}", known.join(", "))),
        };
        self.push(d);
    }

    /// The span of `key` in `key=value`, when written bare; else the value's span.
    pub fn key_span(&self, key: &str, value: &Span) -> Span {
        let Some(before) = self.file.text.get(..value.start) else {
            return value.clone();
        };
        match before.strip_suffix('=').and_then(|b| b.strip_suffix(key)) {
            Some(head) => head.len()..head.len() + key.len(),
            None => value.clone(),
        }
    }

    /// Reports properties not in `known` and properties given twice.
    pub fn check_props(&mut self, node: &RawNode, known: &[&str]) {
        for (i, prop) in node.props.iter().enumerate() {
            if !known.contains(&prop.key.as_str()) {
                let mut d = self.diag(
                    self.key_span(&prop.key, &prop.value.span),
                    format!("unknown property `{}` on `{}`", prop.key, node.name),
                );
                d = match did_you_mean(&prop.key, known.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None if known.is_empty() => d.with_help(format!("`{}` takes no properties", node.name)),
                    None => d.with_help(format!("`{}` accepts: {}", node.name, known.join(", "))),
                };
                self.push(d);
            } else if node.props[..i].iter().any(|p| p.key == prop.key) {
                self.error(
                    prop.value.span.clone(),
                    format!("property `{}` is given twice", prop.key),
                );
            }
        }
    }

    pub fn no_children(&mut self, node: &RawNode) {
        if node.children.is_some() {
            self.error(
                node.name_span.clone(),
                format!("`{}` takes no children block", node.name),
            );
        }
    }

    pub fn no_args(&mut self, node: &RawNode) {
        if let Some(extra) = node.args.first() {
            self.error(extra.span.clone(), format!("`{}` takes no arguments", node.name));
        }
    }

    /// A block such as `providers { … }`: children only.
    pub fn leaf_block(&mut self, node: &RawNode) {
        self.check_props(node, &[]);
        self.no_args(node);
    }

    /// A leaf node: only what `check_props` allows, no children.
    pub fn leaf(&mut self, node: &RawNode, props: &[&str]) {
        self.check_props(node, props);
        self.no_children(node);
    }

    fn wrong_type(&mut self, value: &RawValue, what: &str, expected: &str) {
        self.error(
            value.span.clone(),
            format!("{what} must be {expected}, found {}", value.value.type_name()),
        );
    }

    pub fn string(&mut self, value: &RawValue, what: &str) -> Option<Spanned<String>> {
        match &value.value {
            Scalar::String(s) => Some(Spanned::new(s.clone(), value.span.clone())),
            _ => {
                self.wrong_type(value, what, "a string");
                None
            }
        }
    }

    pub fn integer(&mut self, value: &RawValue, what: &str, min: i64, max: i64) -> Option<i64> {
        match value.value {
            Scalar::Integer(i) if (min..=max).contains(&i) => Some(i),
            Scalar::Integer(i) => {
                self.error(
                    value.span.clone(),
                    format!("{what} must be between {min} and {max}, found {i}"),
                );
                None
            }
            _ => {
                self.wrong_type(value, what, "an integer");
                None
            }
        }
    }

    pub fn boolean(&mut self, value: &RawValue, what: &str) -> Option<bool> {
        match value.value {
            Scalar::Bool(b) => Some(b),
            _ => {
                self.wrong_type(value, what, "a boolean (#true or #false)");
                None
            }
        }
    }

    /// Exactly one positional argument, present.
    pub fn one_arg<'n>(&mut self, node: &'n RawNode, expected: &str) -> Option<&'n RawValue> {
        match node.args.as_slice() {
            [one] => Some(one),
            [] => {
                self.push(
                    self.diag(node.name_span.clone(), format!("`{}` needs a value", node.name))
                        .with_help(format!("write `{} {expected}`", node.name)),
                );
                None
            }
            [_, extra, ..] => {
                self.error(extra.span.clone(), format!("`{}` takes one value", node.name));
                None
            }
        }
    }

    pub fn one_string(&mut self, node: &RawNode) -> Option<Spanned<String>> {
        let what = format!("`{}`", node.name);
        self.one_arg(node, "\"…\"").and_then(|v| self.string(v, &what))
    }

    pub fn one_integer(&mut self, node: &RawNode, min: i64, max: i64) -> Option<i64> {
        let what = format!("`{}`", node.name);
        self.one_arg(node, "<number>")
            .and_then(|v| self.integer(v, &what, min, max))
    }

    pub fn one_bool(&mut self, node: &RawNode) -> Option<bool> {
        let what = format!("`{}`", node.name);
        self.one_arg(node, "#true").and_then(|v| self.boolean(v, &what))
    }

    /// One or more string arguments.
    pub fn strings(&mut self, node: &RawNode) -> Vec<Spanned<String>> {
        if node.args.is_empty() {
            self.error(
                node.name_span.clone(),
                format!("`{}` needs at least one value", node.name),
            );
        }
        let what = format!("values of `{}`", node.name);
        node.args.iter().filter_map(|v| self.string(v, &what)).collect()
    }

    /// The name argument of a definition such as `service "api"`, checked against the name rule.
    pub fn name_arg(&mut self, node: &RawNode, kind: &str) -> Option<Spanned<String>> {
        let name = self.one_string(node)?;
        self.check_name(kind, &name);
        Some(name)
    }

    pub fn check_name(&mut self, kind: &str, name: &Spanned<String>) -> bool {
        if is_valid_name(&name.value) {
            return true;
        }
        self.push(
            self.diag(name.span.clone(), format!("invalid {kind} name {:?}", name.value))
                .with_help(
                    "names use lowercase letters, digits, `.`, `_` and `-`, start with a letter or digit, \
                     and are at most 63 characters (they become container names, paths and shell arguments)",
                ),
        );
        false
    }

    pub fn prop_string(&mut self, node: &RawNode, key: &str) -> Option<Spanned<String>> {
        let value = node.prop(key)?;
        self.string(value, &format!("`{key}`"))
    }

    pub fn required_prop_string(&mut self, node: &RawNode, key: &str) -> Option<Spanned<String>> {
        if node.prop(key).is_none() {
            self.push(
                self.diag(node.name_span.clone(), format!("`{}` is missing `{key}=`", node.name))
                    .with_help(format!("add {key}=\"…\"")),
            );
            return None;
        }
        self.prop_string(node, key)
    }

    pub fn prop_integer(&mut self, node: &RawNode, key: &str, min: i64, max: i64) -> Option<i64> {
        let value = node.prop(key)?;
        self.integer(value, &format!("`{key}`"), min, max)
    }

    pub fn prop_bool(&mut self, node: &RawNode, key: &str) -> Option<bool> {
        let value = node.prop(key)?;
        self.boolean(value, &format!("`{key}`"))
    }

    /// Stores a singleton field, reporting a second definition.
    pub fn set_once<T>(&mut self, slot: &mut Option<(T, Span)>, node: &RawNode, value: Option<T>) {
        let Some(value) = value else { return };
        if let Some((_, first)) = slot {
            let d = self
                .diag(node.name_span.clone(), format!("`{}` is given twice", node.name))
                .with_related(first.clone(), "first given here");
            self.push(d);
        } else {
            *slot = Some((value, node.name_span.clone()));
        }
    }
}

/// Unwraps a `set_once` slot.
pub fn take<T>(slot: Option<(T, Span)>) -> Option<T> {
    slot.map(|(v, _)| v)
}
