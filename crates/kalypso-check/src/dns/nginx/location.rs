//! `location` blocks and how nginx picks one for a URI (`ngx_http_core_find_location` and
//! `ngx_http_core_find_static_location`, src/http/ngx_http_core_module.c): an exact match
//! wins; else the longest matching prefix, whose nested locations are searched first; a
//! prefix location ending in `/` with a `*_pass` answers its name without the slash with a
//! redirect; then, unless that prefix is `^~`, the regex locations of the level in order; else
//! the prefix.

use super::lexer::Directive;

/// How a location's name is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    /// `location = /x`.
    Exact,
    /// `location /x`.
    Prefix,
    /// `location ^~ /x`: a prefix that stops the regex search.
    NoRegex,
    /// `location ~ re`.
    Regex,
    /// `location ~* re`.
    RegexCaseless,
    /// `location @name`: reached only by internal redirects.
    Named,
}

impl Modifier {
    /// As written in the configuration (`=`, `^~`, `~`, `~*`; nothing for a plain prefix).
    pub fn as_str(self) -> &'static str {
        match self {
            Modifier::Exact => "=",
            Modifier::Prefix | Modifier::Named => "",
            Modifier::NoRegex => "^~",
            Modifier::Regex => "~",
            Modifier::RegexCaseless => "~*",
        }
    }

    fn is_static(self) -> bool {
        matches!(self, Modifier::Exact | Modifier::Prefix | Modifier::NoRegex)
    }
}

/// One `location` block.
#[derive(Debug, Clone)]
pub struct Location {
    pub modifier: Modifier,
    /// The path, regex or name after the modifier.
    pub path: String,
    /// Line of the `location` directive.
    pub line: usize,
    /// Byte offset just after the block's `{`.
    pub body_start: usize,
    pub body: Vec<Directive>,
    /// Nested locations.
    pub children: Vec<Location>,
    /// `internal;`: a request from a client gets 404.
    pub internal: bool,
    /// Ends in `/` and has a `*_pass`: its name without the slash is redirected to it.
    pub auto_redirect: bool,
    regex: Option<fancy_regex::Regex>,
}

/// The directives that hand a request to another server.
pub const PASSES: &[&str] = &[
    "proxy_pass",
    "grpc_pass",
    "fastcgi_pass",
    "uwsgi_pass",
    "scgi_pass",
    "memcached_pass",
];

impl Location {
    /// Reads a `location` directive (nginx's parsing of its arguments), `None` when nginx
    /// would refuse it.
    pub fn from_directive(d: &Directive) -> Option<Location> {
        let block = d.block.as_ref()?;
        let (modifier, path) = match d.args.as_slice() {
            [m, name] => {
                let modifier = match m.as_str() {
                    "=" => Modifier::Exact,
                    "^~" => Modifier::NoRegex,
                    "~" => Modifier::Regex,
                    "~*" => Modifier::RegexCaseless,
                    _ => return None,
                };
                (modifier, name.clone())
            }
            [name] => {
                if let Some(rest) = name.strip_prefix('=') {
                    (Modifier::Exact, rest.to_string())
                } else if let Some(rest) = name.strip_prefix("~*") {
                    (Modifier::RegexCaseless, rest.to_string())
                } else if let Some(rest) = name.strip_prefix('~') {
                    (Modifier::Regex, rest.to_string())
                } else if name.starts_with('@') {
                    (Modifier::Named, name.clone())
                } else {
                    (Modifier::Prefix, name.clone())
                }
            }
            _ => return None,
        };
        let regex = match modifier {
            Modifier::Regex => fancy_regex::Regex::new(&path).ok(),
            Modifier::RegexCaseless => fancy_regex::Regex::new(&format!("(?i){path}")).ok(),
            _ => None,
        };
        let has = |name: &str| block.iter().any(|c| c.name == name);
        Some(Location {
            modifier,
            line: d.line,
            body_start: d.span.1,
            body: block.clone(),
            children: block
                .iter()
                .filter(|c| c.name == "location")
                .filter_map(Location::from_directive)
                .collect(),
            internal: has("internal"),
            auto_redirect: path.ends_with('/') && PASSES.iter().any(|p| has(p)),
            regex,
            path,
        })
    }

    /// `= /x`, `^~ /x`, `/x`, `~ re`, `@name`.
    pub fn label(&self) -> String {
        match self.modifier {
            Modifier::Prefix | Modifier::Named => self.path.clone(),
            m => format!("{} {}", m.as_str(), self.path),
        }
    }

    /// Whether a regex location matches `uri` (`None` for other kinds, or a regex this crate
    /// cannot run).
    pub fn regex_matches(&self, uri: &str) -> Option<bool> {
        self.regex.as_ref().and_then(|r| r.is_match(uri).ok())
    }
}

/// Where nginx sends a request for a URI.
#[derive(Debug, Clone, Copy)]
pub enum Route<'a> {
    /// Handled by this location (a client gets 404 when it is `internal`).
    Location(&'a Location),
    /// Answered with a redirect to the location's name (its name without the trailing `/`
    /// was asked for).
    Redirect(&'a Location),
    /// No location matches: the server's own configuration answers.
    None,
}

impl Route<'_> {
    /// Whether a client's request ends in 404 because the location is `internal`.
    pub fn is_internal(&self) -> bool {
        matches!(self, Route::Location(l) if l.internal)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Found {
    Exact,
    Redirect,
    Prefix,
    Declined,
}

/// nginx's search on one level of locations.
fn find<'a>(level: &'a [Location], uri: &str) -> (Found, Option<&'a Location>) {
    let statics = || level.iter().filter(|l| l.modifier.is_static());
    if let Some(e) = statics().find(|l| l.modifier == Modifier::Exact && l.path == uri) {
        return (Found::Exact, Some(e));
    }
    let prefix = statics()
        .filter(|l| l.modifier != Modifier::Exact && uri.starts_with(l.path.as_str()))
        .fold(None::<&Location>, |best, l| match best {
            Some(b) if b.path.len() >= l.path.len() => Some(b),
            _ => Some(l),
        });
    let exact_prefix = prefix.is_some_and(|p| p.path.len() == uri.len());
    if !exact_prefix {
        if let Some(r) = statics()
            .find(|l| l.auto_redirect && l.path.len() == uri.len() + 1 && l.path.starts_with(uri))
        {
            return (Found::Redirect, Some(r));
        }
    }
    let mut found = (Found::Declined, None);
    let mut noregex = false;
    if let Some(p) = prefix {
        noregex = p.modifier == Modifier::NoRegex;
        match find(&p.children, uri) {
            f @ (Found::Exact | Found::Redirect, _) => return f,
            (Found::Prefix, nested) => found = (Found::Prefix, nested),
            (Found::Declined, _) => found = (Found::Prefix, Some(p)),
        }
    }
    if !noregex {
        for r in level
            .iter()
            .filter(|l| matches!(l.modifier, Modifier::Regex | Modifier::RegexCaseless))
        {
            if r.regex_matches(uri) == Some(true) {
                let nested = match find(&r.children, uri) {
                    (Found::Declined, _) => r,
                    (_, l) => l.unwrap_or(r),
                };
                return (Found::Exact, Some(nested));
            }
        }
    }
    found
}

/// The location nginx picks among `locations` (a server's) for `uri`.
pub fn route<'a>(locations: &'a [Location], uri: &str) -> Route<'a> {
    match find(locations, uri) {
        (Found::Redirect, Some(l)) => Route::Redirect(l),
        (Found::Exact | Found::Prefix, Some(l)) => Route::Location(l),
        _ => Route::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locations(text: &str) -> Vec<Location> {
        let (tree, errors) = super::super::lexer::parse(text);
        assert!(errors.is_empty(), "{errors:?}");
        tree.iter().filter_map(Location::from_directive).collect()
    }

    fn picked(locs: &[Location], uri: &str) -> String {
        match route(locs, uri) {
            Route::Location(l) => l.label(),
            Route::Redirect(l) => format!("redirect {}", l.label()),
            Route::None => "none".into(),
        }
    }

    #[test]
    fn exact_then_longest_prefix_then_regex_in_order_unless_caret_tilde() {
        let locs = locations(
            "location / {}\n\
             location = /x {}\n\
             location /api/ {}\n\
             location ^~ /static/ {}\n\
             location ~ \\.json$ {}\n\
             location ~* ^/API/v[0-9]+ {}\n",
        );
        assert_eq!(picked(&locs, "/x"), "= /x");
        assert_eq!(picked(&locs, "/x/y"), "/");
        assert_eq!(picked(&locs, "/api/a"), "/api/");
        // A regex beats the longest prefix…
        assert_eq!(picked(&locs, "/api/a.json"), "~ \\.json$");
        // …first one in order, case-insensitively for `~*`…
        assert_eq!(picked(&locs, "/api/v2.json"), "~ \\.json$");
        assert_eq!(picked(&locs, "/api/v2/q"), "~* ^/API/v[0-9]+");
        // …but not a `^~` prefix.
        assert_eq!(picked(&locs, "/static/a.json"), "^~ /static/");
    }

    #[test]
    fn modifiers_may_be_written_against_the_name() {
        let locs = locations("location =/x {}\nlocation ~*\\.PNG$ {}\nlocation @fallback {}\n");
        let mods: Vec<Modifier> = locs.iter().map(|l| l.modifier).collect();
        assert_eq!(
            mods,
            [Modifier::Exact, Modifier::RegexCaseless, Modifier::Named]
        );
        assert_eq!(picked(&locs, "/a.png"), "~* \\.PNG$");
        // A named location is never chosen for a URI.
        assert_eq!(picked(&locs, "@fallback"), "none");
    }

    #[test]
    fn nested_locations_are_searched_inside_the_prefix_that_matched() {
        let locs = locations(
            "location /a/ { location /a/b/ {} location ~ c$ {} }\n\
             location ~ z$ {}\n",
        );
        assert_eq!(picked(&locs, "/a/b/y"), "/a/b/");
        assert_eq!(picked(&locs, "/a/y"), "/a/");
        // The nested regex is tried before the outer one…
        assert_eq!(picked(&locs, "/a/zc"), "~ c$");
        // …and the outer one still beats the nested prefix.
        assert_eq!(picked(&locs, "/a/b/z"), "~ z$");
        assert_eq!(picked(&locs, "/b"), "none");
    }

    #[test]
    fn a_proxied_prefix_ending_in_a_slash_redirects_its_name_without_it() {
        let locs = locations(
            "location / {}\n\
             location /w/ { proxy_pass http://w; }\n\
             location /s/ {}\n\
             location /e/ { proxy_pass http://e; }\n\
             location = /e { internal; }\n",
        );
        assert_eq!(picked(&locs, "/w"), "redirect /w/");
        assert_eq!(picked(&locs, "/s"), "/");
        assert_eq!(picked(&locs, "/e"), "= /e");
        assert!(route(&locs, "/e").is_internal());
    }
}
