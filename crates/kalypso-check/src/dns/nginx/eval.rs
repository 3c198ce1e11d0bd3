//! Variables as nginx's rewrite module gives them values, and the addresses a `*_pass` reaches.
//!
//! The rewrite directives (`set`, `if`, `return`, `break`, `rewrite`) of a server run once,
//! in order, before a location is chosen; those of the chosen location run after, in order,
//! with the values the server's left (src/http/modules/ngx_http_rewrite_module.c: a block's
//! codes are not inherited; the directives inside an `if` are compiled into its parent's code
//! list, so a `set` in an `if` is seen after it). A location never sees another location's
//! `set`: a variable some `set` writes but none ran for this request is empty. A `map`, `geo`
//! or `split_clients` variable is any of its values (the map's is empty when it has no
//! `default`), unless a `set` overrode it. `if` conditions are not evaluated: both outcomes
//! are followed, and a matching `if` in a location becomes the configuration whose `*_pass`
//! handles the request (its own, else the location's).

use std::collections::{BTreeMap, BTreeSet};

use super::lexer::Directive;
use super::script::{pieces, Piece};

/// How many alternative executions (or values of one variable) are followed before they are
/// merged (or cut).
const MAX_PATHS: usize = 64;
const MAX_VALUES: usize = 32;

/// One piece of a value known at configuration time or not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Text(String),
    /// A variable whose value depends on the request (`$http_host`, `$request_uri`).
    Unknown(String),
}

/// One possible value of a variable or an expression.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Val {
    pub parts: Vec<Part>,
    /// Line of the `set` or map entry that supplied its first substituted part.
    pub from: Option<usize>,
}

impl Val {
    fn empty() -> Val {
        Val {
            parts: Vec::new(),
            from: None,
        }
    }

    fn push(&mut self, part: Part) {
        match (self.parts.last_mut(), part) {
            (Some(Part::Text(t)), Part::Text(s)) => t.push_str(&s),
            (_, Part::Text(s)) if s.is_empty() => {}
            (_, p) => self.parts.push(p),
        }
    }
}

/// Variables defined outside the rewrite module's codes: `map`, `geo`, `split_clients`.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Variable → its possible values as written, with their lines.
    pub values: BTreeMap<String, Vec<(String, usize)>>,
    /// Variables some `set` writes.
    pub declared: BTreeSet<String>,
}

impl Sources {
    /// Registers a `map`, `geo` or `split_clients` block.
    pub fn add_block(&mut self, d: &Directive) {
        let Some(var) = d.args.last() else {
            return;
        };
        let var = var.trim_start_matches('$').to_string();
        let params: &[&str] = match d.name.as_str() {
            "map" => &["hostnames", "volatile", "include"],
            "geo" => &["ranges", "delete", "proxy", "proxy_recursive", "include"],
            _ => &[],
        };
        let mut values = Vec::new();
        let mut has_default = d.name == "split_clients";
        for entry in d.children() {
            if params.contains(&entry.name.as_str()) {
                continue;
            }
            has_default |= entry.name == "default" || entry.name == "*";
            if let Some(v) = entry.args.first() {
                values.push((v.clone(), entry.line));
            }
        }
        if !has_default {
            values.push((String::new(), d.line));
        }
        self.values.entry(var).or_default().extend(values);
    }
}

/// Variable values along one execution.
pub type Env = BTreeMap<String, Vec<Val>>;

/// Every value `value` can take with `env`.
pub fn expand(value: &str, env: &Env, sources: &Sources, depth: usize) -> Vec<Val> {
    let mut out = vec![Val::empty()];
    for piece in pieces(value) {
        let choices: Vec<Val> = match &piece {
            Piece::Text(t) => vec![Val {
                parts: vec![Part::Text(t.clone())],
                from: None,
            }],
            Piece::Capture(n) => vec![Val {
                parts: vec![Part::Unknown(n.to_string())],
                from: None,
            }],
            Piece::Var(name) => lookup(name, env, sources, depth),
        };
        let mut next = Vec::new();
        'all: for base in &out {
            for c in &choices {
                let mut v = base.clone();
                for p in &c.parts {
                    v.push(p.clone());
                }
                v.from = v.from.or(c.from);
                if !next.contains(&v) {
                    next.push(v);
                }
                if next.len() >= MAX_VALUES {
                    break 'all;
                }
            }
        }
        out = next;
    }
    out
}

fn lookup(name: &str, env: &Env, sources: &Sources, depth: usize) -> Vec<Val> {
    if let Some(v) = env.get(name) {
        return v.clone();
    }
    if let Some(values) = sources.values.get(name) {
        if depth < 4 {
            let mut out = Vec::new();
            for (raw, line) in values {
                for mut v in expand(raw, env, sources, depth + 1) {
                    v.from = Some(*line);
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
            }
            return out;
        }
    }
    if sources.declared.contains(name) {
        // Written by a `set` that did not run for this request: nginx reads it as empty.
        return vec![Val::empty()];
    }
    vec![Val {
        parts: vec![Part::Unknown(name.to_string())],
        from: None,
    }]
}

/// Why a request's rewrite codes stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stop {
    Running,
    /// `break` (or `rewrite … break`): no more rewrite directives, same location.
    Break,
    /// `return` or a redirecting `rewrite`: nothing is proxied.
    Return,
}

/// One way through the rewrite directives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path<'a> {
    pub env: Env,
    /// The `if` in a location that matched last: its configuration handles the request.
    pub conf: Option<&'a Directive>,
    pub stop: Stop,
    /// The URI a `rewrite` set: `Some(None)` when it depends on the request. The location is
    /// searched again with it once the codes end (`last`, or no flag).
    pub new_uri: Option<Option<String>>,
}

impl Path<'_> {
    pub fn start() -> Path<'static> {
        Path {
            env: Env::new(),
            conf: None,
            stop: Stop::Running,
            new_uri: None,
        }
    }
}

/// Runs the rewrite directives of a block (`in_location`: a location's, whose `if` blocks
/// switch the configuration) on every path.
pub fn run<'a>(
    codes: &'a [Directive],
    mut paths: Vec<Path<'a>>,
    in_location: bool,
    sources: &Sources,
) -> Vec<Path<'a>> {
    for d in codes {
        let code = matches!(
            d.name.as_str(),
            "set" | "if" | "return" | "break" | "rewrite"
        );
        if !code {
            continue;
        }
        let mut next = Vec::new();
        for mut p in paths {
            if p.stop != Stop::Running {
                next.push(p);
                continue;
            }
            match d.name.as_str() {
                "set" => {
                    if let (Some(var), Some(value)) = (d.arg(0), d.arg(1)) {
                        let mut vals = expand(value, &p.env, sources, 0);
                        for v in &mut vals {
                            v.from = v.from.or(Some(d.line));
                        }
                        p.env.insert(var.trim_start_matches('$').to_string(), vals);
                    }
                    next.push(p);
                }
                "if" if d.block.is_some() => {
                    let mut taken = p.clone();
                    if in_location {
                        taken.conf = Some(d);
                    }
                    next.extend(run(d.children(), vec![taken], in_location, sources));
                    next.push(p);
                }
                "return" => {
                    p.stop = Stop::Return;
                    next.push(p);
                }
                "break" => {
                    // Also cancels a URI change of an earlier `rewrite` without a flag.
                    p.stop = Stop::Break;
                    p.new_uri = None;
                    next.push(p);
                }
                "rewrite" => {
                    let always = d.arg(0).is_some_and(matches_every_uri);
                    let replacement = d.arg(1).unwrap_or_default();
                    let flag = d.arg(2).unwrap_or_default();
                    let mut matched = p.clone();
                    let redirect = matches!(flag, "redirect" | "permanent")
                        || ["http://", "https://", "$scheme"]
                            .iter()
                            .any(|s| replacement.starts_with(s));
                    if redirect {
                        matched.stop = Stop::Return;
                    } else if flag == "break" {
                        matched.stop = Stop::Break;
                    } else {
                        let path = replacement.split('?').next().unwrap_or_default();
                        let literal = !path.contains('$');
                        matched.new_uri = Some(literal.then(|| path.to_string()));
                        if flag == "last" {
                            matched.stop = Stop::Break;
                        }
                    }
                    next.push(matched);
                    if !always {
                        next.push(p);
                    }
                }
                _ => next.push(p),
            }
        }
        paths = merge(next);
    }
    paths
}

/// Whether a `rewrite` regex matches whatever the URI (`^`, `.*`, `^(.*)$`): the request is
/// then always rewritten. Other regexes may or may not match.
fn matches_every_uri(regex: &str) -> bool {
    fancy_regex::Regex::new(regex).is_ok_and(|r| {
        ["", "/", "/kalypso/probe.x?y"]
            .iter()
            .all(|uri| r.is_match(uri).unwrap_or(false))
    })
}

/// Drops duplicate paths, and merges paths that differ only in values when there are too many.
fn merge(paths: Vec<Path<'_>>) -> Vec<Path<'_>> {
    let mut out: Vec<Path<'_>> = Vec::new();
    for p in paths {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.len() <= MAX_PATHS {
        return out;
    }
    let mut merged: Vec<Path<'_>> = Vec::new();
    for p in out {
        let same = merged.iter_mut().find(|m| {
            m.stop == p.stop
                && m.new_uri == p.new_uri
                && m.conf.map(|d| d.span) == p.conf.map(|d| d.span)
        });
        match same {
            Some(m) => {
                for (k, vals) in p.env {
                    let slot = m.env.entry(k).or_default();
                    for v in vals {
                        if !slot.contains(&v) && slot.len() < MAX_VALUES {
                            slot.push(v);
                        }
                    }
                }
            }
            None => merged.push(p),
        }
    }
    merged
}

/// Where a `*_pass` value points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// `http://`, `grpc://` … as written (lowercase), if any.
    pub scheme: Option<String>,
    pub host: String,
    pub port: Option<String>,
}

impl Address {
    /// `scheme://host:port` (or `host:port`), as the DNS check reads addresses.
    pub fn render(&self) -> String {
        let mut s = self.scheme.clone().unwrap_or_default();
        s.push_str(&self.host);
        if let Some(p) = &self.port {
            s.push(':');
            s.push_str(p);
        }
        s
    }
}

/// Variables that always start with `/` (they cannot continue a host name or a port).
const URI_VARIABLES: &[&str] = &["request_uri", "uri", "document_uri"];

/// The schemes a `*_pass` accepts, and whether it needs one.
fn schemes(directive: &str) -> (&'static [&'static str], bool) {
    match directive {
        "proxy_pass" => (&["http://", "https://"], true),
        "grpc_pass" => (&["grpc://", "grpcs://"], false),
        "uwsgi_pass" => (&["uwsgi://", "suwsgi://"], false),
        // A `stream` server's `proxy_pass`: `host:port`.
        _ => (&[], false),
    }
}

/// The server a `*_pass` value names, when its host is known (not a Unix socket, not made of
/// request data).
pub fn address(directive: &str, val: &Val) -> Option<Address> {
    // The text up to the first request-dependent part, and whether that part is a URI.
    let mut text = String::new();
    let mut stopped_by_uri = true;
    for p in &val.parts {
        match p {
            Part::Text(t) => text.push_str(t),
            Part::Unknown(name) => {
                stopped_by_uri = URI_VARIABLES.contains(&name.as_str());
                break;
            }
        }
    }
    let complete = !val.parts.iter().any(|p| matches!(p, Part::Unknown(_)));
    let (accepted, required) = schemes(directive);
    let lower = text.to_ascii_lowercase();
    let scheme = accepted.iter().find(|s| lower.starts_with(*s)).copied();
    if scheme.is_none() && required {
        return None;
    }
    let rest = &text[scheme.map_or(0, str::len)..];
    if rest.starts_with("unix:") {
        return None;
    }
    let end = rest.find(['/', '?']);
    let authority = &rest[..end.unwrap_or(rest.len())];
    // Request data right after the host could still be part of the name or the port.
    if end.is_none() && !complete && !stopped_by_uri {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h, Some(p)),
        _ => (authority, None),
    };
    if host.is_empty()
        || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some(Address {
        scheme: scheme.map(str::to_string),
        host: host.to_string(),
        port: port.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(text: &str, unknown: Option<&str>) -> Val {
        let mut parts = vec![Part::Text(text.into())];
        if let Some(u) = unknown {
            parts.push(Part::Unknown(u.into()));
        }
        Val { parts, from: None }
    }

    #[test]
    fn the_address_stops_at_the_uri_and_needs_a_known_host() {
        let a = address(
            "proxy_pass",
            &val("http://loki.loki.svc:3100", Some("request_uri")),
        )
        .expect("address");
        assert_eq!(a.render(), "http://loki.loki.svc:3100");
        let a = address("proxy_pass", &val("https://a.b/x/y", None)).expect("address");
        assert_eq!(a.render(), "https://a.b");
        // The host continues into request data: unknown.
        assert_eq!(
            address("proxy_pass", &val("http://svc", Some("suffix"))),
            None
        );
        // proxy_pass needs a scheme; grpc_pass and fastcgi_pass take host:port.
        assert_eq!(address("proxy_pass", &val("svc:80", None)), None);
        assert_eq!(
            address("grpc_pass", &val("svc.ns:9095", None)).map(|a| a.render()),
            Some("svc.ns:9095".into())
        );
        assert_eq!(
            address("fastcgi_pass", &val("unix:/run/php.sock", None)),
            None
        );
    }

    #[test]
    fn an_unset_written_variable_is_empty_and_a_map_is_any_of_its_values() {
        let mut sources = Sources::default();
        sources.declared.insert("backend".into());
        let (tree, _) = super::super::lexer::parse("map $http_x $m { a one; ~^b two; }");
        sources.add_block(&tree[0]);
        let texts = |vals: Vec<Val>| -> Vec<String> {
            vals.iter()
                .map(|v| {
                    v.parts
                        .iter()
                        .map(|p| match p {
                            Part::Text(t) => t.clone(),
                            Part::Unknown(u) => format!("${u}"),
                        })
                        .collect()
                })
                .collect()
        };
        let env = Env::new();
        assert_eq!(texts(expand("x$backend", &env, &sources, 0)), ["x"]);
        assert_eq!(
            texts(expand("$m/$host", &env, &sources, 0)),
            ["one/$host", "two/$host", "/$host"]
        );
    }
}
