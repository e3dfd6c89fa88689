//! Scanning for the KDL v2 parser: code points, whitespace and comments, and tokens (strings are
//! in [`super::strings`], numbers in [`super::number`]).
//!
//! Works on bytes. The cursor only ever stops on ASCII bytes or UTF-8 lead bytes, so every
//! position it slices at is a char boundary; slicing still goes through `get`, so a bug here
//! can produce a wrong error but never a panic.

use std::borrow::Cow;

use super::number::number;
use crate::config::source::Span;
use crate::config::syntax::{Scalar, SyntaxError};

pub(super) type Result<T> = std::result::Result<T, SyntaxError>;

pub(super) fn error(message: impl Into<String>, span: Span) -> SyntaxError {
    SyntaxError {
        message: message.into(),
        span,
    }
}

/// Non-newline whitespace (spec: Whitespace table).
pub(super) fn is_unicode_space(c: char) -> bool {
    matches!(
        c,
        '\t' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// Newline code points (spec: Newline table; CRLF is handled by [`newline_len`]).
pub(super) fn is_newline(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{B}' | '\u{C}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Code points that may not appear literally anywhere (a BOM is allowed only first).
pub(super) fn is_disallowed(c: char) -> bool {
    matches!(
        c,
        '\0'..='\u{8}'
            | '\u{E}'..='\u{1F}'
            | '\u{7F}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// ASCII bytes that end a bare identifier or number.
const fn ends_bare(b: u8) -> bool {
    b <= b' '
        || b == 0x7F
        || matches!(
            b,
            b'\\' | b'/' | b'(' | b')' | b'{' | b'}' | b';' | b'[' | b']' | b'"' | b'#' | b'='
        )
}

/// Bytes a quoted string's scan must stop at: quote, backslash, and what may start a newline.
const fn stops_string(b: u8) -> bool {
    matches!(b, b'"' | b'\\' | b'\n' | b'\r' | 0x0B | 0x0C | 0xC2 | 0xE2)
}

/// Per byte: 1 ends a bare word (ASCII), 2 stops a quoted string.
pub(super) static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = (byte < 0x80 && ends_bare(byte)) as u8 | (stops_string(byte) as u8) << 1;
        b += 1;
    }
    table
};

pub(super) fn char_at(s: &str, i: usize) -> Option<char> {
    let b = *s.as_bytes().get(i)?;
    if b < 0x80 {
        Some(char::from(b))
    } else {
        s.get(i..)?.chars().next()
    }
}

/// Length of the newline at `s[i]` (CRLF is one newline), or 0.
pub(super) fn newline_len(s: &str, i: usize) -> usize {
    match s.as_bytes().get(i) {
        Some(b'\r') => 1 + usize::from(s.as_bytes().get(i + 1) == Some(&b'\n')),
        Some(b'\n' | 0x0B | 0x0C) => 1,
        Some(0xC2 | 0xE2) => char_at(s, i).filter(|&c| is_newline(c)).map_or(0, char::len_utf8),
        _ => 0,
    }
}

fn space_len(s: &str, i: usize) -> usize {
    match s.as_bytes().get(i) {
        Some(b' ' | b'\t') => 1,
        Some(&b) if b >= 0x80 => char_at(s, i).filter(|&c| is_unicode_space(c)).map_or(0, char::len_utf8),
        _ => 0,
    }
}

/// How a character is named in messages.
pub(super) fn describe(s: &str, i: usize) -> String {
    match char_at(s, i) {
        None => "the end of the file".into(),
        Some(c) if is_newline(c) => "a newline".into(),
        Some(c) if is_unicode_space(c) => "whitespace".into(),
        Some(c) if c.is_control() => format!("U+{:04X}", u32::from(c)),
        Some(c) => format!("`{c}`"),
    }
}

/// A string, or a number or keyword (already converted).
pub(super) enum Token<'a> {
    String(Cow<'a, str>),
    Other(Scalar),
}

pub(super) struct Cursor<'a> {
    pub(super) text: &'a str,
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        let pos = if text.starts_with('\u{FEFF}') {
            '\u{FEFF}'.len_utf8()
        } else {
            0
        };
        Self {
            text,
            bytes: text.as_bytes(),
            pos,
        }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(super) fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos.saturating_add(ahead)).copied()
    }

    pub(super) fn slice(&self, range: Span) -> &'a str {
        self.text.get(range).unwrap_or("")
    }

    /// Span of the character at `i` (empty at the end of the text).
    pub(super) fn char_span(&self, i: usize) -> Span {
        i..i + char_at(self.text, i).map_or(0, char::len_utf8)
    }

    pub(super) fn newline_here(&self) -> usize {
        newline_len(self.text, self.pos)
    }

    /// `ws*`: Unicode spaces and nested `/* */` comments. True if anything was skipped.
    pub(super) fn skip_ws(&mut self) -> Result<bool> {
        let start = self.pos;
        loop {
            let n = space_len(self.text, self.pos);
            if n > 0 {
                self.pos += n;
            } else if self.peek() == Some(b'/') && self.peek_at(1) == Some(b'*') {
                self.block_comment()?;
            } else {
                return Ok(self.pos > start);
            }
        }
    }

    fn block_comment(&mut self) -> Result<()> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut i = start;
        while let Some(&b) = self.bytes.get(i) {
            let next = self.bytes.get(i + 1).copied();
            if b == b'/' && next == Some(b'*') {
                depth += 1;
                i += 2;
            } else if b == b'*' && next == Some(b'/') {
                depth = depth.saturating_sub(1);
                i += 2;
                if depth == 0 {
                    self.pos = i;
                    return Ok(());
                }
            } else {
                i += 1;
            }
        }
        Err(error("unterminated `/*` comment", start..start + 2))
    }

    /// `//` up to and including the next newline, or to the end of the text.
    pub(super) fn line_comment(&mut self) {
        let mut i = self.pos.saturating_add(2);
        while i < self.bytes.len() {
            let n = newline_len(self.text, i);
            if n > 0 {
                self.pos = i + n;
                return;
            }
            i += 1;
        }
        self.pos = self.bytes.len();
    }

    /// `node-space*`: whitespace and line continuations. True if anything was skipped.
    pub(super) fn skip_node_space(&mut self) -> Result<bool> {
        let start = self.pos;
        loop {
            self.skip_ws()?;
            if self.peek() != Some(b'\\') {
                return Ok(self.pos > start);
            }
            let backslash = self.pos;
            self.pos += 1;
            self.skip_ws()?;
            if self.peek() == Some(b'/') && self.peek_at(1) == Some(b'/') {
                self.line_comment();
            } else if self.newline_here() > 0 {
                self.pos += self.newline_here();
            } else if self.pos < self.bytes.len() {
                return Err(error(
                    format!(
                        "expected a newline after the line continuation `\\`, found {}",
                        describe(self.text, self.pos)
                    ),
                    backslash..backslash + 1,
                ));
            }
        }
    }

    /// `line-space*`: node-space, newlines and `//` comments.
    pub(super) fn skip_line_space(&mut self) -> Result<()> {
        loop {
            self.skip_node_space()?;
            let n = self.newline_here();
            if n > 0 {
                self.pos += n;
            } else if self.peek() == Some(b'/') && self.peek_at(1) == Some(b'/') {
                self.line_comment();
            } else {
                return Ok(());
            }
        }
    }

    /// A string, number or keyword at the cursor; `what` names the expected thing in errors.
    pub(super) fn token(&mut self, what: &str) -> Result<(Token<'a>, Span)> {
        let start = self.pos;
        let token = match self.peek() {
            Some(b'"') => Token::String(self.quoted()?),
            Some(b'#') => self.hash()?,
            _ => self.bare(what)?,
        };
        Ok((token, start..self.pos))
    }

    fn bare_end(&self, mut i: usize) -> usize {
        while let Some(&b) = self.bytes.get(i) {
            if b < 0x80 {
                if CLASS[usize::from(b)] & 1 != 0 {
                    break;
                }
                i += 1;
            } else {
                match char_at(self.text, i) {
                    Some(c) if !is_unicode_space(c) && !is_newline(c) => i += c.len_utf8(),
                    _ => break,
                }
            }
        }
        i
    }

    /// An identifier string or a number.
    fn bare(&mut self, what: &str) -> Result<Token<'a>> {
        let start = self.pos;
        let end = self.bare_end(start);
        if end == start {
            return Err(error(
                format!("expected {what}, found {}", describe(self.text, start)),
                self.char_span(start),
            ));
        }
        self.pos = end;
        let word = self.slice(start..end);
        let span = start..end;
        let unsigned = match word.as_bytes() {
            [b'+' | b'-', rest @ ..] => rest,
            all => all,
        };
        match unsigned {
            [d, ..] if d.is_ascii_digit() => number(word, span).map(Token::Other),
            [b'.', d, ..] if d.is_ascii_digit() => Err(error(
                format!("`{word}` is not a valid number; write a digit before the `.`"),
                span,
            )),
            _ => match word {
                "true" | "false" | "null" | "inf" | "-inf" | "nan" => Err(error(
                    format!("bare `{word}` is not allowed in KDL v2; write `#{word}`"),
                    span,
                )),
                _ => Ok(Token::String(Cow::Borrowed(word))),
            },
        }
    }

    /// A keyword (`#true`, `#null`, `#inf`, ...) or a raw string.
    fn hash(&mut self) -> Result<Token<'a>> {
        let start = self.pos;
        let hashes = self
            .bytes
            .get(start..)
            .map_or(0, |b| b.iter().take_while(|&&b| b == b'#').count());
        if self.bytes.get(start + hashes) == Some(&b'"') {
            return self.raw(start, hashes).map(Token::String);
        }
        if hashes > 1 {
            return Err(error(
                "expected `\"` after the `#`s of a raw string",
                start..start + hashes,
            ));
        }
        let end = self.bare_end(start + 1);
        let word = self.slice(start + 1..end);
        let value = match word {
            "true" => Scalar::Bool(true),
            "false" => Scalar::Bool(false),
            "null" => Scalar::Null,
            "inf" => Scalar::Float(f64::INFINITY),
            "-inf" => Scalar::Float(f64::NEG_INFINITY),
            "nan" => Scalar::Float(f64::NAN),
            "" => return Err(error("unexpected `#`", start..start + 1)),
            _ => return Err(error(format!("unknown keyword `#{word}`"), start..end)),
        };
        self.pos = end;
        Ok(Token::Other(value))
    }
}
