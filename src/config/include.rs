//! FleetFlow's `include "path-or-glob"` in a fleet's `fleet.kdl`: the named files (relative to
//! it, inside its `.fleetflow/`; `*` and `?` in the last part) are read through the same
//! [`ConfigFiles`] and lowered with the file as one document, so a stage names services an
//! included file defines. Each diagnostic still points into the file it is about.

use std::sync::Arc;

use super::diagnostic::{ConfigDiagnostic, Diagnostics};
use super::load::ConfigFiles;
use super::source::{SourceFile, Span};
use super::syntax::{RawDocument, RawNode, Scalar, parse_document};

/// Files one fleet may include (a glob that matches more is refused).
const MAX_INCLUDED: usize = 64;

/// An included file and where its text starts in the combined document.
struct Part {
    file: Arc<SourceFile>,
    offset: usize,
    /// As the files name it.
    path: String,
}

/// `main` (at `relative`, as `files` names it) with the files its top-level `include` nodes
/// name: one document over one combined text, and the parts to give diagnostics back to.
pub struct Combined {
    pub file: Arc<SourceFile>,
    pub doc: RawDocument,
    parts: Vec<Part>,
}

impl Combined {
    /// The included files, as the files name them.
    pub fn included(&self) -> Vec<String> {
        self.parts.iter().map(|p| p.path.clone()).collect()
    }

    /// Moves `found` (about the combined text) into `diags`, each about the file its span is in.
    pub fn give_back(&self, found: Diagnostics, diags: &mut Diagnostics) {
        for mut d in found.items {
            if let Some(part) = self.parts.iter().rev().find(|p| d.span.start >= p.offset) {
                let inside = |s: &Span| s.start >= part.offset;
                d.related.retain(|(s, _)| inside(s));
                d.related.iter_mut().for_each(|(s, _)| *s = shift(s, part.offset));
                d.span = shift(&d.span, part.offset);
                d.file = Arc::clone(&part.file);
            }
            diags.push(d);
        }
    }
}

fn shift(span: &Span, by: usize) -> Span {
    span.start.saturating_sub(by)..span.end.saturating_sub(by)
}

/// Reads the includes of `main`; `None` when a file does not parse (said in `diags`).
pub fn combine(
    files: &dyn ConfigFiles,
    relative: &str,
    main: Arc<SourceFile>,
    diags: &mut Diagnostics,
) -> Option<Combined> {
    let mut doc = match parse_document(&main) {
        Ok(doc) => doc,
        Err(d) => {
            diags.push(*d);
            return None;
        }
    };
    let (includes, nodes): (Vec<RawNode>, Vec<RawNode>) = doc.nodes.into_iter().partition(|n| n.name == "include");
    doc.nodes = nodes;
    if includes.is_empty() {
        return Some(Combined {
            file: main,
            doc,
            parts: Vec::new(),
        });
    }
    let dir = relative.rsplit_once('/').map_or("", |(d, _)| d);
    let mut text = main.text.to_string();
    let mut parts = Vec::new();
    let (mut ok, mut read) = (true, 0);
    for node in &includes {
        let paths = resolve(files, dir, node, &main, diags);
        read += paths.len();
        if read > MAX_INCLUDED {
            let message = format!("more than {MAX_INCLUDED} included files");
            diags.push(ConfigDiagnostic::error(&main, arg_span(node), message));
            return None;
        }
        for path in paths {
            if !files.stays_inside(dir, &path) {
                let message = format!("included file {path:?} is a link out of the fleet's .fleetflow/ directory");
                diags.push(ConfigDiagnostic::error(&main, arg_span(node), message));
                ok = false;
                continue;
            }
            let included = match files.read(&path) {
                Ok(Some(source)) => Arc::new(source),
                Ok(None) => {
                    diags.push(ConfigDiagnostic::error(
                        &main,
                        arg_span(node),
                        format!("included file {path:?} does not exist"),
                    ));
                    ok = false;
                    continue;
                }
                Err(e) => {
                    diags.push(ConfigDiagnostic::error(&main, arg_span(node), e.to_string()));
                    ok = false;
                    continue;
                }
            };
            match parse_document(&included) {
                Ok(part) => {
                    text.push('\n');
                    let offset = text.len();
                    text.push_str(&included.text);
                    doc.nodes.extend(part.nodes.into_iter().map(|mut n| {
                        shift_node(&mut n, offset);
                        n
                    }));
                    parts.push(Part {
                        file: included,
                        offset,
                        path: path.clone(),
                    });
                }
                Err(d) => {
                    diags.push(*d);
                    ok = false;
                }
            }
        }
    }
    if !ok {
        return None;
    }
    // Built as it is: `from_text` would strip a byte-order mark the text still starts with and
    // move every span.
    let file = SourceFile {
        path: main.path.clone(),
        display_name: main.display_name.clone(),
        text: Arc::from(text),
    };
    Some(Combined {
        file: Arc::new(file),
        doc,
        parts,
    })
}

fn arg_span(node: &RawNode) -> Span {
    node.args.first().map_or(node.name_span.clone(), |a| a.span.clone())
}

/// The paths (as `files` names them) one `include` node names, sorted; problems said in `diags`.
fn resolve(
    files: &dyn ConfigFiles,
    dir: &str,
    node: &RawNode,
    main: &Arc<SourceFile>,
    diags: &mut Diagnostics,
) -> Vec<String> {
    let error = |diags: &mut Diagnostics, span: Span, message: String, help: &str| {
        diags.push(ConfigDiagnostic::error(main, span, message).with_help(help));
    };
    let pattern = match (
        node.args.as_slice(),
        node.props.is_empty() && node.children().is_empty(),
    ) {
        ([arg], true) => match &arg.value {
            Scalar::String(p) => p.clone(),
            other => {
                error(
                    diags,
                    arg.span.clone(),
                    format!("`include` takes a path, not {}", other.type_name()),
                    "include \"services/*.kdl\"",
                );
                return Vec::new();
            }
        },
        _ => {
            error(
                diags,
                node.name_span.clone(),
                "`include` takes one path (or glob)".into(),
                "include \"services/*.kdl\"",
            );
            return Vec::new();
        }
    };
    let span = arg_span(node);
    if pattern.is_empty()
        || pattern.starts_with('/')
        || pattern.contains('\\')
        || pattern.split('/').any(|p| matches!(p, "" | "." | ".."))
    {
        error(
            diags,
            span,
            format!("include {pattern:?} leaves the fleet's .fleetflow/ directory"),
            "name a file beside fleet.kdl or below it",
        );
        return Vec::new();
    }
    let joined = |p: &str| {
        if dir.is_empty() {
            p.to_owned()
        } else {
            format!("{dir}/{p}")
        }
    };
    let (sub, last) = pattern.rsplit_once('/').map_or(("", pattern.as_str()), |(s, l)| (s, l));
    if sub.contains(['*', '?']) {
        error(
            diags,
            span,
            "only the last part of an include may be a glob".into(),
            "include \"services/*.kdl\"",
        );
        return Vec::new();
    }
    if !last.contains(['*', '?']) {
        return vec![joined(&pattern)];
    }
    let listed_dir = if sub.is_empty() { dir.to_owned() } else { joined(sub) };
    let Some(names) = files.list(&listed_dir) else {
        error(
            diags,
            span,
            format!("the files of {listed_dir:?} cannot be listed here, so {pattern:?} cannot be matched"),
            "name the included files one by one",
        );
        return Vec::new();
    };
    let mut matched: Vec<String> = (names.into_iter())
        .filter(|n| n != "fleet.kdl" && glob_match(last, n))
        .map(|n| {
            if listed_dir.is_empty() {
                n
            } else {
                format!("{listed_dir}/{n}")
            }
        })
        .collect();
    matched.sort();
    if matched.is_empty() {
        diags.push(ConfigDiagnostic::warning(
            main,
            span,
            format!("include {pattern:?} matches no file"),
        ));
    }
    matched
}

/// `*` (any run of characters) and `?` (one character) against a file name.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut from) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            (pi, ni) = (pi + 1, ni + 1);
        } else if pi < p.len() && p[pi] == '*' {
            (star, from, pi) = (Some(pi), ni, pi + 1);
        } else if let Some(s) = star {
            (pi, from) = (s + 1, from + 1);
            ni = from;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn shift_node(node: &mut RawNode, by: usize) {
    let add = |s: &mut Span| *s = s.start + by..s.end + by;
    add(&mut node.name_span);
    node.args.iter_mut().for_each(|a| add(&mut a.span));
    node.props.iter_mut().for_each(|p| add(&mut p.value.span));
    for child in node.children.iter_mut().flatten() {
        shift_node(child, by);
    }
}
