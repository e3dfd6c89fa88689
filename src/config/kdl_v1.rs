//! KDL v1, read with the `kdl` crate: the fallback of [`super::syntax::parse_document`] for
//! files that are not KDL v2 (the specs' examples still write `proxied true`).
//!
//! That parser recurses once per level of braces, once per slashdash (`/-`) in a run of
//! slashdashes with only space, newlines or comments between them, and once per level of
//! nested block comments (`/* /* */ */`). A stack overflow is not a panic: it aborts the whole
//! process, `fleet serve` included, on a file from any pull request. It also backtracks
//! exponentially on blocks slashdashed inside slashdashed blocks (`n /- { n /- { …`: 12 levels
//! take 5 s, 16 levels 7 minutes). So the text is first scanned without recursion
//! ([`too_deep`]) and refused when any of the three goes deeper than [`MAX_NESTING`] or more
//! than [`MAX_SLASHDASHED_BLOCKS`] slashdashed blocks nest; only then does the parser run, on a
//! thread with a generous stack (the deepest accepted input uses a few MiB of it) and a
//! deadline. A parse past its deadline is left to finish alone, so at most
//! [`MAX_V1_PARSES`] run at once: past that the fallback says it is busy rather than pile up
//! threads.

use std::time::Duration;

use super::source::Span;
use super::syntax::{MAX_NESTING, RawNode, RawProp, RawValue, Scalar, SyntaxError, lowercase_first};

/// How long the v1 fallback may take (a 4 MiB file parses in well under a second).
const V1_DEADLINE: Duration = Duration::from_secs(5);
/// The parser thread's stack.
const V1_STACK: usize = 64 * 1024 * 1024;

/// Slashdashed blocks nested in slashdashed blocks the v1 parser is given (it backtracks
/// exponentially on them; four levels parse in under a millisecond).
pub const MAX_SLASHDASHED_BLOCKS: usize = 4;
/// v1 parses running at once, abandoned ones included.
pub const MAX_V1_PARSES: usize = 4;

static RUNNING_V1_PARSES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// What the v1 parser would recurse on more than [`MAX_NESTING`] times (or backtrack on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TooDeep {
    /// `a { b { c { …`
    Braces,
    /// `/- /- /- …`
    Slashdashes,
    /// `/* /* /* …`
    Comments,
    /// `n /- { n /- { …`
    SlashdashedBlocks,
}

impl TooDeep {
    fn message(self) -> String {
        match self {
            TooDeep::Braces => format!("nodes are nested deeper than {MAX_NESTING} levels"),
            TooDeep::Slashdashes => format!("more than {MAX_NESTING} slashdashes (`/-`) in a row"),
            TooDeep::Comments => format!("block comments are nested deeper than {MAX_NESTING} levels"),
            TooDeep::SlashdashedBlocks => {
                format!("more than {MAX_SLASHDASHED_BLOCKS} slashdashed (`/-`) blocks nested in each other")
            }
        }
    }
}

/// Parses KDL v1 text into raw nodes.
pub fn parse(text: &str) -> Result<Vec<RawNode>, SyntaxError> {
    if let Some((offset, what)) = too_deep(text, MAX_NESTING) {
        return Err(SyntaxError {
            message: what.message(),
            span: offset..offset + 1,
        });
    }
    // A third-party parser stuck on hostile input must not stall `fleet serve`: past the
    // deadline its thread is left to finish alone.
    use std::sync::atomic::Ordering::SeqCst;
    if RUNNING_V1_PARSES.fetch_add(1, SeqCst) >= MAX_V1_PARSES {
        RUNNING_V1_PARSES.fetch_sub(1, SeqCst);
        return Err(SyntaxError {
            message: format!("the KDL v1 parser is busy ({MAX_V1_PARSES} files are being parsed); try again later"),
            span: 0..0,
        });
    }
    let owned = text.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("kdl-v1".into())
        .stack_size(V1_STACK)
        .spawn(move || {
            let parsed = kdl::KdlDocument::parse_v1(&owned);
            RUNNING_V1_PARSES.fetch_sub(1, SeqCst);
            drop(tx.send(parsed));
        })
        .map_err(|e| {
            RUNNING_V1_PARSES.fetch_sub(1, SeqCst);
            SyntaxError {
                message: format!("cannot start the KDL v1 parser: {e}"),
                span: 0..0,
            }
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

/// Where the v1 parser would first recurse more than `limit` times, and on what.
///
/// Strings and comments are skipped; a run of slashdashes is broken only by what starts a
/// node or a value (a letter, a digit, a string, a brace): space, newlines, line
/// continuations, comments and anything unusual (non-ASCII space included) keep it going, so
/// the count never underestimates the parser's recursion. A block counts as slashdashed when a
/// slashdash came since the last brace (an overestimate: `a { /- b\n c { }` counts `c`'s).
pub fn too_deep(text: &str, limit: usize) -> Option<(usize, TooDeep)> {
    let bytes = text.as_bytes();
    let (mut i, mut braces, mut slashdashes) = (0usize, 0usize, 0usize);
    // Per open brace, whether it was slashdashed; and whether a slashdash came since a brace.
    let (mut open, mut slashdash_since_brace) = (Vec::new(), false);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = skip_string(bytes, i + 1);
                slashdashes = 0;
            }
            b'r' if matches!(bytes.get(i + 1), Some(b'"' | b'#')) => {
                i = skip_raw_string(bytes, i + 1);
                slashdashes = 0;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |p| i + p);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => match skip_block_comment(bytes, i, limit) {
                Ok(end) => i = end,
                Err(at) => return Some((at, TooDeep::Comments)),
            },
            b'/' if bytes.get(i + 1) == Some(&b'-') => {
                slashdashes += 1;
                slashdash_since_brace = true;
                if slashdashes > limit {
                    return Some((i, TooDeep::Slashdashes));
                }
                i += 2;
            }
            b'{' => {
                braces += 1;
                if braces > limit {
                    return Some((i, TooDeep::Braces));
                }
                open.push(std::mem::take(&mut slashdash_since_brace));
                if open.iter().filter(|&&s| s).count() > MAX_SLASHDASHED_BLOCKS {
                    return Some((i, TooDeep::SlashdashedBlocks));
                }
                slashdashes = 0;
                i += 1;
            }
            b'}' => {
                braces = braces.saturating_sub(1);
                open.pop();
                slashdash_since_brace = false;
                slashdashes = 0;
                i += 1;
            }
            b if b.is_ascii_alphanumeric() => {
                slashdashes = 0;
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

/// The end of the block comment opening at `start`, or where it nests deeper than `limit`.
fn skip_block_comment(bytes: &[u8], start: usize, limit: usize) -> Result<usize, usize> {
    let (mut i, mut level) = (start + 2, 1usize);
    while i < bytes.len() && level > 0 {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            level += 1;
            if level > limit {
                return Err(i);
            }
            i += 2;
        } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            level -= 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    Ok(i)
}
