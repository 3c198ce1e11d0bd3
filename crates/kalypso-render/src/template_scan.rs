//! What a helm template file can do, read from its Go template actions (`{{ … }}`): which
//! named templates it defines and includes, whether it calls `tpl`, and which functions it
//! calls whose result changes from one render to the next. [`super::second_pass`] uses it to
//! re-render only what can change.

use std::collections::BTreeSet;

/// Functions of helm's template engine (Go templates, sprig, helm's own) whose result differs
/// between two renders of the same inputs: random values, the clock, salted hashes and fresh
/// keys, DNS, and the map-order results of sprig's `keys` and `values`.
pub(crate) const NONDETERMINISTIC: &[&str] = &[
    "randAlphaNum",
    "randAlpha",
    "randNumeric",
    "randAscii",
    "randInt",
    "randBytes",
    "shuffle",
    "uuidv4",
    "now",
    "ago",
    "genPrivateKey",
    "genCA",
    "genCAWithKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "htpasswd",
    "bcrypt",
    "encryptAES",
    "getHostByName",
    "keys",
    "values",
];

/// The facts of one unit: a file's top level, or one `define`/`block` body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Unit {
    /// Nondeterministic functions called directly.
    pub nondeterministic: BTreeSet<String>,
    /// Calls `tpl` (renders a string, possibly from values, as a template).
    pub calls_tpl: bool,
    /// Named templates included by a literal name (`include "x"`, `template "x"`).
    pub includes: BTreeSet<String>,
    /// An `include`/`template` whose name is computed, not from `Template.BasePath`: a named
    /// template (`include (printf "%s.labels" $name) .`) or a file.
    pub dynamic_include: bool,
    /// An `include` of a file by path (`include (print $.Template.BasePath "/configmap.yaml")
    /// .`): a file, not a named template.
    pub path_include: bool,
    /// Its string literals (`"/config.yaml"`, `"gateway"`).
    pub literals: BTreeSet<String>,
    /// The fields of its field chains, after `Values` where there is one
    /// (`.Values.gateway.enabled` → `gateway.enabled`, `$cfg.nginx` → `nginx`).
    pub chains: BTreeSet<Vec<String>>,
    /// String literals of actions that look keys up (`index .Values "gateway"`, `get`, `dig`).
    pub keys: BTreeSet<String>,
    /// Reads `.Values` as a whole (`toYaml .Values`, `range .Values`).
    pub whole_values: bool,
    /// Reads chart files (`.Files`).
    pub reads_files: bool,
    /// Changes in place (`set`, `unset`, `merge`…) a dict that is not one it made itself
    /// (`.Values`, the context, an argument): templates rendered after it may read what it
    /// left there.
    pub mutates_shared: bool,
    /// Variables assigned a dict this unit made (`$d := dict …`, `deepCopy`, `fromYaml`).
    fresh_vars: BTreeSet<String>,
}

impl Unit {
    /// Whether a field chain is a dict this unit made: a fresh variable or a field of one.
    fn is_fresh(&self, chain: &str) -> bool {
        let root = chain.split('.').next().unwrap_or(chain);
        root.starts_with('$') && root.len() > 1 && self.fresh_vars.contains(root)
    }

    /// Whether the expression starting at `toks` is a value this unit made: `dict …`,
    /// `(deepCopy …)`, a fresh variable or a field of one, or a merge into one of those.
    fn makes_new(&self, toks: &[Token]) -> bool {
        let mut rest = toks
            .iter()
            .skip_while(|t| matches!(t, Token::Other(p) if p == "("));
        match rest.next() {
            Some(Token::Ident(f)) if FRESH.contains(&f.as_str()) => true,
            Some(Token::Ident(f)) if MUTATING.contains(&f.as_str()) => {
                matches!(rest.next(), Some(Token::Field(c)) if self.is_fresh(c))
            }
            Some(Token::Field(c)) => self.is_fresh(c),
            _ => false,
        }
    }
}

/// Functions whose result is a new value, not one of their arguments.
const FRESH: &[&str] = &[
    "dict",
    "list",
    "deepCopy",
    "mustDeepCopy",
    "fromYaml",
    "fromJson",
    "fromYamlArray",
    "fromJsonArray",
    "include",
    "tpl",
];

/// Functions that change their first argument in place.
const MUTATING: &[&str] = &[
    "set",
    "unset",
    "merge",
    "mergeOverwrite",
    "mustMerge",
    "mustMergeOverwrite",
];

/// A template file read for its actions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// What runs when the file itself is rendered (outside every `define`).
    pub top: Unit,
    /// Each `define`/`block`, by name, in file order.
    pub defines: Vec<(String, Unit)>,
}

/// Why a file could not be read as a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanError(pub String);

/// The actions of `text`, in order: the text between `{{` and `}}` with trim markers removed;
/// comments are left out. Quoted strings in an action may contain `}}`.
pub(crate) fn actions(text: &str) -> Result<Vec<&str>, ScanError> {
    Ok(action_spans(text)?.into_iter().map(|a| a.body).collect())
}

/// One action: where it starts (`{{`) and ends (after `}}`) in the text, and its body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span<'a> {
    pub start: usize,
    pub end: usize,
    pub body: &'a str,
}

/// The actions of `text` with their positions (see [`actions`]).
pub(crate) fn action_spans(text: &str) -> Result<Vec<Span<'_>>, ScanError> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(off) = text[i..].find("{{") {
        let start = i + off + 2;
        let mut j = start;
        if bytes.get(j) == Some(&b'-') && bytes.get(j + 1).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        let body_start = j;
        let trimmed = text[j..].trim_start();
        if trimmed.starts_with("/*") {
            let from = text.len() - trimmed.len();
            let Some(end) = text[from..].find("*/") else {
                return Err(ScanError("an unclosed comment".into()));
            };
            let after = from + end + 2;
            let Some(close) = text[after..].find("}}") else {
                return Err(ScanError("an unclosed action".into()));
            };
            i = after + close + 2;
            continue;
        }
        // Scan to the closing `}}`, skipping quoted strings.
        let mut quote: Option<u8> = None;
        let mut end = None;
        while j < bytes.len() {
            let c = bytes[j];
            match quote {
                Some(q) => {
                    if c == b'\\' && q != b'`' {
                        j += 1;
                    } else if c == q {
                        quote = None;
                    }
                }
                None if c == b'"' || c == b'`' || c == b'\'' => quote = Some(c),
                None if c == b'}' && bytes.get(j + 1) == Some(&b'}') => {
                    end = Some(j);
                    break;
                }
                None => {}
            }
            j += 1;
        }
        let Some(end) = end else {
            return Err(ScanError("an unclosed action".into()));
        };
        let mut body = &text[body_start..end];
        if body.ends_with('-') && body[..body.len() - 1].ends_with(|c: char| c.is_whitespace()) {
            body = &body[..body.len() - 1];
        }
        out.push(Span {
            start: start - 2,
            end: end + 2,
            body: body.trim(),
        });
        i = end + 2;
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// A bare word: a function or keyword.
    Ident(String),
    /// A quoted or raw string literal, unquoted.
    Str(String),
    /// A field chain or variable: `.Values.x`, `$.Values`, `$v.y`.
    Field(String),
    /// `.Field`, `$var.field`, numbers, punctuation.
    Other(String),
}

pub(crate) fn tokens(action: &str) -> Vec<Token> {
    let b = action.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'"' || c == b'`' || c == b'\'' {
            let mut j = i + 1;
            let mut s = String::new();
            while j < b.len() && b[j] != c {
                if b[j] == b'\\' && c != b'`' && j + 1 < b.len() {
                    j += 1;
                }
                s.push(b[j] as char);
                j += 1;
            }
            out.push(if c == b'\'' {
                Token::Other(s)
            } else {
                Token::Str(s)
            });
            i = j + 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let j = word_end(b, i);
            out.push(Token::Ident(action[i..j].to_string()));
            i = j;
        } else if c == b'.' || c == b'$' {
            // A field chain or variable: its words are names of data, not functions.
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.') {
                j += 1;
            }
            out.push(Token::Field(action[i..j].to_string()));
            i = j;
        } else if c.is_ascii_digit() {
            let j = word_end(b, i);
            out.push(Token::Other(action[i..j].to_string()));
            i = j;
        } else {
            out.push(Token::Other((c as char).to_string()));
            i += 1;
        }
    }
    out
}

fn word_end(b: &[u8], mut j: usize) -> usize {
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        j += 1;
    }
    j
}

/// Reads a template file: its top level and each `define`/`block` body.
pub(crate) fn scan(text: &str) -> Result<Scan, ScanError> {
    let mut scan = Scan::default();
    // Open blocks: `Some(index into scan.defines)` for a define/block, `None` for if/range/with.
    let mut open: Vec<Option<usize>> = Vec::new();
    for action in actions(text)? {
        let toks = tokens(action);
        let first = match toks.first() {
            Some(Token::Ident(w)) => w.as_str(),
            _ => "",
        };
        // The unit this action belongs to: the innermost open define, else the top level.
        let current = open.iter().rev().find_map(|o| *o);
        match first {
            "define" | "block" => {
                let Some(Token::Str(name)) = toks.get(1) else {
                    return Err(ScanError(format!("`{first}` without a literal name")));
                };
                if first == "block" {
                    unit(&mut scan, current).includes.insert(name.clone());
                }
                scan.defines.push((name.clone(), Unit::default()));
                open.push(Some(scan.defines.len() - 1));
                if first == "block" {
                    // A block's pipeline runs in the enclosing unit; its facts are read there.
                    read(unit(&mut scan, current), &toks[2..]);
                }
                continue;
            }
            "if" | "range" | "with" => open.push(None),
            "end" => {
                if open.pop().is_none() {
                    return Err(ScanError("an `end` without an open block".into()));
                }
                continue;
            }
            _ => {}
        }
        read(unit(&mut scan, current), &toks);
    }
    if !open.is_empty() {
        return Err(ScanError("a block without `end`".into()));
    }
    Ok(scan)
}

fn unit(scan: &mut Scan, at: Option<usize>) -> &mut Unit {
    match at {
        Some(i) => &mut scan.defines[i].1,
        None => &mut scan.top,
    }
}

/// Whether the word `w` of an action with tokens `toks` is a nondeterministic call. `keys`
/// and `values` are not when the same action sorts (`keys $m | sortAlpha`).
fn is_nondeterministic(w: &str, toks: &[Token]) -> bool {
    NONDETERMINISTIC.contains(&w)
        && !(matches!(w, "keys" | "values")
            && toks
                .iter()
                .any(|t| matches!(t, Token::Ident(s) if s == "sortAlpha")))
}

fn read(u: &mut Unit, toks: &[Token]) {
    read_calls(u, toks);
    // `$v := expr` or `$v = expr`: whether `$v` now holds a dict this unit made (read after
    // the calls, which see the variable as it was before this action).
    if let (Some(Token::Field(var)), Some(Token::Other(op))) = (toks.first(), toks.get(1)) {
        let value_at = match (op.as_str(), toks.get(2)) {
            (":", Some(Token::Other(eq))) if eq == "=" => Some(3),
            ("=", _) => Some(2),
            _ => None,
        };
        if let (true, Some(at)) = (var.starts_with('$') && !var.contains('.'), value_at) {
            if u.makes_new(&toks[at..]) {
                u.fresh_vars.insert(var.clone());
            } else {
                u.fresh_vars.remove(var);
            }
        }
    }
}

fn read_calls(u: &mut Unit, toks: &[Token]) {
    let looks_up = toks.iter().any(|t| {
        matches!(t, Token::Ident(f) if matches!(f.as_str(), "index" | "get" | "dig" | "pluck" | "hasKey"))
    });
    for (k, t) in toks.iter().enumerate() {
        match t {
            Token::Str(s) => {
                u.literals.insert(s.clone());
                if looks_up {
                    u.keys.insert(s.clone());
                }
            }
            Token::Field(chain) => {
                let fields: Vec<&str> = chain
                    .split('.')
                    .filter(|f| !f.is_empty() && !f.starts_with('$'))
                    .collect();
                u.reads_files |= fields.contains(&"Files");
                let after_values = match fields.iter().rposition(|f| *f == "Values") {
                    Some(at) => &fields[at + 1..],
                    None => &fields[..],
                };
                u.whole_values |= fields.last() == Some(&"Values");
                if !after_values.is_empty() {
                    u.chains
                        .insert(after_values.iter().map(|f| f.to_string()).collect());
                }
            }
            _ => {}
        }
        let Token::Ident(w) = t else { continue };
        if MUTATING.contains(&w.as_str()) {
            u.mutates_shared |= !u.makes_new(&toks[k + 1..]);
        }
        match w.as_str() {
            "tpl" => u.calls_tpl = true,
            "include" | "template" => match toks.get(k + 1) {
                Some(Token::Str(name)) => {
                    u.includes.insert(name.clone());
                }
                _ => {
                    let by_path = toks
                        .iter()
                        .any(|t| matches!(t, Token::Field(f) if f.ends_with("Template.BasePath")));
                    if by_path {
                        u.path_include = true;
                    } else {
                        u.dynamic_include = true;
                    }
                }
            },
            name if is_nondeterministic(name, toks) => {
                u.nondeterministic.insert(name.to_string());
            }
            _ => {}
        }
    }
}

/// Nondeterministic functions called in any action of `text` (for values and other files
/// that `tpl` may render); an unreadable text counts as calling `?`.
pub(crate) fn nondeterministic_calls(text: &str) -> BTreeSet<String> {
    if !text.contains("{{") {
        return BTreeSet::new();
    }
    let Ok(acts) = actions(text) else {
        return BTreeSet::from(["?".to_string()]);
    };
    let mut out = BTreeSet::new();
    for a in acts {
        let toks = tokens(a);
        for t in &toks {
            if let Token::Ident(w) = t {
                if is_nondeterministic(w, &toks) {
                    out.insert(w.clone());
                }
            }
        }
    }
    out
}

/// Whether a chart or values file that `tpl` may render calls a nondeterministic function: a
/// YAML or JSON file in one of its strings (escapes resolved, comments left out, as `.Values`
/// holds them), any other file anywhere in its text.
pub(crate) fn file_calls(name: &str, text: &str) -> bool {
    if !may_call(text) {
        return false;
    }
    let parsed = if name.ends_with(".json") {
        serde_json::from_str(text).ok()
    } else if name.ends_with(".yaml") || name.ends_with(".yml") {
        kalypso_model::manifest::yaml::value(text)
    } else {
        None
    };
    match parsed {
        Some(v) => {
            let mut found = Vec::new();
            paths(&v, &mut Vec::new(), &mut found);
            !found.is_empty()
        }
        None => !nondeterministic_calls(text).is_empty(),
    }
}

/// A quick look for what [`file_calls`] reads closely: a nondeterministic function's name as a
/// word between a `{{` and the last `}}` before the next `{{`.
fn may_call(text: &str) -> bool {
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let next = after.find("{{").unwrap_or(after.len());
        let window = &after[..next];
        let window = window.rfind("}}").map_or(window, |end| &window[..end]);
        let words = window.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
        if words.into_iter().any(|w| NONDETERMINISTIC.contains(&w)) {
            return true;
        }
        rest = &after[next..];
    }
    false
}

/// The key paths of the strings of a YAML values text that call a nondeterministic function;
/// `None` when the text does not parse.
pub(crate) fn value_paths_calling(text: &str) -> Option<Vec<Vec<String>>> {
    if !may_call(text) {
        return Some(Vec::new());
    }
    let v = kalypso_model::manifest::yaml::value(text)?;
    let mut out = Vec::new();
    paths(&v, &mut Vec::new(), &mut out);
    Some(out)
}

fn paths(v: &serde_json::Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        serde_json::Value::String(s) if !nondeterministic_calls(s).is_empty() => {
            out.push(at.clone())
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| paths(x, at, out)),
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                at.push(k.clone());
                if !nondeterministic_calls(k).is_empty() {
                    out.push(at.clone());
                }
                paths(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_skip_comments_and_keep_braces_inside_strings() {
        let text = "a {{- /* x }} */ -}} b {{ printf \"}}\" .X -}} c {{ `{{raw}}` }}";
        assert_eq!(
            actions(text).unwrap(),
            vec!["printf \"}}\" .X", "`{{raw}}`"]
        );
        assert!(actions("{{ if .X ").is_err());
    }

    #[test]
    fn fields_variables_and_strings_are_not_calls() {
        let s = scan(
            "{{ .Values.keys }} {{ $values := .Values }} {{ \"now\" }} {{ index $x \"values\" }}",
        )
        .unwrap();
        assert!(s.top.nondeterministic.is_empty(), "{s:?}");
        let s = scan("{{ range keys .Values }}{{ end }} {{ now | date \"2006\" }}").unwrap();
        assert_eq!(
            s.top.nondeterministic,
            BTreeSet::from(["keys".to_string(), "now".to_string()])
        );
    }

    #[test]
    fn defines_are_separate_units_and_blocks_include_themselves() {
        let text = r#"{{- define "a.secret" -}}
{{ if .Values.x }}{{ randAlphaNum 10 }}{{ else }}{{ include "a.name" . }}{{ end }}
{{- end }}
kind: Secret
data: {{ include "a.secret" . | b64enc }}
{{ block "a.extra" . }}{{ tpl .Values.extra . }}{{ end }}
checksum: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
other: {{ include (printf "%s.labels" .Chart.Name) . }}
"#;
        let s = scan(text).unwrap();
        assert_eq!(s.defines.len(), 2);
        let (name, secret) = &s.defines[0];
        assert_eq!(name, "a.secret");
        assert!(secret.nondeterministic.contains("randAlphaNum"));
        assert!(secret.includes.contains("a.name"));
        assert!(s.defines[1].1.calls_tpl && !s.top.calls_tpl);
        assert!(s.top.nondeterministic.is_empty());
        assert!(s.top.includes.contains("a.secret") && s.top.includes.contains("a.extra"));
        assert!(s.top.dynamic_include && s.top.path_include);
        assert!(s.top.literals.contains("/configmap.yaml"));
        assert!(!s.top.mutates_shared);
    }

    #[test]
    fn changing_a_dict_the_unit_did_not_make_is_a_shared_change() {
        let local = scan(
            "{{ $d := dict \"a\" 1 }}{{ $_ := set $d \"b\" (randAlphaNum 4) }}{{ $m := mergeOverwrite (deepCopy .Values.x) $d }}{{ $i := $d.image | default dict }}{{ $i = mustMerge $i .Values.image }}{{ $_ := set $i \"k\" 1 }}{{ toYaml (mergeOverwrite dict .Values.a) }}",
        )
        .unwrap();
        assert!(!local.top.mutates_shared, "{local:?}");
        for shared in [
            "{{ $_ := set .Values \"pw\" (randAlphaNum 4) }}",
            "{{ $v := .Values.auth }}{{ $_ := set $v \"pw\" 1 }}",
            "{{ $_ := merge $.Values.a .Values.b }}",
            "{{ $d := dict }}{{ $d = .Values }}{{ $_ := set $d \"k\" 1 }}",
        ] {
            assert!(scan(shared).unwrap().top.mutates_shared, "{shared}");
        }
    }

    #[test]
    fn unbalanced_blocks_are_errors() {
        assert!(scan("{{ if .X }}").is_err());
        assert!(scan("{{ end }}").is_err());
        assert!(scan("{{ define .X }}{{ end }}").is_err());
    }

    #[test]
    fn values_text_is_read_for_calls_inside_actions_only() {
        assert!(nondeterministic_calls("htpasswd: plain now and keys").is_empty());
        assert_eq!(
            nondeterministic_calls("h: '{{ htpasswd .Values.u .Values.p }}'"),
            BTreeSet::from(["htpasswd".to_string()])
        );
        assert!(nondeterministic_calls("{{ keys $m | sortAlpha | join \",\" }}").is_empty());
    }

    #[test]
    fn yaml_files_are_read_string_by_string() {
        // An escaped quote in a YAML string is not the end of a template string, and a
        // commented-out line is not a value.
        let values = "a: \"{{ include \\\"x\\\" . }}\"\n# b: \"{{ now }}\"\nc: keys values\n";
        assert!(!file_calls("values.yaml", values));
        assert!(!nondeterministic_calls(values).is_empty());
        assert!(file_calls("values.yaml", "p: '{{ randAlphaNum 8 }}'\n"));
    }
}
