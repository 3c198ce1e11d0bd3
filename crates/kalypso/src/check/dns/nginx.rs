//! Reading an nginx configuration for the addresses it really proxies to: the `*_pass`
//! directives (with `set $var …` and `map … $var { … }` values substituted) and the `server`
//! lines of `upstream` blocks. A `set $backend http://svc.ns.svc.cluster.local;` is a
//! definition, not a use: the port comes from where `$backend` is used
//! (`proxy_pass $backend:3100;`), not from the scheme of the `set`.

use std::collections::BTreeMap;

/// One statement: its directive, arguments and the line it starts on; `block` is set for
/// `name args {`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    words: Vec<String>,
    line: usize,
    opens_block: bool,
}

/// Whether `text` looks like an nginx configuration (and not YAML, prose or a script).
pub(crate) fn is_nginx(text: &str) -> bool {
    let directives = [
        "proxy_pass",
        "grpc_pass",
        "upstream ",
        "location ",
        "server {",
    ];
    text.contains(';') && directives.iter().any(|d| text.contains(d))
}

/// Splits into statements, dropping comments; quotes keep their content as one word.
fn statements(text: &str) -> Vec<(Statement, usize)> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut line = 1;
    let mut start = 1;
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    let mut quote: Option<char> = None;
    let flush = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
        }
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else {
                word.push(c);
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '#' => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            // `${name}` is a variable inside a word, not a block.
            '{' if word.ends_with('$') => {
                word.push('{');
                for n in chars.by_ref() {
                    word.push(n);
                    if n == '}' {
                        break;
                    }
                }
            }
            ';' | '{' => {
                flush(&mut word, &mut words);
                if !words.is_empty() {
                    out.push((
                        Statement {
                            words: std::mem::take(&mut words),
                            line: start,
                            opens_block: c == '{',
                        },
                        depth,
                    ));
                }
                if c == '{' {
                    depth += 1;
                }
            }
            '}' => {
                flush(&mut word, &mut words);
                words.clear();
                depth = depth.saturating_sub(1);
            }
            c if c.is_whitespace() => flush(&mut word, &mut words),
            c => {
                if word.is_empty() && words.is_empty() {
                    start = line;
                }
                word.push(c);
            }
        }
    }
    out
}

/// Replaces every `$name` / `${name}` with its value (unknown variables are left as they are).
fn substitute(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => (after, after.len()),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => {
                out.push('$');
                out.push_str(&after[..len]);
            }
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// The addresses the configuration proxies to, each with its line: what `*_pass` directives
/// and upstream `server` lines use, variables substituted.
pub(crate) fn targets(text: &str) -> Vec<(String, usize)> {
    let stmts = statements(text);
    let mut vars = BTreeMap::new();
    let mut in_map: Option<(String, usize)> = None;
    for (s, depth) in &stmts {
        if let Some((var, d)) = &in_map {
            if depth > d {
                // `default value;` or `key value;` inside `map $src $var { … }`: the first
                // value that looks like an address stands for the variable.
                if let Some(v) = s.words.get(1) {
                    vars.entry(var.clone()).or_insert_with(|| v.clone());
                }
                continue;
            }
            in_map = None;
        }
        match s.words.first().map(String::as_str) {
            Some("set") if s.words.len() >= 3 => {
                let name = s.words[1].trim_start_matches('$').to_string();
                vars.insert(name, s.words[2].clone());
            }
            Some("map") if s.opens_block && s.words.len() >= 3 => {
                in_map = Some((s.words[2].trim_start_matches('$').to_string(), *depth));
            }
            _ => {}
        }
    }
    let mut upstream_depth: Option<usize> = None;
    let mut out = Vec::new();
    for (s, depth) in &stmts {
        if let Some(d) = upstream_depth {
            if *depth <= d {
                upstream_depth = None;
            }
        }
        let Some(directive) = s.words.first() else {
            continue;
        };
        match directive.as_str() {
            "upstream" if s.opens_block => upstream_depth = Some(*depth),
            "server" if upstream_depth.is_some() && s.words.len() >= 2 => {
                out.push((substitute(&s.words[1], &vars), s.line));
            }
            d if d.ends_with("_pass") && s.words.len() >= 2 => {
                out.push((substitute(&s.words[1], &vars), s.line));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_set_with_a_scheme_is_used_with_the_port_of_its_use() {
        let conf = "server {\n  set $backend http://query-frontend.tempo.svc.cluster.local;\n  location / {\n    proxy_pass $backend:3100;  # the real port\n  }\n}\n";
        assert!(is_nginx(conf));
        assert_eq!(
            targets(conf),
            [(
                "http://query-frontend.tempo.svc.cluster.local:3100".to_string(),
                4
            )]
        );
    }

    #[test]
    fn upstream_servers_map_values_and_braced_variables_are_followed() {
        let conf = "upstream write {\n  server distributor.loki.svc.cluster.local:3100;\n}\nmap $http_x $read {\n  default querier.loki.svc.cluster.local;\n}\nserver {\n  location /w { proxy_pass http://write; }\n  location /r { proxy_pass http://${read}:3100$request_uri; }\n}\n";
        let t: Vec<String> = targets(conf).into_iter().map(|(a, _)| a).collect();
        assert_eq!(
            t,
            [
                "distributor.loki.svc.cluster.local:3100",
                "http://write",
                "http://querier.loki.svc.cluster.local:3100$request_uri"
            ]
        );
    }

    #[test]
    fn yaml_and_prose_are_not_nginx() {
        assert!(!is_nginx("server:\n  http_listen_port: 3100\n"));
        assert!(!is_nginx("see the location of the server"));
    }
}
