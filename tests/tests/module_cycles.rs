//! Layers point one way: no import cycle between the modules of any crate
//! of the workspace.
//!
//! Each source file is a module (`a/b.rs` and `a/b/mod.rs` are `a::b`).
//! Every `crate::…` / `super::…` path in a file's code (use trees included;
//! comments and the trailing `#[cfg(test)] mod tests` left out) is an edge
//! to the deepest module the path names. Edges between a module and its own
//! ancestors or descendants (`super::Item` in a child, `mod child` in the
//! parent) are how Rust nests modules and do not count; any other cycle
//! fails the test, naming the modules in it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The library crates' source roots (binaries only wire these together).
const CRATES: &[&str] = &[
    "shared/src",
    "infra/src",
    "functions/sync/src",
    "functions/reports/src",
    "functions/reminders/src",
    "tests/src",
    "bench/src",
];

type Module = Vec<String>;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// `src/a/b.rs` → `a::b`; `src/a/mod.rs` → `a`; `src/lib.rs` → the root.
fn module_of(root: &Path, file: &Path) -> Option<Module> {
    let rel = file.strip_prefix(root).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if parts.first().map(String::as_str) == Some("bin") {
        return None;
    }
    match stem {
        "lib" if parts.is_empty() => {}
        "main" if parts.is_empty() => return None,
        "mod" => {}
        s => parts.push(s.to_string()),
    }
    Some(parts)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file: comments and string literals blanked, the unit
/// tests at the end cut off.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            i = end;
            out.push(' ');
        } else if b[i..].starts_with(b"'\"'") {
            // The character '"'.
            i += 3;
        } else if b[i..].starts_with(b"r#\"") || b[i..].starts_with(b"r\"") {
            let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let body = i + 2 + hashes;
            i = text[body..]
                .find(&close)
                .map_or(b.len(), |e| body + e + close.len());
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            // Skip a plain string literal (escapes honoured); raw strings
            // in this code base hold no module paths worth reading.
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            let ch = text[i..].chars().next().expect("char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| format!("{prefix}{p}"))
        .collect()
}

/// Every intra-crate path the code names, as written.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    // `use` trees (braces expanded).
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        let stmt_start = i + 4;
        rest = &rest[stmt_start..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(end) = rest.find(';') {
            let tree: String = rest[..end].split_whitespace().collect();
            if tree.starts_with("crate::") || tree.starts_with("super::") {
                out.extend(expand(&tree));
            }
        }
    }
    // Paths in expressions and types (`crate::a::b(..)`, `super::x::Y`).
    let text = code;
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            let prev = text[..at].chars().last();
            if prev.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path: String = text[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.push(path.trim_end_matches(':').to_string());
        }
    }
    out
}

/// The module a path leads to: `crate`/`super` resolved against `from`,
/// then the longest prefix that is a module of the crate.
fn target(from: &Module, path: &str, modules: &BTreeSet<Module>) -> Option<Module> {
    let mut segs = path.split("::").filter(|s| !s.is_empty());
    let mut abs: Module = match segs.next()? {
        "crate" => Vec::new(),
        "super" => from[..from.len().checked_sub(1)?].to_vec(),
        _ => return None,
    };
    for s in segs {
        if s == "super" {
            abs.pop();
        } else if s == "self" || s == "*" {
            continue;
        } else {
            abs.push(s.to_string());
        }
    }
    (0..=abs.len())
        .rev()
        .map(|n| abs[..n].to_vec())
        .find(|m| modules.contains(m))
}

fn related(a: &Module, b: &Module) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The module graph of one crate: module → modules it uses.
fn graph(root: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let sources: Vec<(Module, String)> = files
        .iter()
        .filter_map(|f| {
            let m = module_of(root, f)?;
            Some((m, std::fs::read_to_string(f).expect("read source")))
        })
        .collect();
    let modules: BTreeSet<Module> = sources.iter().map(|(m, _)| m.clone()).collect();
    let mut g: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, text) in &sources {
        let edges = g.entry(m.clone()).or_default();
        for p in paths(&code(text)) {
            if let Some(t) = target(m, &p, &modules) {
                if !related(m, &t) {
                    edges.insert(t);
                }
            }
        }
    }
    g
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(g: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct St<'a> {
        g: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on: BTreeSet<&'a Module>,
        out: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut St<'a>, v: &'a Module) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        let g = s.g;
        for w in g.get(v).into_iter().flatten() {
            let Some((w, _)) = g.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("low");
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("low");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = s.stack.pop().expect("stack");
                s.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = St {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// Cycles known when this check was added, in code other work is
/// reshaping (the report routes and web pages are being split into one
/// module per area). Each is to be broken, then removed from here; the test
/// fails on any other cycle, and on an entry here that no longer exists.
const KNOWN: &[&str] = &["functions/reports/src: auth <-> web::layout <-> web::session"];

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let ws = workspace();
    let mut found = Vec::new();
    for krate in CRATES {
        for comp in cycles(&graph(&ws.join(krate))) {
            let names: Vec<String> = comp.iter().map(name).collect();
            found.push(format!("{krate}: {}", names.join(" <-> ")));
        }
    }
    let new: Vec<&String> = found
        .iter()
        .filter(|c| !KNOWN.contains(&c.as_str()))
        .collect();
    assert!(
        new.is_empty(),
        "import cycles (move the shared types down a layer):\n{}",
        new.iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let gone: Vec<&&str> = KNOWN
        .iter()
        .filter(|k| !found.iter().any(|c| c == *k))
        .collect();
    assert!(
        gone.is_empty(),
        "cycles broken since (remove them from KNOWN): {gone:?}"
    );
}

/// The checker itself: it sees a cycle through a use tree, an inline path
/// and `super`, ignores parent/child edges, comments and unit tests.
#[test]
fn the_checker_finds_what_it_should() {
    let modules: BTreeSet<Module> = [
        vec![],
        vec!["a".to_string()],
        vec!["a".to_string(), "x".to_string()],
        vec!["b".to_string()],
    ]
    .into_iter()
    .collect();
    let a_x = vec!["a".to_string(), "x".to_string()];
    let code_ax = code(
        "use super::{Thing, super::b::{C, D}};\n// crate::c::gone\nfn f() { let q = '\"'; crate::b::g(); }\n\
         #[cfg(test)]\nmod tests { use crate::nothing; }\n",
    );
    let got: BTreeSet<Option<Module>> = paths(&code_ax)
        .iter()
        .map(|p| target(&a_x, p, &modules))
        .collect();
    assert!(got.contains(&Some(vec!["b".to_string()])), "{got:?}");
    assert!(got.contains(&Some(vec!["a".to_string()])), "{got:?}");
    assert!(!code_ax.contains("nothing") && !code_ax.contains("gone"));

    let mut g: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    g.entry(a_x.clone()).or_default().insert(vec!["b".into()]);
    g.entry(vec!["b".into()])
        .or_default()
        .insert(vec!["a".into()]);
    g.entry(vec!["a".into()]).or_default();
    assert!(cycles(&g).is_empty(), "b -> a -> (child) a::x is no cycle");
    g.entry(vec!["a".into()])
        .or_default()
        .insert(vec!["b".into()]);
    assert_eq!(
        cycles(&g),
        vec![vec![vec!["a".to_string()], vec!["b".to_string()]]]
    );
}
