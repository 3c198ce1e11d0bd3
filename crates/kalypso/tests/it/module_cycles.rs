//! The layering stays true: inside each crate of the workspace, no module imports one that
//! (directly or through others) imports it back. Crates themselves cannot form a circle (cargo
//! refuses), so circles can only hide between modules of one crate.
//!
//! A module's imports are every path it names that starts with `crate::`, `super::` or `self::`
//! (in `use` items and in expressions alike), resolved to the longest module prefix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

use crate::support::repo_root;

/// A module path inside one crate, e.g. `["check", "dns", "nginx"]` (empty: the crate root).
type ModPath = Vec<String>;

/// Every module file of the crate whose source root is `src`, by module path.
fn modules(src: &Path) -> BTreeMap<ModPath, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src");
            let mut parts: ModPath = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let last = parts.last().cloned().unwrap_or_default();
            if last == "mod" || (parts.len() == 1 && (last == "lib" || last == "main")) {
                parts.pop();
            }
            out.insert(parts, path);
        }
    }
    out
}

/// The module paths a file names through `crate::`, `super::` and `self::`.
struct Imports<'a> {
    /// The module of the file read.
    here: &'a ModPath,
    /// What it names, as module paths (possibly with an item at the end).
    named: BTreeSet<ModPath>,
}

impl Imports<'_> {
    fn add(&mut self, segments: &[String]) {
        let Some(first) = segments.first() else {
            return;
        };
        let mut base: ModPath = match first.as_str() {
            "crate" => Vec::new(),
            "self" => self.here.clone(),
            "super" => {
                let mut b = self.here.clone();
                let mut rest = segments;
                while rest.first().map(String::as_str) == Some("super") {
                    b.pop();
                    rest = &rest[1..];
                }
                b.extend(rest.iter().cloned());
                self.named.insert(b);
                return;
            }
            _ => return,
        };
        base.extend(segments[1..].iter().cloned());
        self.named.insert(base);
    }

    fn add_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.add_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                self.add(prefix);
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                self.add(prefix);
                prefix.pop();
            }
            syn::UseTree::Glob(_) => self.add(prefix),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.add_tree(prefix, t);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Imports<'_> {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.add_tree(&mut Vec::new(), &u.tree);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        self.add(&segments);
        syn::visit::visit_path(self, p);
    }

    // Test modules may import what they test from anywhere: they are not part of the layering.
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        let is_test = m.attrs.iter().any(|a| {
            a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test")
        });
        if !is_test {
            syn::visit::visit_item_mod(self, m);
        }
    }
}

/// Edges between module files of one crate: file → the files it imports from.
fn graph(src: &Path) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mods = modules(src);
    let mut edges = BTreeMap::new();
    for (here, file) in &mods {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let ast = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{}: does not parse: {e}", file.display()));
        let mut v = Imports {
            here,
            named: BTreeSet::new(),
        };
        v.visit_file(&ast);
        let mut to = BTreeSet::new();
        for path in v.named {
            // The longest prefix that is a module file; the crate root does not count (it only
            // declares and re-exports).
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| mods.contains_key(p));
            if let Some(t) = target.filter(|t| t != here) {
                to.insert(t);
            }
        }
        edges.insert(here.clone(), to);
    }
    edges
}

/// The strongly connected components with more than one module (Tarjan).
fn circles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct State<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        out: Vec<Vec<ModPath>>,
    }
    fn connect<'a>(s: &mut State<'a>, v: &'a ModPath) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.edges.contains_key(w) {
                continue;
            }
            if !s.index.contains_key(w) {
                connect(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
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
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            connect(&mut s, v);
        }
    }
    s.out
}

fn show(c: &[ModPath]) -> String {
    c.iter()
        .map(|p| {
            if p.is_empty() {
                "crate".into()
            } else {
                p.join("::")
            }
        })
        .collect::<Vec<_>>()
        .join(" ↔ ")
}

#[test]
fn no_module_of_any_crate_imports_one_that_imports_it_back() {
    let crates = repo_root().join("crates");
    let mut found = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(&crates).expect("crates/") {
        let src = entry.expect("entry").path().join("src");
        if !src.is_dir() {
            continue;
        }
        let edges = graph(&src);
        seen += edges.len();
        for c in circles(&edges) {
            found.push(format!("{}: {}", src.display(), show(&c)));
        }
    }
    assert!(
        seen > 50,
        "only {seen} modules found under {}",
        crates.display()
    );
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

/// The detector itself: a planted circle through `use super::`, one through an expression
/// path, and a chain without a circle.
#[test]
fn the_circle_detector_finds_planted_circles_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).expect("mkdir");
    let write = |p: &str, t: &str| std::fs::write(src.join(p), t).expect("write");
    write("lib.rs", "pub mod a; pub mod b; pub mod c; pub mod d;");
    write("a/mod.rs", "pub mod inner; pub fn f() { crate::b::g() }");
    write("a/inner.rs", "pub fn h() {}");
    write("b.rs", "use super::a::f; pub fn g() {} pub fn x() { f() }");
    write("c.rs", "use crate::a::inner::h; pub fn y() { h() }");
    write(
        "d.rs",
        "pub fn z() {} #[cfg(test)] mod tests { use crate::c::y; }",
    );
    let c = circles(&graph(src));
    let shown: Vec<String> = c.iter().map(|c| show(c)).collect();
    assert_eq!(shown, ["a ↔ b"], "{shown:?}");
}
