//! The configuration reference of each pinned backend and collector version, extracted from
//! that version's own sources by `examples/config_reference.rs` into
//! `data/config-reference/<backend>-<version>.tsv` and compiled into kalypso.
//!
//! Backend files list one key path per line with its type, default and note
//! (`deprecated[:replacement]`, `experimental`); a map with user-chosen keys is a `*` segment,
//! a list of blocks a `[]` segment, and `runtime:`/`overrides:` prefixes hold the runtime
//! (per-tenant) file's keys. Collector files list the components of a distribution.

use std::collections::HashMap;

/// Every reference data file, by name (`mimir-3.2.0`).
const FILES: &[(&str, &str)] = &[
    (
        "mimir-3.2.0",
        include_str!("../../../data/config-reference/mimir-3.2.0.tsv"),
    ),
    (
        "loki-3.7.6",
        include_str!("../../../data/config-reference/loki-3.7.6.tsv"),
    ),
    (
        "tempo-2.10.7",
        include_str!("../../../data/config-reference/tempo-2.10.7.tsv"),
    ),
    (
        "pyroscope-2.2.1",
        include_str!("../../../data/config-reference/pyroscope-2.2.1.tsv"),
    ),
    (
        "otelcol-k8s-0.158.0",
        include_str!("../../../data/config-reference/otelcol-k8s-0.158.0.tsv"),
    ),
    (
        "otelcol-ebpf-profiler-0.159.0",
        include_str!("../../../data/config-reference/otelcol-ebpf-profiler-0.159.0.tsv"),
    ),
];

/// The versions kalypso has reference data for, of `backend`.
pub(crate) fn versions_of(backend: &str) -> Vec<&'static str> {
    FILES
        .iter()
        .filter_map(|(name, _)| name.strip_prefix(backend)?.strip_prefix('-'))
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .collect()
}

/// A key's type, as the reference states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyType {
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
    pub(crate) fn name(&self) -> String {
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) kind: KeyType,
    pub(crate) default: String,
    /// `Some("")` when deprecated without a named replacement.
    pub(crate) deprecated: Option<String>,
}

/// A backend version's keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct BackendReference {
    keys: HashMap<String, Key>,
}

impl BackendReference {
    /// The key at `pattern` (`a.*.b`, `a[].b`, with its file prefix).
    pub(crate) fn key(&self, pattern: &str) -> Option<&Key> {
        self.keys.get(pattern)
    }

    /// Whether any key lives under `prefix` (a file prefix like `runtime:` is known).
    pub(crate) fn has_prefix(&self, prefix: &str) -> bool {
        self.keys.keys().any(|k| k.starts_with(prefix))
    }
}

/// A collector distribution's components.
#[derive(Debug, Clone, Default)]
pub(crate) struct Distribution {
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
    pub(crate) fn component(&self, kind: &str, ty: &str) -> Option<Option<String>> {
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
pub(crate) enum Reference {
    Backend(BackendReference),
    Collector(Distribution),
}

/// The reference data file named `name` (`mimir-3.2.0`), parsed.
pub(crate) fn load(name: &str) -> Option<Reference> {
    let (_, text) = FILES.iter().find(|(n, _)| *n == name)?;
    if name.starts_with("otelcol-") {
        return Some(Reference::Collector(parse_distribution(text)));
    }
    Some(Reference::Backend(parse_backend(text)))
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
