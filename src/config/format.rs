//! The canonical form of a configuration file (`fleet fmt`): four spaces of indentation per
//! level of braces, no trailing spaces, at most one blank line in a row (none just inside a
//! block), one blank line before each top-level node (and before the comments that belong to
//! it). Everything else is kept as written: values, quotes, comments, the KDL version, and
//! multi-line strings line for line. Formatting what is already formatted changes nothing, and
//! a result that would not read as the same document is refused.

use kdl::KdlDocument;

/// Why a file was not formatted.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("not a KDL document (v2 or v1): {0}")]
    NotKdl(String),
    /// A safety net: re-indenting must never change what the document says.
    #[error("formatting would change what the document says; left as it is")]
    WouldChange,
}

/// `text` in the canonical form.
pub fn format_text(text: &str) -> Result<String, FormatError> {
    let before = canonical(text)?;
    let out = spaced(&reindented(text));
    if canonical(&out)? != before {
        return Err(FormatError::WouldChange);
    }
    Ok(out)
}

/// The document without any formatting: what it says, to compare.
fn canonical(text: &str) -> Result<String, FormatError> {
    let mut doc = match KdlDocument::parse_v2(text) {
        Ok(doc) => doc,
        Err(v2) => KdlDocument::parse_v1(text).map_err(|_| FormatError::NotKdl(v2.to_string()))?,
    };
    doc.clear_format_recursive();
    Ok(doc.to_string())
}

/// Where a line starts: inside a string or a block comment (kept as it is), else at a depth.
#[derive(Clone, Copy, PartialEq)]
enum Start {
    Inside,
    Depth(usize),
}

/// Each line re-indented by its depth, and whether it is kept as written (it starts inside a
/// string or comment).
fn reindented(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut scan = Scanner::default();
    for line in text.lines() {
        let start = scan.start();
        scan.line(line);
        out.push(match start {
            Start::Inside => (line.to_owned(), true),
            Start::Depth(depth) => {
                let body = line.trim();
                let depth = if body.starts_with('}') {
                    depth.saturating_sub(1)
                } else {
                    depth
                };
                let text = if body.is_empty() {
                    String::new()
                } else {
                    format!("{}{body}", "    ".repeat(depth))
                };
                (text, false)
            }
        });
    }
    out
}

/// At most one blank line in a row, none just inside a block, one before each top-level node;
/// lines inside a string or comment pass as they are.
fn spaced(lines: &[(String, bool)]) -> String {
    // For each line: whether the next line with text closes a block (one pass, from the end).
    let mut closes_next = vec![false; lines.len()];
    let mut next_closes = true;
    for (i, (line, _)) in lines.iter().enumerate().rev() {
        closes_next[i] = next_closes;
        if !line.is_empty() {
            next_closes = line.trim_start().starts_with('}');
        }
    }
    let mut out: Vec<&str> = Vec::new();
    for (i, (line, kept)) in lines.iter().enumerate() {
        let previous = out.last().copied();
        if *kept {
            out.push(line);
            continue;
        }
        if line.is_empty() {
            let after_open = previous.is_none_or(|p| p.ends_with('{') || p.is_empty());
            if !after_open && !closes_next[i] {
                out.push("");
            }
            continue;
        }
        let top = !line.starts_with([' ', '}']);
        let attached = previous.is_some_and(|p| p.starts_with("//") || p.starts_with("/*"));
        let after_kept = i.checked_sub(1).is_some_and(|j| lines[j].1);
        if top && previous.is_some_and(|p| !p.is_empty()) && !attached && !after_kept {
            out.push("");
        }
        out.push(line);
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// Tracks braces outside strings and comments, line by line.
#[derive(Default)]
struct Scanner {
    depth: usize,
    /// Inside a `"…"` (or `"""…"""`) string: its closing quote count.
    string: Option<usize>,
    /// Inside a raw string: the number of `#` that close it.
    raw: Option<usize>,
    /// Nested `/* */` depth.
    comment: usize,
}

impl Scanner {
    fn start(&self) -> Start {
        if self.string.is_some() || self.raw.is_some() || self.comment > 0 {
            Start::Inside
        } else {
            Start::Depth(self.depth)
        }
    }

    fn line(&mut self, line: &str) {
        let chars: Vec<char> = line.chars().collect();
        let at = |i: usize| chars.get(i).copied();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if self.comment > 0 {
                if c == '*' && at(i + 1) == Some('/') {
                    self.comment -= 1;
                    i += 1;
                } else if c == '/' && at(i + 1) == Some('*') {
                    self.comment += 1;
                    i += 1;
                }
            } else if let Some(hashes) = self.raw {
                let closes = c == '"' && (1..=hashes).all(|k| at(i + k) == Some('#'));
                if closes {
                    self.raw = None;
                    i += hashes;
                }
            } else if let Some(quotes) = self.string {
                if c == '\\' {
                    i += 1;
                } else if c == '"' && (0..quotes).all(|k| at(i + k) == Some('"')) {
                    self.string = None;
                    i += quotes - 1;
                }
            } else {
                match c {
                    '/' if at(i + 1) == Some('/') => return,
                    '/' if at(i + 1) == Some('*') => {
                        self.comment = 1;
                        i += 1;
                    }
                    '"' => {
                        let triple = at(i + 1) == Some('"') && at(i + 2) == Some('"');
                        self.string = Some(if triple { 3 } else { 1 });
                        if triple {
                            i += 2;
                        }
                    }
                    '#' | 'r' => {
                        if let Some((hashes, quote_at)) = raw_opening(&chars, i) {
                            self.raw = Some(hashes);
                            i = quote_at;
                        }
                    }
                    '{' => self.depth += 1,
                    '}' => self.depth = self.depth.saturating_sub(1),
                    _ => {}
                }
            }
            i += 1;
        }
        // A line comment ends with its line; so does an ordinary one-line string in v1 (a
        // newline inside `"…"` is part of the string in both versions: kept).
    }
}

/// `#"`, `##"`, … (v2) or `r"`, `r#"` (v1) at `i`: the number of `#` and where the quote is.
fn raw_opening(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let start = if chars[i] == 'r' {
        let before = i.checked_sub(1).map(|j| chars[j]);
        if before.is_some_and(|b| b.is_alphanumeric() || b == '-' || b == '_') {
            return None;
        }
        i + 1
    } else {
        i
    };
    let hashes = chars[start..].iter().take_while(|c| **c == '#').count();
    let quote = start + hashes;
    (chars.get(quote) == Some(&'"') && (hashes > 0 || chars[i] == 'r')).then_some((hashes, quote))
}
