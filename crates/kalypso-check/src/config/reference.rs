//! The configuration reference of each pinned backend and collector version, extracted from
//! that version's own sources by `crates/config-reference` into
//! `data/config-reference/<backend>-<version>.tsv` and compiled into kalypso.
//!
//! Backend files list one key path per line with its type, default and note
//! (`deprecated[:replacement]`, `experimental`); a map with user-chosen keys is a `*` segment,
//! a list of blocks a `[]` segment, and `runtime:`/`overrides:` prefixes hold the runtime
//! (per-tenant) file's keys. Collector files list the components of a distribution.
//!
//! Beside a backend's file, `<backend>-<version>.facts.tsv` (made by `tools/config-facts` with
//! go/types from the same sources) adds what the server does with a value: the Go type it
//! decodes into (`key`, deciding the text format of durations and byte sizes), the closed set
//! of values it accepts (`one-of`, with `empty-ok` when it skips the check on an empty value)
//! and deprecations the published reference does not mark (`deprecated`). Each fact carries
//! its evidence (`file.go:line`).

use std::collections::HashMap;

/// Every facts file, by the name of the reference file it completes.
const FACTS: &[(&str, &str)] = &[
    (
        "mimir-3.2.0",
        include_str!("../../data/config-reference/mimir-3.2.0.facts.tsv"),
    ),
    (
        "loki-3.7.6",
        include_str!("../../data/config-reference/loki-3.7.6.facts.tsv"),
    ),
    (
        "tempo-2.10.7",
        include_str!("../../data/config-reference/tempo-2.10.7.facts.tsv"),
    ),
    (
        "pyroscope-2.2.1",
        include_str!("../../data/config-reference/pyroscope-2.2.1.facts.tsv"),
    ),
];

/// Every reference data file, by name (`mimir-3.2.0`).
const FILES: &[(&str, &str)] = &[
    (
        "mimir-3.2.0",
        include_str!("../../data/config-reference/mimir-3.2.0.tsv"),
    ),
    (
        "loki-3.7.6",
        include_str!("../../data/config-reference/loki-3.7.6.tsv"),
    ),
    (
        "tempo-2.10.7",
        include_str!("../../data/config-reference/tempo-2.10.7.tsv"),
    ),
    (
        "pyroscope-2.2.1",
        include_str!("../../data/config-reference/pyroscope-2.2.1.tsv"),
    ),
    (
        "otelcol-k8s-0.158.0",
        include_str!("../../data/config-reference/otelcol-k8s-0.158.0.tsv"),
    ),
    (
        "otelcol-ebpf-profiler-0.159.0",
        include_str!("../../data/config-reference/otelcol-ebpf-profiler-0.159.0.tsv"),
    ),
];

/// The versions kalypso has reference data for, of `backend`.
pub fn versions_of(backend: &str) -> Vec<&'static str> {
    FILES
        .iter()
        .filter_map(|(name, _)| name.strip_prefix(backend)?.strip_prefix('-'))
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .collect()
}

/// A key's type, as the reference states it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KeyType {
    String,
    Int,
    Float,
    Bool,
    Duration,
    Time,
    /// A list; the element type when known.
    List(Option<Box<KeyType>>),
    /// A map with user-chosen keys; the value type when known.
    Map(Option<Box<KeyType>>),
    /// A block of named keys.
    Block,
    /// Decoded by the server itself (relabel configs…): not looked into.
    #[default]
    Any,
}

impl KeyType {
    fn parse(s: &str) -> KeyType {
        let inner = |s: &str, open: &str| -> Option<Box<KeyType>> {
            s.strip_prefix(open)
                .and_then(|r| r.strip_suffix(')'))
                .map(|t| Box::new(KeyType::parse(t)))
        };
        match s {
            "string" => KeyType::String,
            "int" => KeyType::Int,
            "float" => KeyType::Float,
            "bool" => KeyType::Bool,
            "duration" => KeyType::Duration,
            "time" => KeyType::Time,
            "block" => KeyType::Block,
            "list" => KeyType::List(None),
            "map" => KeyType::Map(None),
            s if s.starts_with("list(") => KeyType::List(inner(s, "list(")),
            s if s.starts_with("map(") => KeyType::Map(inner(s, "map(")),
            _ => KeyType::Any,
        }
    }

    /// How the type reads in a message.
    pub fn name(&self) -> String {
        match self {
            KeyType::String => "string".into(),
            KeyType::Int => "int".into(),
            KeyType::Float => "float".into(),
            KeyType::Bool => "bool".into(),
            KeyType::Duration => "duration".into(),
            KeyType::Time => "time".into(),
            KeyType::Block => "block".into(),
            KeyType::Any => "any".into(),
            KeyType::List(t) => match t {
                Some(t) => format!("list({})", t.name()),
                None => "list".into(),
            },
            KeyType::Map(t) => match t {
                Some(t) => format!("map({})", t.name()),
                None => "map".into(),
            },
        }
    }
}

/// One key of a backend's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Key {
    pub kind: KeyType,
    pub default: String,
    /// `Some("")` when deprecated without a named replacement.
    pub deprecated: Option<String>,
    /// Where the deprecation was read, when it comes from the sources rather than the reference.
    pub deprecated_evidence: Option<String>,
    /// The Go type the server decodes the value into (`time.Duration`, `model.Duration`…).
    pub go_type: Option<String>,
    /// The values the server accepts, when it accepts a closed set (of each element, for a
    /// list).
    pub one_of: Option<OneOf>,
    /// Values the server still accepts but deprecates, with where that is said.
    pub deprecated_values: Option<(Vec<String>, String)>,
}

/// A closed set of accepted values, with where the server checks it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OneOf {
    pub values: Vec<String>,
    /// The server skips the check when the value is empty.
    pub empty_ok: bool,
    /// The server compares without case.
    pub fold_case: bool,
    /// `file.go:line (how)` in the pinned version's sources.
    pub evidence: String,
}

impl OneOf {
    /// Whether the server accepts `value`.
    pub fn accepts(&self, value: &str) -> bool {
        (value.is_empty() && self.empty_ok)
            || self.values.iter().any(|v| {
                if self.fold_case {
                    v.eq_ignore_ascii_case(value)
                } else {
                    v == value
                }
            })
    }
}

/// A backend version's keys.
#[derive(Debug, Clone, Default)]
pub struct BackendReference {
    keys: HashMap<String, Key>,
}

impl BackendReference {
    /// The key at `pattern` (`a.*.b`, `a[].b`, with its file prefix).
    pub fn key(&self, pattern: &str) -> Option<&Key> {
        self.keys.get(pattern)
    }

    /// Whether any key lives under `prefix` (a file prefix like `runtime:` is known).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.keys.keys().any(|k| k.starts_with(prefix))
    }
}

/// A collector distribution's components.
#[derive(Debug, Clone, Default)]
pub struct Distribution {
    /// (kind, type) → deprecation note (`""` when current).
    components: HashMap<(String, String), String>,
    /// Components listed without metadata: (kind, module stem such as `kubeletstats`).
    without_metadata: Vec<(String, String)>,
}

impl Distribution {
    /// Whether the distribution has component `ty` of `kind`; `Some(replacement)` when `ty` is
    /// a deprecated alias. A type of a component whose metadata was not available at
    /// extraction is accepted when it is the module's name without its kind and underscores
    /// (`kubelet_stats` for `kubeletstatsreceiver`).
    pub fn component(&self, kind: &str, ty: &str) -> Option<Option<String>> {
        if let Some(note) = self.components.get(&(kind.to_string(), ty.to_string())) {
            return Some(
                note.strip_prefix("deprecated")
                    .map(|r| r.trim_start_matches(':').to_string()),
            );
        }
        let squashed = ty.replace('_', "");
        self.without_metadata
            .iter()
            .any(|(k, stem)| k == kind && *stem == squashed)
            .then_some(None)
    }
}

/// Reference data of one version.
#[derive(Debug, Clone)]
pub enum Reference {
    Backend(BackendReference),
    Collector(Distribution),
}

/// The reference data file named `name` (`mimir-3.2.0`), parsed.
pub fn load(name: &str) -> Option<Reference> {
    let (_, text) = FILES.iter().find(|(n, _)| *n == name)?;
    if name.starts_with("otelcol-") {
        return Some(Reference::Collector(parse_distribution(text)));
    }
    let mut r = parse_backend(text);
    if let Some((_, facts)) = FACTS.iter().find(|(n, _)| *n == name) {
        add_facts(&mut r, facts);
    }
    Some(Reference::Backend(r))
}

/// Splits a `one-of` list: comma-separated, `\,` for a comma inside a value.
fn split_values(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                chars.next();
                if let Some(last) = out.last_mut() {
                    last.push(',');
                }
            }
            ',' => out.push(String::new()),
            c => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out.retain(|v| !v.is_empty());
    out
}

/// Merges the facts of `tools/config-facts` into the keys of the reference. Facts about a key
/// the reference does not list are ignored: the reference decides which keys exist.
fn add_facts(r: &mut BackendReference, text: &str) {
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(path), Some(fact)) = (cols.first(), cols.get(1)) else {
            continue;
        };
        let value = cols.get(2).copied().unwrap_or("");
        let evidence = cols.get(3).copied().unwrap_or("").to_string();
        let Some(key) = r.keys.get_mut(*path) else {
            continue;
        };
        match *fact {
            "key" if !value.is_empty() => key.go_type = Some(value.to_string()),
            "one-of" | "each-one-of" | "one-of-fold-case" => {
                let one_of = key.one_of.get_or_insert_with(OneOf::default);
                one_of.values.extend(split_values(value));
                one_of.fold_case |= *fact == "one-of-fold-case";
                if one_of.evidence.is_empty() {
                    one_of.evidence = evidence;
                }
            }
            "empty-ok" => key.one_of.get_or_insert_with(OneOf::default).empty_ok = true,
            "fold-case" => key.one_of.get_or_insert_with(OneOf::default).fold_case = true,
            "deprecated-values" => {
                key.deprecated_values = Some((split_values(value), evidence));
            }
            "deprecated" if key.deprecated.is_none() => {
                key.deprecated = Some(value.to_string());
                key.deprecated_evidence = Some(evidence);
            }
            _ => {}
        }
    }
    // A set with no values (only `empty-ok`) says nothing.
    for key in r.keys.values_mut() {
        if key.one_of.as_ref().is_some_and(|o| o.values.is_empty()) {
            key.one_of = None;
        }
    }
}

fn parse_backend(text: &str) -> BackendReference {
    let mut keys = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(path), Some(ty)) = (cols.first(), cols.get(1)) else {
            continue;
        };
        let note = cols.get(3).copied().unwrap_or("");
        keys.insert(
            path.to_string(),
            Key {
                kind: KeyType::parse(ty),
                default: cols.get(2).copied().unwrap_or("").to_string(),
                deprecated: note
                    .strip_prefix("deprecated")
                    .map(|r| r.trim_start_matches(':').to_string()),
                ..Key::default()
            },
        );
    }
    BackendReference { keys }
}

fn parse_distribution(text: &str) -> Distribution {
    let mut d = Distribution::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# missing: ") {
            // `# missing: receiver github.com/…/receiver/kubeletstatsreceiver v0.158.0 (…)`
            let mut words = rest.split_whitespace();
            if let (Some(kind), Some(module)) = (words.next(), words.next()) {
                let base = module.rsplit('/').next().unwrap_or(module);
                let stem = base.strip_suffix(kind).unwrap_or(base);
                d.without_metadata
                    .push((kind.to_string(), stem.to_string()));
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if let (Some(kind), Some(ty)) = (cols.first(), cols.get(1)) {
            d.components.insert(
                (kind.to_string(), ty.to_string()),
                cols.get(2).copied().unwrap_or("").to_string(),
            );
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_data_file_parses_with_its_provenance_header() {
        for (name, text) in FILES {
            assert!(
                text.lines()
                    .any(|l| l.starts_with("# source: ") && l.contains('@')),
                "{name} has no source line"
            );
            assert!(
                text.lines().any(|l| l.starts_with("# regenerate: ")),
                "{name} has no regeneration command"
            );
            assert!(load(name).is_some(), "{name}");
        }
    }

    #[test]
    fn mimir_knows_the_remote_timeout_and_the_deprecated_alertmanager_url() {
        let Some(Reference::Backend(m)) = load("mimir-3.2.0") else {
            panic!("mimir data");
        };
        let t = m.key("distributor.remote_timeout").expect("key");
        assert_eq!(
            (t.kind.clone(), t.default.as_str()),
            (KeyType::Duration, "2s")
        );
        assert_eq!(
            m.key("ruler.alertmanager_url")
                .and_then(|k| k.deprecated.clone()),
            Some("limits.ruler_alertmanager_client_config.alertmanager_url".into())
        );
        assert!(m.has_prefix("runtime:"));
    }

    #[test]
    fn facts_add_types_domains_and_deprecations_to_known_keys_only() {
        let mut r = parse_backend(
            "storage.s3.bucket_lookup_type\tstring\tauto\t\nstorage.s3.sse.type\tstring\t\t\nold\tint\t0\t\n",
        );
        add_facts(
            &mut r,
            "# facts\n\
             storage.s3.bucket_lookup_type\tkey\tstring\tconfig.go:90\n\
             storage.s3.bucket_lookup_type\tone-of\tpath-style,virtual-hosted-style,auto\tconfig.go:46 (lo.Contains)\n\
             storage.s3.sse.type\tone-of\tSSE-KMS,SSE-S3\tconfig.go:150\n\
             storage.s3.sse.type\tempty-ok\t\tconfig.go:149\n\
             old\tdeprecated\tnew\tconfig.go:12 (comment)\n\
             not.in.reference\tone-of\ta,b\tx.go:1\n",
        );
        let lookup = r.key("storage.s3.bucket_lookup_type").expect("key");
        let one_of = lookup.one_of.as_ref().expect("domain");
        assert!(one_of.accepts("path-style") && !one_of.accepts("path") && !one_of.accepts(""));
        assert_eq!(one_of.evidence, "config.go:46 (lo.Contains)");
        let sse = r.key("storage.s3.sse.type").and_then(|k| k.one_of.as_ref());
        assert!(sse.is_some_and(|o| o.accepts("") && o.accepts("SSE-S3")));
        assert_eq!(
            r.key("old").and_then(|k| k.deprecated.clone()),
            Some("new".into())
        );
        assert!(r.key("not.in.reference").is_none());
        assert_eq!(split_values("a\\,b,c"), ["a,b", "c"]);
    }

    #[test]
    fn collector_components_aliases_and_components_without_metadata() {
        let Some(Reference::Collector(d)) = load("otelcol-k8s-0.158.0") else {
            panic!("collector data");
        };
        assert_eq!(d.component("processor", "k8s_attributes"), Some(None));
        assert_eq!(
            d.component("processor", "k8sattributes"),
            Some(Some("k8s_attributes".into()))
        );
        assert_eq!(d.component("receiver", "kubelet_stats"), Some(None));
        assert_eq!(d.component("exporter", "prometheusremotewrite"), None);
        assert_eq!(versions_of("mimir"), ["3.2.0"]);
    }
}
