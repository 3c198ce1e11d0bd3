//! The Services the stack will have: rendered Services, plus the Services operators create for
//! the custom resources the stack renders (the OpenTelemetry Operator makes
//! `<name>-collector`, `<name>-collector-headless` and `<name>-collector-monitoring` for each
//! `OpenTelemetryCollector` that is not a sidecar, with a port per receiver).

use std::collections::BTreeMap;

use serde_json::Value;

use kalypso_model::manifest::workload::OTEL_COLLECTOR_KIND;
use kalypso_model::manifest::{Manifest, ObjectRef};

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
    for svc in manifest.of_kind("Service") {
        let ns = svc.namespace.clone().unwrap_or_default();
        let ports = svc.body["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some(ServicePort {
                    name: p["name"].as_str().map(str::to_string),
                    port: p["port"].as_u64()?,
                    target_port: p["targetPort"].as_u64(),
                })
            })
            .collect();
        out.insert(
            (ns.clone(), svc.name.clone()),
            ServiceView {
                namespace: ns,
                name: svc.name.clone(),
                ports,
                headless: svc.body["spec"]["clusterIP"].as_str() == Some("None"),
                made_from: None,
            },
        );
    }
    for col in manifest.of_kind(OTEL_COLLECTOR_KIND) {
        if col.body["spec"]["mode"].as_str() == Some("sidecar") {
            continue;
        }
        let ns = col.namespace.clone().unwrap_or_default();
        let ports = collector_ports(&col.body["spec"]);
        let variants: [(&str, bool, Vec<ServicePort>); 3] = [
            ("collector", false, ports.clone()),
            ("collector-headless", true, ports),
            (
                "collector-monitoring",
                false,
                vec![ServicePort {
                    name: Some("monitoring".into()),
                    port: 8888,
                    target_port: Some(8888),
                }],
            ),
        ];
        for (suffix, headless, ports) in variants {
            let name = format!("{}-{suffix}", col.name);
            out.entry((ns.clone(), name.clone()))
                .or_insert(ServiceView {
                    namespace: ns.clone(),
                    name,
                    ports,
                    headless,
                    made_from: Some(col.reference()),
                });
        }
    }
    out
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
    fn a_collector_exposes_its_otlp_receivers() {
        let spec = serde_json::json!({"config": {"receivers": {
            "otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {}}},
            "hostmetrics": {"collection_interval": "30s"}}}});
        let ports: Vec<u64> = collector_ports(&spec).iter().map(|p| p.port).collect();
        assert_eq!(ports, [4317, 4318]);
    }
}
