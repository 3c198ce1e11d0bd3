//! The nginx reader of `wiring/dns` (`kalypso::check::nginx`) held against the real nginx
//! (Debian's `nginx`, installed by `.ci/tools.sh`).
//!
//! - `nginx -t` accepts every nginx configuration the rendered stack holds (every ConfigMap or
//!   Secret value the reader recognises: the Loki and Mimir gateways at least).
//! - A differential test: for every location of each of those configurations (and of a few
//!   written here), a request nginx routes there (a path derived from the location: its exact
//!   name, a prefix plus a suffix, or a string its regex matches) goes through the real nginx to
//!   fake Services on loopback, each answering with the name and port it was reached as; the
//!   location nginx picked (a header added to each location) and the Service reached must be
//!   those the reader names.
//!
//! Cluster names resolve to loopback: each Service of the input gets its own 127.1.x.y
//! address, written into an `/etc/hosts` that nginx sees through a bind mount in a private
//! mount namespace (`unshare --mount`, with `--user --map-root-user` when not root), and a DNS
//! responder on loopback port 53 answers nginx's `resolver` from the same table. Only what a
//! loopback run needs is rewritten (each test prints it): `pid`, `user`, log and temp paths
//! into a temporary directory, `listen` onto 127.0.0.1 (a gateway's port can be a backend's
//! too), `daemon` (given with `-g`). The tests refuse to run outside a network namespace whose
//! only interface is `lo` (CI's `loopback_only`): SKIP there, a failure with
//! `KALYPSO_REQUIRE_CONTROLPLANE=1`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kalypso::check::nginx::{self, lexer, Config, Location, Modifier, Route};
use kalypso::check::{self, ChartInfo, CheckOptions, Context, Policy, Severity};
use kalypso::manifest::{Manifest, Object};

use crate::controlplane::loopback_only;
use crate::support::{repo_root, skip};

/// One nginx (and one set of fake Services on fixed loopback addresses) at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The header each location gets, naming it (`L<line>@<offset of its block>`).
const LOCATION_HEADER: &str = "x-kalypso-location";
/// The header a fake Service answers with: `<service>.<namespace>:<port>`.
const REACHED_HEADER: &str = "x-kalypso-reached";

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "nginx_real: {line}");
}

fn nginx_binary() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/sbin/nginx");
    if debian.is_file() {
        return Some(debian);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
}

/// nginx, when this test may run it here; else a SKIP line (a failure in CI).
fn nginx_or_skip(test: &str) -> Option<PathBuf> {
    let why = if !loopback_only() {
        "not in a loopback-only network namespace (run under `bash .ci/run`, which uses `unshare --net`)"
    } else if nginx_binary().is_none() {
        "nginx is not installed (Debian nginx; `bash .ci/run` installs it)"
    } else {
        return nginx_binary();
    };
    if std::env::var("KALYPSO_REQUIRE_CONTROLPLANE").as_deref() == Ok("1") {
        panic!("{test}: cannot run: {why}");
    }
    skip(&format!("{why} ({test})"));
    None
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

// ---- the cluster: names → loopback addresses

/// A Service as the fakes serve it.
struct FakeService {
    /// `name.namespace`.
    id: String,
    ip: Ipv4Addr,
    ports: BTreeSet<u16>,
}

/// Every Service of the input on its own loopback address, and the names that resolve to it.
struct Cluster {
    services: Vec<FakeService>,
    names: BTreeMap<String, Ipv4Addr>,
    dns: Ipv4Addr,
}

impl Cluster {
    /// `services`: (name, namespace, ports served).
    fn new(services: &[(String, String, BTreeSet<u16>)]) -> Cluster {
        let dns = Ipv4Addr::new(127, 0, 53, 53);
        let mut c = Cluster {
            services: Vec::new(),
            names: BTreeMap::new(),
            dns,
        };
        for name in Cluster::dns_names("kube-dns", "kube-system") {
            c.names.insert(name, dns);
        }
        for (n, (name, ns, ports)) in services.iter().enumerate() {
            let ip = Ipv4Addr::new(127, 1, (n / 250) as u8, (n % 250 + 1) as u8);
            for dns_name in Cluster::dns_names(name, ns) {
                c.names.insert(dns_name, ip);
            }
            c.services.push(FakeService {
                id: format!("{name}.{ns}"),
                ip,
                ports: ports.clone(),
            });
        }
        c
    }

    fn dns_names(name: &str, ns: &str) -> [String; 3] {
        [
            format!("{name}.{ns}.svc.cluster.local"),
            format!("{name}.{ns}.svc"),
            format!("{name}.{ns}"),
        ]
    }

    /// The Services a manifest renders (a headless one also on its pods' numeric ports).
    fn of_manifest(manifest: &Manifest) -> Cluster {
        let mut services = Vec::new();
        for o in manifest.objects.iter().filter(|o| o.kind == "Service") {
            let spec = &o.body["spec"];
            let headless = spec["clusterIP"] == "None";
            let mut ports = BTreeSet::new();
            for p in spec["ports"].as_array().into_iter().flatten() {
                ports.extend(p["port"].as_u64().map(|n| n as u16));
                if headless {
                    ports.extend(p["targetPort"].as_u64().map(|n| n as u16));
                }
            }
            let ns = o.namespace.clone().unwrap_or_default();
            services.push((o.name.clone(), ns, ports));
        }
        Cluster::new(&services)
    }

    /// A few Services in namespace `app`, for the configurations written here.
    fn of(services: &[(&str, &[u16])]) -> Cluster {
        let list: Vec<(String, String, BTreeSet<u16>)> = services
            .iter()
            .map(|(n, ports)| (n.to_string(), "app".into(), ports.iter().copied().collect()))
            .collect();
        Cluster::new(&list)
    }

    fn hosts_file(&self) -> String {
        let mut out = String::from("127.0.0.1 localhost\n::1 localhost\n");
        for (name, ip) in &self.names {
            out.push_str(&format!("{ip} {name} {name}.\n"));
        }
        out
    }

    /// What an address the reader names reaches here: `service.namespace:port`, or why not.
    fn identify(&self, address: &str) -> String {
        let (scheme, rest) = match address.split_once("://") {
            Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
            None => (None, address),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, p.parse::<u16>().ok()),
            _ => (rest, None),
        };
        let port = port.or(match scheme.as_deref() {
            Some("http") => Some(80),
            Some("https") => Some(443),
            _ => None,
        });
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match (self.names.get(&host), port) {
            (Some(ip), Some(port)) => match self.services.iter().find(|s| s.ip == *ip) {
                Some(s) => format!("{}:{port}", s.id),
                None => format!("unresolvable {address}"),
            },
            _ => format!("unresolvable {address}"),
        }
    }
}

// ---- fake Services and a DNS responder

/// The fake Services (HTTP, answering with who they are) and the DNS responder; stopped on drop.
struct Fakes {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for Fakes {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn start_fakes(cluster: &Cluster) -> Fakes {
    let stop = Arc::new(AtomicBool::new(false));
    let mut listeners = Vec::new();
    for s in &cluster.services {
        for p in &s.ports {
            let l = TcpListener::bind((s.ip, *p))
                .unwrap_or_else(|e| panic!("bind {}:{p} for {}: {e}", s.ip, s.id));
            l.set_nonblocking(true).expect("nonblocking");
            listeners.push((l, format!("{}:{p}", s.id)));
        }
    }
    let http_stop = stop.clone();
    let http = std::thread::spawn(move || {
        while !http_stop.load(Ordering::SeqCst) {
            let mut busy = false;
            for (l, who) in &listeners {
                if let Ok((conn, _)) = l.accept() {
                    busy = true;
                    answer_http(conn, who);
                }
            }
            if !busy {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    let socket = UdpSocket::bind((cluster.dns, 53)).expect("bind the DNS responder on port 53");
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let table = cluster.names.clone();
    let dns_stop = stop.clone();
    let dns = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while !dns_stop.load(Ordering::SeqCst) {
            if let Ok((n, from)) = socket.recv_from(&mut buf) {
                if let Some(reply) = dns_reply(&buf[..n], &table) {
                    let _ = socket.send_to(&reply, from);
                }
            }
        }
    });
    Fakes {
        stop,
        threads: vec![http, dns],
    }
}

fn answer_http(mut conn: TcpStream, who: &str) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let reply = format!(
        "HTTP/1.1 200 OK\r\n{REACHED_HEADER}: {who}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{who}",
        who.len()
    );
    let _ = conn.write_all(reply.as_bytes());
}

/// An answer to a DNS query: one A record from `table`, no record for other types of a known
/// name, NXDOMAIN for an unknown name.
fn dns_reply(query: &[u8], table: &BTreeMap<String, Ipv4Addr>) -> Option<Vec<u8>> {
    if query.len() < 12 || query[4..6] != [0, 1] {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*query.get(i)?, *query.get(i + 1)?]);
    let question_end = i + 4;
    query.get(..question_end)?;
    let ip = table.get(&labels.join("."));
    let answer = ip.filter(|_| qtype == 1);
    let mut out = Vec::with_capacity(question_end + 16);
    out.extend_from_slice(&query[..2]);
    out.push(0x84 | (query[2] & 0x01));
    out.push(if ip.is_some() { 0x80 } else { 0x83 });
    out.extend_from_slice(&[0, 1, 0, u8::from(answer.is_some()), 0, 0, 0, 0]);
    out.extend_from_slice(&query[12..question_end]);
    if let Some(ip) = answer {
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4]);
        out.extend_from_slice(&ip.octets());
    }
    Some(out)
}

// ---- running nginx

/// The configuration as a loopback run needs it, and what was changed.
struct Prepared {
    text: String,
    rewrites: Vec<String>,
}

fn quote(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '\n', ';', '{', '}', '"', '\'', '#', '\\']) {
        return arg.to_string();
    }
    format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A directive written again on one line (padded with the newlines it spanned, so later lines
/// keep their numbers).
fn directive(text: &str, d: &lexer::Directive, name: &str, args: &[String]) -> String {
    let mut s = name.to_string();
    for a in args {
        s.push(' ');
        s.push_str(&quote(a));
    }
    s.push(';');
    s.push_str(&"\n".repeat(text[d.span.0..d.span.1].matches('\n').count()));
    s
}

const TEMP_PATHS: &[&str] = &[
    "client_body_temp_path",
    "proxy_temp_path",
    "fastcgi_temp_path",
    "uwsgi_temp_path",
    "scgi_temp_path",
];

/// Rewrites what a loopback run needs (see the module docs); with `instrument`, each location
/// answers with [`LOCATION_HEADER`].
fn prepare(text: &str, dir: &Path, instrument: bool) -> Prepared {
    let (tree, errors) = lexer::parse(text);
    assert!(errors.is_empty(), "nginx would not read it: {errors:?}");
    let d = dir.display();
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut rewrites = BTreeSet::new();
    let mut top = Vec::new();
    let (mut has_pid, mut has_user) = (false, false);
    for x in &tree {
        match x.name.as_str() {
            "pid" => {
                has_pid = true;
                edits.push((
                    x.span.0,
                    x.span.1,
                    directive(text, x, "pid", &[format!("{d}/nginx.pid")]),
                ));
            }
            "user" => {
                has_user = true;
                let args = ["root".to_string(), "root".to_string()];
                edits.push((x.span.0, x.span.1, directive(text, x, "user", &args)));
            }
            "daemon" => {
                rewrites.insert("daemon: dropped (given as -g \"daemon off;\")".to_string());
                edits.push((x.span.0, x.span.1, directive(text, x, "#", &[])));
            }
            _ => {}
        }
    }
    if !has_pid {
        top.push(format!("pid {d}/nginx.pid;"));
    }
    if !has_user {
        top.push("user root root;".to_string());
    }
    rewrites.insert(format!("pid: {d}/nginx.pid"));
    rewrites.insert("user: root (workers in a user namespace cannot switch users)".into());
    edits.push((0, 0, format!("{} ", top.join(" "))));
    fn walk(
        text: &str,
        dir: &str,
        list: &[lexer::Directive],
        parent: &str,
        instrument: bool,
        edits: &mut Vec<(usize, usize, String)>,
        rewrites: &mut BTreeSet<String>,
    ) {
        for x in list {
            let args = &x.args;
            match x.name.as_str() {
                "error_log" | "access_log" => {
                    let target = args.first().map(String::as_str).unwrap_or_default();
                    let kept = ["off", "stderr", "/dev/stderr", "/dev/stdout"].contains(&target)
                        || target.starts_with("syslog:")
                        || target.starts_with("memory:");
                    if !kept {
                        let mut a = args.clone();
                        a[0] = format!("{dir}/{}.log", x.name);
                        rewrites.insert(format!("{}: {target} → {}", x.name, a[0]));
                        edits.push((x.span.0, x.span.1, directive(text, x, &x.name, &a)));
                    }
                }
                n if TEMP_PATHS.contains(&n) && !args.is_empty() => {
                    let mut a = args.clone();
                    a[0] = format!("{dir}/{n}");
                    rewrites.insert(format!("{n}: {} → {}", args[0], a[0]));
                    edits.push((x.span.0, x.span.1, directive(text, x, n, &a)));
                }
                "listen" if !args.is_empty() => {
                    let addr = &args[0];
                    if addr.starts_with("unix:") {
                        continue;
                    }
                    let port = addr.rsplit(':').next().unwrap_or(addr);
                    let host = if addr.starts_with('[') {
                        "[::1]"
                    } else {
                        "127.0.0.1"
                    };
                    let mut a = args.clone();
                    a[0] = format!("{host}:{port}");
                    rewrites.insert(format!("listen: {addr} → {}", a[0]));
                    edits.push((x.span.0, x.span.1, directive(text, x, "listen", &a)));
                }
                "http" => {
                    let mut add = Vec::new();
                    for t in TEMP_PATHS {
                        if !x.children().iter().any(|c| c.name == *t) {
                            add.push(format!("{t} {dir}/{t};"));
                            rewrites.insert(format!("{t}: (nginx's default) → {dir}/{t}"));
                        }
                    }
                    if !x.children().iter().any(|c| c.name == "access_log") {
                        add.push(format!("access_log {dir}/access.log;"));
                        rewrites
                            .insert(format!("access_log: (nginx's default) → {dir}/access.log"));
                    }
                    edits.push((x.span.1, x.span.1, format!(" {}", add.join(" "))));
                }
                "server"
                    if parent == "http" && !x.children().iter().any(|c| c.name == "listen") =>
                {
                    edits.push((x.span.1, x.span.1, " listen 127.0.0.1:80;".into()));
                    rewrites.insert("listen: (nginx's default *:80) → 127.0.0.1:80".into());
                }
                "location" if instrument && x.block.is_some() => {
                    let header = format!(
                        " add_header {LOCATION_HEADER} \"L{}@{}\" always;",
                        x.line, x.span.1
                    );
                    edits.push((x.span.1, x.span.1, header));
                }
                _ => {}
            }
            if x.block.is_some() {
                walk(
                    text,
                    dir,
                    x.children(),
                    &x.name,
                    instrument,
                    edits,
                    rewrites,
                );
            }
        }
    }
    walk(
        text,
        &d.to_string(),
        &tree,
        "",
        instrument,
        &mut edits,
        &mut rewrites,
    );
    if instrument {
        rewrites.insert(format!(
            "each location: add_header {LOCATION_HEADER} (which location answered)"
        ));
    }
    edits.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut out = text.to_string();
    for (from, to, with) in edits {
        out.replace_range(from..to, &with);
    }
    Prepared {
        text: out,
        rewrites: rewrites.into_iter().collect(),
    }
}

/// A command running nginx with `args` in a private mount namespace that sees `hosts` as
/// `/etc/hosts` and the fake DNS as its name server.
fn nginx_command(bin: &Path, dir: &Path, cluster: &Cluster, args: &[&str]) -> Command {
    let hosts = dir.join("hosts");
    let resolv = dir.join("resolv.conf");
    std::fs::write(&hosts, cluster.hosts_file()).expect("hosts");
    std::fs::write(&resolv, format!("nameserver {}\n", cluster.dns)).expect("resolv.conf");
    let mut c = Command::new("unshare");
    if !is_root() {
        c.args(["--user", "--map-root-user"]);
    }
    c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(r#"mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@""#)
        .arg("sh")
        .arg(&hosts)
        .arg(&resolv)
        .arg(bin)
        .arg("-p")
        .arg(format!("{}/", dir.display()))
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .args(args);
    c
}

/// `nginx -t` on `text`: `Err(nginx's output)` when it refuses it.
fn nginx_t(bin: &Path, text: &str, cluster: &Cluster) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let prepared = prepare(text, dir.path(), false);
    std::fs::write(dir.path().join("nginx.conf"), &prepared.text).expect("conf");
    let out = nginx_command(bin, dir.path(), cluster, &["-t"])
        .output()
        .expect("run nginx -t");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(())
    } else {
        Err(said)
    }
}

/// A running nginx; stopped on drop.
struct Gateway {
    child: Child,
    dir: tempfile::TempDir,
}

impl Gateway {
    fn start(bin: &Path, text: &str, cluster: &Cluster, ports: &[u16]) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let prepared = prepare(text, dir.path(), true);
        say(&format!(
            "rewritten for a loopback run: {}",
            prepared.rewrites.join("; ")
        ));
        std::fs::write(dir.path().join("nginx.conf"), &prepared.text).expect("conf");
        let log = std::fs::File::create(dir.path().join("stderr.log")).expect("log");
        let child = nginx_command(bin, dir.path(), cluster, &["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nginx");
        let mut gw = Gateway { child, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in ports {
            while TcpStream::connect(("127.0.0.1", *port)).is_err() {
                if let Ok(Some(status)) = gw.child.try_wait() {
                    panic!("nginx exited ({status}): {}", gw.log());
                }
                assert!(
                    Instant::now() < deadline,
                    "nginx did not listen on {port}: {}",
                    gw.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        gw
    }

    fn log(&self) -> String {
        ["stderr.log", "error.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // TERM to the master (our child): it stops its workers.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer: status and headers (lowercase names).
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
}

fn get(port: u16, host: &str, path: &str, headers: &[(String, String)]) -> Answer {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect to nginx");
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    conn.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    let _ = conn.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer { status, headers }
}

// ---- paths that reach a location

/// The location `loc` is nested in, if any.
fn parent_of<'a>(level: &'a [Location], loc: &Location) -> Option<&'a Location> {
    for l in level {
        if l.children.iter().any(|c| std::ptr::eq(c, loc)) {
            return Some(l);
        }
        if let Some(p) = parent_of(&l.children, loc) {
            return Some(p);
        }
    }
    None
}

/// Paths nginx could route to `loc` (nested in `parent`), most natural first.
fn candidate_paths(loc: &Location, parent: Option<&Location>) -> Vec<String> {
    let mut own = own_paths(loc);
    if let Some(p) = parent.filter(|p| p.modifier != Modifier::Exact) {
        let under: Vec<String> = own
            .iter()
            .map(|c| format!("{}{}", p.path.trim_end_matches('/'), c))
            .collect();
        own.extend(under);
    }
    own
}

fn own_paths(loc: &Location) -> Vec<String> {
    match loc.modifier {
        Modifier::Exact => vec![loc.path.clone()],
        Modifier::Prefix | Modifier::NoRegex => {
            let mut v = vec![loc.path.clone(), format!("{}kalypso-probe", loc.path)];
            if !loc.path.ends_with('/') {
                v.push(format!("{}/kalypso-probe", loc.path));
            }
            v
        }
        Modifier::Regex | Modifier::RegexCaseless => {
            regex_samples(&loc.path, loc.modifier == Modifier::RegexCaseless)
        }
        Modifier::Named => Vec::new(),
    }
}

/// Strings a regex matches (repetitions once, never or twice; first or last alternatives),
/// each also with a leading `/`.
fn regex_samples(re: &str, caseless: bool) -> Vec<String> {
    let mut parser = regex_syntax::ParserBuilder::new()
        .case_insensitive(caseless)
        .build();
    let Ok(hir) = parser.parse(re) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for reps in [1, 0, 2] {
        for last_alternative in [false, true] {
            let mut s = String::new();
            sample(&hir, reps, last_alternative, &mut s);
            for c in [s.clone(), format!("/{s}"), format!("/kalypso-probe/{s}")] {
                if c.starts_with('/') && !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }
    out
}

fn sample(h: &regex_syntax::hir::Hir, reps: u32, last: bool, out: &mut String) {
    use regex_syntax::hir::{Class, HirKind};
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(l) => out.push_str(&String::from_utf8_lossy(&l.0)),
        HirKind::Class(Class::Unicode(c)) => {
            let fits = |ch: char| c.ranges().iter().any(|r| r.start() <= ch && ch <= r.end());
            let pick = "ax0-_.".chars().find(|ch| fits(*ch)).or_else(|| {
                c.ranges()
                    .iter()
                    .flat_map(|r| r.start()..=r.end())
                    .find(|ch| ch.is_ascii_graphic())
            });
            out.extend(pick);
        }
        HirKind::Class(Class::Bytes(c)) => {
            let fits = |b: u8| c.ranges().iter().any(|r| r.start() <= b && b <= r.end());
            out.extend(b"ax0-_.".iter().find(|b| fits(**b)).map(|b| *b as char));
        }
        HirKind::Repetition(r) => {
            let n = if r.min > 0 {
                r.min
            } else {
                reps.min(r.max.unwrap_or(u32::MAX))
            };
            for _ in 0..n {
                sample(&r.sub, reps, last, out);
            }
        }
        HirKind::Capture(c) => sample(&c.sub, reps, last, out),
        HirKind::Concat(v) => v.iter().for_each(|x| sample(x, reps, last, out)),
        HirKind::Alternation(v) => {
            let pick = if last { v.last() } else { v.first() };
            if let Some(x) = pick {
                sample(x, reps, last, out);
            }
        }
    }
}

// ---- the differential test

/// What comparing one configuration found.
#[derive(Default)]
struct Comparison {
    /// Locations a request was sent to.
    compared: usize,
    /// Locations no derived path reaches by the reader's routing (named ones excluded).
    unreached: Vec<String>,
    /// Where nginx and the reader disagree.
    mismatches: Vec<String>,
    /// nginx's error and access log.
    log: String,
}

/// Requests to send to a location: header sets (one plain request by default).
type Variations<'a> = &'a dyn Fn(&Location) -> Vec<Vec<(String, String)>>;

fn plain(_: &Location) -> Vec<Vec<(String, String)>> {
    vec![Vec::new()]
}

fn listen_port(server: &nginx::Server) -> u16 {
    server
        .listen
        .first()
        .and_then(|a| a.first())
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(80)
}

/// Sends, for every location of `text`, requests nginx routes there, and compares what nginx
/// reached with what the reader says.
fn differential(
    bin: &Path,
    text: &str,
    cluster: &Cluster,
    variations: Variations<'_>,
) -> Comparison {
    let config = Config::parse(text);
    assert!(config.errors.is_empty(), "{:?}", config.errors);
    let ports: BTreeSet<u16> = config
        .servers
        .iter()
        .filter(|s| !s.stream)
        .map(listen_port)
        .collect();
    let _fakes = start_fakes(cluster);
    let gw = Gateway::start(
        bin,
        text,
        cluster,
        &ports.iter().copied().collect::<Vec<_>>(),
    );
    let mut out = Comparison::default();
    for (si, loc) in config.locations() {
        if loc.modifier == Modifier::Named {
            continue;
        }
        let server = &config.servers[si];
        let label = format!("location {} (line {})", loc.label(), loc.line);
        let path = candidate_paths(loc, parent_of(&server.locations, loc))
            .into_iter()
            .find(|p| matches!(config.route(si, p), Route::Location(l) if std::ptr::eq(l, loc)));
        let Some(path) = path else {
            out.unreached.push(label);
            continue;
        };
        out.compared += 1;
        let report = config.targets_of(si, loc);
        let expected: BTreeSet<String> = if loc.internal {
            BTreeSet::new()
        } else {
            report
                .targets
                .iter()
                .map(|t| cluster.identify(&t.address))
                .collect()
        };
        let host = server
            .names
            .first()
            .cloned()
            .unwrap_or_else(|| "gateway".into());
        let mut reached = BTreeSet::new();
        let mut answered_by = BTreeSet::new();
        for headers in variations(loc) {
            for _ in 0..expected.len().max(1) {
                let a = get(listen_port(server), &host, &path, &headers);
                answered_by.insert(
                    a.headers
                        .get(LOCATION_HEADER)
                        .cloned()
                        .unwrap_or_else(|| format!("no location (status {})", a.status)),
                );
                reached.extend(a.headers.get(REACHED_HEADER).cloned());
            }
        }
        let want_location = format!("L{}@{}", loc.line, loc.body_start);
        if answered_by != BTreeSet::from([want_location.clone()]) {
            out.mismatches.push(format!(
                "{label}: GET {path} was answered by {answered_by:?}, the reader routes it to {want_location}"
            ));
        }
        if reached != expected {
            out.mismatches.push(format!(
                "{label}: GET {path} reached {reached:?} through nginx, the reader says {expected:?}"
            ));
        }
    }
    out.log = gw.log();
    out
}

// ---- the rendered stack

struct Rendered {
    manifest: Manifest,
    charts: Vec<ChartInfo>,
}

/// Loki in simple scalable mode (the `--set` values of the upstream chart that select it):
/// its gateway sends each location to `loki-write`, `loki-read` or `loki-backend` with a
/// `set $backend` per location.
const LOKI_SIMPLE_SCALABLE: &[&str] = &[
    "loki.deploymentMode=SimpleScalable",
    "loki.singleBinary.replicas=0",
    "loki.read.replicas=1",
    "loki.write.replicas=1",
    "loki.backend.replicas=1",
];

fn render(only: &[&str], set: &[&str]) -> Option<Rendered> {
    let root = repo_root();
    let helm = kalypso::helm::Helm::locate(&root).ok()?;
    let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
    let stack = kalypso::stack::Stack::load(&root)
        .and_then(|s| s.select(&only))
        .expect("stack");
    let opts = kalypso::render::RenderOptions {
        passes: 1,
        values: kalypso::release::ValuesChoice {
            set: set.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        ..Default::default()
    };
    let renders = kalypso::render::render_stack(&stack, &helm, &opts).expect("render");
    let sources = kalypso::commands::check::render_sources(&renders);
    let manifest = Manifest::from_sources(&sources).expect("parse");
    let charts = renders.iter().map(ChartInfo::from).collect();
    Some(Rendered { manifest, charts })
}

/// A render made once for these tests; `None` (after a SKIP line) without helm, or when one of
/// `full` rendered with stand-ins (no upstream archive).
fn cached(
    test: &str,
    cell: &'static OnceLock<Option<Rendered>>,
    make: fn() -> Option<Rendered>,
    full: &[&str],
) -> Option<&'static Rendered> {
    let Some(r) = cell.get_or_init(make).as_ref() else {
        skip(&format!("helm not installed ({test})"));
        return None;
    };
    for chart in full {
        let status = r
            .charts
            .iter()
            .find(|c| c.name == *chart)
            .map(|c| c.status.clone());
        if status != Some(kalypso::render::ChartStatus::Full) {
            skip(&format!(
                "{chart} rendered with stand-ins (copy the upstream archives: `bash -c '. .ci/tools.sh; upstream_archives'`) ({test})"
            ));
            return None;
        }
    }
    Some(r)
}

/// The whole stack, as `kalypso check` renders it.
fn stack(test: &str) -> Option<&'static Rendered> {
    static CELL: OnceLock<Option<Rendered>> = OnceLock::new();
    cached(
        test,
        &CELL,
        || render(&[], &[]),
        &["kalypso-loki", "kalypso-mimir"],
    )
}

/// kalypso-loki alone, Loki in simple scalable mode.
fn loki_simple_scalable(test: &str) -> Option<&'static Rendered> {
    static CELL: OnceLock<Option<Rendered>> = OnceLock::new();
    cached(
        test,
        &CELL,
        || render(&["loki"], LOKI_SIMPLE_SCALABLE),
        &["kalypso-loki"],
    )
}

/// Every nginx configuration in ConfigMaps and Secrets: (object index, key, text).
fn nginx_configs(manifest: &Manifest) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for (i, o) in manifest.objects.iter().enumerate() {
        if o.kind != "ConfigMap" && o.kind != "Secret" {
            continue;
        }
        for (k, text) in texts(o) {
            if nginx::is_nginx(&text) {
                out.push((i, k, text));
            }
        }
    }
    out
}

fn texts(o: &Object) -> Vec<(String, String)> {
    use base64::Engine as _;
    let mut out = Vec::new();
    for key in ["data", "stringData"] {
        for (k, v) in o.body[key].as_object().into_iter().flatten() {
            let Some(s) = v.as_str() else { continue };
            let text = if o.kind == "Secret" && key == "data" {
                base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
            } else {
                Some(s.to_string())
            };
            out.extend(text.map(|t| (k.clone(), t)));
        }
    }
    out
}

fn name_of(o: &Object, key: &str) -> String {
    format!(
        "{} {}/{} key {key}",
        o.kind,
        o.namespace.as_deref().unwrap_or(""),
        o.name
    )
}

/// `nginx -t` and the differential test on every nginx config of a render.
fn every_config_of(bin: &Path, r: &Rendered) -> Vec<String> {
    let cluster = Cluster::of_manifest(&r.manifest);
    let mut problems = Vec::new();
    for (i, key, text) in &nginx_configs(&r.manifest) {
        let name = name_of(&r.manifest.objects[*i], key);
        if let Err(e) = nginx_t(bin, text, &cluster) {
            problems.push(format!("{name}: nginx -t refuses it:\n{e}"));
            continue;
        }
        let c = differential(bin, text, &cluster, &plain);
        say(&format!(
            "{name}: nginx -t ok; {} locations compared with the real nginx, {} mismatches",
            c.compared,
            c.mismatches.len(),
        ));
        if c.compared == 0 {
            problems.push(format!("{name}: no location compared"));
        }
        problems.extend(c.mismatches.iter().map(|m| format!("{name}: {m}")));
        problems.extend(
            c.unreached
                .iter()
                .map(|u| format!("{name}: no path reaches {u}")),
        );
        if !c.mismatches.is_empty() {
            problems.push(format!("{name}: nginx's log:\n{}", c.log));
        }
    }
    problems
}

#[test]
fn nginx_accepts_every_rendered_gateway_config_and_routes_each_location_where_the_reader_says() {
    let test = "rendered nginx configs against nginx";
    let Some(bin) = nginx_or_skip(test) else {
        return;
    };
    let (Some(whole), Some(ssd)) = (stack(test), loki_simple_scalable(test)) else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let namespaces: BTreeSet<&str> = nginx_configs(&whole.manifest)
        .into_iter()
        .filter_map(|(i, _, _)| whole.manifest.objects[i].namespace.as_deref())
        .collect();
    assert!(
        namespaces.contains("loki") && namespaces.contains("mimir"),
        "the Loki and Mimir gateways' nginx configs were not found: {namespaces:?}"
    );
    let mut problems = every_config_of(&bin, whole);
    say("Loki in simple scalable mode:");
    problems.extend(every_config_of(&bin, ssd));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The findings of every rule but the schema rule on `manifest`.
fn findings(manifest: &Manifest, charts: &[ChartInfo]) -> Vec<check::Finding> {
    let policy = Policy::load(None, None).expect("policy");
    let ctx = Context::new(manifest, charts, &policy);
    check::run(
        &ctx,
        &[],
        &CheckOptions {
            skip_schema: true,
            ..Default::default()
        },
    )
}

/// The Loki gateway's nginx config in a render: (object index, key, text).
fn loki_gateway(r: &Rendered) -> (usize, String, String) {
    nginx_configs(&r.manifest)
        .into_iter()
        .find(|(i, _, _)| r.manifest.objects[*i].namespace.as_deref() == Some("loki"))
        .expect("the Loki gateway's nginx config")
}

/// The `wiring/dns` errors on object `i`: `field | message`.
fn dns_errors_on(r: &Rendered, manifest: &Manifest, i: usize) -> Vec<String> {
    let obj = &r.manifest.objects[i];
    findings(manifest, &r.charts)
        .into_iter()
        .filter(|f| f.rule == "wiring/dns" && f.severity == Severity::Error)
        .filter(|f| f.object.name == obj.name && f.object.namespace == obj.namespace)
        .map(|f| format!("{} | {}", f.field, f.message))
        .collect()
}

#[test]
fn a_typo_in_the_loki_write_host_is_a_wiring_dns_error_per_location_and_a_differential_mismatch() {
    let test = "a typo in the Loki gateway";
    let Some(bin) = nginx_or_skip(test) else {
        return;
    };
    let Some(r) = loki_simple_scalable(test) else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (i, key, text) = loki_gateway(r);
    let uses = text.matches("loki-write.loki.svc").count();
    assert!(
        uses > 1,
        "the gateway does not use loki-write in several locations"
    );
    let broken = text.replace("loki-write.loki.svc", "loki-wrte.loki.svc");
    say(&format!(
        "planted: loki-write → loki-wrte in {key} ({uses} lines)"
    ));

    assert_eq!(dns_errors_on(r, &r.manifest, i), Vec::<String>::new());
    let mut manifest = r.manifest.clone();
    manifest.objects[i].body["data"][key.as_str()] = serde_json::Value::String(broken.clone());
    let errors = dns_errors_on(r, &manifest, i);
    // One per location that uses it, each naming its own line.
    assert_eq!(errors.len(), uses, "{errors:#?}");
    assert!(
        errors.iter().all(|e| e.contains("loki-wrte")),
        "{errors:#?}"
    );

    let cluster = Cluster::of_manifest(&r.manifest);
    nginx_t(&bin, &broken, &cluster).expect("nginx -t (the name is resolved per request)");
    let c = differential(&bin, &broken, &cluster, &plain);
    assert_eq!(c.mismatches.len(), uses, "{:#?}", c.mismatches);
    assert!(
        c.mismatches.iter().all(|m| m.contains("loki-wrte")),
        "{:#?}",
        c.mismatches
    );
}

#[test]
fn renaming_the_loki_read_service_is_one_wiring_dns_error_per_location_that_reads_from_it() {
    let test = "a renamed loki-read Service";
    let Some(r) = loki_simple_scalable(test) else {
        return;
    };
    let (i, _, text) = loki_gateway(r);
    let reads = text.matches("loki-read.loki.svc").count();
    assert!(reads > 0, "the gateway does not use loki-read");
    let mut manifest = r.manifest.clone();
    let svc = manifest
        .objects
        .iter_mut()
        .find(|o| o.kind == "Service" && o.name == "loki-read")
        .expect("Service loki-read");
    svc.name = "loki-reader".into();
    svc.body["metadata"]["name"] = "loki-reader".into();
    let errors = dns_errors_on(r, &manifest, i);
    // Each location sets its own $backend: only those naming loki-read are broken (reading
    // one global value, every location was).
    assert_eq!(errors.len(), reads, "{errors:#?}");
    let fields: BTreeSet<&str> = errors
        .iter()
        .filter_map(|e| e.split(" | ").next())
        .collect();
    assert_eq!(fields.len(), reads, "{errors:#?}");
}

// ---- configurations written here

/// Per-location `set`, a server `set` a location overrides or not, a variable no `set` of this
/// location writes, `map` (default, exact and regex keys, none without a default), `upstream`
/// (static and through a variable), `if` (setting a variable, and with its own `proxy_pass`),
/// `proxy_pass $var$request_uri`, exact, prefix, `^~`, regex and nested locations.
const HAND: &str = r#"
events {}
http {
  resolver kube-dns.kube-system.svc.cluster.local.;
  map $http_x_tenant $pool {
    default   http://default.app.svc.cluster.local:8080;
    team-a    http://write.app.svc.cluster.local:3100;
    ~^team-b  "http://read.app.svc.cluster.local:3100";
  }
  map $http_x_canary $canary {
    yes       http://canary.app.svc.cluster.local:8080;
  }
  upstream backends {
    server write.app.svc.cluster.local:3100;
    server read.app.svc.cluster.local:3100;
  }
  server {
    listen 8080;
    set $fallback http://default.app.svc.cluster.local:8080;
    location /write {
      set $backend http://write.app.svc.cluster.local:3100;
      proxy_pass $backend$request_uri;
    }
    location /read {
      set $backend "http://read.app.svc.cluster.local:3100";
      proxy_pass ${backend}$request_uri;
    }
    location /unset {
      proxy_pass $backend$request_uri;
    }
    location /fallback {
      proxy_pass $fallback$request_uri;
    }
    location /override {
      set $fallback http://write.app.svc.cluster.local:3100;
      proxy_pass $fallback$request_uri;
    }
    location = /exact {
      proxy_pass http://read.app.svc.cluster.local:3100;
    }
    location /pool {
      proxy_pass $pool$request_uri;
    }
    location /canary {
      proxy_pass $canary$request_uri;
    }
    location /upstream {
      proxy_pass http://backends;
    }
    location /upstream-variable {
      set $group backends;
      proxy_pass http://$group$request_uri;
    }
    location /if-set {
      set $b http://write.app.svc.cluster.local:3100;
      if ($http_x_route = read) {
        set $b http://read.app.svc.cluster.local:3100;
      }
      proxy_pass $b$request_uri;
    }
    location /if-pass {
      if ($http_x_debug) {
        proxy_pass http://canary.app.svc.cluster.local:8080;
      }
      proxy_pass http://write.app.svc.cluster.local:3100;
    }
    location ~ ^/api/(v1|v2)/push$ {
      proxy_pass http://write.app.svc.cluster.local:3100;
    }
    location ~* \.JSON$ {
      proxy_pass http://read.app.svc.cluster.local:3100;
    }
    location ^~ /static/ {
      return 204;
    }
    location /nested/ {
      location /nested/deep/ {
        proxy_pass http://read.app.svc.cluster.local:3100;
      }
      location ~ \.txt$ {
        proxy_pass http://canary.app.svc.cluster.local:8080;
      }
      proxy_pass http://write.app.svc.cluster.local:3100;
    }
    location = /hidden {
      internal;
      proxy_pass http://write.app.svc.cluster.local:3100;
    }
    location / {
      proxy_pass http://default.app.svc.cluster.local:8080;
    }
  }
}
"#;

fn hand_cluster() -> Cluster {
    Cluster::of(&[
        ("write", &[3100]),
        ("read", &[3100]),
        ("default", &[8080]),
        ("canary", &[8080]),
        ("grpc", &[9095]),
    ])
}

fn header(name: &str, value: &str) -> Vec<(String, String)> {
    vec![(name.to_string(), value.to_string())]
}

#[test]
fn per_location_set_map_upstream_and_if_proxy_where_the_reader_says() {
    let test = "written nginx configs against nginx";
    let Some(bin) = nginx_or_skip(test) else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = hand_cluster();
    nginx_t(&bin, HAND, &cluster).expect("nginx -t");
    let variations = |l: &Location| match l.path.as_str() {
        "/pool" => vec![
            Vec::new(),
            header("X-Tenant", "team-a"),
            header("X-Tenant", "team-b7"),
        ],
        "/canary" => vec![Vec::new(), header("X-Canary", "yes")],
        "/if-set" => vec![Vec::new(), header("X-Route", "read")],
        "/if-pass" => vec![Vec::new(), header("X-Debug", "1")],
        _ => vec![Vec::new()],
    };
    let c = differential(&bin, HAND, &cluster, &variations);
    say(&format!(
        "written config: {} locations compared with the real nginx, {} mismatches",
        c.compared,
        c.mismatches.len()
    ));
    assert!(c.unreached.is_empty(), "{:?}", c.unreached);
    assert_eq!(c.compared, Config::parse(HAND).locations().len());
    assert!(
        c.mismatches.is_empty(),
        "{}\nnginx's log:\n{}",
        c.mismatches.join("\n"),
        c.log
    );
}

#[test]
fn a_static_name_must_resolve_for_nginx_to_start_and_grpc_pass_is_read_as_nginx_reads_it() {
    let test = "grpc_pass and static names against nginx -t";
    let Some(bin) = nginx_or_skip(test) else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = hand_cluster();
    let conf = "events {}\nhttp {\n  server {\n    listen 9095 http2;\n    location / {\n      grpc_pass grpc://grpc.app.svc.cluster.local:9095;\n    }\n    location /h {\n      proxy_pass http://read.app.svc.cluster.local:3100;\n    }\n  }\n}\n";
    let reader: Vec<String> = Config::parse(conf)
        .report()
        .into_iter()
        .flat_map(|r| r.targets)
        .map(|t| cluster.identify(&t.address))
        .collect();
    assert_eq!(reader, ["grpc.app:9095", "read.app:3100"]);
    nginx_t(&bin, conf, &cluster).expect("nginx -t");
    // A name no Service has: the reader cannot resolve it, and nginx refuses to start.
    for (from, to) in [("grpc.app", "grcp.app"), ("read.app", "reed.app")] {
        let broken = conf.replace(from, to);
        let unresolved = Config::parse(&broken)
            .report()
            .into_iter()
            .flat_map(|r| r.targets)
            .filter(|t| cluster.identify(&t.address).starts_with("unresolvable"))
            .count();
        assert_eq!(unresolved, 1, "{to}");
        let err = nginx_t(&bin, &broken, &cluster).expect_err("nginx -t accepts an unknown host");
        assert!(err.contains("host not found"), "{err}");
    }
}

#[test]
fn check_manifests_reports_the_one_location_whose_set_names_a_missing_service() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: write, namespace: gw}
spec: {ports: [{name: http, port: 3100, targetPort: 3100}], selector: {app: write}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: gateway, namespace: gw}
data:
  nginx.conf: |
    http {
      resolver kube-dns.kube-system.svc.cluster.local.;
      server {
        listen 8080;
        location /push {
          set $backend http://write.gw.svc.cluster.local:3100;
          proxy_pass $backend$request_uri;
        }
        location /query {
          set $backend http://read.gw.svc.cluster.local:3100;
          proxy_pass $backend$request_uri;
        }
      }
    }
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("gateway.yaml");
    std::fs::write(&file, yaml).expect("write");
    let out = assert_cmd::Command::cargo_bin("kalypso")
        .expect("binary")
        .env("KALYPSO_SCHEMA_DIR", "/nonexistent")
        .args([
            "check",
            "--schema-dir",
            "/nonexistent",
            "--output",
            "json",
            "-m",
        ])
        .arg(&file)
        .output()
        .expect("run kalypso check");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let dns: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "wiring/dns" && f["severity"] == "error")
        .collect();
    assert_eq!(dns.len(), 1, "{dns:#?}");
    assert_eq!(
        dns[0]["field"],
        "data.nginx.conf: line 11 (location /query, address from line 10)"
    );
    assert!(dns[0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("gw/read"));
}
