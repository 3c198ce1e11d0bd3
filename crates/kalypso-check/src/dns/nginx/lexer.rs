//! nginx's configuration lexer, as `ngx_conf_read_token` (src/core/ngx_conf_file.c) reads a
//! file, and the directive tree built from its tokens.
//!
//! What nginx does and this follows: words are separated by spaces, tabs and newlines and end a
//! directive at `;` or open a block at `{`; `}` closes a block only where a word could start
//! (`a}` is one word); `#` starts a comment only where a word could start; a word starting with
//! `"` or `'` runs to the matching quote and must be followed by a space, `;`, `{` or `)`;
//! quotes inside a word are plain characters; `\` keeps the next character in the word, and
//! `\"`, `\'`, `\\`, `\t`, `\r`, `\n` are unescaped (any other `\x` stays as written); `${` does
//! not open a block.

/// One directive: `name args… ;` or `name args… { … }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The first word (a map entry's key is its name: `"" "value";`, `default 1;`).
    pub name: String,
    pub args: Vec<String>,
    /// 1-based line of the first word.
    pub line: usize,
    /// Byte range from the first word to its `;` or `{` (inclusive).
    pub span: (usize, usize),
    /// The directives inside `{ … }`, for a block directive.
    pub block: Option<Vec<Directive>>,
}

impl Directive {
    /// The block's directives (empty for a simple directive).
    pub fn children(&self) -> &[Directive] {
        self.block.as_deref().unwrap_or(&[])
    }

    /// The first argument, if any.
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(String::as_str)
    }
}

/// A place where nginx would refuse the file, with its message (nginx's wording).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// How a directive ended.
enum End {
    Semicolon,
    Open,
    Close,
    Eof,
}

struct Lexer<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: usize,
}

/// What one call of the lexer read: the words of a directive and how it ended.
struct Read {
    words: Vec<String>,
    end: End,
    line: usize,
    span: (usize, usize),
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// A word's text with nginx's escapes resolved.
fn unescape(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            match raw.get(i + 1) {
                Some(b'"' | b'\'' | b'\\') => i += 1,
                Some(b't') => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                Some(b'r') => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                Some(b'n') => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Lexer<'_> {
    fn error(&self, message: String) -> SyntaxError {
        SyntaxError {
            line: self.line,
            message,
        }
    }

    /// Reads one directive's words, up to its `;`, `{`, a `}` or the end of the text.
    fn read(&mut self) -> Result<Read, SyntaxError> {
        let mut words = Vec::new();
        let mut last_space = true;
        let mut need_space = false;
        let mut comment = false;
        let mut variable = false;
        let mut quoted = false;
        let mut s_quoted = false;
        let mut d_quoted = false;
        let mut start = self.pos;
        let mut first: Option<(usize, usize)> = None;
        let done = |words: Vec<String>, end: End, first: Option<(usize, usize)>, pos: usize| {
            let (line, from) = first.unwrap_or((0, pos));
            Read {
                words,
                end,
                line,
                span: (from, pos),
            }
        };
        loop {
            let Some(&ch) = self.bytes.get(self.pos) else {
                if !words.is_empty() || !last_space {
                    return Err(
                        self.error("unexpected end of file, expecting \";\" or \"}\"".to_string())
                    );
                }
                return Ok(done(words, End::Eof, first, self.pos));
            };
            self.pos += 1;
            if ch == b'\n' {
                self.line += 1;
                if comment {
                    comment = false;
                    continue;
                }
            }
            if comment {
                continue;
            }
            if quoted {
                quoted = false;
                continue;
            }
            if need_space {
                if is_space(ch) {
                    last_space = true;
                    need_space = false;
                    continue;
                }
                match ch {
                    b';' => return Ok(done(words, End::Semicolon, first, self.pos)),
                    b'{' => return Ok(done(words, End::Open, first, self.pos)),
                    b')' => {
                        last_space = true;
                        need_space = false;
                    }
                    _ => {
                        return Err(self.error(format!("unexpected \"{}\"", ch as char)));
                    }
                }
            }
            if last_space {
                start = self.pos - 1;
                if is_space(ch) {
                    continue;
                }
                if first.is_none() && !matches!(ch, b'#' | b';' | b'{' | b'}') {
                    first = Some((self.line, start));
                }
                match ch {
                    b';' | b'{' => {
                        if words.is_empty() {
                            return Err(self.error(format!("unexpected \"{}\"", ch as char)));
                        }
                        let end = if ch == b'{' {
                            End::Open
                        } else {
                            End::Semicolon
                        };
                        return Ok(done(words, end, first, self.pos));
                    }
                    b'}' => {
                        if !words.is_empty() {
                            return Err(self.error("unexpected \"}\"".to_string()));
                        }
                        return Ok(done(words, End::Close, first, self.pos));
                    }
                    b'#' => comment = true,
                    b'\\' => {
                        quoted = true;
                        last_space = false;
                    }
                    b'"' => {
                        start += 1;
                        d_quoted = true;
                        last_space = false;
                    }
                    b'\'' => {
                        start += 1;
                        s_quoted = true;
                        last_space = false;
                    }
                    b'$' => {
                        variable = true;
                        last_space = false;
                    }
                    _ => last_space = false,
                }
                continue;
            }
            if ch == b'{' && variable {
                continue;
            }
            variable = false;
            if ch == b'\\' {
                quoted = true;
                continue;
            }
            if ch == b'$' {
                variable = true;
                continue;
            }
            let mut found = false;
            if d_quoted {
                if ch == b'"' {
                    d_quoted = false;
                    need_space = true;
                    found = true;
                }
            } else if s_quoted {
                if ch == b'\'' {
                    s_quoted = false;
                    need_space = true;
                    found = true;
                }
            } else if is_space(ch) || ch == b';' || ch == b'{' {
                last_space = true;
                found = true;
            }
            if found {
                words.push(unescape(&self.bytes[start..self.pos - 1]));
                match ch {
                    b';' => return Ok(done(words, End::Semicolon, first, self.pos)),
                    b'{' => return Ok(done(words, End::Open, first, self.pos)),
                    _ => {}
                }
            }
        }
    }

    /// Reads directives up to the `}` closing this block (or the end of the text at the top).
    fn block(&mut self, depth: usize, errors: &mut Vec<SyntaxError>) -> Vec<Directive> {
        let mut out = Vec::new();
        loop {
            let read = match self.read() {
                Ok(r) => r,
                Err(e) => {
                    errors.push(e);
                    return out;
                }
            };
            match read.end {
                End::Eof => {
                    if depth > 0 {
                        errors.push(self.error("unexpected end of file, expecting \"}\"".into()));
                    }
                    return out;
                }
                End::Close => {
                    if depth == 0 {
                        errors.push(self.error("unexpected \"}\"".into()));
                        continue;
                    }
                    return out;
                }
                End::Semicolon | End::Open => {
                    let mut words = read.words.into_iter();
                    let name = words.next().unwrap_or_default();
                    let block =
                        matches!(read.end, End::Open).then(|| self.block(depth + 1, errors));
                    out.push(Directive {
                        name,
                        args: words.collect(),
                        line: read.line,
                        span: read.span,
                        block,
                    });
                    if !errors.is_empty() {
                        return out;
                    }
                }
            }
        }
    }
}

/// The directives of `text`, and where nginx would stop reading it (the tree then holds what
/// came before).
pub fn parse(text: &str) -> (Vec<Directive>, Vec<SyntaxError>) {
    let mut lexer = Lexer {
        bytes: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    let mut errors = Vec::new();
    let tree = lexer.block(0, &mut errors);
    (tree, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Vec<String>> {
        let (tree, errors) = parse(text);
        assert!(errors.is_empty(), "{errors:?}");
        tree.iter()
            .map(|d| {
                let mut w = vec![d.name.clone()];
                w.extend(d.args.iter().cloned());
                w
            })
            .collect()
    }

    #[test]
    fn quotes_escapes_and_comments_are_read_as_nginx_reads_them() {
        assert_eq!(
            words(r#"set $a "x y";  # comment ; {"#),
            [["set", "$a", "x y"]]
        );
        // Escapes: \" \' \\ \t \n resolve, any other \x stays; quotes inside a word are plain.
        assert_eq!(
            words(r#"a "q\"t" 'it\'s' b\;c d\x it's;"#),
            [["a", "q\"t", "it's", "b\\;c", "d\\x", "it's"]]
        );
        assert_eq!(words("a \"t\\tn\";"), [["a", "t\tn"]]);
        // `#` inside a word is part of it.
        assert_eq!(words("a b#c;"), [["a", "b#c"]]);
        // `${name}` is a variable, not a block; `}` inside a word is a character.
        assert_eq!(
            words("proxy_pass http://${host}:80;"),
            [["proxy_pass", "http://${host}:80"]]
        );
        // A quoted word may be followed by `)` (if conditions).
        assert_eq!(words("if ($a = \"b\") { }"), [["if", "($a", "=", "b", ")"]]);
    }

    #[test]
    fn blocks_nest_and_lines_count_from_the_first_word() {
        let (tree, errors) = parse("http {\n  # c\n  server {\n    listen 80;\n  }\n}\n");
        assert!(errors.is_empty());
        let server = &tree[0].children()[0];
        assert_eq!((server.name.as_str(), server.line), ("server", 3));
        assert_eq!(server.children()[0].line, 4);
        assert_eq!(server.children()[0].args, ["80"]);
    }

    #[test]
    fn what_nginx_refuses_is_an_error() {
        assert!(!parse("a \"b\"c;").1.is_empty());
        assert!(!parse("a {").1.is_empty());
        assert!(!parse("}").1.is_empty());
        assert!(!parse("a b").1.is_empty());
        assert!(!parse(";").1.is_empty());
    }
}
