//! What every rule looks at: the parsed objects, the components with their waves and render
//! status, the policy, and facts derived once (embedded configs, in-cluster DNS references).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::dns::extract::{self, DnsReference, PortUse};
use super::dns::{alloy, nginx};
use super::policy::Policy;
use super::services::{self, ServiceView};
use kalypso_model::manifest::walk::{index, join};
use kalypso_model::manifest::{decode_base64, workload, yaml, Manifest, Object};
use kalypso_render::ChartStatus;

/// One component of the checked stack, as rendered.
#[derive(Debug, Clone)]
pub struct ChartInfo {
    pub name: String,
    pub namespace: String,
    /// `None` for inputs that are not part of a stack (`-f` files).
    pub wave: Option<u32>,
    pub status: ChartStatus,
    /// The values each stand-in would have passed to its upstream chart.
    pub stand_in_values: Vec<kalypso_render::standin::StandInValues>,
}

impl From<&kalypso_render::ChartRender> for ChartInfo {
    fn from(r: &kalypso_render::ChartRender) -> ChartInfo {
        ChartInfo {
            name: r.component.name.clone(),
            namespace: r.component.namespace.clone(),
            wave: Some(r.component.wave),
            status: r.status.clone(),
            stand_in_values: r.stand_in_values.clone(),
        }
    }
}

/// A config document embedded in a string (a ConfigMap key, a Secret key, a CR field).
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// Index of the object in the manifest.
    pub object: usize,
    /// Field holding the text, e.g. `data.config.yaml`.
    pub field: String,
    pub value: Value,
    /// Parsed from text (a ConfigMap or Secret key) rather than a custom resource field.
    pub from_text: bool,
}

impl EmbeddedConfig {
    /// The finding field for a path inside the config: `data.config.yaml: a.b` for text,
    /// `spec.a.b` for a custom resource.
    pub fn at(&self, inner: &str) -> String {
        if self.from_text {
            format!("{}: {inner}", self.field)
        } else {
            join(&self.field, inner)
        }
    }
}

/// A Grafana Alloy configuration held by an object.
#[derive(Debug, Clone)]
pub struct AlloyConfig {
    pub object: usize,
    /// Field holding the text, e.g. `data.config.alloy`.
    pub field: String,
    pub root: alloy::Block,
}

/// An in-cluster DNS name used by an object.
#[derive(Debug, Clone)]
pub struct DnsUse {
    pub object: usize,
    /// Field path, e.g. `data.datasources.yaml: datasources[0].url`.
    pub field: String,
    pub reference: DnsReference,
    /// Used by a telemetry export, a remote write or a datasource: retried at runtime, not
    /// needed to start.
    pub runtime_only: bool,
}

/// Everything rules look at.
pub struct Context<'a> {
    pub manifest: &'a Manifest,
    pub charts: &'a [ChartInfo],
    pub policy: &'a Policy,
    /// Every namespace the input contains (objects and component namespaces).
    pub namespaces: BTreeSet<String>,
    pub configs: Vec<EmbeddedConfig>,
    /// Grafana Alloy configurations (ConfigMap or Secret keys), parsed into blocks.
    pub alloy: Vec<AlloyConfig>,
    pub dns: Vec<DnsUse>,
    /// Same-namespace short names used as addresses (`http://svc:port`, `DB_HOST: svc`):
    /// checked by `wiring/dns` like [`Context::dns`], but not wires for the NetworkPolicy and
    /// ordering rules (a ConfigMap of short names is often loaded by workloads that never dial
    /// them).
    pub short_dns: Vec<DnsUse>,
    /// Services by (namespace, name): rendered, and made by operators from custom resources.
    pub services: BTreeMap<(String, String), ServiceView>,
}

/// Path segments under which an address is used at runtime only (exports, reads).
const RUNTIME_SEGMENTS: &[&str] = &[
    "exporters",
    "remote_write",
    "remoteWrite",
    "datasources",
    "extensionProviders",
    "alertmanager_url",
    "alertmanager",
];

impl<'a> Context<'a> {
    /// Derives the shared facts.
    pub fn new(manifest: &'a Manifest, charts: &'a [ChartInfo], policy: &'a Policy) -> Context<'a> {
        let mut namespaces = manifest.namespaces();
        namespaces.extend(charts.iter().map(|c| c.namespace.clone()));
        let mut ctx = Context {
            manifest,
            charts,
            policy,
            namespaces,
            configs: Vec::new(),
            alloy: Vec::new(),
            dns: Vec::new(),
            short_dns: Vec::new(),
            services: services::services(manifest),
        };
        for (i, obj) in manifest.objects.iter().enumerate() {
            ctx.collect(i, obj);
        }
        ctx
    }

    /// The component an object belongs to.
    pub fn chart_of(&self, obj: &Object) -> Option<&ChartInfo> {
        self.charts.iter().find(|c| c.name == obj.origin.component)
    }

    /// The component installed into `namespace`.
    pub fn chart_in_namespace(&self, namespace: &str) -> Option<&ChartInfo> {
        self.charts.iter().find(|c| c.namespace == namespace)
    }

    /// Why objects in `namespace` may be missing from the render: its chart used stand-ins.
    pub fn partial_reason(&self, namespace: &str) -> Option<String> {
        let chart = self.chart_in_namespace(namespace)?;
        match &chart.status {
            ChartStatus::Full => None,
            ChartStatus::Partial { stand_ins } => Some(format!(
                "{} was rendered with stand-ins for {}",
                chart.name,
                stand_ins.join(", ")
            )),
        }
    }

    /// Whether any chart rendered only in part.
    pub fn any_partial(&self) -> bool {
        self.charts.iter().any(|c| c.status != ChartStatus::Full)
    }

    fn collect(&mut self, i: usize, obj: &Object) {
        let b = &obj.body;
        match obj.kind.as_str() {
            "ConfigMap" => {
                if let Some(data) = b["data"].as_object() {
                    for (k, v) in data {
                        if let Some(text) = v.as_str() {
                            self.text_field(i, &join("data", k), text);
                        }
                    }
                }
            }
            "Secret" => {
                if let Some(data) = b["stringData"].as_object() {
                    for (k, v) in data {
                        if let Some(text) = v.as_str() {
                            self.text_field(i, &join("stringData", k), text);
                        }
                    }
                }
                if let Some(data) = b["data"].as_object() {
                    for (k, v) in data {
                        if let Some(text) = v.as_str().and_then(decode_base64) {
                            self.text_field(i, &join("data", k), &text);
                        }
                    }
                }
            }
            _ => {}
        }
        if let Some(pod) = workload::pod_spec(obj) {
            if !pod.operator_managed {
                for c in workload::containers(&pod) {
                    // `$(VAR)` in env values, args and command is expanded by the kubelet from
                    // the container's own variables: read the address it ends up with.
                    let vars =
                        workload::environment(c.body, obj.namespace.as_deref().unwrap_or(""));
                    if let Some(env) = c.body["env"].as_array() {
                        for (j, e) in env.iter().enumerate() {
                            if let Some(v) = e["value"].as_str() {
                                let f = join(&index(&join(&c.path, "env"), j), "value");
                                // Expanded in list order (a variable sees only earlier ones).
                                let v = e["name"]
                                    .as_str()
                                    .and_then(|n| vars.get(n))
                                    .map_or(v, String::as_str);
                                self.scan_leaf(i, &f, v, None, false);
                                self.scan_short(i, &f, v, e["name"].as_str().unwrap_or(""));
                            }
                        }
                    }
                    for key in ["args", "command"] {
                        if let Some(list) = c.body[key].as_array() {
                            for (j, a) in list.iter().enumerate() {
                                if let Some(v) = a.as_str() {
                                    let f = index(&join(&c.path, key), j);
                                    let v = workload::expand(v, &vars);
                                    self.scan_leaf(i, &f, &v, None, false);
                                    self.scan_short(i, &f, &v, "");
                                }
                            }
                        }
                    }
                }
            }
        }
        if obj.is_custom_resource() {
            if let Some(map) = b.as_object() {
                for (k, v) in map {
                    if k == "metadata" || k == "status" || k == "apiVersion" || k == "kind" {
                        continue;
                    }
                    self.scan_value(i, k, "", v, false);
                    if k == "spec" {
                        self.configs.push(EmbeddedConfig {
                            object: i,
                            field: "spec".into(),
                            value: v.clone(),
                            from_text: false,
                        });
                    }
                }
            }
        }
    }

    /// A string field that may hold a config document.
    fn text_field(&mut self, i: usize, field: &str, text: &str) {
        if let Some(value) = embedded(text) {
            self.scan_value(i, field, "", &value, true);
            self.configs.push(EmbeddedConfig {
                object: i,
                field: field.to_string(),
                value,
                from_text: true,
            });
        } else if nginx::is_nginx(text) {
            // Only what nginx proxies to, per location, with variables as nginx scopes them: a
            // `set $x url;` line alone is a definition, whose scheme says nothing about the
            // port used. A key another key includes is read there.
            let obj = &self.manifest.objects[i];
            let files = nginx::files_of(&obj.kind, &obj.body);
            if nginx::included_by_another(&files, text) {
                return;
            }
            let config = nginx::Config::parse_with_includes(text, &|p| nginx::included(&files, p));
            for u in nginx::uses(&config) {
                let from = self.dns.len();
                let at = format!("{field}: {}", u.at());
                self.scan_leaf(i, &at, &u.address, None, false);
                self.scan_short(i, &at, &u.address, "");
                // Resolved per request through `resolver`: nginx starts without it.
                for d in &mut self.dns[from..] {
                    d.runtime_only |= u.per_request;
                }
            }
        } else if alloy::is_alloy(text) {
            // Only the values an Alloy config sets (an address in a comment is not used); Alloy
            // starts without them, its components retry: none is needed to start.
            let from = self.dns.len();
            for (value, line) in alloy::strings(text) {
                let at = format!("{field}: line {line}");
                self.scan_leaf(i, &at, &value, None, false);
            }
            for u in &mut self.dns[from..] {
                u.runtime_only = true;
            }
            self.alloy.push(AlloyConfig {
                object: i,
                field: field.to_string(),
                root: alloy::parse(text),
            });
        } else {
            let multi = text.contains('\n');
            self.scan_leaf(i, field, text, None, multi);
            let key = field.rsplit('.').next().unwrap_or(field);
            self.scan_short(i, field, text, key);
        }
    }

    /// Walks a value; `field` is the object field, `inner` the path inside an embedded config.
    fn scan_value(&mut self, i: usize, field: &str, inner: &str, v: &Value, embedded_doc: bool) {
        match v {
            // A block switched off (Loki's `bloom_gateway: {enabled: false, client: …}`) is not
            // used: the addresses in it are not dialled.
            Value::Object(map) if switched_off(map) => {}
            Value::Object(map) => {
                let sibling_port = map.get("port").and_then(|p| {
                    p.as_u64()
                        .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
                        .map(|n| n as u32)
                });
                for (k, item) in map {
                    let path = join(inner, k);
                    if let Value::String(s) = item {
                        if let Some(value) = embedded(s) {
                            self.scan_value(
                                i,
                                &located(field, &path, embedded_doc),
                                "",
                                &value,
                                true,
                            );
                            continue;
                        }
                        let at = located(field, &path, embedded_doc);
                        self.scan_leaf(i, &at, s, sibling_port, false);
                        if embedded_doc {
                            self.scan_short_with_port(i, &at, s, k, sibling_port);
                        }
                    } else {
                        self.scan_value(i, field, &path, item, embedded_doc);
                    }
                }
            }
            Value::Array(items) => {
                for (j, item) in items.iter().enumerate() {
                    let path = index(inner, j);
                    if let Value::String(s) = item {
                        let at = located(field, &path, embedded_doc);
                        self.scan_leaf(i, &at, s, None, false);
                        if embedded_doc {
                            let key = inner.rsplit('.').next().unwrap_or(inner);
                            self.scan_short(i, &at, s, key);
                        }
                    } else {
                        self.scan_value(i, field, &path, item, embedded_doc);
                    }
                }
            }
            Value::String(s) => {
                let at = located(field, inner, embedded_doc);
                self.scan_leaf(i, &at, s, None, false);
            }
            _ => {}
        }
    }

    /// Same-namespace short names (`http://svc:port`, `svc:port`, a bare `svc` under a host
    /// key) in a single-line value of an object that has a namespace.
    fn scan_short(&mut self, i: usize, field: &str, text: &str, key: &str) {
        self.scan_short_with_port(i, field, text, key, None);
    }

    fn scan_short_with_port(
        &mut self,
        i: usize,
        field: &str,
        text: &str,
        key: &str,
        sibling_port: Option<u32>,
    ) {
        if text.contains('\n') || text.len() > 2048 {
            return;
        }
        let Some(ns) = self.manifest.objects[i].namespace.clone() else {
            return;
        };
        for mut reference in extract::find_short(text, extract::key_is_host(key)) {
            reference.namespace = ns.clone();
            if reference.port == PortUse::Unknown {
                if let Some(p) = sibling_port {
                    reference.port = PortUse::Number(p);
                }
            }
            let runtime_only = field
                .split(['.', ':', '[', ' '])
                .any(|seg| RUNTIME_SEGMENTS.contains(&seg));
            self.short_dns.push(DnsUse {
                object: i,
                field: field.to_string(),
                reference,
                runtime_only,
            });
        }
    }

    /// A custom resource in `namespace` whose name the dangling `service` name contains:
    /// its operator probably makes that Service (kinds that never make Services, such as
    /// monitors and rules, do not count, nor kinds whose operator's naming is in the data).
    pub fn operator_guess(&self, namespace: &str, service: &str) -> Option<&Object> {
        self.manifest
            .objects
            .iter()
            .filter(|o| {
                o.namespace.as_deref() == Some(namespace)
                    && o.is_custom_resource()
                    && o.name.len() >= 3
                    && !services::never_makes_services(&o.kind)
                    // What operators in the data make is known exactly.
                    && !services::operators()
                        .operators
                        .iter()
                        .any(|op| op.kind == o.kind && op.group == o.group())
            })
            .find(|o| service.contains(o.name.as_str()))
    }

    fn scan_leaf(
        &mut self,
        i: usize,
        field: &str,
        text: &str,
        sibling_port: Option<u32>,
        with_line: bool,
    ) {
        for mut reference in extract::find(text, &self.namespaces) {
            if reference.port == PortUse::Unknown {
                if let Some(p) = sibling_port {
                    reference.port = PortUse::Number(p);
                }
            }
            let field = if with_line {
                format!("{field}: line {}", reference.line)
            } else {
                field.to_string()
            };
            let runtime_only = field
                .split(['.', ':', '[', ' '])
                .any(|seg| RUNTIME_SEGMENTS.contains(&seg));
            self.dns.push(DnsUse {
                object: i,
                field,
                reference,
                runtime_only,
            });
        }
    }
}

/// Whether a config block says it is off (`enabled: false`, also as the string `"false"`).
pub fn switched_off(map: &serde_json::Map<String, Value>) -> bool {
    match map.get("enabled") {
        Some(Value::Bool(b)) => !b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("false"),
        _ => false,
    }
}

/// `data.config.yaml: server.url` for a path inside an embedded document, else `spec.a.b`.
fn located(field: &str, inner: &str, embedded_doc: bool) -> String {
    if embedded_doc {
        if inner.is_empty() {
            field.to_string()
        } else {
            format!("{field}: {inner}")
        }
    } else {
        join(field, inner)
    }
}

/// Parses multi-line text as a YAML/JSON config document (a mapping or list).
pub fn embedded(text: &str) -> Option<Value> {
    let t = text.trim_start();
    if !text.contains('\n') && !t.starts_with('{') {
        return None;
    }
    // Scripts and nginx configs are not YAML; skip the parse attempt for obvious cases.
    if t.starts_with("#!") {
        return None;
    }
    match yaml::value(text)? {
        v @ (Value::Object(_) | Value::Array(_)) => Some(v),
        _ => None,
    }
}
