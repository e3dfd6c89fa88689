//! A configuration file's text, and positions in it.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Byte range in a [`SourceFile`].
pub type Span = Range<usize>;

/// Largest configuration file we read. Real registries are far smaller (1,000 fleets is ~240 KB);
/// the cap keeps a hostile pull request from making `fleet serve` parse megabytes.
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// A loaded configuration file: where it came from and its text (BOM removed).
#[derive(Debug)]
pub struct SourceFile {
    /// Path as given or discovered (used for reading relative paths).
    pub path: PathBuf,
    /// Name shown in diagnostics.
    pub display_name: String,
    /// The text, without a leading UTF-8 byte-order mark.
    pub text: Arc<str>,
}

/// 1-based line and column (columns count characters, as editors do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl SourceFile {
    /// Wraps text already in memory (e.g. read from a git object).
    pub fn from_text(path: impl Into<PathBuf>, text: &str) -> Self {
        let path = path.into();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Self {
            display_name: path.display().to_string(),
            path,
            text: Arc::from(text),
        }
    }

    /// Line and column of a byte offset (clamped to the text).
    pub fn location(&self, offset: usize) -> Location {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].trim_end_matches('\r').chars().count() + 1,
        }
    }

    /// The source text of a span (empty when out of range).
    pub fn slice(&self, span: &Span) -> &str {
        self.text.get(span.clone()).unwrap_or("")
    }
}

/// Why a configuration file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is {size} bytes; configuration files are limited to {limit} bytes. Split it or check that the right file is named"
    )]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("{path} is not UTF-8 text (invalid byte at offset {offset}); save it as UTF-8")]
    NotUtf8 { path: String, offset: usize },
}

/// Reads a configuration file, refusing huge or non-UTF-8 files before parsing.
pub fn read_source(path: &Path) -> Result<SourceFile, ReadError> {
    let shown = path.display().to_string();
    let io = |source| ReadError::Io {
        path: shown.clone(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_CONFIG_BYTES {
        return Err(ReadError::TooLarge {
            path: shown,
            size,
            limit: MAX_CONFIG_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let text = String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8 {
        path: shown.clone(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    Ok(SourceFile::from_text(path, &text))
}
