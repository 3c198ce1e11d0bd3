//! `ops/rings`: every memberlist ring is its own, and its gossip passes Istio's sidecars.
//!
//! - Each backend that gossips (a `memberlist` block in its config, or `-memberlist.join`) has
//!   a `cluster_label`, and no two backends share one: memberlist of dskit accepts any peer
//!   with the same label (or any peer at all without one), so the rings of different backends
//!   that reach each other merge (grafana/helm-charts#1752, grafana/loki#10172). The label the
//!   process runs with is the `-memberlist.cluster-label` flag when the chart passes one (flags
//!   are applied after the config file), else the config's `memberlist.cluster_label`.
//!   `cluster_label_verification_disabled: true` turns the check off: reported too.
//! - Each Service port that carries the gossip (the memberlist port, `bind_port` or 7946, as
//!   port or target) is one Istio treats as opaque TCP: `appProtocol: tcp`, or without
//!   `appProtocol` a name `tcp` or `tcp-*`. Otherwise the sidecar sniffs the protocol or
//!   takes it for HTTP, and gossip breaks (grafana/mimir#5673, grafana/loki#11833).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::at;
use crate::config::backend_configs;
use crate::context::Context;
use crate::finding::{Finding, Severity};
use kalypso_model::manifest::workload::{containers, pod_spec};
use kalypso_model::manifest::Object;

/// Rule id.
pub const RULE: &str = "ops/rings";

/// memberlist's default port (dskit `memberlist.bind_port`).
const DEFAULT_GOSSIP_PORT: u64 = 7946;

/// One ring as a backend's processes join it.
struct Ring<'a> {
    backend: &'static str,
    namespace: String,
    label: Option<String>,
    /// Where the label is set (the config holder and field, or the workload and its flag).
    source: &'a Object,
    field: String,
    port: u64,
}

/// Runs the rule.
pub fn check(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut rings: Vec<Ring> = Vec::new();
    let mut seen = BTreeSet::new();
    for cfg in backend_configs(ctx) {
        let gossips =
            cfg.config.get("memberlist").is_some() || cfg.flag("memberlist.join").is_some();
        if !gossips {
            continue;
        }
        let ns = cfg.workload.namespace.clone().unwrap_or_default();
        let flag = cfg.flag("memberlist.cluster-label");
        let (label, source, field) = match flag {
            Some(l) => (
                Some(l),
                cfg.workload,
                "spec.template.spec.containers: -memberlist.cluster-label".to_string(),
            ),
            None => (
                at(&cfg.config, "memberlist.cluster_label")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                cfg.source,
                format!("{}: memberlist.cluster_label", cfg.field),
            ),
        };
        let label = label.filter(|l| !l.is_empty());
        if !seen.insert((ns.clone(), cfg.backend, label.clone())) {
            continue;
        }
        if at(
            &cfg.config,
            "memberlist.cluster_label_verification_disabled",
        )
        .and_then(Value::as_bool)
            == Some(true)
        {
            out.push(Finding::new(
                RULE,
                Severity::Error,
                cfg.source,
                format!("{}: memberlist.cluster_label_verification_disabled", cfg.field),
                format!("{} turns cluster label verification off: its ring accepts gossip from any other backend's memberlist", cfg.backend),
            ));
        }
        let port = at(&cfg.config, "memberlist.bind_port")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_GOSSIP_PORT);
        rings.push(Ring {
            backend: cfg.backend,
            namespace: ns,
            label,
            source,
            field,
            port,
        });
    }
    let mut by_label: BTreeMap<&str, Vec<&Ring>> = BTreeMap::new();
    for r in &rings {
        match &r.label {
            None => out.push(Finding::new(
                RULE,
                Severity::Error,
                r.source,
                &r.field,
                format!(
                    "{} in namespace {} gossips over memberlist without a cluster_label: any other backend's ring that reaches it merges with it; set memberlist.cluster_label to a value unique to this component",
                    r.backend, r.namespace
                ),
            )),
            Some(l) => by_label.entry(l.as_str()).or_default().push(r),
        }
    }
    for (label, users) in by_label {
        let components: BTreeSet<(&str, &str)> = users
            .iter()
            .map(|r| (r.backend, r.namespace.as_str()))
            .collect();
        if components.len() < 2 {
            continue;
        }
        let names: Vec<String> = components
            .iter()
            .map(|(b, ns)| format!("{b} ({ns})"))
            .collect();
        for r in users {
            out.push(Finding::new(
                RULE,
                Severity::Error,
                r.source,
                &r.field,
                format!(
                    "cluster_label {label:?} is shared by {}: their rings accept each other's gossip and merge; give each its own label",
                    names.join(" and ")
                ),
            ));
        }
    }
    let ports: BTreeSet<(String, u64)> = rings
        .iter()
        .map(|r| (r.namespace.clone(), r.port))
        .collect();
    for (ns, port) in ports {
        out.extend(gossip_ports(ctx, &ns, port));
    }
    out
}

/// Whether Istio treats a Service port as opaque TCP.
fn istio_tcp(p: &Value) -> bool {
    match p["appProtocol"].as_str() {
        Some(a) => a.eq_ignore_ascii_case("tcp"),
        None => p["name"]
            .as_str()
            .map(|n| n.split('-').next().unwrap_or(n))
            .is_some_and(|proto| proto.eq_ignore_ascii_case("tcp")),
    }
}

/// The container port numbers a named target port stands for in `namespace`'s pods.
fn named_ports(ctx: &Context, namespace: &str, name: &str) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for obj in &ctx.manifest.objects {
        if obj.namespace.as_deref() != Some(namespace) {
            continue;
        }
        let Some(pod) = pod_spec(obj) else { continue };
        for c in containers(&pod) {
            for p in c.body["ports"].as_array().into_iter().flatten() {
                if p["name"].as_str() == Some(name) {
                    out.extend(p["containerPort"].as_u64());
                }
            }
        }
    }
    out
}

/// The Service ports of `namespace` that carry gossip on `port`, checked.
fn gossip_ports(ctx: &Context, namespace: &str, port: u64) -> Vec<Finding> {
    let mut out = Vec::new();
    for svc in ctx.manifest.of_kind("Service") {
        if svc.namespace.as_deref() != Some(namespace) {
            continue;
        }
        for (i, p) in svc.body["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let target = &p["targetPort"];
            let carries = p["port"].as_u64() == Some(port)
                || target.as_u64() == Some(port)
                || target
                    .as_str()
                    .is_some_and(|n| named_ports(ctx, namespace, n).contains(&port));
            if !carries || istio_tcp(p) {
                continue;
            }
            let name = p["name"].as_str().unwrap_or("");
            let how = match p["appProtocol"].as_str() {
                Some(a) => format!("appProtocol {a:?}"),
                None if name.is_empty() => "no name and no appProtocol".to_string(),
                None => format!("the name {name:?} and no appProtocol"),
            };
            out.push(Finding::new(
                RULE,
                Severity::Error,
                svc,
                format!("spec.ports[{i}]"),
                format!(
                    "Service port {} carries memberlist gossip (port {port}) with {how}: Istio's sidecars sniff or parse it as another protocol and gossip fails; set appProtocol: tcp (or name it tcp-…)",
                    p["port"]
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn istio_takes_appprotocol_first_then_the_name_prefix() {
        assert!(istio_tcp(
            &json!({"name": "http-memberlist", "appProtocol": "tcp"})
        ));
        assert!(istio_tcp(&json!({"name": "tcp"})));
        assert!(istio_tcp(&json!({"name": "tcp-gossip"})));
        assert!(!istio_tcp(&json!({"name": "http-memberlist"})));
        assert!(!istio_tcp(&json!({"name": "memberlist"})));
        assert!(!istio_tcp(&json!({"name": "tcp", "appProtocol": "http"})));
        assert!(!istio_tcp(&json!({"port": 7946})));
    }
}
