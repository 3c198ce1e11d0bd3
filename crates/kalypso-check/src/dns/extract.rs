//! Finding in-cluster DNS names in text: `svc.ns.svc[.cluster.local][:port]` anywhere, and the
//! short `svc.ns[:port]` form as a URL host (or `host:port`) when `ns` is a namespace of the input.
//! Headless per-pod names (`pod-0.svc.ns.svc…`) and SRV names (`_grpc._tcp.svc.ns.svc…`)
//! resolve to their Service part.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use regex::Regex;

/// Which port a reference uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortUse {
    /// An explicit `:port` (or a sibling `port:` field).
    Number(u32),
    /// No port, but the URL scheme implies one (`http://` → 80, `https://` → 443).
    SchemeDefault(u32, String),
    /// An SRV name `_name._proto.`: the Service must have a port called `name`.
    Named(String),
    /// Nothing says which port.
    Unknown,
}

/// One in-cluster DNS name found in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsReference {
    /// The address as written (host and port).
    pub address: String,
    pub service: String,
    pub namespace: String,
    pub port: PortUse,
    /// A per-pod name of a headless Service (`pod-0.svc.ns.svc…`).
    pub per_pod: bool,
    /// Line inside the text (1-based).
    pub line: usize,
}

fn fqdn_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?:([A-Za-z][A-Za-z0-9+.-]*)://)?([A-Za-z0-9_.-]*[A-Za-z0-9_-])\.svc(\.cluster\.local)?(\.)?(?::(\d{1,5}))?",
        )
        .expect("static regex")
    })
}

fn short_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?:([A-Za-z][A-Za-z0-9+.-]*)://)?([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?::(\d{1,5}))?",
        )
        .expect("static regex")
    })
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn default_port(scheme: &str) -> Option<u32> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].bytes().filter(|&b| b == b'\n').count() + 1
}

fn next_char(text: &str, end: usize) -> Option<char> {
    text[end..].chars().next()
}

fn continues_name(c: Option<char>) -> bool {
    matches!(c, Some(c) if c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Every in-cluster DNS name in `text`. `namespaces` are the input's namespaces: the short
/// `svc.ns` form only counts for them.
pub fn find(text: &str, namespaces: &BTreeSet<String>) -> Vec<DnsReference> {
    let mut out = Vec::new();
    if text.contains(".svc") {
        for cap in fqdn_re().captures_iter(text) {
            let whole = cap.get(0).expect("match");
            let after = next_char(text, whole.end());
            if continues_name(after) {
                continue;
            }
            // `x.svc.example.com`: an external domain with a `svc` label.
            if cap.get(3).is_none() && cap.get(5).is_none() {
                let rest = &text[whole.end()..];
                let mut chars = rest.chars();
                if cap.get(4).is_none() && chars.next() == Some('.') && continues_name(chars.next())
                {
                    continue;
                }
                if cap.get(4).is_some() && continues_name(rest.chars().next()) {
                    continue;
                }
            }
            let labels: Vec<&str> = cap[2].split('.').filter(|l| !l.is_empty()).collect();
            if labels.len() < 2 {
                continue;
            }
            let namespace = labels[labels.len() - 1];
            let service = labels[labels.len() - 2];
            if !is_label(namespace) || !is_label(service) {
                continue;
            }
            let prefix = &labels[..labels.len() - 2];
            let leading_dot = cap[2].starts_with('.');
            let srv = prefix.first().filter(|l| l.starts_with('_'));
            let port = if let Some(p) = cap.get(5) {
                match p.as_str().parse() {
                    Ok(n) => PortUse::Number(n),
                    Err(_) => PortUse::Unknown,
                }
            } else if let Some(name) = srv {
                PortUse::Named(name.trim_start_matches('_').to_string())
            } else if let Some(d) = cap.get(1).and_then(|s| default_port(s.as_str())) {
                PortUse::SchemeDefault(d, cap[1].to_ascii_lowercase())
            } else {
                PortUse::Unknown
            };
            let host_start = cap.get(2).expect("host").start();
            out.push(DnsReference {
                address: text[host_start..whole.end()]
                    .trim_start_matches('.')
                    .to_string(),
                service: service.to_string(),
                namespace: namespace.to_string(),
                port,
                per_pod: srv.is_none() && (!prefix.is_empty() || leading_dot),
                line: line_of(text, whole.start()),
            });
        }
    }
    if namespaces.is_empty() {
        return out;
    }
    for cap in short_re().captures_iter(text) {
        let whole = cap.get(0).expect("match");
        let scheme = cap.get(1);
        let port = cap.get(6);
        // Only a URL host (`http://svc.ns`) or `svc.ns:port` counts; `a.b` alone is prose.
        if scheme.is_none() && port.is_none() {
            continue;
        }
        let host = cap.get(2).expect("host");
        let before = text[..host.start()].chars().next_back();
        if scheme.is_none()
            && matches!(before, Some(c) if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' || c == '/' || c == '@')
        {
            continue;
        }
        let after = next_char(text, whole.end());
        if continues_name(after) || after == Some('.') {
            continue;
        }
        let namespace = &cap[4];
        if !namespaces.contains(namespace) {
            continue;
        }
        let port_use = match port.map(|p| p.as_str().parse::<u32>()) {
            Some(Ok(n)) => PortUse::Number(n),
            Some(Err(_)) => PortUse::Unknown,
            None => match scheme.and_then(|s| default_port(s.as_str())) {
                Some(d) => {
                    PortUse::SchemeDefault(d, scheme.expect("scheme").as_str().to_ascii_lowercase())
                }
                None => PortUse::Unknown,
            },
        };
        out.push(DnsReference {
            address: text[host.start()..whole.end()].to_string(),
            service: cap[2].to_string(),
            namespace: namespace.to_string(),
            port: port_use,
            per_pod: false,
            line: line_of(text, whole.start()),
        });
    }
    out
}

/// Single-label names that never name a Service.
const NOT_SERVICES: &[&str] = &[
    "localhost",
    "ip6-localhost",
    "host",
    "hostname",
    "example",
    // Protocol names (`tcp:90` in a dashboard's matcher is not an address).
    "tcp",
    "udp",
    "sctp",
    "http",
    "https",
    "grpc",
];

/// Schemes whose address is not a network host.
const LOCAL_SCHEMES: &[&str] = &["file", "unix", "unixgram", "npipe"];

/// A same-namespace short name (`svc`) used as a whole value: `scheme://svc[:port][/…]`, or
/// `svc:port` alone. `text` is one token (a value, an argument after `=`, one item of a comma
/// list). `key_is_host`: the value sits under a key that holds a host (`DB_HOST`, `host:`), so a
/// bare `svc` counts too. The namespace is left empty (the caller's).
pub fn find_short(text: &str, key_is_host: bool) -> Vec<DnsReference> {
    let mut out = Vec::new();
    let tokens: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|t| !t.is_empty())
        .collect();
    // Prose is not an address list.
    if tokens.len() > 8 && !text.contains("://") {
        return out;
    }
    for raw in tokens {
        let token = raw.trim_matches(|c| c == '"' || c == '\'' || c == '(' || c == ')');
        // `--flag=value`, `KEY=value`.
        let token = match (token.find('='), token.find("://")) {
            (Some(e), Some(s)) if e < s => &token[e + 1..],
            (Some(e), None) => &token[e + 1..],
            _ => token,
        };
        if token.contains(['$', '{', '}', '%', '<', '>', '*']) {
            continue;
        }
        let (scheme, rest) = match token.find("://") {
            Some(s) => {
                let scheme_start = token[..s]
                    .rfind(|c: char| {
                        !(c.is_ascii_alphanumeric() || c == '+' || c == '.' || c == '-')
                    })
                    .map_or(0, |p| p + 1);
                (
                    Some(token[scheme_start..s].to_ascii_lowercase()),
                    &token[s + 3..],
                )
            }
            None => (None, token),
        };
        if scheme
            .as_deref()
            .is_some_and(|s| s.is_empty() || LOCAL_SCHEMES.contains(&s))
        {
            continue;
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if scheme.is_none() && authority.len() != rest.len() {
            continue;
        }
        let hostport = authority.rsplit('@').next().unwrap_or("");
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => match p.parse::<u32>() {
                Ok(n) if n > 0 && n < 65536 => (h, Some(n)),
                _ => continue,
            },
            None => (hostport, None),
        };
        let label = is_label(host)
            && host.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && !NOT_SERVICES.contains(&host);
        if !label {
            continue;
        }
        let port_use = match (port, &scheme) {
            (Some(n), _) => PortUse::Number(n),
            (None, Some(s)) => match default_port(s) {
                Some(d) => PortUse::SchemeDefault(d, s.clone()),
                None => PortUse::Unknown,
            },
            (None, None) => PortUse::Unknown,
        };
        // `name:port` alone: a port of two digits or fewer is an image tag (`redis:7`).
        let counts = match (&scheme, port) {
            (Some(_), _) => true,
            (None, Some(n)) => n >= 80 || key_is_host,
            // A bare name under a host key: chart-made names carry a dash (`app-db`).
            (None, None) => key_is_host && host.contains('-'),
        };
        if counts {
            out.push(DnsReference {
                address: hostport.to_string(),
                service: host.to_string(),
                namespace: String::new(),
                port: port_use,
                per_pod: false,
                line: 1,
            });
        }
    }
    out
}

/// Whether a key (an environment variable, a config key) holds a host name.
pub fn key_is_host(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let last = k.rsplit(['_', '.', '-']).next().unwrap_or(&k);
    matches!(
        last,
        "host" | "hostname" | "hosts" | "server" | "servers" | "addr" | "address" | "addresses"
    ) || k.ends_with("host")
        || k.ends_with("hostname")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn one(text: &str) -> DnsReference {
        let refs = find(text, &ns(&["mimir", "loki"]));
        assert_eq!(refs.len(), 1, "{text}: {refs:?}");
        refs[0].clone()
    }

    #[test]
    fn full_names_with_ports_schemes_and_trailing_dots() {
        let r = one("endpoint: minio.minio.svc.cluster.local:9000");
        assert_eq!(
            (r.service.as_str(), r.namespace.as_str()),
            ("minio", "minio")
        );
        assert_eq!(r.port, PortUse::Number(9000));
        assert_eq!(r.address, "minio.minio.svc.cluster.local:9000");
        let r = one("url: http://mimir-distributed-gateway.mimir.svc.cluster.local/prometheus");
        assert_eq!(r.port, PortUse::SchemeDefault(80, "http".into()));
        let r = one("join: dns+mimir-gossip-ring.mimir.svc.cluster.local.:7946");
        assert_eq!(r.service, "mimir-gossip-ring");
        assert_eq!(r.port, PortUse::Number(7946));
        let r = one("x kalypso-collector.otel-system.svc y");
        assert_eq!(r.port, PortUse::Unknown);
    }

    #[test]
    fn per_pod_and_srv_names_resolve_to_the_service() {
        let r = one("pyroscope-0.pyroscope-headless.pyroscope.svc.cluster.local:9095");
        assert_eq!(r.service, "pyroscope-headless");
        assert!(r.per_pod);
        let r = one("$(POD_NAME).loki-headless.loki.svc.cluster.local:9095");
        assert_eq!(r.service, "loki-headless");
        assert!(r.per_pod);
        let r = one("dnssrvnoa+_grpc._tcp.pyroscope-headless.pyroscope.svc.cluster.local");
        assert_eq!(r.service, "pyroscope-headless");
        assert_eq!(r.port, PortUse::Named("grpc".into()));
        assert!(!r.per_pod);
    }

    #[test]
    fn short_names_count_only_in_urls_or_with_a_port_and_for_known_namespaces() {
        let r = one("url: http://loki-gateway.loki/loki/api/v1/push");
        assert_eq!(
            (r.service.as_str(), r.port.clone()),
            ("loki-gateway", PortUse::SchemeDefault(80, "http".into()))
        );
        let r = one("addr: querier.mimir:9095");
        assert_eq!(r.port, PortUse::Number(9095));
        assert!(find(
            "see https://grafana.com/docs and values.yaml",
            &ns(&["mimir"])
        )
        .is_empty());
        assert!(find("http://example.org:8080/", &ns(&["mimir"])).is_empty());
        assert!(find("image: registry.mimir:5000/foo", &ns(&["mimir"])).len() == 1);
    }

    #[test]
    fn external_domains_and_wildcards_are_not_references() {
        assert!(find("host: api.svc.example.com", &ns(&[])).is_empty());
        assert!(find("*.minio.svc.cluster.local", &ns(&[])).is_empty());
        assert!(find("no_proxy: .svc,.cluster.local", &ns(&[])).is_empty());
        assert!(find("a.b.svcx", &ns(&[])).is_empty());
    }

    #[test]
    fn lines_are_counted() {
        let refs = find("a\nb\nhttp://x.loki.svc:80\n", &ns(&[]));
        assert_eq!(refs[0].line, 3);
    }
}
