//! `config/*`: the configuration each backend and collector of the stack would load, checked
//! against the reference of the exact version it runs, offline. A server that refuses its
//! config at startup crash-loops; one that ignores a key silently runs with its default.
//!
//! Which config a process loads is read from the workload, as the process would: its image
//! (`grafana/mimir:3.2.0` → Mimir 3.2.0), its `-config.file=`/`--config=` argument, the volume
//! mounted at that path and the ConfigMap key behind it; the runtime (per-tenant) file from
//! `-runtime-config.file=` or the config's `runtime_config.file` (Tempo:
//! `overrides.per_tenant_override_config`). `OpenTelemetryCollector`s carry their config and
//! image in the spec.
//!
//! Rules: `config/unknown-key` and `config/type` (errors: the server refuses to start),
//! `config/value` (error: a value outside the closed set the server accepts, or a duration or
//! byte size its decoder cannot parse; the facts come from the version's own sources, see
//! [`reference`] and [`formats`]),
//! `config/null` (warning: a `null` scalar keeps the built-in default, whatever the chart
//! meant), `config/deprecated` (warning, with the replacement), `config/component` (error: a
//! collector component the distribution does not contain; warning for a deprecated alias),
//! `config/reference` (warning: no reference data for the version that runs).

pub mod formats;
pub mod reference;

use serde_json::Value;

use self::reference::{BackendReference, Distribution, KeyType, Reference};
use super::context::Context;
use super::finding::{Finding, Severity};

/// Keys backends name their buckets with (Mimir/Pyroscope `bucket_name`, Tempo `bucket`,
/// Loki `bucketnames`, comma-separated).
pub const BUCKET_KEYS: &[&str] = &[
    "bucket_name",
    "bucket",
    "bucketnames",
    "bucketName",
    "bucketNames",
];
use kalypso_model::manifest::walk::{index, join};
use kalypso_model::manifest::workload::{containers, pod_spec, OTEL_COLLECTOR_KIND};
use kalypso_model::manifest::Object;

/// Rule ids.
pub const UNKNOWN_KEY: &str = "config/unknown-key";
pub const TYPE: &str = "config/type";
pub const VALUE: &str = "config/value";
pub const NULL: &str = "config/null";
pub const DEPRECATED: &str = "config/deprecated";
pub const COMPONENT: &str = "config/component";
pub const REFERENCE: &str = "config/reference";

/// Which backend an image runs, by the last path segment of its repository.
const IMAGES: &[(&str, &str)] = &[
    ("mimir", "mimir"),
    ("loki", "loki"),
    ("tempo", "tempo"),
    ("pyroscope", "pyroscope"),
    ("opentelemetry-collector-k8s", "otelcol-k8s"),
    (
        "opentelemetry-collector-ebpf-profiler",
        "otelcol-ebpf-profiler",
    ),
];

/// (backend, version) from an image reference, e.g. `docker.io/grafana/mimir:3.2.0`.
fn backend_of(image: &str) -> Option<(&'static str, String)> {
    let (repo, tag) = image.rsplit_once(':')?;
    if tag.contains('/') {
        return None; // a registry port, no tag
    }
    let name = repo.rsplit('/').next()?;
    let backend = IMAGES.iter().find(|(n, _)| *n == name)?.1;
    Some((backend, tag.trim_start_matches('v').to_string()))
}

/// One config document to check and where it came from.
struct ConfigFile<'a> {
    object: &'a Object,
    /// `data.mimir.yaml` or `spec.config`.
    field: String,
    /// The reference file's key prefix (`""`, `runtime:`, `overrides:`).
    prefix: &'static str,
    value: Value,
}

/// Checks every backend and collector config of the stack.
pub fn check(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for obj in &ctx.manifest.objects {
        if obj.kind == OTEL_COLLECTOR_KIND {
            let spec = &obj.body["spec"];
            let Some((backend, version)) = spec["image"].as_str().and_then(backend_of) else {
                continue;
            };
            let config = kalypso_model::manifest::workload::collector_config(spec);
            let file = ConfigFile {
                object: obj,
                field: "spec.config".into(),
                prefix: "",
                value: config,
            };
            out.extend(check_file(&file, backend, &version));
            continue;
        }
        let Some(pod) = pod_spec(obj) else { continue };
        for c in containers(&pod) {
            let Some((backend, version)) = c.body["image"].as_str().and_then(backend_of) else {
                continue;
            };
            for file in config_files(ctx, obj, pod.spec, c.body, backend) {
                // Nine Mimir components share one ConfigMap: check it once.
                let key = (
                    file.object.namespace.clone(),
                    file.object.name.clone(),
                    file.field.clone(),
                );
                if seen.insert(key) {
                    out.extend(check_file(&file, backend, &version));
                }
            }
        }
    }
    out
}

/// A backend's configuration as one of its containers loads it (`ops/*` rules read it).
pub struct BackendConfig<'a> {
    /// The workload running the container.
    pub workload: &'a Object,
    /// `mimir`, `loki`, `tempo` or `pyroscope`, from the image.
    pub backend: &'static str,
    /// The version, from the image tag.
    pub version: String,
    /// The container's command and arguments.
    pub args: Vec<String>,
    /// The ConfigMap or Secret holding the main config file.
    pub source: &'a Object,
    /// The field holding it (`data.config.yaml`).
    pub field: String,
    /// The main config, parsed.
    pub config: Value,
    /// The runtime (per-tenant) file, when the container loads one: (holder, field, parsed).
    pub runtime: Option<(&'a Object, String, Value)>,
}

impl BackendConfig<'_> {
    /// The value of the command-line flag `name` (`memberlist.cluster-label`), which wins over
    /// the config file in every backend (flags are applied after the file).
    pub fn flag(&self, name: &str) -> Option<String> {
        flag_value(&self.args, &[name])
    }

    /// This backend version's reference (keys, defaults, Go types).
    pub fn reference(&self) -> Option<BackendReference> {
        match reference::load(&format!("{}-{}", self.backend, self.version)) {
            Some(Reference::Backend(r)) => Some(r),
            _ => None,
        }
    }
}

/// Every backend (Mimir, Loki, Tempo, Pyroscope) container's configuration, one per
/// (workload, container) that names a config file.
pub fn backend_configs<'a>(ctx: &'a Context) -> Vec<BackendConfig<'a>> {
    let mut out = Vec::new();
    for obj in &ctx.manifest.objects {
        let Some(pod) = pod_spec(obj) else { continue };
        for c in containers(&pod) {
            let Some((backend, version)) = c.body["image"].as_str().and_then(backend_of) else {
                continue;
            };
            if backend.starts_with("otelcol") {
                continue;
            }
            let mut files = config_files(ctx, obj, pod.spec, c.body, backend).into_iter();
            let Some(main) = files.next() else { continue };
            out.push(BackendConfig {
                workload: obj,
                backend,
                version,
                args: container_args(c.body),
                source: main.object,
                field: main.field,
                config: main.value,
                runtime: files.next().map(|f| (f.object, f.field, f.value)),
            });
        }
    }
    out
}

/// A container's command and arguments, in order.
fn container_args(container: &Value) -> Vec<String> {
    container["args"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(container["command"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The value of the first of `names` given as `-name=value`, `--name=value` or `-name value`.
fn flag_value(args: &[String], names: &[&str]) -> Option<String> {
    args.iter().enumerate().find_map(|(i, a)| {
        let a = a.trim_start_matches('-');
        names.iter().find_map(|n| {
            if let Some(v) = a.strip_prefix(n).and_then(|r| r.strip_prefix('=')) {
                Some(v.to_string())
            } else if a == *n {
                args.get(i + 1).cloned()
            } else {
                None
            }
        })
    })
}

/// The config files a container loads: its main config and the runtime file it names.
fn config_files<'a>(
    ctx: &'a Context,
    obj: &'a Object,
    pod: &Value,
    container: &Value,
    backend: &str,
) -> Vec<ConfigFile<'a>> {
    let args = container_args(container);
    let flag = |names: &[&str]| flag_value(&args, names);
    let mut out = Vec::new();
    let Some(main_path) = flag(&["config.file", "config"]) else {
        return out;
    };
    let Some((cm, key, doc)) = mounted(ctx, obj, pod, container, &main_path) else {
        return out;
    };
    let runtime_path = flag(&["runtime-config.file"])
        .or_else(|| doc["runtime_config"]["file"].as_str().map(str::to_string))
        .or_else(|| {
            doc["overrides"]["per_tenant_override_config"]
                .as_str()
                .map(str::to_string)
        });
    out.push(ConfigFile {
        object: cm,
        field: format!("data.{key}"),
        prefix: "",
        value: doc,
    });
    let runtime_prefix = if backend == "tempo" {
        "overrides:"
    } else {
        "runtime:"
    };
    if let Some(path) = runtime_path {
        // A runtime file may list several comma-separated paths; the first is the chart's.
        let first = path.split(',').next().unwrap_or(&path).to_string();
        if let Some((cm, key, doc)) = mounted(ctx, obj, pod, container, &first) {
            out.push(ConfigFile {
                object: cm,
                field: format!("data.{key}"),
                prefix: runtime_prefix,
                value: doc,
            });
        }
    }
    out
}

/// The ConfigMap (or Secret) and key mounted at `path` in the container, parsed.
fn mounted<'a>(
    ctx: &'a Context,
    obj: &'a Object,
    pod: &Value,
    container: &Value,
    path: &str,
) -> Option<(&'a Object, String, Value)> {
    let mount = container["volumeMounts"]
        .as_array()?
        .iter()
        .filter(|m| {
            m["mountPath"]
                .as_str()
                .is_some_and(|p| path.starts_with(p.trim_end_matches('/')))
        })
        .max_by_key(|m| m["mountPath"].as_str().map(str::len).unwrap_or(0))?;
    let mount_path = mount["mountPath"].as_str()?.trim_end_matches('/');
    let volume = pod["volumes"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == mount["name"])?;
    let rel = match mount["subPath"].as_str() {
        Some(sub) => sub.to_string(),
        None => path[mount_path.len()..].trim_start_matches('/').to_string(),
    };
    let (kind, source) = if volume["configMap"].is_object() {
        ("ConfigMap", &volume["configMap"])
    } else if volume["secret"].is_object() {
        ("Secret", &volume["secret"])
    } else {
        return None;
    };
    let name = source["name"]
        .as_str()
        .or_else(|| source["secretName"].as_str())?;
    // `items` map keys to paths inside the volume.
    let key = source["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|i| i["path"].as_str() == Some(rel.as_str()))
                .and_then(|i| i["key"].as_str().map(str::to_string))
        })
        .unwrap_or(rel);
    let ns = obj.namespace.clone().unwrap_or_default();
    let cm = ctx
        .manifest
        .objects
        .iter()
        .find(|o| o.kind == kind && o.name == name && o.namespace.as_deref() == Some(&ns))?;
    let text = if kind == "Secret" {
        cm.body["stringData"][&key].as_str().map(str::to_string)
    } else {
        cm.body["data"][&key].as_str().map(str::to_string)
    }?;
    let value = kalypso_model::manifest::yaml::value(&text)?;
    Some((cm, key, value))
}

fn check_file(file: &ConfigFile<'_>, backend: &str, version: &str) -> Vec<Finding> {
    let name = format!("{backend}-{version}");
    match reference::load(&name) {
        Some(Reference::Backend(r)) => {
            if !file.prefix.is_empty() && !r.has_prefix(file.prefix) {
                return Vec::new(); // no reference for this backend's runtime file
            }
            let mut w = Walker {
                file,
                reference: &r,
                shown: format!("{backend} {version}"),
                decoder: formats::Decoder::of_backend(backend),
                out: Vec::new(),
            };
            w.block(&file.value, file.prefix, "");
            w.out
        }
        Some(Reference::Collector(d)) => collector(file, &d, backend, version),
        None => {
            let have = reference::versions_of(backend);
            vec![Finding::new(
                REFERENCE,
                Severity::Warning,
                file.object,
                &file.field,
                format!(
                    "{backend} {version} runs here, but kalypso has no configuration reference for it (it has {}): the config is not checked; add data/config-reference/{name}.tsv with the regeneration command of an existing file",
                    if have.is_empty() { "none".to_string() } else { have.join(", ") }
                ),
            )]
        }
    }
}

struct Walker<'a> {
    file: &'a ConfigFile<'a>,
    reference: &'a BackendReference,
    shown: String,
    /// The YAML library the backend decodes its config with.
    decoder: Option<formats::Decoder>,
    out: Vec<Finding>,
}

impl Walker<'_> {
    fn finding(&mut self, rule: &str, severity: Severity, path: &str, message: String) {
        self.out.push(Finding::new(
            rule,
            severity,
            self.file.object,
            format!("{}: {path}", self.file.field),
            message,
        ));
    }

    /// The keys of a block at reference `pattern` (empty for the root), `path` as written.
    fn block(&mut self, v: &Value, pattern: &str, path: &str) {
        let Value::Object(map) = v else {
            return;
        };
        for (k, item) in map {
            let at = join(path, k);
            let named = format!("{pattern}{}{k}", sep(pattern));
            let wild = format!("{pattern}{}*", sep(pattern));
            let (pat, key) = match self.reference.key(&named) {
                Some(key) => (named, key.clone()),
                None => {
                    match self.reference.key(&wild) {
                        Some(key) => (wild, key.clone()),
                        None => {
                            let shown = self.shown.clone();
                            self.finding(
                            UNKNOWN_KEY,
                            Severity::Error,
                            &at,
                            format!("{shown} has no setting {at}: it refuses to start with this config"),
                        );
                            continue;
                        }
                    }
                }
            };
            // A null on a deprecated key removes a chart's default: exactly what to do.
            if key.deprecated.is_some() && item.is_null() {
                continue;
            }
            if let Some(replacement) = &key.deprecated {
                let shown = self.shown.clone();
                let instead = if replacement.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; use {} instead",
                        replacement.split(':').next_back().unwrap_or(replacement)
                    )
                };
                let source = key
                    .deprecated_evidence
                    .as_deref()
                    .map(|e| format!(" (source: {e})"))
                    .unwrap_or_default();
                self.finding(
                    DEPRECATED,
                    Severity::Warning,
                    &at,
                    format!("{at} is deprecated in {shown}{instead}{source}"),
                );
            }
            self.value(item, &key.kind, &pat, &at, &key.default);
            self.domain(item, &key, &at);
        }
    }

    fn value(&mut self, v: &Value, kind: &KeyType, pattern: &str, at: &str, default: &str) {
        if v.is_null() {
            if !matches!(
                kind,
                KeyType::Block | KeyType::Any | KeyType::Map(_) | KeyType::List(_)
            ) {
                let shown = self.shown.clone();
                let keeps = if default.is_empty() {
                    "its built-in default".to_string()
                } else {
                    format!("its default {default}")
                };
                self.finding(
                    NULL,
                    Severity::Warning,
                    at,
                    format!("{at} is null: {shown} ignores a null and keeps {keeps}; set the value or remove the key"),
                );
            }
            return;
        }
        match kind {
            KeyType::Any => {}
            KeyType::Block => match v {
                Value::Object(_) => self.block(v, pattern, at),
                other => self.wrong(at, kind, other),
            },
            KeyType::Map(inner) => match v {
                Value::Object(map) => {
                    let inner = inner.as_deref();
                    for (k, item) in map {
                        let p = format!("{pattern}.*");
                        let a = join(at, k);
                        match inner {
                            Some(KeyType::Block) => self.value(item, &KeyType::Block, &p, &a, ""),
                            Some(t) => self.value(item, t, &p, &a, ""),
                            None => {}
                        }
                    }
                }
                other => self.wrong(at, kind, other),
            },
            KeyType::List(inner) => match v {
                Value::Array(items) => {
                    if let Some(t) = inner.as_deref() {
                        for (i, item) in items.iter().enumerate() {
                            let p = format!("{pattern}[]");
                            self.value(item, t, &p, &index(at, i), "");
                        }
                    }
                }
                // Comma-separated strings are how several servers take lists.
                Value::String(_) if inner.as_deref() == Some(&KeyType::String) => {}
                other => self.wrong(at, kind, other),
            },
            scalar => {
                // A Go type whose text format is modelled is config/value's to judge, exactly.
                let exact = self
                    .reference
                    .key(pattern)
                    .and_then(|k| k.go_type.as_deref())
                    .is_some_and(|t| formats::MODELLED_TYPES.contains(&t));
                if !exact && !scalar_fits(scalar, v) {
                    self.wrong(at, kind, v);
                }
            }
        }
    }

    /// `config/value`: the value's text parses as the server's Go type does, and falls in the
    /// closed set the server accepts. A value of the wrong type is `config/type`'s.
    fn domain(&mut self, v: &Value, key: &reference::Key, at: &str) {
        if v.is_null() || v.is_object() {
            return;
        }
        let shown = self.shown.clone();
        if let (Some(decoder), Some(go_type)) = (self.decoder, key.go_type.as_deref()) {
            if let Some(Err(why)) = formats::decode(decoder, go_type, v) {
                self.finding(
                    VALUE,
                    Severity::Error,
                    at,
                    format!("{at}: {why}; {shown} decodes it as a {go_type} and refuses to start"),
                );
                return;
            }
        }
        if let (Some((deprecated, evidence)), Value::String(s)) = (&key.deprecated_values, v) {
            if deprecated.contains(s) {
                self.finding(
                    DEPRECATED,
                    Severity::Warning,
                    at,
                    format!("{at}: the value {s:?} is deprecated in {shown} (source: {evidence})"),
                );
            }
        }
        if !v.is_array() && !scalar_fits(&key.kind, v) {
            return; // config/type's
        }
        let Some(one_of) = &key.one_of else { return };
        let values: Vec<&Value> = match v {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for item in values {
            let text = match item {
                Value::String(s) if placeholder(s) => continue,
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            if !one_of.accepts(&text) {
                self.finding(
                    VALUE,
                    Severity::Error,
                    at,
                    format!(
                        "{at} is {text:?}, which {shown} does not accept: it accepts only {}{} (source: {}); it refuses to start with this config",
                        one_of.values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", "),
                        if one_of.empty_ok { " or an empty value" } else { "" },
                        one_of.evidence,
                    ),
                );
            }
        }
    }

    fn wrong(&mut self, at: &str, kind: &KeyType, v: &Value) {
        let shown = self.shown.clone();
        let got = match v {
            Value::String(s) => format!("the string {s:?}"),
            Value::Number(n) => format!("the number {n}"),
            Value::Bool(b) => format!("the boolean {b}"),
            Value::Array(_) => "a list".into(),
            Value::Object(_) => "a mapping".into(),
            Value::Null => "null".into(),
        };
        self.finding(
            TYPE,
            Severity::Error,
            at,
            format!(
                "{at} is a {} in {shown}, not {got}: it refuses to start with this config",
                kind.name()
            ),
        );
    }
}

fn sep(pattern: &str) -> &'static str {
    if pattern.is_empty() || pattern.ends_with(':') {
        ""
    } else {
        "."
    }
}

/// `${VAR}` (expanded by `-config.expand-env`) stands for any scalar.
fn placeholder(s: &str) -> bool {
    s.contains("${")
}

/// Whether a YAML scalar decodes into `kind` the way the servers' Go decoders do.
fn scalar_fits(kind: &KeyType, v: &Value) -> bool {
    if let Value::String(s) = v {
        if placeholder(s) {
            return true;
        }
    }
    match kind {
        // Go's YAML decoders take a number or bool scalar's text for a string.
        KeyType::String => !v.is_object() && !v.is_array(),
        KeyType::Int => v.is_i64() || v.is_u64(),
        KeyType::Float => v.is_number(),
        KeyType::Bool => v.is_boolean(),
        KeyType::Duration => match v {
            Value::String(s) => is_duration(s),
            Value::Number(n) => n.is_i64() || n.is_u64(),
            _ => false,
        },
        KeyType::Time => v.is_string() || v.is_number(),
        _ => true,
    }
}

/// A Go or Prometheus duration: `0`, `5s`, `1m30s`, `1.5h`, `7d`, `1w`.
fn is_duration(s: &str) -> bool {
    if s == "0" {
        return true;
    }
    let mut rest = s.trim();
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let num = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num == 0 {
            return false;
        }
        rest = &rest[num..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        if !matches!(
            &rest[..unit],
            "ns" | "us" | "µs" | "ms" | "s" | "m" | "h" | "d" | "w" | "y"
        ) {
            return false;
        }
        rest = &rest[unit..];
    }
    true
}

/// The collector's components: each `type[/name]` key under receivers, processors,
/// exporters, extensions and connectors must be a component of the distribution.
fn collector(
    file: &ConfigFile<'_>,
    d: &Distribution,
    backend: &str,
    version: &str,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (section, kind) in [
        ("receivers", "receiver"),
        ("processors", "processor"),
        ("exporters", "exporter"),
        ("extensions", "extension"),
        ("connectors", "connector"),
    ] {
        let Some(map) = file.value[section].as_object() else {
            continue;
        };
        for key in map.keys() {
            let ty = key.split('/').next().unwrap_or(key);
            let field = format!("{}: {section}.{key}", file.field);
            match d.component(kind, ty) {
                None => out.push(Finding::new(
                    COMPONENT,
                    Severity::Error,
                    file.object,
                    &field,
                    format!("{backend} {version} has no {kind} {ty:?}: the collector refuses to start with this config"),
                )),
                Some(Some(current)) => out.push(Finding::new(
                    COMPONENT,
                    Severity::Warning,
                    file.object,
                    &field,
                    format!("{kind} {ty:?} is a deprecated alias in {backend} {version}; use {current:?} (it warns at every start)"),
                )),
                Some(None) => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_name_their_backend_and_version() {
        assert_eq!(
            backend_of("docker.io/grafana/mimir:3.2.0"),
            Some(("mimir", "3.2.0".into()))
        );
        assert_eq!(
            backend_of("otel/opentelemetry-collector-ebpf-profiler:0.159.0"),
            Some(("otelcol-ebpf-profiler", "0.159.0".into()))
        );
        assert_eq!(backend_of("registry:5000/grafana/mimir"), None);
        assert_eq!(backend_of("nginx:1.29"), None);
    }

    #[test]
    fn durations_parse_the_way_go_and_prometheus_write_them() {
        for ok in ["0", "5s", "1m30s", "1.5h", "7d", "500ms"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "5", "five seconds", "5x"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }
}
