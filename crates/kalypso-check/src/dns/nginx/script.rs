//! nginx's complex values: literal text with `$name`, `${name}` and `$1`…`$9` in it, split as
//! `ngx_http_script_compile` (src/http/ngx_http_script.c) splits them: a name is letters,
//! digits and `_`; `${name}` ends at `}`; a `$` followed by nothing that can start a name is
//! kept as text here (nginx refuses it).

/// One piece of a complex value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// `$name` or `${name}`.
    Var(String),
    /// `$1`…`$9`: a capture of the last regex matched.
    Capture(u8),
}

fn name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Splits a value into text and variables.
pub fn pieces(value: &str) -> Vec<Piece> {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            let next = value[i..].find('$').map_or(bytes.len(), |n| i + n);
            text.push_str(&value[i..next]);
            i = next;
            continue;
        }
        let after = i + 1;
        match bytes.get(after) {
            Some(d @ b'1'..=b'9') => {
                flush(&mut text, &mut out);
                out.push(Piece::Capture(d - b'0'));
                i = after + 1;
            }
            Some(b'{') => {
                let rest = &value[after + 1..];
                let len = rest.bytes().take_while(|&b| name_char(b)).count();
                if len > 0 && rest.as_bytes().get(len) == Some(&b'}') {
                    flush(&mut text, &mut out);
                    out.push(Piece::Var(rest[..len].to_string()));
                    i = after + 1 + len + 1;
                } else {
                    text.push('$');
                    i = after;
                }
            }
            _ => {
                let len = value[after..].bytes().take_while(|&b| name_char(b)).count();
                if len > 0 {
                    flush(&mut text, &mut out);
                    out.push(Piece::Var(value[after..after + len].to_string()));
                    i = after + len;
                } else {
                    text.push('$');
                    i = after;
                }
            }
        }
    }
    flush(&mut text, &mut out);
    out
}

fn flush(text: &mut String, out: &mut Vec<Piece>) {
    if !text.is_empty() {
        out.push(Piece::Text(std::mem::take(text)));
    }
}

/// Whether a value holds variables (nginx then evaluates it per request).
pub fn has_variables(value: &str) -> bool {
    pieces(value)
        .iter()
        .any(|p| matches!(p, Piece::Var(_) | Piece::Capture(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_braced_and_capture_variables_are_split_from_text() {
        assert_eq!(
            pieces("http://${svc}.ns:80$request_uri?a=$1"),
            [
                Piece::Text("http://".into()),
                Piece::Var("svc".into()),
                Piece::Text(".ns:80".into()),
                Piece::Var("request_uri".into()),
                Piece::Text("?a=".into()),
                Piece::Capture(1),
            ]
        );
        // A name ends at the first character that cannot be in one.
        assert_eq!(
            pieces("$backend-x"),
            [Piece::Var("backend".into()), Piece::Text("-x".into())]
        );
        assert!(!has_variables("http://loki.loki.svc:3100"));
        assert!(has_variables("http://$x"));
    }
}
