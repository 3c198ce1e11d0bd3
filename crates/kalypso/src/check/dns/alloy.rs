//! Reading a Grafana Alloy configuration (the collector config k8s-monitoring and the Alloy
//! chart render) for the values it sets: its string literals (`url = "http://…"`,
//! `endpoint = "svc.ns.svc:4317"`), each with its line. Comments (`// …`, `/* … */`) are
//! not configuration, so an address in one is not a use.

/// Whether `text` looks like an Alloy configuration: a component block with a label
/// (`prometheus.remote_write "mimir" {`) and an attribute (`url = "…"`).
pub(crate) fn is_alloy(text: &str) -> bool {
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
pub(crate) fn strings(text: &str) -> Vec<(String, usize)> {
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
                let mut s = String::new();
                while let Some(n) = chars.next() {
                    if n == '\n' {
                        line += 1;
                    }
                    if n == c {
                        break;
                    }
                    if c == '"' && n == '\\' {
                        if let Some(escaped) = chars.next() {
                            s.push(escaped);
                        }
                        continue;
                    }
                    s.push(n);
                }
                out.push((s, start));
            }
            _ => {}
        }
    }
    out
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
    fn yaml_nginx_and_shell_are_not_alloy() {
        assert!(!is_alloy("server:\n  http_listen_port: 3100\n"));
        assert!(!is_alloy(
            "server {\n  location / { proxy_pass http://a; }\n}\n"
        ));
        assert!(!is_alloy("#!/bin/sh\nX = \"a\"\n"));
    }
}
