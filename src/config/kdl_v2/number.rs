//! Numbers: decimal, `0x`/`0o`/`0b`, with `_` separators.

use std::borrow::Cow;

use super::lexer::{Result, error};
use crate::config::source::Span;
use crate::config::syntax::Scalar;

/// A number; `word` starts with a digit, or a sign and a digit.
pub(super) fn number(word: &str, span: Span) -> Result<Scalar> {
    let invalid = || error(format!("`{word}` is not a valid number"), span.clone());
    let (negative, unsigned) = match word.as_bytes().first() {
        Some(b'-') => (true, word.get(1..).unwrap_or("")),
        Some(b'+') => (false, word.get(1..).unwrap_or("")),
        _ => (false, word),
    };
    let radix = match unsigned.as_bytes() {
        [b'0', b'x', ..] => 16,
        [b'0', b'o', ..] => 8,
        [b'0', b'b', ..] => 2,
        _ => 10,
    };
    if radix != 10 {
        return radix_number(unsigned.get(2..).unwrap_or(""), radix, negative).ok_or_else(invalid);
    }
    let b = unsigned.as_bytes();
    let digits = |i: &mut usize| {
        if !b.get(*i).is_some_and(u8::is_ascii_digit) {
            return false;
        }
        while b.get(*i).is_some_and(|&c| c.is_ascii_digit() || c == b'_') {
            *i += 1;
        }
        true
    };
    let mut i = 0;
    let mut float = false;
    if !digits(&mut i) {
        return Err(invalid());
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return Err(invalid());
        }
        float = true;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return Err(invalid());
        }
        float = true;
    }
    if i != b.len() {
        return Err(invalid());
    }
    let clean: Cow<str> = if word.contains('_') {
        Cow::Owned(word.replace('_', ""))
    } else {
        Cow::Borrowed(word)
    };
    if !float && let Ok(v) = clean.parse::<i64>() {
        return Ok(Scalar::Integer(v));
    }
    clean.parse::<f64>().map(Scalar::Float).map_err(|_| invalid())
}

/// Digits of a `0x`/`0o`/`0b` number (after the prefix). Integers beyond `i64` become floats.
fn radix_number(digits: &str, radix: u32, negative: bool) -> Option<Scalar> {
    let value = |b: u8| char::from(b).to_digit(radix);
    value(*digits.as_bytes().first()?)?;
    let mut exact = Some(0u128);
    let mut approx = 0f64;
    for &b in digits.as_bytes() {
        if b == b'_' {
            continue;
        }
        let d = value(b)?;
        approx = approx * f64::from(radix) + f64::from(d);
        exact = exact.and_then(|v| v.checked_mul(u128::from(radix))?.checked_add(u128::from(d)));
    }
    let sign = if negative { -1.0 } else { 1.0 };
    Some(match exact {
        Some(magnitude) => {
            let signed = i128::try_from(magnitude).ok().map(|m| if negative { -m } else { m });
            match signed.and_then(|v| i64::try_from(v).ok()) {
                Some(v) => Scalar::Integer(v),
                None => Scalar::Float(sign * magnitude as f64),
            }
        }
        None => Scalar::Float(sign * approx),
    })
}
