//! A KDL v2.0 parser producing the raw tree of [`super::syntax`].
//!
//! One pass over the bytes of the text. Children blocks are an explicit stack (no recursion),
//! refused beyond [`MAX_NESTING`] (slashdashed blocks count too, as they are still read);
//! strings are borrowed from the text while scanning and become `String`s once, in the tree;
//! children, arguments and properties are collected in reused buffers and moved into exactly
//! sized `Vec`s. Follows the KDL 2.0 grammar (<https://kdl.dev/spec>) as the official test
//! suite has it (see `tests/kdl_v2_spec.rs`).

mod lexer;
mod number;
mod strings;

use std::borrow::Cow;

use lexer::{Cursor, Result, Token, describe, error, is_disallowed};

use super::source::Span;
use super::syntax::{MAX_NESTING, RawNode, RawProp, RawValue, Scalar, SyntaxError};

/// Parses a KDL v2 document into raw nodes with byte spans.
pub fn parse(text: &str) -> std::result::Result<Vec<RawNode>, SyntaxError> {
    let parsed = Parser {
        cur: Cursor::new(text),
        stack: Vec::new(),
        done: Vec::new(),
        args: Vec::new(),
        props: Vec::new(),
    }
    .run();
    // Disallowed code points are looked for separately (they are rare and may be anywhere,
    // comments included); the syntax error is reported only when it lies wholly before.
    match (parsed, first_disallowed(text)) {
        (Err(e), Some(d)) if e.span.end <= d.span.start => Err(e),
        (_, Some(d)) => Err(d),
        (parsed, None) => parsed,
    }
}

/// The first code point the spec forbids anywhere in a document (a BOM is allowed first).
fn first_disallowed(text: &str) -> Option<SyntaxError> {
    // Only ASCII controls other than \t..\r, DEL, and code points with lead byte E2 (U+2000..)
    // or EF (U+F000..) can be disallowed. Blocks without such a byte are skipped by a check
    // that the compiler vectorises.
    let suspect = |b: u8| (b < 0x20 && !(b'\t'..=b'\r').contains(&b)) || b == 0x7F || b == 0xE2 || b == 0xEF;
    const BLOCK: usize = 64;
    let mut block = if text.starts_with('\u{FEFF}') { 3 } else { 0 };
    while block < text.len() {
        let end = (block + BLOCK).min(text.len());
        let bytes = text.as_bytes().get(block..end).unwrap_or_default();
        if bytes.iter().fold(false, |any, &b| any | suspect(b)) {
            // A suspect byte is ASCII or a lead byte, so it starts a code point.
            for (i, &b) in bytes.iter().enumerate() {
                let c = text.get(block + i..).and_then(|s| s.chars().next());
                if let Some(c) = c.filter(|&c| suspect(b) && is_disallowed(c)) {
                    return Some(disallowed_error(c, block + i));
                }
            }
        }
        block = end;
    }
    None
}

fn disallowed_error(c: char, at: usize) -> SyntaxError {
    let message = if c == '\u{FEFF}' {
        "a byte-order mark (U+FEFF) is only allowed at the start of the file".to_string()
    } else {
        let code = u32::from(c);
        format!(
            "the code point U+{code:04X} is not allowed in a KDL document; write it as `\\u{{{code:X}}}` in a quoted string"
        )
    };
    error(message, at..at + c.len_utf8())
}

/// A node being read: its entries so far, and where it is in `entries* children?`.
struct Pending {
    node: RawNode,
    /// Slashdashed, or inside something slashdashed: checked, then dropped.
    discard: bool,
    /// A children block (slashdashed or not) has been closed: no more entries.
    entries_closed: bool,
}

/// A node whose children block is open.
struct Open {
    pending: Pending,
    /// The open block is slashdashed (`/- { ... }`).
    block_discard: bool,
    brace: usize,
    /// Where its children start in [`Parser::done`].
    first_child: usize,
}

struct Parser<'a> {
    cur: Cursor<'a>,
    stack: Vec<Open>,
    /// Finished nodes whose parent block is still open (top-level ones first): the children of
    /// a block move out of here in one exactly-sized allocation when it closes.
    done: Vec<RawNode>,
    /// Entries of the node being read, moved into it (exactly sized) when they end.
    args: Vec<RawValue>,
    props: Vec<RawProp>,
}

fn nesting_error(span: Span) -> SyntaxError {
    error(format!("nodes are nested deeper than {MAX_NESTING} levels"), span)
}

fn scalar(token: Token<'_>) -> Scalar {
    match token {
        Token::String(s) => Scalar::String(s.into_owned()),
        Token::Other(v) => v,
    }
}

fn expect_string<'t>(token: Token<'t>, span: &Span, what: &str) -> Result<Cow<'t, str>> {
    match token {
        Token::String(s) => Ok(s),
        Token::Other(v) => Err(error(
            format!("{what} must be a string, found {}; quote it", v.type_name()),
            span.clone(),
        )),
    }
}

impl Parser<'_> {
    fn run(mut self) -> Result<Vec<RawNode>> {
        loop {
            self.cur.skip_line_space()?;
            let pending = match self.cur.peek() {
                None => {
                    return match self.stack.last() {
                        Some(open) => Err(error(
                            "unclosed `{`: the children block never ends",
                            open.brace..open.brace + 1,
                        )),
                        None => Ok(self.done),
                    };
                }
                Some(b'}') => {
                    let at = self.cur.pos;
                    let Some(open) = self.stack.pop() else {
                        return Err(error("unexpected `}`", at..at + 1));
                    };
                    self.cur.pos += 1;
                    let mut pending = open.pending;
                    pending.entries_closed = true;
                    if !open.block_discard {
                        let first = open.first_child.min(self.done.len());
                        pending.node.children = Some(self.done.drain(first..).collect());
                    }
                    pending
                }
                Some(_) => self.node_head()?,
            };
            self.entries(pending)?;
        }
    }

    /// `slashdash? type? node-space* string`
    fn node_head(&mut self) -> Result<Pending> {
        let inherited = self.stack.last().is_some_and(|o| o.pending.discard || o.block_discard);
        let slashdash = self.slashdash()?;
        if let Some(at) = slashdash
            && matches!(self.cur.peek(), None | Some(b'}'))
        {
            return Err(error("`/-` must be followed by a node to comment out", at..at + 2));
        }
        if self.cur.peek() == Some(b'(') {
            self.type_annotation()?;
            self.cur.skip_node_space()?;
        }
        let (token, span) = self.cur.token("a node name")?;
        let name = expect_string(token, &span, "a node name")?;
        if self.stack.len() >= MAX_NESTING {
            return Err(nesting_error(span));
        }
        let discard = inherited || slashdash.is_some();
        let name = if discard { String::new() } else { name.into_owned() };
        Ok(Pending {
            node: RawNode {
                name,
                name_span: span,
                ..RawNode::default()
            },
            discard,
            entries_closed: false,
        })
    }

    /// `/-` and the line-space after it; its offset if there was one.
    fn slashdash(&mut self) -> Result<Option<usize>> {
        if self.cur.peek() != Some(b'/') || self.cur.peek_at(1) != Some(b'-') {
            return Ok(None);
        }
        let at = self.cur.pos;
        self.cur.pos += 2;
        self.cur.skip_line_space()?;
        Ok(Some(at))
    }

    /// Entries and children of `p` up to its terminator (then it is attached to its parent),
    /// or up to a `{` (then it is pushed, and its children are read next).
    fn entries(&mut self, p: Pending) -> Result<()> {
        loop {
            let spaced = self.cur.skip_node_space()?;
            let at = self.cur.pos;
            match self.cur.peek() {
                None | Some(b'}') => return self.finish(p),
                Some(b';') => {
                    self.cur.pos += 1;
                    return self.finish(p);
                }
                Some(b'{') => return self.open(p, false, at),
                Some(b'/') if self.cur.peek_at(1) == Some(b'/') => {
                    self.cur.line_comment();
                    return self.finish(p);
                }
                Some(b'/') if self.cur.peek_at(1) == Some(b'-') => {
                    self.slashdash()?;
                    match self.cur.peek() {
                        Some(b'{') => return self.open(p, true, self.cur.pos),
                        None | Some(b'}' | b';') => {
                            return Err(error(
                                "`/-` must be followed by an argument, a property or a children block",
                                at..at + 2,
                            ));
                        }
                        _ if p.entries_closed => return Err(entry_after_children(self.cur.char_span(self.cur.pos))),
                        _ => self.entry(false)?,
                    }
                }
                _ if self.cur.newline_here() > 0 => {
                    self.cur.pos += self.cur.newline_here();
                    return self.finish(p);
                }
                _ if p.entries_closed => return Err(entry_after_children(self.cur.char_span(at))),
                _ if !spaced => {
                    return Err(error(
                        format!(
                            "expected whitespace before the next entry, found {}",
                            describe(self.cur.text, at)
                        ),
                        self.cur.char_span(at),
                    ));
                }
                _ => {
                    let keep = !p.discard;
                    self.entry(keep)?;
                }
            }
        }
    }

    /// Moves the collected entries into the node (its entries end here).
    fn take_entries(&mut self, node: &mut RawNode) {
        if !self.args.is_empty() {
            node.args = self.args.drain(..).collect();
        }
        if !self.props.is_empty() {
            node.props = self.props.drain(..).collect();
        }
    }

    fn finish(&mut self, mut p: Pending) -> Result<()> {
        if !p.discard {
            self.take_entries(&mut p.node);
            self.done.push(p.node);
        }
        Ok(())
    }

    fn open(&mut self, mut p: Pending, slashdashed: bool, brace: usize) -> Result<()> {
        if !slashdashed && p.node.children.is_some() {
            return Err(error("a node can have only one children block", brace..brace + 1));
        }
        self.take_entries(&mut p.node);
        self.cur.pos = brace + 1;
        let first_child = self.done.len();
        self.stack.push(Open {
            pending: p,
            block_discard: slashdashed,
            brace,
            first_child,
        });
        Ok(())
    }

    /// An argument or a property (`key=value`, spaces allowed around `=`).
    fn entry(&mut self, keep: bool) -> Result<()> {
        let typed = self.cur.peek() == Some(b'(');
        if typed {
            self.type_annotation()?;
            self.cur.skip_node_space()?;
        }
        let (token, span) = self.cur.token("an argument or a property")?;
        let value = match token {
            Token::String(key) => {
                let before = self.cur.pos;
                self.cur.skip_node_space()?;
                if self.cur.peek() == Some(b'=') {
                    if typed {
                        return Err(error("a type annotation cannot come before a property name", span));
                    }
                    self.cur.pos += 1;
                    let value = self.value()?;
                    if keep {
                        self.props.push(RawProp {
                            key: key.into_owned(),
                            value,
                        });
                    }
                    return Ok(());
                }
                self.cur.pos = before;
                Token::String(key)
            }
            other => other,
        };
        if keep {
            self.args.push(RawValue {
                value: scalar(value),
                span,
            });
        }
        Ok(())
    }

    /// `node-space* type? node-space* (string | number | keyword)` after a property's `=`.
    fn value(&mut self) -> Result<RawValue> {
        let eq = self.cur.pos.saturating_sub(1);
        self.cur.skip_node_space()?;
        if self.cur.peek() == Some(b'(') {
            self.type_annotation()?;
            self.cur.skip_node_space()?;
        }
        if matches!(self.cur.peek(), None | Some(b';' | b'{' | b'}')) || self.cur.newline_here() > 0 {
            return Err(error(
                format!(
                    "expected a value after `=`, found {}",
                    describe(self.cur.text, self.cur.pos)
                ),
                eq..eq + 1,
            ));
        }
        let (token, span) = self.cur.token("a value")?;
        Ok(RawValue {
            value: scalar(token),
            span,
        })
    }

    /// `'(' node-space* string node-space* ')'`, discarded.
    fn type_annotation(&mut self) -> Result<()> {
        self.cur.pos += 1;
        self.cur.skip_node_space()?;
        let (token, span) = self.cur.token("a type name")?;
        expect_string(token, &span, "a type annotation")?;
        self.cur.skip_node_space()?;
        if self.cur.peek() != Some(b')') {
            let at = self.cur.pos;
            return Err(error(
                format!(
                    "expected `)` to close the type annotation, found {}",
                    describe(self.cur.text, at)
                ),
                self.cur.char_span(at),
            ));
        }
        self.cur.pos += 1;
        Ok(())
    }
}

fn entry_after_children(span: Span) -> SyntaxError {
    error(
        "expected `;` or a newline after the children block (arguments and properties go before it)",
        span,
    )
}
