//! `security/pod-security`: every pod passes the Pod Security Standards level its namespace
//! enforces, evaluated offline the way the API server's built-in PodSecurity admission does
//! (Kubernetes 1.34 `baseline` and `restricted` checks), so a pod the cluster would refuse is
//! found before the install. The level of a namespace is the component list's `podSecurity`
//! (what Argo CD and `kalypso up` label the namespace with), else the
//! `pod-security.kubernetes.io/enforce` label of a rendered Namespace. A namespace of the stack
//! without a level is a warning.
//!
//! Pods made by the OpenTelemetry Operator are judged from the collector's spec (its
//! `podSecurityContext`, `securityContext`, `hostNetwork`, `volumes`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::context::Context;
use super::finding::{Finding, Severity};
use kalypso_model::manifest::workload::{containers, pod_spec, OTEL_COLLECTOR_KIND};
use kalypso_model::manifest::Object;
use kalypso_model::stack::POD_SECURITY_ENFORCE_LABEL;

/// Rule id.
pub const RULE: &str = "security/pod-security";

/// Capabilities `baseline` lets a container add.
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Volume types `restricted` allows.
const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Sysctls `baseline` allows.
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// One container as the checks see it: its name, security context and ports.
struct ContainerView<'a> {
    name: String,
    security: &'a Value,
    ports: &'a Value,
}

/// A pod as the checks see it.
struct PodView<'a> {
    spec: &'a Value,
    security: &'a Value,
    containers: Vec<ContainerView<'a>>,
}

fn view(obj: &Object) -> Option<PodView<'_>> {
    let pod = pod_spec(obj)?;
    let spec = pod.spec;
    if obj.kind == OTEL_COLLECTOR_KIND {
        // The collector container is the spec itself; its pod context is podSecurityContext.
        let mut cs = vec![ContainerView {
            name: "otc-container".into(),
            security: &spec["securityContext"],
            ports: &spec["ports"],
        }];
        for c in spec["initContainers"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(
                spec["additionalContainers"]
                    .as_array()
                    .into_iter()
                    .flatten(),
            )
        {
            cs.push(ContainerView {
                name: c["name"].as_str().unwrap_or("?").to_string(),
                security: &c["securityContext"],
                ports: &c["ports"],
            });
        }
        return Some(PodView {
            spec,
            security: &spec["podSecurityContext"],
            containers: cs,
        });
    }
    let cs = containers(&pod)
        .into_iter()
        .map(|c| ContainerView {
            name: c.name.clone(),
            security: &c.body["securityContext"],
            ports: &c.body["ports"],
        })
        .collect();
    Some(PodView {
        spec,
        security: &spec["securityContext"],
        containers: cs,
    })
}

/// What the `baseline` level forbids in this pod, one line each.
fn baseline(p: &PodView) -> Vec<String> {
    let mut out = Vec::new();
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        if p.spec[host] == Value::Bool(true) {
            out.push(format!("{host}: true"));
        }
    }
    for v in p.spec["volumes"].as_array().into_iter().flatten() {
        if v["hostPath"].is_object() {
            out.push(format!(
                "hostPath volume {} ({})",
                v["name"].as_str().unwrap_or("?"),
                v["hostPath"]["path"].as_str().unwrap_or("?")
            ));
        }
    }
    for s in p.security["sysctls"].as_array().into_iter().flatten() {
        let name = s["name"].as_str().unwrap_or("?");
        if !SAFE_SYSCTLS.contains(&name) {
            out.push(format!("sysctl {name}"));
        }
    }
    let unconfined = |sc: &Value| sc["seccompProfile"]["type"].as_str() == Some("Unconfined");
    if unconfined(p.security) {
        out.push("securityContext.seccompProfile.type: Unconfined".into());
    }
    if p.security["appArmorProfile"]["type"].as_str() == Some("Unconfined") {
        out.push("securityContext.appArmorProfile.type: Unconfined".into());
    }
    for c in &p.containers {
        let sc = c.security;
        if sc["privileged"] == Value::Bool(true) {
            out.push(format!("container {}: privileged", c.name));
        }
        for cap in sc["capabilities"]["add"].as_array().into_iter().flatten() {
            let cap = cap.as_str().unwrap_or("?");
            if !BASELINE_CAPABILITIES.contains(&cap) {
                out.push(format!("container {}: adds capability {cap}", c.name));
            }
        }
        if unconfined(sc) {
            out.push(format!("container {}: seccompProfile Unconfined", c.name));
        }
        if sc["appArmorProfile"]["type"].as_str() == Some("Unconfined") {
            out.push(format!("container {}: appArmorProfile Unconfined", c.name));
        }
        if sc["procMount"].as_str().is_some_and(|m| m != "Default") {
            out.push(format!(
                "container {}: procMount {}",
                c.name, sc["procMount"]
            ));
        }
        for port in c.ports.as_array().into_iter().flatten() {
            if port["hostPort"].as_u64().is_some_and(|h| h != 0) {
                out.push(format!(
                    "container {}: hostPort {}",
                    c.name, port["hostPort"]
                ));
            }
        }
    }
    out
}

/// What the `restricted` level forbids beyond `baseline`.
fn restricted(p: &PodView) -> Vec<String> {
    let mut out = Vec::new();
    for v in p.spec["volumes"].as_array().into_iter().flatten() {
        let ty = v
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.as_str())
            .find(|k| *k != "name")
            .unwrap_or("?");
        if !RESTRICTED_VOLUMES.contains(&ty) && ty != "hostPath" {
            out.push(format!(
                "volume {} of type {ty}",
                v["name"].as_str().unwrap_or("?")
            ));
        }
    }
    let pod_non_root = p.security["runAsNonRoot"] == Value::Bool(true);
    let pod_seccomp = matches!(
        p.security["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault" | "Localhost")
    );
    if p.security["runAsUser"].as_u64() == Some(0) {
        out.push("securityContext.runAsUser: 0".into());
    }
    for c in &p.containers {
        let sc = c.security;
        if sc["allowPrivilegeEscalation"] != Value::Bool(false) {
            out.push(format!(
                "container {}: allowPrivilegeEscalation is not false",
                c.name
            ));
        }
        let non_root = match &sc["runAsNonRoot"] {
            Value::Bool(b) => *b,
            _ => pod_non_root,
        };
        if !non_root {
            out.push(format!(
                "container {}: runAsNonRoot is not true (pod or container)",
                c.name
            ));
        }
        if sc["runAsUser"].as_u64() == Some(0) {
            out.push(format!("container {}: runAsUser 0", c.name));
        }
        let seccomp = match sc["seccompProfile"]["type"].as_str() {
            Some(t) => matches!(t, "RuntimeDefault" | "Localhost"),
            None => pod_seccomp,
        };
        if !seccomp {
            out.push(format!(
                "container {}: seccompProfile is not RuntimeDefault or Localhost (pod or container)",
                c.name
            ));
        }
        let drops_all = sc["capabilities"]["drop"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x.as_str() == Some("ALL")));
        if !drops_all {
            out.push(format!(
                "container {}: does not drop ALL capabilities",
                c.name
            ));
        }
        for cap in sc["capabilities"]["add"].as_array().into_iter().flatten() {
            if cap.as_str() != Some("NET_BIND_SERVICE")
                && BASELINE_CAPABILITIES.contains(&cap.as_str().unwrap_or(""))
            {
                out.push(format!(
                    "container {}: adds capability {}",
                    c.name,
                    cap.as_str().unwrap_or("?")
                ));
            }
        }
    }
    out
}

/// The enforce level of each namespace: the component list's, else a rendered Namespace's label.
fn levels(
    ctx: &Context,
    from_stack: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = ctx
        .manifest
        .of_kind("Namespace")
        .filter_map(|n| {
            Some((
                n.name.clone(),
                n.body["metadata"]["labels"][POD_SECURITY_ENFORCE_LABEL]
                    .as_str()?
                    .to_string(),
            ))
        })
        .collect();
    l.extend(
        from_stack
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    l
}

/// Evaluates every pod against its namespace's level.
pub fn check(ctx: &Context, from_stack: Option<&BTreeMap<String, String>>) -> Vec<Finding> {
    let levels = levels(ctx, from_stack);
    let mut out = Vec::new();
    for c in ctx.charts {
        if from_stack.is_some() && !levels.contains_key(&c.namespace) {
            out.push(Finding::general(
                RULE,
                Severity::Warning,
                &c.name,
                kalypso_model::manifest::ObjectRef::cluster("v1", "Namespace", &c.namespace),
                format!(
                    "namespace {} enforces no Pod Security Standards level: give {} a podSecurity level in the component list",
                    c.namespace, c.name
                ),
            ));
        }
    }
    for obj in &ctx.manifest.objects {
        let Some(ns) = obj.namespace.as_deref() else {
            continue;
        };
        let Some(level) = levels.get(ns) else {
            continue;
        };
        if level == "privileged" {
            continue;
        }
        let Some(p) = view(obj) else { continue };
        let mut problems = baseline(&p);
        if level == "restricted" {
            problems.extend(restricted(&p));
        }
        if !problems.is_empty() {
            out.push(Finding::new(
                RULE,
                Severity::Error,
                obj,
                "",
                format!(
                    "namespace {ns} enforces Pod Security \"{level}\", which refuses this pod: {}",
                    problems.join("; ")
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Vec<String> {
        let v = PodView {
            spec: &spec,
            security: &spec["securityContext"],
            containers: spec["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| ContainerView {
                    name: c["name"].as_str().unwrap_or("?").to_string(),
                    security: &c["securityContext"],
                    ports: &c["ports"],
                })
                .collect(),
        };
        let mut all = baseline(&v);
        all.extend(restricted(&v));
        all
    }

    #[test]
    fn a_restricted_pod_passes_and_each_relaxation_is_named() {
        let ok = serde_json::json!({
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "a", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
            "volumes": [{"name": "c", "configMap": {"name": "x"}}]
        });
        assert_eq!(pod(ok.clone()), Vec::<String>::new());
        let mut bad = ok;
        bad["hostPID"] = true.into();
        bad["volumes"] = serde_json::json!([{"name": "proc", "hostPath": {"path": "/proc"}}]);
        bad["containers"][0]["securityContext"]["privileged"] = true.into();
        bad["containers"][0]["securityContext"]["capabilities"]["add"] =
            serde_json::json!(["SYS_ADMIN"]);
        let found = pod(bad);
        for want in [
            "hostPID: true",
            "hostPath volume proc (/proc)",
            "container a: privileged",
            "container a: adds capability SYS_ADMIN",
        ] {
            assert!(found.iter().any(|f| f == want), "{want} not in {found:?}");
        }
    }
}
