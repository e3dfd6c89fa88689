//! `config::kdl_v2::parse` (our own KDL v2 parser) against the official KDL v2 test suite, against
//! the just-kdl based `syntax::parse_v2` it replaces, on spans, and on hostile input.

use std::path::{Path, PathBuf};

use fleetflow::config::kdl_v2::parse;
use fleetflow::config::syntax::{MAX_NESTING, RawNode, RawValue, Scalar, SyntaxError};

#[path = "../benches/support/just_kdl_tree.rs"]
mod just_kdl_tree;
use just_kdl_tree::parse as parse_v2;

#[path = "support/kdl_suite.rs"]
mod kdl_suite;

/// `(input path, valid)` for every case of the v2 suite.
fn suite() -> Vec<(PathBuf, bool)> {
    kdl_suite::suite("v2")
}

fn name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read(path: &Path) -> Option<String> {
    String::from_utf8(std::fs::read(path).expect("read")).ok()
}

#[test]
fn every_valid_input_parses_and_every_invalid_one_is_rejected() {
    let cases = suite();
    assert_eq!(cases.iter().filter(|(_, v)| *v).count(), 241);
    assert_eq!(cases.iter().filter(|(_, v)| !*v).count(), 95);
    let mut rejected_valid = Vec::new();
    let mut accepted_invalid = Vec::new();
    for (path, valid) in &cases {
        let result = read(path).map(|text| parse(&text));
        match (valid, result) {
            (true, Some(Err(e))) => rejected_valid.push(format!("{}: {} at {:?}", name(path), e.message, e.span)),
            (true, None) => rejected_valid.push(format!("{}: not UTF-8", name(path))),
            (false, Some(Ok(_))) => accepted_invalid.push(name(path)),
            _ => {}
        }
    }
    assert!(rejected_valid.is_empty(), "valid inputs rejected: {rejected_valid:#?}");
    assert!(
        accepted_invalid.is_empty(),
        "invalid inputs accepted: {accepted_invalid:#?}"
    );
}

/// A node without spans, floats as bits so that NaN equals NaN.
#[derive(Debug, PartialEq)]
enum Plain {
    String(String),
    Integer(i64),
    Float(u64),
    Bool(bool),
    Null,
}

#[derive(Debug, PartialEq)]
struct PlainNode {
    name: String,
    args: Vec<Plain>,
    props: Vec<(String, Plain)>,
    children: Option<Vec<PlainNode>>,
}

fn plain_value(v: &RawValue) -> Plain {
    match &v.value {
        Scalar::String(s) => Plain::String(s.clone()),
        Scalar::Integer(i) => Plain::Integer(*i),
        Scalar::Float(f) if f.is_nan() => Plain::Float(f64::NAN.to_bits()),
        Scalar::Float(f) => Plain::Float(f.to_bits()),
        Scalar::Bool(b) => Plain::Bool(*b),
        Scalar::Null => Plain::Null,
    }
}

fn plain(nodes: &[RawNode]) -> Vec<PlainNode> {
    nodes
        .iter()
        .map(|n| PlainNode {
            name: n.name.clone(),
            args: n.args.iter().map(plain_value).collect(),
            props: n.props.iter().map(|p| (p.key.clone(), plain_value(&p.value))).collect(),
            children: n.children.as_deref().map(plain),
        })
        .collect()
}

/// Valid inputs where the just-kdl based `syntax::parse_v2` is the one that is wrong: hex
/// integers beyond `i64` come out as NaN there (`number_from_text` cannot parse the canonical
/// text `0x…` as a float); we give the number as a float, as the suite's expected output does.
const REFERENCE_IS_WRONG: &[(&str, f64)] = &[
    ("hex.kdl", 12379813812177893520.0),            // 0xabcdef1234567890
    ("hex_int.kdl", 207698809136909011942886895.0), // 0xABCDEF0123456789abcdef
];

#[test]
fn trees_equal_the_just_kdl_based_parser() {
    let mut compared = 0;
    let mut differences = Vec::new();
    for (path, _) in suite().iter().filter(|(_, valid)| *valid) {
        let text = read(path).expect("valid inputs are UTF-8");
        let ours = parse(&text).map(|n| plain(&n)).map_err(|e| e.message);
        let reference = std::panic::catch_unwind(|| parse_v2(&text).map(|n| plain(&n)).map_err(|e| e.message));
        let Ok(reference) = reference else {
            differences.push(format!("{}: just-kdl panicked", name(path)));
            continue;
        };
        compared += 1;
        if let Some((_, value)) = REFERENCE_IS_WRONG.iter().find(|(file, _)| *file == name(path)) {
            let first_arg = |r: &Result<Vec<PlainNode>, String>| {
                r.as_ref()
                    .ok()
                    .and_then(|n| n.first()?.args.first().map(|a| format!("{a:?}")))
            };
            let expected = |v: f64| Some(format!("{:?}", Plain::Float(v.to_bits())));
            assert_eq!(first_arg(&ours), expected(*value), "{}", name(path));
            assert_eq!(first_arg(&reference), expected(f64::NAN), "{}", name(path));
        } else if ours != reference {
            differences.push(format!(
                "{}:\n  ours:      {ours:?}\n  reference: {reference:?}",
                name(path)
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    assert_eq!(compared, 241);
}

#[test]
fn big_hex_numbers_become_floats() {
    let nodes = parse("n 0xabcdef1234567890 -0x8000000000000000 0x7fff_ffff_ffff_ffff 0b1 0o17").expect("parses");
    let args: Vec<Plain> = nodes[0].args.iter().map(plain_value).collect();
    assert_eq!(
        args,
        vec![
            Plain::Float(12379813812177893520f64.to_bits()),
            Plain::Integer(i64::MIN),
            Plain::Integer(i64::MAX),
            Plain::Integer(1),
            Plain::Integer(15),
        ]
    );
}

fn args_of(text: &str) -> Vec<Vec<Plain>> {
    match parse(text) {
        Ok(nodes) => nodes.iter().map(|n| n.args.iter().map(plain_value).collect()).collect(),
        Err(e) => panic!("{text:?}: {e:?}"),
    }
}

fn s(text: &str) -> Plain {
    Plain::String(text.into())
}

/// Inputs outside the suite where just-kdl 0.3 goes wrong (so the comparison above cannot
/// cover them), checked against the spec by hand.
#[test]
fn cases_just_kdl_gets_wrong() {
    // CRLF ends a line continuation like LF does (just-kdl starts a new node at the LF).
    assert_eq!(args_of("a \\\r\nb"), vec![vec![s("b")]]);
    assert_eq!(args_of("a \\ // note\r\nb c"), vec![vec![s("b"), s("c")]]);
    // A number may be followed directly by a comment (just-kdl: "invalid number value").
    assert_eq!(
        args_of("n 1/*c*/2 3// x"),
        vec![vec![Plain::Integer(1), Plain::Integer(2), Plain::Integer(3)]]
    );
    // A slashdashed children block after the real one does not swallow the next node.
    assert_eq!(parse("n {} /-{}\na").expect("parses").len(), 2);
    // just-kdl loops forever on the first, and panics (char boundary) on the second.
    assert!(parse("node 1 2 /-\n{\"\"\"\n    child\n\n").is_err());
    assert!(parse("node #\"\"\"\n \u{a0}  hey\n  \"\"\"#\n").is_err());
    // The first `"""##` closes a `##"""` raw string, even in the middle of a line (kdl-rs
    // agrees; just-kdl reads on to a later one).
    assert!(parse("n ##\"\"\"\nab\"\"\"\"##\n\"\"\"##").is_err());
}

fn at<'t>(text: &'t str, span: &std::ops::Range<usize>) -> &'t str {
    &text[span.clone()]
}

#[test]
fn spans_cover_exactly_the_token() {
    let text = "(t)\"quoted name\" key=\"v\" 12 (u8)7 other = #true\n";
    let n = &parse(text).expect("parses")[0];
    assert_eq!(at(text, &n.name_span), "\"quoted name\"");
    assert_eq!(n.name, "quoted name");
    assert_eq!(at(text, &n.props[0].value.span), "\"v\"");
    assert_eq!(at(text, &n.args[0].span), "12");
    assert_eq!(at(text, &n.args[1].span), "7");
    assert_eq!(at(text, &n.props[1].value.span), "#true");

    // Non-ASCII text (and an ideographic space) before the tokens: byte offsets.
    let text = "ノード\u{3000}名前=ฅ^•ﻌ•^ฅ \"é\" #\"raw\"#\n";
    let n = &parse(text).expect("parses")[0];
    assert_eq!(n.name_span, 0..9);
    assert_eq!(at(text, &n.props[0].value.span), "ฅ^•ﻌ•^ฅ");
    assert_eq!(at(text, &n.args[0].span), "\"é\"");
    assert_eq!(at(text, &n.args[1].span), "#\"raw\"#");

    // CRLF line endings, children, a multi-line string.
    let text = "a 1\r\nparent {\r\n    child \"\"\"\r\n        x\r\n        \"\"\" k=2\r\n}\r\n";
    let nodes = parse(text).expect("parses");
    assert_eq!(at(text, &nodes[0].args[0].span), "1");
    assert_eq!(at(text, &nodes[1].name_span), "parent");
    let child = &nodes[1].children()[0];
    assert_eq!(at(text, &child.name_span), "child");
    assert_eq!(at(text, &child.args[0].span), "\"\"\"\r\n        x\r\n        \"\"\"");
    assert_eq!(child.args[0].value, Scalar::String("x".into()));
    assert_eq!(at(text, &child.props[0].value.span), "2");

    // A BOM is skipped, and offsets still count it.
    let text = "\u{feff}node";
    assert_eq!(parse(text).expect("parses")[0].name_span, 3..7);
}

fn error_of(text: &str) -> SyntaxError {
    match parse(text) {
        Ok(nodes) => panic!("{text:?} parsed: {nodes:?}"),
        Err(e) => e,
    }
}

#[test]
fn bare_keywords_point_at_the_keyword() {
    for (text, word) in [
        ("cloudflare proxied=true\n", "true"),
        ("x true", "true"),
        ("x a=  false;", "false"),
        ("x null", "null"),
        ("x (t)nan", "nan"),
        ("x -inf", "-inf"),
    ] {
        let e = error_of(text);
        assert_eq!(&text[e.span.clone()], word, "{text:?}: {e:?}");
        assert!(
            e.message.contains(&format!("write `#{word}`")),
            "{text:?}: {}",
            e.message
        );
    }
}

#[test]
fn errors_point_at_the_offending_byte() {
    for (text, offending, message) in [
        ("a }", "}", "unexpected `}`"),
        ("a \"open", "\"", "unterminated string"),
        ("a {\n b", "{", "unclosed `{`"),
        ("a b=\n", "=", "expected a value after `=`"),
        ("a \"x\"1", "1", "expected whitespace"),
        ("a {} b", "b", "after the children block"),
        ("a \"\\q\"", "\\q", "invalid escape"),
        ("é 1 /* never closed", "/*", "unterminated `/*` comment"),
        ("a 1\u{200E}", "\u{200E}", "U+200E"),
    ] {
        let e = error_of(text);
        assert_eq!(text.get(e.span.clone()), Some(offending), "{text:?}: {e:?}");
        assert!(e.message.contains(message), "{text:?}: {}", e.message);
    }
}

#[test]
fn nesting_is_capped_without_recursion() {
    let ok = "a {".repeat(MAX_NESTING - 1) + "a" + &"}".repeat(MAX_NESTING - 1);
    assert!(parse(&ok).is_ok());
    let too_deep = "a {".repeat(MAX_NESTING) + "a" + &"}".repeat(MAX_NESTING);
    assert!(error_of(&too_deep).message.contains("nested deeper than"));
    let hostile = "a {".repeat(100_000);
    assert!(error_of(&hostile).message.contains("nested deeper than"));
    let slashdashed = "/- a {".repeat(100_000);
    assert!(error_of(&slashdashed).message.contains("nested deeper than"));
}

#[test]
fn four_megabytes_of_nodes_parse() {
    let node = "server \"vps-001\" plan=\"core4\" port=8080 ratio=0.5 { ssh-host \"10.0.0.1\"; enabled #true }\n";
    let count = 4 * 1024 * 1024 / node.len() + 1;
    let text = node.repeat(count);
    assert!(text.len() >= 4 * 1024 * 1024);
    let nodes = parse(&text).expect("parses");
    assert_eq!(nodes.len(), count);
    assert_eq!(nodes[count - 1].children().len(), 2);
}

#[test]
fn long_tokens_are_linear() {
    // Quadratic scanning of any of these would take minutes in a debug build.
    let n = 2 * 1024 * 1024;
    let escaped = format!("a \"{}\"", "x\\n".repeat(n / 3));
    assert!(parse(&escaped).is_ok());
    let raw = format!("a ####\"{}\"####", "\"###".repeat(n / 4));
    assert!(parse(&raw).is_ok());
    let multi = format!("a \"\"\"\n{}  \"\"\"", "  line \\\n  \\s\n".repeat(n / 16));
    assert!(parse(&multi).is_ok());
    let comment = format!("/*{}*/ a", "/**/*".repeat(n / 5));
    assert!(parse(&comment).is_ok());
    let unterminated = format!("a \"\"\"\n{}", "\"\"".repeat(n / 2));
    assert!(parse(&unterminated).is_err());
    let word = format!("a {}", "é".repeat(n / 2));
    assert!(parse(&word).is_ok());
    let digits = format!("a {}", "1_".repeat(n / 2));
    assert!(matches!(
        parse(&digits).expect("parses")[0].args[0].value,
        Scalar::Float(_)
    ));
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "{", "}", "\"", "\"\"\"", "\\", "#", "##", "/", "-", "/-", "/*", "*/", "//", "=", "(", ")", ";", "\n", "\r\n",
    "\r", " ", "\t", "0", "1", "e", ".", "_", "x", "0x", "+", "#true", "true", "#inf", "\u{a0}", "é", "\u{2028}",
    "\u{85}", "\u{feff}", "\u{200e}", "\u{b}", "\\u{", "\\s", "a", "🦀",
];

/// Every span of a tree or an error lies in the text, on char boundaries.
fn check_spans(text: &str, result: &Result<Vec<RawNode>, SyntaxError>) {
    let ok = |s: &std::ops::Range<usize>| s.start <= s.end && text.get(s.clone()).is_some();
    match result {
        Err(e) => assert!(ok(&e.span), "error span {:?} in {text:?}", e.span),
        Ok(nodes) => {
            let mut stack: Vec<&RawNode> = nodes.iter().collect();
            while let Some(n) = stack.pop() {
                assert!(ok(&n.name_span), "{text:?}");
                assert!(
                    n.args
                        .iter()
                        .chain(n.props.iter().map(|p| &p.value))
                        .all(|v| ok(&v.span)),
                    "{text:?}"
                );
                stack.extend(n.children());
            }
        }
    }
}

#[test]
fn random_mutations_never_panic() {
    let inputs: Vec<String> = suite().iter().filter_map(|(path, _)| read(path)).collect();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for round in 0..20_000 {
        let mut text = inputs[rng.below(inputs.len())].clone();
        for _ in 0..1 + rng.below(4) {
            let mut at = rng.below(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            match rng.below(4) {
                0 => text.insert_str(at, PIECES[rng.below(PIECES.len())]),
                1 => {
                    let mut end = (at + 1 + rng.below(8)).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, "");
                }
                2 => {
                    let piece = text[at..].chars().take(1 + rng.below(12)).collect::<String>();
                    text.insert_str(at, &piece);
                }
                _ => {
                    let piece = PIECES[rng.below(PIECES.len())];
                    let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
                    text.replace_range(at..end, piece);
                }
            }
        }
        let result = std::panic::catch_unwind(|| parse(&text));
        match result {
            Ok(result) => check_spans(&text, &result),
            Err(_) => panic!("round {round}: parse panicked on {text:?}"),
        }
    }
}
