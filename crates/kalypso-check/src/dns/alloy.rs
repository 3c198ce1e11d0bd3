//! Reading a Grafana Alloy configuration (the collector config k8s-monitoring and the Alloy
//! chart render) for the values it sets: its string literals (`url = "http://…"`,
//! `endpoint = "svc.ns.svc:4317"`), each with its line, and its block structure
//! ([`parse`]: components, their blocks and attributes). Comments (`// …`, `/* … */`) are
//! not configuration, so an address in one is not a use.

/// Whether `text` looks like an Alloy configuration: a component block with a label
/// (`prometheus.remote_write "mimir" {`) and an attribute (`url = "…"`).
pub fn is_alloy(text: &str) -> bool {
    let block = text.lines().any(|l| {
        let l = l.trim();
        let Some((head, rest)) = l.split_once(" \"") else {
            return false;
        };
        head.contains('.')
            && head
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
            && rest.trim_end().ends_with("\" {")
    });
    block && text.lines().any(|l| l.contains(" = "))
}

/// Every string literal outside comments, with the line it starts on; escapes in
/// double-quoted strings are resolved, backtick strings are raw.
pub fn strings(text: &str) -> Vec<(String, usize)> {
    tokens(text)
        .into_iter()
        .filter_map(|(t, line)| match t {
            Tok::Str(s, _) => Some((s, line)),
            _ => None,
        })
        .collect()
}

/// One Alloy block: a component (`loki.write "default" { … }`) or a block inside one
/// (`endpoint { … }`); the root holds the top-level ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Block {
    pub kind: String,
    pub label: Option<String>,
    pub line: usize,
    pub attrs: Vec<(String, Expr)>,
    pub blocks: Vec<Block>,
}

/// An attribute's value, as far as `check` needs to know it.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Str(String),
    /// An object literal: `{ "X-Scope-OrgID" = "a", key = "b" }`.
    Object(Vec<(String, Expr)>),
    /// `remote.kubernetes.secret.<label>.data["<key>"]`, bare or in `convert.nonsensitive(…)`:
    /// a key of the Secret that component `<label>` reads.
    SecretRef {
        label: String,
        key: String,
    },
    /// Anything else (references, function calls, numbers): not evaluated.
    Other,
}

impl Block {
    pub fn attr(&self, name: &str) -> Option<&Expr> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub fn str_attr(&self, name: &str) -> Option<&str> {
        match self.attr(name) {
            Some(Expr::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// Every block below this one, depth first.
    pub fn all(&self) -> Vec<&Block> {
        let mut out = Vec::new();
        for b in &self.blocks {
            out.push(b);
            out.extend(b.all());
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// A string literal: its value, and its text between the quotes as written (Alloy takes
    /// block labels and quoted object keys as written, escapes and all).
    Str(String, String),
    Punct(char),
}

/// Tokens with their lines; comments dropped, strings unescaped.
fn tokens(text: &str) -> Vec<(Tok, usize)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            '/' if chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if n == '\n' {
                        line += 1;
                    }
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
            }
            '"' | '`' => {
                let start = line;
                let mut raw = String::new();
                while let Some(n) = chars.next() {
                    if n == '\n' {
                        line += 1;
                    }
                    if n == c {
                        break;
                    }
                    raw.push(n);
                    if c == '"' && n == '\\' {
                        // The escaped character never ends the string.
                        if let Some(escaped) = chars.next() {
                            raw.push(escaped);
                        }
                    }
                }
                let value = if c == '"' {
                    unescape(&raw)
                } else {
                    raw.clone()
                };
                out.push((Tok::Str(value, raw), start));
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut s = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_alphanumeric() || n == '_' || n == '.' {
                        s.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push((Tok::Ident(s), line));
            }
            c if c.is_whitespace() => {}
            c => out.push((Tok::Punct(c), line)),
        }
    }
    out
}

/// The value of a double-quoted string's text: Go's escapes, which Alloy's scanner takes
/// (`\n`, `\"`, `\\`, octal `\101`, `\x41`, `\u00e9`, `\U0001F600` …). An invalid escape
/// (Alloy refuses the file) is kept as written.
fn unescape(raw: &str) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('\\') {
        out.extend_from_slice(&rest.as_bytes()[..i]);
        let after = &rest[i + 1..];
        let Some(c) = after.chars().next() else {
            out.push(b'\\');
            break;
        };
        let simple = match c {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            '"' => Some(b'"'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            rest = &after[1..];
            continue;
        }
        // (digits, base, whether the value is a byte rather than a code point)
        let (n, base, byte, skip) = match c {
            '0'..='7' => (3, 8, true, 0),
            'x' => (2, 16, true, 1),
            'u' => (4, 16, false, 1),
            'U' => (8, 16, false, 1),
            _ => (0, 0, false, 0),
        };
        let digits = after.get(skip..skip + n).filter(|d| d.len() == n);
        let value = digits.and_then(|d| u32::from_str_radix(d, base).ok());
        match value {
            Some(v) if byte && v <= 0xff => out.push(v as u8),
            Some(v) if !byte => match char::from_u32(v) {
                Some(ch) => out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes()),
                None => out.extend_from_slice(&rest.as_bytes()[i..i + 1 + skip + n]),
            },
            _ => {
                out.push(b'\\');
                rest = after;
                continue;
            }
        }
        rest = &after[skip + n..];
    }
    out.extend_from_slice(rest.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses an Alloy configuration into its blocks. Lenient: what it does not understand is
/// skipped, never an error (`alloy fmt` is the authority on syntax).
pub fn parse(text: &str) -> Block {
    let toks = tokens(text);
    let mut pos = 0;
    let (attrs, blocks) = body(&toks, &mut pos);
    Block {
        attrs,
        blocks,
        ..Block::default()
    }
}

type Body = (Vec<(String, Expr)>, Vec<Block>);

/// A block body up to its closing brace (consumed) or the end of input.
fn body(toks: &[(Tok, usize)], pos: &mut usize) -> Body {
    let (mut attrs, mut blocks) = (Vec::new(), Vec::new());
    while let Some((tok, line)) = toks.get(*pos) {
        match (tok, toks.get(*pos + 1).map(|t| &t.0)) {
            (Tok::Punct('}'), _) => {
                *pos += 1;
                break;
            }
            (Tok::Ident(name), Some(Tok::Punct('='))) => {
                *pos += 2;
                let end = expr_end(toks, *pos, *line);
                attrs.push((name.clone(), expr(&toks[*pos..end])));
                *pos = end;
            }
            (Tok::Ident(kind), Some(Tok::Str(_, label)))
                if toks.get(*pos + 2).map(|t| &t.0) == Some(&Tok::Punct('{')) =>
            {
                *pos += 3;
                let (a, b) = body(toks, pos);
                blocks.push(Block {
                    kind: kind.clone(),
                    label: Some(label.clone()),
                    line: *line,
                    attrs: a,
                    blocks: b,
                });
            }
            (Tok::Ident(kind), Some(Tok::Punct('{'))) => {
                *pos += 2;
                let (a, b) = body(toks, pos);
                blocks.push(Block {
                    kind: kind.clone(),
                    label: None,
                    line: *line,
                    attrs: a,
                    blocks: b,
                });
            }
            _ => *pos += 1,
        }
    }
    (attrs, blocks)
}

/// Where an expression starting at `from` (after `name =` on line `line`) ends: at a `,` or an
/// unmatched closing bracket, or at a token on a later line, outside brackets.
fn expr_end(toks: &[(Tok, usize)], from: usize, line: usize) -> usize {
    let mut depth = 0usize;
    let mut i = from;
    while let Some((tok, l)) = toks.get(i) {
        if depth == 0 && i > from && *l > line {
            break;
        }
        match tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                if depth == 0 {
                    break;
                }
                depth -= 1;
                if depth == 0 {
                    // The expression may continue on this line (`f(x).y`), not on the next.
                    if toks.get(i + 1).is_some_and(|(_, nl)| *nl > *l) {
                        return i + 1;
                    }
                }
            }
            Tok::Punct(',') if depth == 0 => break,
            _ => {}
        }
        i += 1;
    }
    i
}

fn expr(toks: &[(Tok, usize)]) -> Expr {
    match toks {
        [(Tok::Str(s, _), _)] => return Expr::Str(s.clone()),
        [(Tok::Punct('{'), _), inner @ .., (Tok::Punct('}'), _)] => return object(inner),
        _ => {}
    }
    // remote.kubernetes.secret.<label>.data["<key>"], possibly inside convert.nonsensitive(…).
    let refs: Vec<Expr> = toks
        .windows(4)
        .filter_map(|w| match w {
            [(Tok::Ident(id), _), (Tok::Punct('['), _), (Tok::Str(key, _), _), (Tok::Punct(']'), _)] =>
            {
                let label = id
                    .strip_prefix("remote.kubernetes.secret.")?
                    .strip_suffix(".data")?;
                Some(Expr::SecretRef {
                    label: label.to_string(),
                    key: key.clone(),
                })
            }
            _ => None,
        })
        .collect();
    let wrappers_only = toks.iter().all(|(t, _)| match t {
        Tok::Ident(id) => {
            id == "convert.nonsensitive" || id.starts_with("remote.kubernetes.secret.")
        }
        Tok::Str(..) => true,
        Tok::Punct(c) => "()[]".contains(*c),
    });
    match refs.as_slice() {
        [one] if wrappers_only => one.clone(),
        _ => Expr::Other,
    }
}

/// The inside of an object literal: `key = expr` pairs separated by commas or lines.
fn object(toks: &[(Tok, usize)]) -> Expr {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let key = match (&toks[i].0, toks.get(i + 1).map(|t| &t.0)) {
            (Tok::Ident(k), Some(Tok::Punct('='))) => k.clone(),
            // Alloy takes a quoted key as written between its quotes; an empty one keeps them.
            (Tok::Str(_, raw), Some(Tok::Punct('='))) if raw.is_empty() => "\"\"".to_string(),
            (Tok::Str(_, raw), Some(Tok::Punct('='))) => raw.clone(),
            _ => {
                i += 1;
                continue;
            }
        };
        let end = expr_end(toks, i + 2, toks[i].1);
        out.push((key, expr(&toks[i + 2..end])));
        i = end;
    }
    Expr::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"// Destination: mimir (was http://old-mimir.metrics.svc:80)
prometheus.remote_write "mimir" {
  endpoint {
    url = "http://mimir-gateway.mimir.svc/api/v1/push"
    /* headers = {
      "X-Scope-OrgID" = "http://x.y.svc:1",
    } */
    headers = { "X-Scope-OrgID" = "demo" }
  }
}
"#;

    #[test]
    fn string_values_count_and_comments_do_not() {
        assert!(is_alloy(CONFIG));
        let values: Vec<(String, usize)> = strings(CONFIG);
        assert_eq!(
            values,
            [
                ("mimir".to_string(), 2),
                ("http://mimir-gateway.mimir.svc/api/v1/push".to_string(), 4),
                ("X-Scope-OrgID".to_string(), 8),
                ("demo".to_string(), 8),
            ]
        );
    }

    #[test]
    fn escapes_are_resolved_as_alloy_resolves_them() {
        let text = "a \"l\" {\n  x = \"t\\tq\\\"\\u00e9\\101\\\\\"\n}\n";
        assert_eq!(strings(text)[1], ("t\tq\"éA\\".to_string(), 2));
    }

    #[test]
    fn yaml_nginx_and_shell_are_not_alloy() {
        assert!(!is_alloy("server:\n  http_listen_port: 3100\n"));
        assert!(!is_alloy(
            "server {\n  location / { proxy_pass http://a; }\n}\n"
        ));
        assert!(!is_alloy("#!/bin/sh\nX = \"a\"\n"));
    }

    #[test]
    fn blocks_attributes_objects_and_secret_references_parse() {
        let text = r#"
remote.kubernetes.secret "loki" {
  name      = "loki-k8smon"
  namespace = "monitoring"
}
loki.write "loki" {
  endpoint {
    url = "http://loki-gateway.loki.svc/loki/api/v1/push"
    tenant_id = convert.nonsensitive(remote.kubernetes.secret.loki.data["tenantId"])
    headers = {
      "X-Scope-OrgID" = "team-a",
      other = sys.env("X"),
    }
  }
  external_labels = { cluster = "c" }
}
"#;
        let root = parse(text);
        assert_eq!(root.blocks.len(), 2);
        let secret = &root.blocks[0];
        assert_eq!(
            (secret.kind.as_str(), secret.label.as_deref(), secret.line),
            ("remote.kubernetes.secret", Some("loki"), 2)
        );
        assert_eq!(secret.str_attr("namespace"), Some("monitoring"));
        let endpoint = &root.blocks[1].blocks[0];
        assert_eq!(endpoint.kind, "endpoint");
        assert_eq!(
            endpoint.str_attr("url"),
            Some("http://loki-gateway.loki.svc/loki/api/v1/push")
        );
        assert_eq!(
            endpoint.attr("tenant_id"),
            Some(&Expr::SecretRef {
                label: "loki".into(),
                key: "tenantId".into()
            })
        );
        assert_eq!(
            endpoint.attr("headers"),
            Some(&Expr::Object(vec![
                ("X-Scope-OrgID".into(), Expr::Str("team-a".into())),
                ("other".into(), Expr::Other),
            ]))
        );
        assert_eq!(root.all().len(), 3);
    }
}
