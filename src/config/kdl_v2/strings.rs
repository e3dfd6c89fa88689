//! Strings: quoted (with escapes), raw, and multi-line (dedented) ones.

use std::borrow::Cow;

use super::lexer::{CLASS, Cursor, Result, char_at, error, is_newline, is_unicode_space, newline_len};
use crate::config::source::Span;

impl<'a> Cursor<'a> {
    /// Number of `#` at `i`, counting at most `limit`.
    fn hashes_at(&self, i: usize, limit: usize) -> usize {
        self.bytes
            .get(i..)
            .map_or(0, |b| b.iter().take(limit).take_while(|&&b| b == b'#').count())
    }

    /// `#"..."#`, `##"..."##`, `#"""` multi-line `"""#`: `start` is the first `#`, `hashes` their count.
    pub(super) fn raw(&mut self, start: usize, hashes: usize) -> Result<Cow<'a, str>> {
        let quote = start + hashes;
        if self.bytes.get(quote..quote + 3) == Some(b"\"\"\"") {
            let body = quote + 3;
            let mut i = body;
            loop {
                let Some(q) = self
                    .bytes
                    .get(i..)
                    .and_then(|b| b.iter().position(|&b| b == b'"'))
                    .map(|p| p + i)
                else {
                    return Err(error("unterminated multi-line raw string", start..body));
                };
                if self.bytes.get(q..q + 3) == Some(b"\"\"\"") && self.hashes_at(q + 3, hashes) == hashes {
                    self.pos = q + 3 + hashes;
                    return multiline(self.text, body..q, true, start..self.pos).map(Cow::Owned);
                }
                i = q + 1;
            }
        }
        let body = quote + 1;
        let mut i = body;
        loop {
            match self.bytes.get(i) {
                None => return Err(error("unterminated raw string", start..body)),
                Some(b'"') if self.hashes_at(i + 1, hashes) == hashes => {
                    self.pos = i + 1 + hashes;
                    return Ok(Cow::Borrowed(self.slice(body..i)));
                }
                _ if newline_len(self.text, i) > 0 => {
                    return Err(error(
                        "unterminated raw string (it must end on the same line; use `#\"\"\"` for a multi-line raw string)",
                        start..body,
                    ));
                }
                _ => i += 1,
            }
        }
    }

    /// `"..."` or a `"""` multi-line string.
    pub(super) fn quoted(&mut self) -> Result<Cow<'a, str>> {
        let start = self.pos;
        if self.bytes.get(start..start + 3) == Some(b"\"\"\"") {
            return self.multiline_quoted(start).map(Cow::Owned);
        }
        let mut i = start + 1;
        let mut segment = i;
        let mut owned: Option<String> = None;
        loop {
            while self.bytes.get(i).is_some_and(|&b| CLASS[usize::from(b)] & 2 == 0) {
                i += 1;
            }
            match self.bytes.get(i) {
                None => return Err(error("unterminated string", start..start + 1)),
                Some(b'"') => {
                    self.pos = i + 1;
                    let tail = self.slice(segment..i);
                    return Ok(match owned {
                        Some(mut s) => {
                            s.push_str(tail);
                            Cow::Owned(s)
                        }
                        None => Cow::Borrowed(tail),
                    });
                }
                Some(b'\\') => {
                    let s = owned.get_or_insert_with(|| String::with_capacity(i - start + 16));
                    s.push_str(self.slice(segment..i));
                    i = unescape_one(self.text, i, s).map_err(|(m, span)| error(m, span))?;
                    segment = i;
                }
                Some(b'\n' | b'\r' | 0x0B | 0x0C | 0xC2 | 0xE2) if newline_len(self.text, i) > 0 => {
                    return Err(error(
                        "unterminated string (a quoted string ends on its line; use `\"\"\"` for a multi-line string)",
                        start..start + 1,
                    ));
                }
                Some(_) => i += 1,
            }
        }
    }

    fn multiline_quoted(&mut self, start: usize) -> Result<String> {
        let body = start + 3;
        let mut i = body;
        loop {
            match self.bytes.get(i) {
                None => return Err(error("unterminated multi-line string", start..body)),
                Some(b'\\') => i += 2,
                Some(b'"') if self.bytes.get(i..i + 3) == Some(b"\"\"\"") => break,
                Some(_) => i += 1,
            }
        }
        self.pos = i + 3;
        multiline(self.text, body..i, false, start..self.pos)
    }
}

/// Decodes the escape whose `\` is at `s[i]` into `out`; returns the index after it. Errors
/// carry a message and a span relative to `s`.
fn unescape_one(s: &str, i: usize, out: &mut String) -> std::result::Result<usize, (String, Span)> {
    let simple = match s.as_bytes().get(i + 1) {
        Some(b'"') => Some('"'),
        Some(b'\\') => Some('\\'),
        Some(b'b') => Some('\u{8}'),
        Some(b'f') => Some('\u{C}'),
        Some(b'n') => Some('\n'),
        Some(b'r') => Some('\r'),
        Some(b't') => Some('\t'),
        Some(b's') => Some(' '),
        Some(b'u') => return unicode_escape(s, i, out),
        _ => None,
    };
    if let Some(c) = simple {
        out.push(c);
        return Ok(i + 2);
    }
    let after = skip_escaped_space(s, i + 1);
    if after > i + 1 {
        return Ok(after);
    }
    match char_at(s, i + 1) {
        None => Err(("unterminated string".into(), i..i + 1)),
        Some(c) => Err((format!("invalid escape `\\{c}`"), i..i + 1 + c.len_utf8())),
    }
}

/// End of the whitespace and newlines starting at `s[i]`.
fn skip_escaped_space(s: &str, mut i: usize) -> usize {
    while let Some(c) = char_at(s, i).filter(|&c| is_unicode_space(c) || is_newline(c)) {
        i += c.len_utf8();
    }
    i
}

fn unicode_escape(s: &str, i: usize, out: &mut String) -> std::result::Result<usize, (String, Span)> {
    const USAGE: &str = "invalid escape; write `\\u{…}` with 1 to 6 hex digits";
    let bytes = s.as_bytes();
    if bytes.get(i + 2) != Some(&b'{') {
        return Err((USAGE.into(), i..i + 2));
    }
    let digits = i + 3;
    let mut j = digits;
    let mut value = 0u32;
    while let Some(d) = bytes.get(j).and_then(|&b| char::from(b).to_digit(16)) {
        if j - digits == 6 {
            return Err(("a `\\u{…}` escape has at most 6 hex digits".into(), i..j + 1));
        }
        value = value * 16 + d;
        j += 1;
    }
    if j == digits || bytes.get(j) != Some(&b'}') {
        return Err((USAGE.into(), i..j + char_at(s, j).map_or(0, char::len_utf8)));
    }
    match char::from_u32(value) {
        Some(c) => {
            out.push(c);
            Ok(j + 1)
        }
        None => Err((format!("`\\u{{{value:X}}}` is not a Unicode scalar value"), i..j + 1)),
    }
}

/// Unescapes all of `s` into `out`.
fn unescape_into(s: &str, out: &mut String) -> std::result::Result<(), (String, Span)> {
    let mut segment = 0;
    let mut from = 0;
    while let Some(at) = s.get(from..).and_then(|t| t.find('\\')).map(|p| p + from) {
        out.push_str(s.get(segment..at).unwrap_or(""));
        from = unescape_one(s, at, out)?;
        segment = from;
    }
    out.push_str(s.get(segment..).unwrap_or(""));
    Ok(())
}

/// Removes whitespace escapes (`\` + whitespace/newlines) and keeps every other escape as
/// written, as multi-line strings are dedented between those two steps.
fn resolve_space_escapes(body: &str) -> String {
    let bytes = body.as_bytes();
    let mut out = String::with_capacity(body.len());
    let (mut segment, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        let after = skip_escaped_space(body, i + 1);
        if after > i + 1 {
            out.push_str(body.get(segment..i).unwrap_or(""));
            segment = after;
            i = after;
        } else {
            i += 1 + char_at(body, i + 1).map_or(0, char::len_utf8);
        }
    }
    out.push_str(body.get(segment..).unwrap_or(""));
    out
}

/// Lines of `s` split at every kind of newline.
struct Lines<'s> {
    s: &'s str,
    at: Option<usize>,
}

impl<'s> Iterator for Lines<'s> {
    type Item = &'s str;

    fn next(&mut self) -> Option<&'s str> {
        let start = self.at?;
        let mut i = start;
        while i < self.s.len() {
            let n = newline_len(self.s, i);
            if n > 0 {
                self.at = Some(i + n);
                return self.s.get(start..i);
            }
            i += 1;
        }
        self.at = None;
        self.s.get(start..)
    }
}

/// Byte offset of `sub` in `text`, when `sub` is a slice of it.
fn offset_in(text: &str, sub: &str) -> Option<usize> {
    let offset = (sub.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    (offset + sub.len() <= text.len()).then_some(offset)
}

/// The value of a multi-line string whose body (between the `"""`s) is `text[body]`: whitespace
/// escapes resolved, then dedented by the closing line's whitespace, then unescaped.
fn multiline(text: &str, body: Span, raw: bool, span: Span) -> Result<String> {
    let body = text.get(body).unwrap_or("");
    let resolved: Cow<str> = if !raw && body.contains('\\') {
        Cow::Owned(resolve_space_escapes(body))
    } else {
        Cow::Borrowed(body)
    };
    let first = newline_len(&resolved, 0);
    if first == 0 {
        return Err(error(
            "a multi-line string must start with a newline right after its opening `\"\"\"`",
            span,
        ));
    }
    let rest = resolved.get(first..).unwrap_or("");
    let last_newline = rest.char_indices().rev().find(|&(_, c)| is_newline(c)).map(|(i, c)| {
        let crlf = c == '\n' && i > 0 && rest.as_bytes().get(i - 1) == Some(&b'\r');
        if crlf { (i - 1, 2) } else { (i, c.len_utf8()) }
    });
    let (content, prefix) = match last_newline {
        Some((at, len)) => (rest.get(..at), rest.get(at + len..).unwrap_or("")),
        None => (None, rest),
    };
    if !prefix.chars().all(is_unicode_space) {
        return Err(error(
            "the closing `\"\"\"` of a multi-line string must be on its own line, after only whitespace",
            span,
        ));
    }
    let mut out = String::with_capacity(content.map_or(0, str::len));
    let locate = |line: &str, relative: Span| match (&resolved, offset_in(text, line)) {
        (Cow::Borrowed(_), Some(at)) => at + relative.start..at + relative.end,
        _ => span.clone(),
    };
    for (n, line) in (Lines {
        s: content.unwrap_or(""),
        at: content.map(|_| 0),
    })
    .enumerate()
    {
        if n > 0 {
            out.push('\n');
        }
        if line.chars().all(is_unicode_space) {
            continue;
        }
        let Some(dedented) = line.strip_prefix(prefix) else {
            let width = char_at(line, 0).map_or(0, char::len_utf8);
            return Err(error(
                "every line of a multi-line string must start with the same whitespace as its closing line",
                locate(line, 0..width),
            ));
        };
        if raw {
            out.push_str(dedented);
        } else {
            let skip = line.len() - dedented.len();
            unescape_into(dedented, &mut out)
                .map_err(|(m, relative)| error(m, locate(line, skip + relative.start..skip + relative.end)))?;
        }
    }
    Ok(out)
}
