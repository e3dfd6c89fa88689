//! The just-kdl 0.3 reader turned into fleetflow's raw tree: the KDL v2 parser fleetflow used
//! before its own (`src/config/kdl_v2`). Kept only to compare against — speed in
//! `benches/registry_parse.rs`, trees in `tests/kdl_v2_spec.rs` — never to load configuration:
//! just-kdl 0.3 mangles values in release builds and loops forever on some inputs.
#![allow(dead_code)]

use fleetflow::config::syntax::{MAX_NESTING, RawNode, RawProp, RawValue, Scalar, SyntaxError};
use just_kdl::dom::{Event, Value};
use just_kdl::reader::Reader;

type Span = std::ops::Range<usize>;

fn nesting_error(span: Span) -> SyntaxError {
    SyntaxError {
        message: format!("nodes are nested deeper than {MAX_NESTING} levels"),
        span,
    }
}

/// KDL v2 through just-kdl's event stream, building the tree with an explicit stack.
pub fn parse(text: &str) -> Result<Vec<RawNode>, SyntaxError> {
    let mut stack: Vec<RawNode> = vec![RawNode::default()];
    for event in Reader::new(text.as_bytes()) {
        let (event, span) = event.map_err(|(e, span)| SyntaxError {
            message: strip_offset(&lowercase_first(&e.to_string())),
            span: clamp(span, text.len()),
        })?;
        match event {
            Event::Node { name, .. } => {
                if stack.len() > MAX_NESTING {
                    return Err(nesting_error(span));
                }
                stack.push(RawNode {
                    name: name.to_string(),
                    name_span: span,
                    ..RawNode::default()
                });
            }
            Event::Entry(entry) => {
                let node = stack.last_mut().ok_or_else(|| internal(&span))?;
                let value = RawValue {
                    value: scalar_from_v2(entry.value),
                    span: value_span(text, &span),
                };
                match entry.name {
                    Some(key) => node.props.push(RawProp {
                        key: key.to_string(),
                        value,
                    }),
                    None => node.args.push(value),
                }
            }
            Event::Children => {
                if let Some(node) = stack.last_mut() {
                    node.children.get_or_insert_with(Vec::new);
                }
            }
            Event::End => {
                if stack.len() < 2 {
                    return Err(internal(&span));
                }
                let node = stack.pop().ok_or_else(|| internal(&span))?;
                let parent = stack.last_mut().ok_or_else(|| internal(&span))?;
                parent.children.get_or_insert_with(Vec::new).push(node);
            }
        }
    }
    let root = stack.pop().ok_or_else(|| internal(&(0..0)))?;
    Ok(root.children.unwrap_or_default())
}

fn internal(span: &Span) -> SyntaxError {
    SyntaxError {
        message: "unbalanced document structure".into(),
        span: span.clone(),
    }
}

fn clamp(span: Span, len: usize) -> Span {
    span.start.min(len)..span.end.min(len).max(span.start.min(len))
}

/// For `key=value` the value's own span is after the `=`; diagnostics about a value point there.
fn value_span(text: &str, entry: &Span) -> Span {
    let entry = clamp(entry.clone(), text.len());
    match text.get(entry.clone()).and_then(find_unquoted_eq) {
        Some(eq) => entry.start + eq + 1..entry.end,
        None => entry,
    }
}

fn find_unquoted_eq(s: &str) -> Option<usize> {
    if s.starts_with('"') || s.starts_with('#') {
        return None;
    }
    s.find('=')
}

fn scalar_from_v2(value: Value) -> Scalar {
    match value {
        Value::String(s) => Scalar::String(s.to_string()),
        Value::Number(n) => number_from_text(&n.to_string()),
        Value::Bool(b) => Scalar::Bool(b),
        Value::Null => Scalar::Null,
    }
}

/// just-kdl's own float coercion can panic on some inputs, so numbers are read from their
/// canonical text instead.
fn number_from_text(text: &str) -> Scalar {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .iter()
        .find_map(|(p, r)| digits.strip_prefix(p).map(|d| (d, *r)));
    let integer = match radix {
        Some((body, r)) => i64::from_str_radix(body, r).ok().map(|v| if negative { -v } else { v }),
        None => text.parse::<i64>().ok(),
    };
    if let Some(i) = integer {
        return Scalar::Integer(i);
    }
    match text {
        "#inf" => Scalar::Float(f64::INFINITY),
        "#-inf" => Scalar::Float(f64::NEG_INFINITY),
        _ => Scalar::Float(text.parse::<f64>().unwrap_or(f64::NAN)),
    }
}

/// just-kdl appends " at <byte offset>" to some messages; the diagnostic shows the position.
fn strip_offset(message: &str) -> String {
    match message.rsplit_once(" at ") {
        Some((head, tail)) if tail.bytes().all(|b| b.is_ascii_digit()) => head.to_owned(),
        _ => message.to_owned(),
    }
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
