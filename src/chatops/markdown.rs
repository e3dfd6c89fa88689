//! Which lines of a comment GitHub shows as plain text, following CommonMark: a command is
//! only what a reader sees as a command. Fenced code (a fence closes only with at least as many
//! of its own characters), indented code (four columns, a tab counting to the next multiple of
//! four), quotes, HTML comments (`<!-- … -->`, invisible on GitHub) and raw `<pre>`, `<script>`,
//! `<style>` and `<textarea>` blocks are not. Where reading is uncertain, a line is left out:
//! a command that is not run can be written again, a hidden one cannot be unseen.

/// What the lines being read are inside of.
#[derive(Debug, Clone, Copy)]
enum Block {
    Text,
    Fence {
        marker: u8,
        len: usize,
    },
    /// Raw HTML until `end` (matched case-insensitively).
    Hidden {
        end: &'static str,
    },
}

/// HTML blocks whose content is code or not shown, and what ends them.
const HIDDEN_BLOCKS: &[(&str, &str)] = &[
    ("<pre", "</pre>"),
    ("<script", "</script>"),
    ("<style", "</style>"),
    ("<textarea", "</textarea>"),
];
const COMMENT_OPEN: &str = "<!--";
const COMMENT_CLOSE: &str = "-->";

/// The visible lines of `body` that start with `/` (not `//`), without any HTML comment
/// that starts on them, trimmed.
pub fn command_lines(body: &str) -> impl Iterator<Item = &str> {
    let mut block = Block::Text;
    body.lines().filter_map(move |raw| {
        match block {
            Block::Fence { marker, len } => {
                if fence_of(raw).is_some_and(|(m, n, info)| m == marker && n >= len && info.trim().is_empty()) {
                    block = Block::Text;
                }
                return None;
            }
            Block::Hidden { end } => {
                if let Some(at) = find_ignoring_case(raw, end) {
                    block = after_comments(&raw[at + end.len()..]);
                }
                return None;
            }
            Block::Text => {}
        }
        if let Some((marker, len, _)) = fence_of(raw) {
            block = Block::Fence { marker, len };
            return None;
        }
        let (columns, rest) = indentation(raw);
        if columns < 4
            && let Some((_, end)) = HIDDEN_BLOCKS
                .iter()
                .find(|(open, _)| rest.get(..open.len()).is_some_and(|s| s.eq_ignore_ascii_case(open)))
        {
            block = match find_ignoring_case(rest, end) {
                Some(at) => after_comments(&rest[at + end.len()..]),
                None => Block::Hidden { end },
            };
            return None;
        }
        block = after_comments(rest);
        let visible = rest.find(COMMENT_OPEN).map_or(rest, |at| &rest[..at]);
        (columns < 4 && visible.starts_with('/') && !visible.starts_with("//")).then(|| visible.trim_end())
    })
}

/// The block after `text` on a line read as text: inside a comment when its last `<!--` is
/// not closed.
fn after_comments(mut text: &str) -> Block {
    while let Some(open) = text.find(COMMENT_OPEN) {
        match text[open + COMMENT_OPEN.len()..].find(COMMENT_CLOSE) {
            Some(close) => text = &text[open + COMMENT_OPEN.len() + close + COMMENT_CLOSE.len()..],
            None => return Block::Hidden { end: COMMENT_CLOSE },
        }
    }
    Block::Text
}

/// Columns of leading spaces and tabs (a tab to the next multiple of four), and the rest.
fn indentation(line: &str) -> (usize, &str) {
    let mut columns = 0;
    for (i, b) in line.bytes().enumerate() {
        match b {
            b' ' => columns += 1,
            b'\t' => columns += 4 - columns % 4,
            _ => return (columns, &line[i..]),
        }
    }
    (columns, "")
}

/// A code fence on `line`: its character, its length and its info string. Quote and list
/// markers before it are looked through (a fence there opens code too; if it really closed
/// with its container, a few visible lines are read as code, which is the safe side).
fn fence_of(line: &str) -> Option<(u8, usize, &str)> {
    let (columns, mut rest) = indentation(line);
    if columns >= 4 {
        return None;
    }
    loop {
        let stripped = strip_container_marker(rest);
        if stripped.len() == rest.len() {
            break;
        }
        rest = stripped;
    }
    let marker = *rest.as_bytes().first()?;
    if marker != b'`' && marker != b'~' {
        return None;
    }
    let len = rest.bytes().take_while(|&b| b == marker).count();
    let info = &rest[len..];
    (len >= 3 && !(marker == b'`' && info.contains('`'))).then_some((marker, len, info))
}

/// `rest` after one `>`, `-`, `*`, `+` or `1.`/`1)` marker and the spaces after it; `rest`
/// itself when it starts with none.
fn strip_container_marker(rest: &str) -> &str {
    let bytes = rest.as_bytes();
    let after = match bytes.first() {
        Some(b'>') => 1,
        Some(b'-' | b'*' | b'+') if matches!(bytes.get(1), Some(b' ' | b'\t')) => 1,
        Some(b'0'..=b'9') => {
            let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
            match (digits <= 9, bytes.get(digits), bytes.get(digits + 1)) {
                (true, Some(b'.' | b')'), Some(b' ' | b'\t')) => digits + 1,
                _ => 0,
            }
        }
        _ => 0,
    };
    if after == 0 {
        return rest;
    }
    indentation(&rest[after..]).1
}

fn find_ignoring_case(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    (0..(h.len() + 1).saturating_sub(n.len())).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}
