//! Branches a chart's values switch off, cut from a template's text before it is read for what
//! can change: `{{ if .Values.manager.rolling }}rollme: {{ randAlphaNum 5 }}{{ end }}` cannot
//! change when `manager.rolling` is false. Only conditions helm would evaluate on the values
//! alone are decided (a `.Values` field, `not`, `and`, `or`, `eq`, `ne`, `empty`, literals), only
//! where `.` is the chart's root context (the top level of a file, outside `with`, `range` and
//! `define`; `$.Values` also inside `with` and `range`); every other branch is kept.

use serde_json::Value;

use super::template_scan::{action_spans, tokens, ScanError, Token};

/// `text` without the branches `values` switch off; the `if`/`else`/`end` actions themselves
/// stay, so the text's block structure is unchanged.
pub(crate) fn prune(text: &str, values: &Value) -> Result<String, ScanError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        /// `if`/`with` at a place where its condition could be decided.
        Decidable,
        /// A block whose branches are all kept (`range`, `define`, an undecided `with`…).
        Kept,
    }
    struct Frame {
        kind: Kind,
        /// Whether `.` is the root context inside this block's current branch.
        dot_root: bool,
        /// Whether it is where the block was opened (and so in an `else` branch).
        outer_root: bool,
        /// Inside a `define`: `$` is the define's argument.
        in_define: bool,
        /// A branch before was decided true: every later branch is dropped.
        taken: bool,
        /// A branch before could not be decided: every later branch is kept.
        undecided: bool,
        /// Where the current branch's body starts, when it is dropped.
        dropping_from: Option<usize>,
    }
    let mut drops: Vec<(usize, usize)> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    for span in action_spans(text)? {
        let toks = tokens(span.body);
        let (dot_root, in_define) = stack
            .last()
            .map_or((true, false), |f| (f.dot_root, f.in_define));
        let word = |i: usize| match toks.get(i) {
            Some(Token::Ident(w)) => w.as_str(),
            _ => "",
        };
        let ctx = Ctx {
            values,
            dot_root,
            in_define,
        };
        match word(0) {
            "if" | "with" => {
                let decided = ctx.truthy(&toks[1..]);
                let frame = Frame {
                    kind: Kind::Decidable,
                    // `with` moves `.`; `if` keeps it.
                    dot_root: dot_root && word(0) == "if",
                    outer_root: dot_root,
                    in_define,
                    taken: decided == Some(true),
                    undecided: decided.is_none(),
                    dropping_from: (decided == Some(false)).then_some(span.end),
                };
                stack.push(frame);
            }
            "range" | "define" | "block" => stack.push(Frame {
                kind: Kind::Kept,
                dot_root: false,
                outer_root: false,
                in_define: in_define || word(0) != "range",
                taken: false,
                undecided: true,
                dropping_from: None,
            }),
            "else" => {
                let Some(frame) = stack.last_mut() else {
                    return Err(ScanError("an `else` outside a block".into()));
                };
                if let Some(from) = frame.dropping_from.take() {
                    drops.push((from, span.start));
                }
                if frame.kind == Kind::Kept {
                    continue;
                }
                // An `else` branch has the `.` of where the block opened; `else with` moves it.
                let decided = if matches!(word(1), "if" | "with") {
                    Ctx {
                        dot_root: frame.outer_root,
                        ..ctx
                    }
                    .truthy(&toks[2..])
                } else {
                    Some(true)
                };
                if frame.taken {
                    frame.dropping_from = Some(span.end);
                } else if !frame.undecided {
                    frame.taken = decided == Some(true);
                    frame.undecided = decided.is_none();
                    frame.dropping_from = (decided == Some(false)).then_some(span.end);
                }
                frame.dot_root = frame.outer_root && word(1) != "with";
            }
            "end" => {
                let Some(frame) = stack.pop() else {
                    return Err(ScanError("an `end` without an open block".into()));
                };
                if let Some(from) = frame.dropping_from {
                    drops.push((from, span.start));
                }
            }
            _ => {}
        }
    }
    drops.sort();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (from, to) in drops {
        if from >= at {
            out.push_str(&text[at..from]);
            at = to;
        } else if to > at {
            at = to;
        }
    }
    out.push_str(&text[at..]);
    Ok(out)
}

/// What a condition can be decided on.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    values: &'a Value,
    dot_root: bool,
    in_define: bool,
}

impl Ctx<'_> {
    /// Whether the pipeline `toks` is true as Go templates decide it; `None` when it cannot be
    /// known from the values.
    fn truthy(&self, toks: &[Token]) -> Option<bool> {
        let (v, rest) = self.expr(toks)?;
        rest.is_empty().then(|| truthy(&v))
    }

    /// One command: a function call or an operand; returns its value and what follows.
    fn expr<'t>(&self, toks: &'t [Token]) -> Option<(Value, &'t [Token])> {
        let Some(Token::Ident(f)) = toks.first() else {
            return self.operand(toks);
        };
        if matches!(f.as_str(), "true" | "false" | "nil") {
            return self.operand(toks);
        }
        let mut args = Vec::new();
        let mut rest = &toks[1..];
        while !rest.is_empty() && !matches!(&rest[0], Token::Other(p) if p == ")") {
            let (v, r) = self.operand(rest)?;
            args.push(v);
            rest = r;
        }
        let b = |x: bool| Some((Value::Bool(x), rest));
        match (f.as_str(), args.as_slice()) {
            ("not", [a]) => b(!truthy(a)),
            ("empty", [a]) => b(!truthy(a)),
            ("and", a) if !a.is_empty() => b(a.iter().all(truthy)),
            ("or", a) if !a.is_empty() => b(a.iter().any(truthy)),
            ("eq", [a, others @ ..]) if !others.is_empty() => b(others.iter().any(|o| same(a, o))),
            ("ne", [a, o]) => b(!same(a, o)),
            _ => None,
        }
    }

    fn operand<'t>(&self, toks: &'t [Token]) -> Option<(Value, &'t [Token])> {
        let rest = &toks[1..];
        match toks.first()? {
            Token::Str(s) => Some((Value::String(s.clone()), rest)),
            Token::Ident(w) if w == "true" || w == "false" => {
                Some((Value::Bool(w == "true"), rest))
            }
            Token::Ident(w) if w == "nil" => Some((Value::Null, rest)),
            Token::Other(n) if n.parse::<f64>().is_ok() => {
                Some((serde_json::from_str(n).ok()?, rest))
            }
            Token::Other(p) if p == "(" => {
                let (v, after) = self.expr(rest)?;
                match after.first() {
                    Some(Token::Other(c)) if c == ")" => Some((v, &after[1..])),
                    _ => None,
                }
            }
            Token::Field(chain) => Some((self.lookup(chain)?, rest)),
            _ => None,
        }
    }

    /// The value of `.Values.a.b` (`$.Values.a.b`) where `.` (`$`) is the root context.
    fn lookup(&self, chain: &str) -> Option<Value> {
        let path = match chain.strip_prefix("$.Values") {
            Some(p) if !self.in_define => p,
            _ => chain.strip_prefix(".Values").filter(|_| self.dot_root)?,
        };
        if !(path.is_empty() || path.starts_with('.')) {
            return None;
        }
        let mut v = self.values;
        for key in path.split('.').filter(|k| !k.is_empty()) {
            match v.get(key) {
                Some(x) => v = x,
                None => return Some(Value::Null),
            }
        }
        Some(v.clone())
    }
}

/// Go templates' truth: false, 0, nil and empty strings, lists and maps are false.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Value {
        serde_json::json!({
            "manager": {"rolling": false, "mode": "daemonset"},
            "webhooks": {"create": true, "certManager": {"enabled": true}},
            "list": [],
        })
    }

    #[test]
    fn a_branch_the_values_switch_off_is_cut() {
        let text = "a: 1\n{{- if .Values.manager.rolling }}\nroll: {{ randAlphaNum 5 }}\n{{- end }}\nb: 2\n";
        let pruned = prune(text, &values()).unwrap();
        assert!(!pruned.contains("randAlphaNum"), "{pruned}");
        assert!(pruned.contains("a: 1") && pruned.contains("b: 2"));
        assert!(
            pruned.contains("{{- end }}"),
            "block structure kept: {pruned}"
        );
    }

    #[test]
    fn conditions_combine_as_go_templates_decide_them() {
        let cut = |cond: &str| {
            let text = format!("{{{{ if {cond} }}}}X{{{{ else }}}}Y{{{{ end }}}}");
            let p = prune(&text, &values()).unwrap();
            (p.contains('X'), p.contains('Y'))
        };
        // (then kept, else kept)
        assert_eq!(
            cut("and .Values.webhooks.create (not .Values.webhooks.certManager.enabled)"),
            (false, true)
        );
        assert_eq!(
            cut("or .Values.manager.rolling .Values.webhooks.create"),
            (true, false)
        );
        assert_eq!(cut("eq .Values.manager.mode \"daemonset\""), (true, false));
        assert_eq!(cut("ne .Values.manager.mode \"daemonset\""), (false, true));
        assert_eq!(cut(".Values.list"), (false, true));
        assert_eq!(cut(".Values.missing.key"), (false, true));
        // Undecidable: everything stays.
        assert_eq!(cut(".Release.IsInstall"), (true, true));
        assert_eq!(cut("include \"x\" . | eq \"y\""), (true, true));
    }

    #[test]
    fn else_if_chains_keep_what_cannot_be_decided() {
        let text = "{{ if .Values.manager.rolling }}A{{ else if .Release.Name }}B{{ else if .Values.webhooks.create }}C{{ else }}D{{ end }}";
        let p = prune(text, &values()).unwrap();
        assert_eq!(
            (
                p.contains('A'),
                p.contains('B'),
                p.contains('C'),
                p.contains('D')
            ),
            (false, true, true, true)
        );
        let text =
            "{{ if .Values.webhooks.create }}A{{ else if .Release.Name }}B{{ else }}C{{ end }}";
        let p = prune(text, &values()).unwrap();
        assert_eq!(
            (p.contains('A'), p.contains('B'), p.contains('C')),
            (true, false, false)
        );
    }

    #[test]
    fn only_the_root_context_is_decided() {
        // Inside `with` and `define`, `.Values` is not the chart's values.
        for text in [
            "{{ with .Values.webhooks }}{{ if .Values.manager.rolling }}X{{ end }}{{ end }}",
            "{{ define \"d\" }}{{ if .Values.manager.rolling }}X{{ end }}{{ end }}",
            "{{ define \"d\" }}{{ if $.Values.manager.rolling }}X{{ end }}{{ end }}",
            "{{ range .Values.list }}{{ if .Values.manager.rolling }}X{{ end }}{{ end }}",
        ] {
            assert!(prune(text, &values()).unwrap().contains('X'), "{text}");
        }
        // An `else if` after a `with` inside `range` is not at the root either.
        let text = "{{ range .Values.list }}{{ with .x }}A{{ else if .Values.manager.rolling }}X{{ end }}{{ end }}";
        assert!(prune(text, &values()).unwrap().contains('X'));
        // The `else` of a `with` at the top level is at the root again.
        let text =
            "{{ with .Values.list }}A{{ else }}{{ if .Values.manager.rolling }}X{{ end }}{{ end }}";
        assert!(!prune(text, &values()).unwrap().contains('X'));
        // `$` is the root inside `range` and `with` at a file's top level.
        let text = "{{ range .Values.list }}{{ if $.Values.manager.rolling }}X{{ end }}{{ end }}";
        assert!(!prune(text, &values()).unwrap().contains('X'));
    }
}
