//! `check`'s Alloy reader (`check::dns::alloy`) held against Alloy's own parser and scanner:
//! `tools/alloy-oracle` (github.com/grafana/alloy/syntax) reads the same files and prints the
//! block tree with attribute values and every string literal outside comments. The files are
//! the Alloy configs the other tests use, written edge cases, and configurations generated from
//! a fixed seed (blocks, labels, strings with every escape, raw strings, objects, Secret keys,
//! expressions the reader does not evaluate, comments holding strings). Both readings must be
//! equal on every file Alloy accepts. `.ci/run` builds the oracle into `.cache/bin`; without it
//! the test prints a SKIP line.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use kalypso::check::dns::alloy::{self, Block, Expr};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::support::{repo_root, skip};

fn oracle() -> Option<PathBuf> {
    let path = std::env::var_os("KALYPSO_ALLOY_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/bin/alloy-oracle"));
    path.is_file().then_some(path)
}

/// Written cases: each stresses one thing the reader has to get right.
const WRITTEN: &[&str] = &[
    // Strings in comments are not values; escapes are resolved as Go resolves them.
    "// url = \"http://old.ns.svc\"\nloki.write \"a\" {\n  endpoint {\n    url = \"http://loki-gateway.loki.svc/loki/api/v1/push\" // was \"x\"\n  }\n}\n",
    "a.b \"l\" {\n  s = \"tab\\there\\nline \\\"q\\\" back\\\\slash \\u00e9 \\x41 \\101 \\U0001F600\"\n}\n",
    "a \"l\" {\n  raw = `C:\\path\\n \"quoted\"\nsecond line // not a comment`\n  after = \"x\"\n}\n",
    "/* block comment \"http://a.b.svc\"\n   over lines */\nx.y \"z\" {\n  /* inline */ k = \"v\"\n}\n",
    // Objects: quoted and bare keys, nesting, trailing commas, values the reader leaves alone.
    "p.q \"r\" {\n  headers = {\n    \"X-Scope-OrgID\" = \"team-a\",\n    other = sys.env(\"X\"),\n    nested = { deep = \"d\" },\n  }\n  empty = {}\n}\n",
    // Secret keys, bare, wrapped and in parentheses; other calls are not keys.
    "remote.kubernetes.secret \"creds\" {\n  name = \"s\"\n}\nloki.write \"w\" {\n  endpoint {\n    tenant_id = convert.nonsensitive(remote.kubernetes.secret.creds.data[\"tenantId\"])\n    password = remote.kubernetes.secret.creds.data[\"password\"]\n    user = (remote.kubernetes.secret.creds.data[\"user\"])\n    other = string.format(\"%s\", remote.kubernetes.secret.creds.data[\"k\"])\n  }\n}\n",
    // Expressions over several lines.
    "d.e \"f\" {\n  targets = [\n    {\"__address__\" = \"a.b.svc:80\"},\n    {\"__address__\" = \"c.d.svc:81\"},\n  ]\n  sum = \"a\" +\n    \"b\"\n  next = \"n\"\n}\n",
    // Top-level attributes and a block without a label.
    "logging {\n  level = \"info\"\n}\nattr = \"top\"\n",
];

/// The Alloy configs the other integration tests embed in YAML (`<key>.alloy: |` block
/// scalars).
fn from_other_tests() -> Vec<String> {
    let dir = repo_root().join("crates/kalypso/tests/it");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests dir").flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if !l.trim_end().ends_with(".alloy: |") {
                continue;
            }
            let key_indent = l.len() - l.trim_start().len();
            let mut body = String::new();
            for next in &lines[i + 1..] {
                let indent = next.len() - next.trim_start().len();
                if !next.trim().is_empty() && indent <= key_indent {
                    break;
                }
                body.push_str(next.get(key_indent + 2..).unwrap_or("").trim_end());
                body.push('\n');
            }
            if alloy::is_alloy(&body) {
                out.push(body);
            }
        }
    }
    out
}

const KINDS: &[&str] = &[
    "prometheus.remote_write",
    "loki.write",
    "endpoint",
    "otelcol.exporter.otlp",
    "client",
    "basic_auth",
    "discovery.relabel",
    "rule",
    "tls_config",
    "logging",
];
const NAMES: &[&str] = &[
    "url",
    "endpoint",
    "headers",
    "tenant_id",
    "name",
    "namespace",
    "forward_to",
    "external_labels",
    "password",
    "regex",
    "_private",
    "key2",
];
/// Pieces of string content: plain text, characters that mean something elsewhere in Alloy,
/// non-ASCII, and every escape Alloy accepts.
const PIECES: &[&str] = &[
    "http://",
    "mimir-gateway",
    ".mimir.svc",
    ":8080",
    "/api/v1/push",
    " ",
    "{",
    "}",
    "=",
    ",",
    "[",
    "]",
    "(",
    ")",
    "//",
    "/*",
    "*/",
    "#",
    "'",
    "é",
    "✓",
    "\\n",
    "\\t",
    "\\\"",
    "\\\\",
    "\\a",
    "\\b",
    "\\f",
    "\\r",
    "\\v",
    "\\u00e9",
    "\\U0001F600",
    "\\x41",
    "\\101",
    "`",
];
const RAW_PIECES: &[&str] = &[
    "plain",
    "\n",
    "\"",
    "\\n",
    "//",
    "/*",
    "{",
    "}",
    "=",
    " ",
    "é",
    "line\n  indented",
];

struct Gen {
    rng: StdRng,
}

impl Gen {
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.rng.random_range(0..from.len())]
    }

    fn string(&mut self) -> String {
        let mut s = String::from("\"");
        for _ in 0..self.rng.random_range(0..6) {
            let p = self.pick(PIECES);
            // A backtick is plain inside a double-quoted string.
            s.push_str(p);
        }
        s.push('"');
        s
    }

    fn raw(&mut self) -> String {
        let mut s = String::from("`");
        for _ in 0..self.rng.random_range(0..5) {
            let p = self.pick(RAW_PIECES);
            s.push_str(p);
        }
        s.push('`');
        s
    }

    fn label(&mut self) -> String {
        format!(
            "{}_{}",
            self.pick(&["a", "main", "Mimir", "_x"]),
            self.rng.random_range(0..99)
        )
    }

    fn secret(&mut self) -> String {
        let r = format!(
            "remote.kubernetes.secret.{}.data[{}]",
            self.label(),
            self.string()
        );
        match self.rng.random_range(0..3) {
            0 => r,
            1 => format!("convert.nonsensitive({r})"),
            _ => format!("({r})"),
        }
    }

    fn value(&mut self, depth: usize, indent: &str) -> String {
        match self.rng.random_range(0..14) {
            0..=3 => self.string(),
            4 => self.raw(),
            5 if depth < 3 => self.object(depth + 1, indent),
            6 => self.secret(),
            7 => self.rng.random_range(-5..500).to_string(),
            8 => self
                .pick(&["true", "false", "null", "1.5", "1e3"])
                .to_string(),
            9 => format!("[{}, {}]", self.string(), self.string()),
            10 => format!("sys.env({})", self.string()),
            11 => format!("{} + {}", self.string(), self.string()),
            12 => format!(
                "discovery.relabel.{}.output{}",
                self.label(),
                if self.rng.random_bool(0.5) { "[0]" } else { "" }
            ),
            _ => format!(
                "[\n{indent}    {},\n{indent}    {},\n{indent}  ]",
                self.string(),
                self.string()
            ),
        }
    }

    fn object(&mut self, depth: usize, indent: &str) -> String {
        let n = self.rng.random_range(0..4);
        if n == 0 {
            return "{}".into();
        }
        let multiline = self.rng.random_bool(0.5);
        let inner = format!("{indent}  ");
        let mut fields = Vec::new();
        for _ in 0..n {
            let key = if self.rng.random_bool(0.5) {
                self.pick(NAMES).to_string()
            } else {
                self.string()
            };
            fields.push(format!("{key} = {}", self.value(depth, &inner)));
        }
        if multiline {
            let mut s = String::from("{\n");
            for f in fields {
                let _ = writeln!(s, "{inner}  {f},");
            }
            let _ = write!(s, "{inner}}}");
            s
        } else {
            format!("{{ {} }}", fields.join(", "))
        }
    }

    fn comment(&mut self) -> String {
        if self.rng.random_bool(0.5) {
            format!("// note {} = {}", self.pick(NAMES), self.string())
        } else {
            // A `*/` in the text would end the comment early.
            let text = self.string().replace("*/", "*_/");
            format!("/* {} = {text}\n   more */", self.pick(NAMES))
        }
    }

    fn body(&mut self, depth: usize, indent: &str, out: &mut String) {
        for _ in 0..self.rng.random_range(1..6) {
            if self.rng.random_bool(0.15) {
                let _ = writeln!(out, "{indent}{}", self.comment());
            }
            if depth < 3 && self.rng.random_bool(0.35) {
                let kind = self.pick(KINDS);
                let label = if self.rng.random_bool(0.6) {
                    format!(" \"{}\"", self.label())
                } else {
                    String::new()
                };
                let _ = writeln!(out, "{indent}{kind}{label} {{");
                self.body(depth + 1, &format!("{indent}  "), out);
                let _ = writeln!(out, "{indent}}}");
            } else {
                let name = self.pick(NAMES);
                let value = self.value(0, indent);
                let trailing = if self.rng.random_bool(0.2) {
                    format!(" // {}", self.string())
                } else {
                    String::new()
                };
                let _ = writeln!(out, "{indent}{name} = {value}{trailing}");
            }
        }
    }

    fn config(&mut self) -> String {
        let mut out = String::new();
        for _ in 0..self.rng.random_range(1..4) {
            let kind = self.pick(KINDS);
            let _ = writeln!(out, "{kind} \"{}\" {{", self.label());
            self.body(1, "  ", &mut out);
            out.push_str("}\n");
        }
        out
    }
}

fn expr_json(e: &Expr) -> Value {
    match e {
        Expr::Str(s) => json!({ "str": s }),
        Expr::Object(fields) => json!({ "object": attrs_json(fields) }),
        Expr::SecretRef { label, key } => json!({ "secret": { "label": label, "key": key } }),
        Expr::Other => json!({ "other": true }),
    }
}

fn attrs_json(attrs: &[(String, Expr)]) -> Value {
    attrs
        .iter()
        .map(|(name, v)| json!({ "name": name, "value": expr_json(v) }))
        .collect()
}

fn block_json(b: &Block) -> Value {
    json!({
        "kind": b.kind,
        "label": b.label,
        "line": b.line,
        "attrs": attrs_json(&b.attrs),
        "blocks": b.blocks.iter().map(block_json).collect::<Vec<_>>(),
    })
}

/// kalypso's reading of `text`, in the oracle's shape.
fn ours(text: &str) -> (Value, Value) {
    let strings: Vec<Value> = alloy::strings(text)
        .into_iter()
        .map(|(value, line)| json!({ "value": value, "line": line }))
        .collect();
    (block_json(&alloy::parse(text)), Value::Array(strings))
}

#[test]
fn the_alloy_reader_reads_what_alloy_parses() {
    let Some(oracle) = oracle() else {
        skip("alloy-oracle not built (the Alloy reader against Alloy's parser); bash .ci/run builds it");
        return;
    };
    let mut configs: Vec<(String, String)> = WRITTEN
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("written #{i}"), t.to_string()))
        .collect();
    let embedded = from_other_tests();
    assert!(
        !embedded.is_empty(),
        "no Alloy config found in the other tests"
    );
    configs.extend(
        embedded
            .into_iter()
            .enumerate()
            .map(|(i, t)| (format!("from another test #{i}"), t)),
    );
    let mut g = Gen {
        rng: StdRng::seed_from_u64(0x6b61_6c79),
    };
    for i in 0..400 {
        configs.push((format!("generated #{i}"), g.config()));
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let files: Vec<PathBuf> = configs
        .iter()
        .enumerate()
        .map(|(i, (_, text))| {
            let f = dir.path().join(format!("{i}.alloy"));
            std::fs::write(&f, text).expect("write");
            f
        })
        .collect();
    let out = Command::new(&oracle)
        .args(&files)
        .output()
        .expect("alloy-oracle runs");
    assert!(
        out.status.success(),
        "alloy-oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<Value> = serde_json::from_slice(&out.stdout).expect("oracle JSON");
    assert_eq!(theirs.len(), configs.len());

    let (mut compared, mut refused, mut mismatches) = (0, Vec::new(), Vec::new());
    for ((what, text), real) in configs.iter().zip(&theirs) {
        if let Some(err) = real["error"].as_str() {
            refused.push(format!("{what}: {err}"));
            continue;
        }
        compared += 1;
        let (tree, strings) = ours(text);
        if tree != real["root"] || strings != real["strings"] {
            mismatches.push(format!(
                "{what}:\n{text}\n  ours:   {tree}\n          {strings}\n  alloy:  {}\n          {}",
                real["root"], real["strings"]
            ));
        }
    }
    eprintln!(
        "alloy reader: {compared} configs compared with Alloy's parser, {} mismatches; {} refused by Alloy",
        mismatches.len(),
        refused.len()
    );
    // The written cases and the other tests' configs are valid Alloy, and so is (nearly) every
    // generated one: a generator that writes what Alloy refuses tests nothing.
    assert!(
        refused.iter().all(|r| r.starts_with("generated")) && refused.len() * 10 < configs.len(),
        "Alloy refused:\n{}",
        refused.join("\n")
    );
    assert!(
        mismatches.is_empty(),
        "{} of {compared} configs read differently from Alloy; the first:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}
