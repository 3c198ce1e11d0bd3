//! The Services the stack will have: rendered Services, plus the Services operators create for
//! the custom resources the stack renders. Which operator makes which Service names and ports
//! is data, `data/operators.yaml`, each entry naming the operator's source it was read from
//! (prometheus-operator, VictoriaMetrics, the OpenTelemetry Operator with a port per receiver,
//! Grafana, Strimzi, CloudNativePG, ECK, Redis and MongoDB operators).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;
use serde_json::Value;

use kalypso_model::manifest::{yaml, Manifest, ObjectRef};

/// One port of a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u64,
    /// Numeric targetPort, when it is a number.
    pub target_port: Option<u64>,
}

/// A Service, rendered or made by an operator.
#[derive(Debug, Clone)]
pub struct ServiceView {
    pub namespace: String,
    pub name: String,
    pub ports: Vec<ServicePort>,
    pub headless: bool,
    /// The custom resource an operator makes it from, when not rendered directly.
    pub made_from: Option<ObjectRef>,
}

/// Every Service, keyed by (namespace, name).
pub fn services(manifest: &Manifest) -> BTreeMap<(String, String), ServiceView> {
    let mut out = BTreeMap::new();
    for obj in manifest.of_kind("Service") {
        // Another group's `Service` (Knative's) is not typed; one that does not decode is
        // reported by `schema/types`.
        let Some(svc) = obj.typed::<Service>() else {
            continue;
        };
        let spec = svc.spec.as_ref();
        let ns = obj.namespace.clone().unwrap_or_default();
        let ports = spec
            .and_then(|s| s.ports.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some(ServicePort {
                    name: p.name.clone(),
                    // A missing port decodes as 0, which no Service can have.
                    port: u64::try_from(p.port).ok().filter(|&n| n > 0)?,
                    target_port: match &p.target_port {
                        Some(IntOrString::Int(n)) => u64::try_from(*n).ok(),
                        _ => None,
                    },
                })
            })
            .collect();
        out.insert(
            (ns.clone(), obj.name.clone()),
            ServiceView {
                namespace: ns,
                name: obj.name.clone(),
                ports,
                headless: spec.and_then(|s| s.cluster_ip.as_deref()) == Some("None"),
                made_from: None,
            },
        );
    }
    for op in &operators().operators {
        for cr in manifest
            .objects
            .iter()
            .filter(|o| o.kind == op.kind && o.group() == op.group)
        {
            if op
                .unless
                .as_ref()
                .is_some_and(|u| field(&cr.body, &u.field).as_str() == Some(u.equals.as_str()))
            {
                continue;
            }
            let ns = cr.namespace.clone().unwrap_or_default();
            for made in &op.services {
                let name = made.name.replace("{name}", &cr.name);
                let mut ports: Vec<ServicePort> = made
                    .ports
                    .iter()
                    .map(|p| ServicePort {
                        name: p.name.clone(),
                        port: p.port,
                        target_port: Some(p.port),
                    })
                    .collect();
                if made.ports_from_receivers {
                    ports.extend(collector_ports(&cr.body["spec"]));
                }
                if let Some(path) = &made.ports_from {
                    for item in field(&cr.body, path).as_array().into_iter().flatten() {
                        if let Some(port) = item["port"].as_u64() {
                            ports.push(ServicePort {
                                name: item["name"].as_str().map(str::to_string),
                                port,
                                target_port: Some(port),
                            });
                        }
                    }
                }
                out.entry((ns.clone(), name.clone()))
                    .or_insert(ServiceView {
                        namespace: ns.clone(),
                        name,
                        ports,
                        headless: made.headless,
                        made_from: Some(cr.reference()),
                    });
            }
        }
    }
    out
}

/// A dotted path (`spec.kafka.listeners`) into a value.
fn field<'v>(v: &'v Value, path: &str) -> &'v Value {
    path.split('.').fold(v, |v, k| &v[k])
}

/// What an operator makes for one kind of custom resource (`data/operators.yaml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorEntry {
    pub group: String,
    pub kind: String,
    pub services: Vec<MadeService>,
    /// Secrets the operator writes for the resource (`{name}` as for Services).
    #[serde(default)]
    pub secrets: Vec<String>,
    /// The operator makes nothing when this spec field has this value.
    #[serde(default)]
    pub unless: Option<Unless>,
    /// Where the naming comes from in the operator's code.
    pub source: String,
}

/// A field value that switches an entry off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unless {
    pub field: String,
    pub equals: String,
}

/// One Service an operator makes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MadeService {
    /// `{name}` stands for the custom resource's name.
    pub name: String,
    #[serde(default)]
    pub headless: bool,
    #[serde(default)]
    pub ports: Vec<MadePort>,
    /// A list in the resource whose items' `port` and `name` are ports too.
    #[serde(default)]
    pub ports_from: Option<String>,
    /// The OpenTelemetry Operator's port per receiver ([`collector_ports`]).
    #[serde(default)]
    pub ports_from_receivers: bool,
}

/// One port of a made Service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MadePort {
    #[serde(default)]
    pub name: Option<String>,
    pub port: u64,
}

/// The operator knowledge file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operators {
    pub operators: Vec<OperatorEntry>,
    /// Custom resource kinds that never make a Service.
    pub never_makes_services: Vec<String>,
}

/// The operator knowledge shipped with kalypso.
pub const OPERATORS_YAML: &str = include_str!("../data/operators.yaml");

/// The parsed operator knowledge.
pub fn operators() -> &'static Operators {
    static PARSED: OnceLock<Operators> = OnceLock::new();
    PARSED.get_or_init(|| {
        // The file is part of the binary and a unit test parses it.
        yaml::from_str(OPERATORS_YAML)
            .unwrap_or_else(|e| panic!("data/operators.yaml:{}: {}", e.line, e.message))
    })
}

/// The Secrets operators write for the custom resources of the manifest: (namespace, name,
/// the resource).
pub fn operator_secrets(manifest: &Manifest) -> Vec<(String, String, ObjectRef)> {
    let mut out = Vec::new();
    for op in operators()
        .operators
        .iter()
        .filter(|o| !o.secrets.is_empty())
    {
        for cr in manifest
            .objects
            .iter()
            .filter(|o| o.kind == op.kind && o.group() == op.group)
        {
            let ns = cr.namespace.clone().unwrap_or_default();
            for s in &op.secrets {
                out.push((ns.clone(), s.replace("{name}", &cr.name), cr.reference()));
            }
        }
    }
    out
}

/// Whether custom resources of `kind` never make a Service (monitors, rules, certificates…).
pub fn never_makes_services(kind: &str) -> bool {
    operators().never_makes_services.iter().any(|k| k == kind)
}

fn endpoint_port(v: &Value) -> Option<u64> {
    let s = v["endpoint"].as_str()?;
    s.rsplit(':').next()?.trim_end_matches('/').parse().ok()
}

/// The ports the operator exposes for a collector spec: one per receiver that listens
/// (otlp gRPC/HTTP, jaeger, zipkin, or any `endpoint: host:port`), plus `spec.ports`.
pub fn collector_ports(spec: &Value) -> Vec<ServicePort> {
    let mut ports = Vec::new();
    let mut add = |name: String, port: u64| {
        if !ports.iter().any(|p: &ServicePort| p.port == port) {
            ports.push(ServicePort {
                name: Some(name),
                port,
                target_port: Some(port),
            });
        }
    };
    if let Value::Object(receivers) =
        &kalypso_model::manifest::workload::collector_config(spec)["receivers"]
    {
        for (key, cfg) in receivers {
            let kind = key.split('/').next().unwrap_or(key);
            let base = key.replace('/', "-");
            match kind {
                "otlp" => {
                    let protocols = &cfg["protocols"];
                    if protocols.get("grpc").is_some() {
                        add(
                            format!("{base}-grpc"),
                            endpoint_port(&protocols["grpc"]).unwrap_or(4317),
                        );
                    }
                    if protocols.get("http").is_some() {
                        add(
                            format!("{base}-http"),
                            endpoint_port(&protocols["http"]).unwrap_or(4318),
                        );
                    }
                }
                "jaeger" => {
                    for (proto, default) in [
                        ("grpc", 14250),
                        ("thrift_http", 14268),
                        ("thrift_compact", 6831),
                        ("thrift_binary", 6832),
                    ] {
                        if cfg["protocols"].get(proto).is_some() {
                            add(
                                format!("{base}-{proto}"),
                                endpoint_port(&cfg["protocols"][proto]).unwrap_or(default),
                            );
                        }
                    }
                }
                "zipkin" => add(base, endpoint_port(cfg).unwrap_or(9411)),
                _ => {
                    if let Some(p) = endpoint_port(cfg) {
                        add(base, p);
                    }
                }
            }
        }
    }
    for p in spec["ports"].as_array().into_iter().flatten() {
        if let Some(port) = p["port"].as_u64() {
            add(p["name"].as_str().unwrap_or("port").to_string(), port);
        }
    }
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_knowledge_parses_and_every_entry_names_its_source() {
        let ops = operators();
        assert!(ops.operators.len() >= 20);
        for op in &ops.operators {
            assert!(op.source.contains('/'), "{}: {}", op.kind, op.source);
            assert!(!op.services.is_empty(), "{}", op.kind);
        }
    }

    #[test]
    fn a_collector_exposes_its_otlp_receivers() {
        let spec = serde_json::json!({"config": {"receivers": {
            "otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {}}},
            "hostmetrics": {"collection_interval": "30s"}}}});
        let ports: Vec<u64> = collector_ports(&spec).iter().map(|p| p.port).collect();
        assert_eq!(ports, [4317, 4318]);
    }
}
