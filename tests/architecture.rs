//! The module picture, checked: every `crate::…` path under src/ is an arrow between two
//! top-level modules, and
//! - no arrows form a cycle;
//! - no arrow runs against the layering the README draws:
//!   front doors → application → domain ← adapters (an adapter may use another adapter, an
//!   application module another application module, and so on within a layer; never upwards);
//! - every top-level module has its place in that picture.
//!
//! Comments are not read (a doc link is not a dependency).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first; a module may use modules of its own layer and of lower layers,
/// except that adapters and the domain meet only one way (adapters → domain).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "domain",
        &[
            "config", "plan", "chatops", "event", "secret", "clock", "images", "html",
        ],
    ),
    (
        "adapters",
        &["github", "docker", "ssh", "cloud", "operator", "git", "state_store"],
    ),
    ("application", &["application"]),
    ("front doors", &["cli", "action", "webhook", "console"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file under src/ belongs to (`src/plan/state.rs` → `plan`);
/// `None` for the crate root and the binary.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_owned())
}

/// Code without comments (`//` to the end of the line, `/* */`) and without the text of
/// string literals (their quotes stay); char literals are kept whole.
fn without_comments(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if in_string {
            match c {
                '\\' => i += 1,
                '"' => {
                    in_string = false;
                    out.push(c);
                }
                '\n' => out.push(c),
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == '\'' && next == Some('\\') && chars.get(i + 3) == Some(&'\'') {
            i += 3; // '\x'
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 2; // 'x'
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                if chars[i] == '\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first segments after each `crate::` in `code`, with their line numbers; a group
/// (`crate::{a::X, b}`) gives each of its members.
fn crate_paths(code: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && code[..at].chars().next_back().is_some_and(is_ident) {
            continue; // `fleetflow_crate::`, not ours
        }
        let line = code[..at].matches('\n').count() + 1;
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && is_ident(c) => {
                        found.push((group[i..].chars().take_while(|&c| is_ident(c)).collect(), line));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            if !name.is_empty() {
                found.push((name, line));
            }
        }
    }
    found
}

/// Arrows between top-level modules, each with where it is written (`src/x.rs:12`).
fn arrows() -> BTreeMap<(String, String), Vec<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut arrows: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for file in &files {
        let Some(from) = module_of(&src, file) else { continue };
        let code = without_comments(&std::fs::read_to_string(file).expect("read a source file"));
        for (to, line) in crate_paths(&code) {
            if to != from && to != "self" && to != "super" {
                let at = format!(
                    "{}:{line}",
                    file.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(file).display()
                );
                arrows.entry((from.clone(), to)).or_default().push(at);
            }
        }
    }
    arrows
}

/// Every cycle's modules (strongly connected components with more than one module).
fn cycles(arrows: &BTreeMap<(String, String), Vec<String>>) -> Vec<BTreeSet<String>> {
    let modules: BTreeSet<&String> = arrows.keys().flat_map(|(a, b)| [a, b]).collect();
    let reaches = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for (a, b) in arrows.keys() {
                if *a == m && seen.insert(b.clone()) {
                    todo.push(b.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> = modules.iter().map(|m| (*m, reaches(m))).collect();
    let mut components: Vec<BTreeSet<String>> = Vec::new();
    for m in &modules {
        let component: BTreeSet<String> = modules
            .iter()
            .filter(|n| reach[*m].contains(**n) && reach[**n].contains(*m))
            .map(|n| (*n).clone())
            .collect();
        if component.len() > 1 && !components.contains(&component) {
            components.push(component);
        }
    }
    components
}

#[test]
fn top_level_modules_form_no_cycle() {
    let arrows = arrows();
    let cycles = cycles(&arrows);
    let mut report = String::new();
    for cycle in &cycles {
        report.push_str(&format!("cycle between {cycle:?}:\n"));
        for ((a, b), at) in &arrows {
            if cycle.contains(a) && cycle.contains(b) {
                report.push_str(&format!("  {a} → {b} at {}\n", at.join(", ")));
            }
        }
    }
    assert!(cycles.is_empty(), "{report}");
}

#[test]
fn arrows_follow_the_layers() {
    let arrows = arrows();
    let mut wrong = Vec::new();
    for ((a, b), at) in &arrows {
        let (Some(la), Some(lb)) = (layer_of(a), layer_of(b)) else {
            wrong.push(format!(
                "{a} → {b}: a module outside the picture (add it to LAYERS and the README)"
            ));
            continue;
        };
        if la < lb {
            wrong.push(format!(
                "{a} ({}) → {b} ({}) reaches up, at {}",
                LAYERS[la].0,
                LAYERS[lb].0,
                at.join(", ")
            ));
        }
    }
    assert!(wrong.is_empty(), "arrows against the layering:\n{}", wrong.join("\n"));
}

#[test]
fn every_module_has_its_place() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let outside: Vec<&String> = modules.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(outside.is_empty(), "modules with no layer: {outside:?}");
    for (_, names) in LAYERS {
        for name in *names {
            assert!(modules.contains(*name), "LAYERS names {name}, which src/ does not have");
        }
    }
}

#[test]
fn the_reader_sees_what_it_should() {
    // The checks above are only as good as the reading of paths: a grouped import, a path in
    // an expression; not one in a string, a comment or after a char literal's quote.
    let code = without_comments(
        "use crate::{config::X, plan::{a, b}};\nlet x = crate::ssh::quote(\"crate::fake \\\" crate::f2\");\nlet q = '\"';\n// crate::cloud::Y\n/* crate::docker */ crate::clock::now();",
    );
    let paths: Vec<String> = crate_paths(&code).into_iter().map(|(m, _)| m).collect();
    assert_eq!(paths, ["config", "plan", "ssh", "clock"]);
}

#[test]
fn the_readme_draws_the_same_picture() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md");
    let layout = readme.split("\n## Layout\n").nth(1).expect("a Layout section");
    let picture = layout.split("```").nth(1).expect("the layout picture");
    for (layer, modules) in LAYERS {
        let line = picture
            .lines()
            .find(|l| l.starts_with(layer))
            .unwrap_or_else(|| panic!("the README's picture has no `{layer}` line"));
        for module in *modules {
            let dir = format!("{module}/");
            let file = format!("{module}.rs");
            assert!(
                line.split_whitespace().any(|w| w == dir || w == file),
                "the README's `{layer}` line does not name {module}: {line}"
            );
        }
    }
}

#[test]
fn every_requirement_cited_is_written_down() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/requirements.md")).expect("docs/requirements.md");
    let headings: Vec<&str> = doc.lines().filter(|l| l.starts_with('#')).collect();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut missing = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a source file");
        for (at, _) in text.match_indices("FS-").chain(text.match_indices("seed 0")) {
            let id: String = text[at..]
                .chars()
                .take(if text[at..].starts_with("FS-") { 6 } else { 8 })
                .collect();
            let id = id.replace("seed", "Seed");
            if !headings.iter().any(|h| h.contains(&id)) {
                missing.insert(format!("{id} ({})", file.display()));
            }
        }
    }
    assert!(missing.is_empty(), "cited but not in docs/requirements.md: {missing:?}");
}

#[test]
fn the_plan_engine_does_no_io() {
    // plan/ is pure: files, processes, the network and the clock are the adapters' business.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src/plan"), &mut files);
    assert!(!files.is_empty());
    let effects = [
        "std::fs",
        "std::process",
        "std::net",
        "tokio::",
        "reqwest",
        "std::env",
        "Instant::now",
        "SystemTime",
    ];
    let mut found = Vec::new();
    for file in files {
        let code = without_comments(&std::fs::read_to_string(&file).expect("a source file"));
        for effect in effects {
            if code.contains(effect) {
                found.push(format!("{} uses {effect}", file.display()));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}
