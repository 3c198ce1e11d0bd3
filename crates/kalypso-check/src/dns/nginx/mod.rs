//! Reading an nginx configuration as nginx reads it, for the addresses it proxies to: its
//! lexer ([`lexer`]), its `http`/`stream` → `server` → `location` tree ([`location`], with
//! nginx's choice of a location for a URI), its variables ([`eval`]: `set` per server and per
//! location in order, `if`, `map`, `geo`, `split_clients`), `upstream` blocks, and each
//! `proxy_pass`/`grpc_pass`/`fastcgi_pass`/`uwsgi_pass`/`scgi_pass`/`memcached_pass` with or
//! without variables. [`Config::report`] gives, per location, the addresses a request there
//! can be sent to; [`uses`] gives the DNS names the configuration needs, each at its line.
//!
//! A `set $backend http://svc.ns.svc.cluster.local;` is a definition, not a use: the port comes
//! from where `$backend` is used (`proxy_pass $backend:3100;`), not from the scheme of the
//! `set`. `tests/it/nginx_real.rs` holds this reader against the real nginx.

mod eval;
pub mod lexer;
pub mod location;
mod script;

use std::collections::{BTreeMap, BTreeSet};

pub use lexer::{Directive, SyntaxError};
pub use location::{Location, Modifier, Route};

use eval::{Env, Path, Sources, Stop};
use location::PASSES;

/// Whether `text` looks like an nginx configuration (and not YAML, prose or a script).
pub fn is_nginx(text: &str) -> bool {
    let directives = [
        "proxy_pass",
        "grpc_pass",
        "fastcgi_pass",
        "uwsgi_pass",
        "upstream ",
        "location ",
        "server {",
    ];
    text.contains(';') && directives.iter().any(|d| text.contains(d))
}

/// One `server` block (of `http`, of `stream`, or at the top of a fragment).
#[derive(Debug, Clone)]
pub struct Server {
    pub line: usize,
    /// Each `listen` directive's arguments.
    pub listen: Vec<Vec<String>>,
    /// `server_name` arguments.
    pub names: Vec<String>,
    /// A `stream` server: it proxies whole connections (its `proxy_pass` is in the server).
    pub stream: bool,
    pub locations: Vec<Location>,
    body: Vec<Directive>,
}

impl Server {
    /// `server :8080` or `server example.org:8080`, for messages.
    pub fn label(&self) -> String {
        let port = self
            .listen
            .first()
            .and_then(|l| l.first())
            .map(|a| a.rsplit(':').next().unwrap_or(a).to_string())
            .unwrap_or_else(|| "80".into());
        format!(
            "server {}:{port}",
            self.names.first().map_or("", String::as_str)
        )
    }
}

/// One `upstream` block.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    pub line: usize,
    /// Each `server` line: its address (`host:port`, the port nginx uses when none is written)
    /// and line.
    pub servers: Vec<(String, usize)>,
}

/// One address a location (or a stream server) can proxy to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// `scheme://host[:port]` or `host:port`, variables substituted.
    pub address: String,
    /// The line using it: the `*_pass`, or the upstream's `server` line.
    pub line: usize,
    /// The line of the `set` or map entry the address came from, if it came from one.
    pub value_line: Option<usize>,
    /// The `upstream` block it belongs to.
    pub upstream: Option<String>,
    /// Resolved per request (a `*_pass` with variables, through `resolver`), not at startup.
    pub per_request: bool,
}

/// What one location proxies to.
#[derive(Debug, Clone)]
pub struct LocationTargets<'a> {
    pub server: &'a Server,
    /// `None` for a stream server.
    pub location: Option<&'a Location>,
    pub targets: Vec<Target>,
    /// A `rewrite` sends some requests to a URI known only per request: those may end anywhere.
    pub rewritten_elsewhere: bool,
}

/// A parsed configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub servers: Vec<Server>,
    pub upstreams: Vec<Upstream>,
    /// Where nginx would refuse the text (what follows the first error is not read).
    pub errors: Vec<SyntaxError>,
    sources: Sources,
    /// Every `*_pass` directive, wherever it is, and whether it is in a `stream` block.
    passes: Vec<(Directive, bool)>,
}

/// How many internal redirects (`rewrite … last`) nginx follows before it gives up.
const MAX_REWRITES: usize = 10;

impl Config {
    /// Parses `text`; `include` directives are left out.
    pub fn parse(text: &str) -> Config {
        Config::parse_with_includes(text, &|_| Vec::new())
    }

    /// Parses `text`, replacing each `include PATTERN;` with the texts `include` returns for
    /// it (e.g. the other keys of the same ConfigMap); lines in an included text count in it.
    pub fn parse_with_includes(text: &str, include: &dyn Fn(&str) -> Vec<String>) -> Config {
        let (mut tree, mut errors) = lexer::parse(text);
        splice(&mut tree, include, &mut errors, 0);
        let mut config = Config {
            errors,
            ..Config::default()
        };
        config.collect(&tree, Context::Main);
        config
    }

    fn collect(&mut self, tree: &[Directive], ctx: Context) {
        let mut loose = Vec::new();
        // Every `set` and `*_pass`, wherever it is (read once, from the top).
        for d in tree.iter().filter(|_| ctx == Context::Main) {
            let stream = d.name == "stream";
            walk(d, &mut |x| {
                if x.name == "set" {
                    if let Some(v) = x.arg(0) {
                        self.sources
                            .declared
                            .insert(v.trim_start_matches('$').to_string());
                    }
                }
                if PASSES.contains(&x.name.as_str()) {
                    self.passes.push((x.clone(), stream));
                }
            });
        }
        for d in tree {
            match (d.name.as_str(), d.block.is_some()) {
                ("http", true) => self.collect(d.children(), Context::Http),
                ("stream", true) => self.collect(d.children(), Context::Stream),
                ("server", true) => {
                    self.servers.push(server(d, ctx == Context::Stream));
                }
                ("upstream", true) => {
                    if let Some(name) = d.arg(0) {
                        self.upstreams.push(Upstream {
                            name: name.to_string(),
                            line: d.line,
                            servers: d
                                .children()
                                .iter()
                                .filter(|s| s.name == "server")
                                .filter_map(|s| {
                                    let a = s.arg(0)?;
                                    if a.starts_with("unix:") {
                                        return None;
                                    }
                                    let with_port = if a.contains(':') {
                                        a.to_string()
                                    } else {
                                        // nginx's default port for an upstream server.
                                        format!("{a}:80")
                                    };
                                    Some((with_port, s.line))
                                })
                                .collect(),
                        });
                    }
                }
                ("map" | "geo" | "split_clients", true) => self.sources.add_block(d),
                // A fragment (a conf.d file): locations outside a server.
                ("location", true) if ctx == Context::Main => loose.push(d.clone()),
                _ => {}
            }
        }
        if !loose.is_empty() {
            let around = Directive {
                name: "server".into(),
                args: Vec::new(),
                line: loose[0].line,
                span: loose[0].span,
                block: Some(loose),
            };
            self.servers.push(server(&around, false));
        }
    }

    /// Every location of every server (nested ones too), with its server's index.
    pub fn locations(&self) -> Vec<(usize, &Location)> {
        fn add<'a>(i: usize, locs: &'a [Location], out: &mut Vec<(usize, &'a Location)>) {
            for l in locs {
                out.push((i, l));
                add(i, &l.children, out);
            }
        }
        let mut out = Vec::new();
        for (i, s) in self.servers.iter().enumerate() {
            add(i, &s.locations, &mut out);
        }
        out
    }

    /// The location server `server` picks for `uri`.
    pub fn route(&self, server: usize, uri: &str) -> Route<'_> {
        match self.servers.get(server) {
            Some(s) => location::route(&s.locations, uri),
            None => Route::None,
        }
    }

    /// What every location (and every stream server) can proxy to.
    pub fn report(&self) -> Vec<LocationTargets<'_>> {
        let mut out = Vec::new();
        for (i, s) in self.servers.iter().enumerate() {
            if s.stream {
                let targets = s
                    .body
                    .iter()
                    .filter(|d| d.name == "proxy_pass")
                    .flat_map(|d| self.pass_targets(d, &Env::new(), true))
                    .collect();
                out.push(LocationTargets {
                    server: s,
                    location: None,
                    targets,
                    rewritten_elsewhere: false,
                });
                continue;
            }
            for (j, l) in self.locations() {
                if j == i {
                    out.push(self.targets_of(i, l));
                }
            }
        }
        out
    }

    /// What a request handled by `location` of server `server` can be proxied to.
    pub fn targets_of<'a>(&'a self, server: usize, location: &'a Location) -> LocationTargets<'a> {
        let s = &self.servers[server];
        let mut out = LocationTargets {
            server: s,
            location: Some(location),
            targets: Vec::new(),
            rewritten_elsewhere: false,
        };
        let entered: Vec<Path<'_>> = self
            .server_paths(s)
            .into_iter()
            .filter(|p| p.stop != Stop::Return)
            .map(|mut p| {
                p.stop = Stop::Running;
                p.new_uri = None;
                p
            })
            .collect();
        self.follow(s, location, entered, 0, &mut out);
        out.targets.sort();
        out.targets.dedup();
        out
    }

    /// The server's rewrite directives, run before any location is chosen.
    fn server_paths<'a>(&'a self, s: &'a Server) -> Vec<Path<'a>> {
        eval::run(&s.body, vec![Path::start()], false, &self.sources)
    }

    /// Runs a location's rewrite directives on `paths` and adds what each outcome proxies to.
    fn follow<'a>(
        &'a self,
        s: &'a Server,
        location: &'a Location,
        paths: Vec<Path<'a>>,
        depth: usize,
        out: &mut LocationTargets<'a>,
    ) {
        for p in eval::run(&location.body, paths, true, &self.sources) {
            if p.stop == Stop::Return {
                continue;
            }
            if let Some(uri) = &p.new_uri {
                match uri {
                    Some(uri) if depth < MAX_REWRITES => {
                        if let Route::Location(next) = location::route(&s.locations, uri) {
                            let again = Path {
                                stop: Stop::Running,
                                new_uri: None,
                                conf: None,
                                ..p.clone()
                            };
                            self.follow(s, next, vec![again], depth + 1, out);
                        }
                    }
                    _ => out.rewritten_elsewhere = true,
                }
                continue;
            }
            for d in Config::content(location, &p) {
                out.targets.extend(self.pass_targets(d, &p.env, false));
            }
            for named in self.named_fallbacks(s, location) {
                let again = Path {
                    stop: Stop::Running,
                    new_uri: None,
                    conf: None,
                    ..p.clone()
                };
                if depth < MAX_REWRITES {
                    self.follow(s, named, vec![again], depth + 1, out);
                }
            }
        }
    }

    /// The `*_pass` directives that handle a request on path `p`: the matching `if`'s own,
    /// else the location's, and those of its `limit_except`.
    fn content<'a>(location: &'a Location, p: &Path<'a>) -> Vec<&'a Directive> {
        let is_pass = |d: &&Directive| PASSES.contains(&d.name.as_str());
        let own = p.conf.and_then(|c| c.children().iter().find(is_pass));
        let mut out: Vec<&Directive> = match own {
            Some(d) => vec![d],
            None => location.body.iter().find(is_pass).into_iter().collect(),
        };
        for lim in location.body.iter().filter(|d| d.name == "limit_except") {
            out.extend(lim.children().iter().find(is_pass));
        }
        out
    }

    /// Named locations a location hands requests to (`try_files … @name`, `error_page … @name`).
    fn named_fallbacks<'a>(&'a self, s: &'a Server, location: &Location) -> Vec<&'a Location> {
        location
            .body
            .iter()
            .filter(|d| d.name == "try_files" || d.name == "error_page")
            .filter_map(|d| d.args.last())
            .filter(|a| a.starts_with('@'))
            .filter_map(|name| {
                s.locations
                    .iter()
                    .find(|l| l.modifier == Modifier::Named && &l.path == name)
            })
            .collect()
    }

    /// The addresses one `*_pass` can reach with `env` (`stream`: a `stream` server's
    /// `proxy_pass`, which takes `host:port` without a scheme).
    fn pass_targets(&self, d: &Directive, env: &Env, stream: bool) -> Vec<Target> {
        let Some(value) = d.arg(0) else {
            return Vec::new();
        };
        let per_request = script::has_variables(value);
        let mut out = Vec::new();
        for val in eval::expand(value, env, &self.sources, 0) {
            let kind = if stream { "stream" } else { d.name.as_str() };
            let Some(addr) = eval::address(kind, &val) else {
                continue;
            };
            // A host naming an upstream block (without a port) is the block, not a DNS name.
            let upstream = self
                .upstreams
                .iter()
                .find(|u| addr.port.is_none() && u.name.eq_ignore_ascii_case(&addr.host));
            match upstream {
                Some(u) => out.extend(u.servers.iter().map(|(a, line)| Target {
                    address: a.clone(),
                    line: *line,
                    value_line: None,
                    upstream: Some(u.name.clone()),
                    per_request: false,
                })),
                None => out.push(Target {
                    address: addr.render(),
                    line: d.line,
                    value_line: val.from.filter(|l| *l != d.line),
                    upstream: None,
                    per_request,
                }),
            }
        }
        out
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Main,
    Http,
    Stream,
}

fn walk(d: &Directive, f: &mut dyn FnMut(&Directive)) {
    f(d);
    for c in d.children() {
        walk(c, f);
    }
}

fn server(d: &Directive, stream: bool) -> Server {
    let body = d.children();
    Server {
        line: d.line,
        listen: body
            .iter()
            .filter(|x| x.name == "listen")
            .map(|x| x.args.clone())
            .collect(),
        names: body
            .iter()
            .filter(|x| x.name == "server_name")
            .flat_map(|x| x.args.clone())
            .collect(),
        stream,
        locations: body
            .iter()
            .filter(|x| x.name == "location")
            .filter_map(Location::from_directive)
            .collect(),
        body: body.to_vec(),
    }
}

/// Replaces `include` directives with the directives of the texts they name (nested up to a
/// few levels, as a guard against an include of itself).
fn splice(
    tree: &mut Vec<Directive>,
    include: &dyn Fn(&str) -> Vec<String>,
    errors: &mut Vec<SyntaxError>,
    depth: usize,
) {
    let mut out = Vec::with_capacity(tree.len());
    for mut d in std::mem::take(tree) {
        if d.name == "include" && d.block.is_none() && depth < 8 {
            for text in d.arg(0).map(include).unwrap_or_default() {
                let (mut sub, errs) = lexer::parse(&text);
                errors.extend(errs);
                splice(&mut sub, include, errors, depth + 1);
                out.extend(sub);
            }
            continue;
        }
        if let Some(block) = d.block.as_mut() {
            splice(block, include, errors, depth);
        }
        out.push(d);
    }
    *tree = out;
}

/// One address the configuration needs resolved, with where it is used.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Use {
    pub address: String,
    pub line: usize,
    /// `location = /x` (with its server when there are several), `upstream NAME`, or empty.
    pub context: String,
    /// Line of the `set` or map entry the address came from, when not `line`.
    pub value_line: Option<usize>,
    /// Resolved per request (`*_pass` with variables): not needed for nginx to start.
    pub per_request: bool,
}

impl Use {
    /// Where it is used, for a finding's field: `line 12 (location /x, address from line 11)`.
    pub fn at(&self) -> String {
        let mut notes = Vec::new();
        if !self.context.is_empty() {
            notes.push(self.context.clone());
        }
        if let Some(v) = self.value_line {
            notes.push(format!("address from line {v}"));
        }
        if notes.is_empty() {
            format!("line {}", self.line)
        } else {
            format!("line {} ({})", self.line, notes.join(", "))
        }
    }
}

/// The DNS names a configuration needs: each `*_pass` target per location (one use per
/// location, so a Service used by five locations is five uses), each `upstream` server line,
/// and what a `*_pass` outside any location, or without variables in a location no request
/// reaches, names (nginx resolves those at startup).
pub fn uses(config: &Config) -> Vec<Use> {
    let mut out = BTreeSet::new();
    let many_servers = config.servers.len() > 1;
    for r in config.report() {
        let mut context = match r.location {
            Some(l) => format!("location {}", l.label()),
            None => r.server.label(),
        };
        if many_servers && r.location.is_some() {
            context = format!("{context}, {}", r.server.label());
        }
        for t in r.targets.into_iter().filter(|t| t.upstream.is_none()) {
            out.insert(Use {
                address: t.address,
                line: t.line,
                context: context.clone(),
                value_line: t.value_line,
                per_request: t.per_request,
            });
        }
    }
    for u in &config.upstreams {
        for (address, line) in &u.servers {
            out.insert(Use {
                address: address.clone(),
                line: *line,
                context: format!("upstream {}", u.name),
                value_line: None,
                per_request: false,
            });
        }
    }
    let mut in_locations = BTreeSet::new();
    for (_, l) in config.locations() {
        for d in &l.body {
            walk(d, &mut |x| {
                in_locations.insert(x.span);
            });
        }
    }
    for s in config.servers.iter().filter(|s| s.stream) {
        for d in &s.body {
            in_locations.insert(d.span);
        }
    }
    for (d, stream) in &config.passes {
        let reported = in_locations.contains(&d.span);
        if reported && d.arg(0).is_some_and(script::has_variables) {
            continue;
        }
        for t in config.pass_targets(d, &Env::new(), *stream) {
            let known = out
                .iter()
                .any(|u| u.line == t.line && u.address == t.address);
            if t.upstream.is_some() || known {
                continue;
            }
            out.insert(Use {
                address: t.address,
                line: t.line,
                context: String::new(),
                value_line: t.value_line,
                per_request: t.per_request,
            });
        }
    }
    out.into_iter().collect()
}

/// The text values of a ConfigMap or Secret (Secret `data` decoded), by key: what a pod
/// that mounts it sees as files of one directory.
pub fn files_of(kind: &str, body: &serde_json::Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, base64) in [("data", kind == "Secret"), ("stringData", false)] {
        for (k, v) in body[key].as_object().into_iter().flatten() {
            let text = match v.as_str() {
                Some(s) if base64 => kalypso_model::manifest::decode_base64(s),
                Some(s) => Some(s.to_string()),
                None => None,
            };
            if let Some(t) = text {
                out.insert(k.clone(), t);
            }
        }
    }
    out
}

/// The texts an `include PATTERN;` names among `files` (keys of one ConfigMap): those whose
/// key matches the pattern's last path component, `*` and `?` as nginx's glob reads them,
/// in key order (nginx sorts the names a glob finds).
pub fn included(files: &BTreeMap<String, String>, pattern: &str) -> Vec<String> {
    let name = pattern.rsplit('/').next().unwrap_or(pattern);
    files
        .iter()
        .filter(|(k, _)| glob(name, k))
        .map(|(_, t)| t.clone())
        .collect()
}

/// Whether `text` is one of `files` that another of them includes: it is read where it is
/// included, not on its own.
pub fn included_by_another(files: &BTreeMap<String, String>, text: &str) -> bool {
    let Some(key) = files
        .iter()
        .find(|(_, t)| t.as_str() == text)
        .map(|(k, _)| k)
    else {
        return false;
    };
    files.iter().filter(|(k, _)| *k != key).any(|(_, t)| {
        let (tree, _) = lexer::parse(t);
        let mut found = false;
        for d in &tree {
            walk(d, &mut |x| {
                if x.name == "include"
                    && x.arg(0)
                        .is_some_and(|p| glob(p.rsplit('/').next().unwrap_or(p), key))
                {
                    found = true;
                }
            });
        }
        found
    })
}

/// Shell-style `*` and `?` matching.
fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // The last `*` seen, and the name position it matched up to.
    let (mut pi, mut ni, mut star) = (0, 0, None::<(usize, usize)>);
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests;
