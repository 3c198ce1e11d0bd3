//! `hygiene/*`: pinned images, CPU and memory requests and a memory limit on every container,
//! probes on long-running containers, and host access only where the policy grants it.

use serde_json::Value;

use super::context::Context;
use super::finding::{Finding, Severity};
use kalypso_model::manifest::walk::{index, join};
use kalypso_model::manifest::{workload, Object};

/// Rule ids.
pub const IMAGE_RULE: &str = "hygiene/image";
pub const REQUESTS_RULE: &str = "hygiene/requests";
pub const LIMITS_RULE: &str = "hygiene/limits";
pub const PROBES_RULE: &str = "hygiene/probes";
pub const PRIVILEGED_RULE: &str = "hygiene/privileged";

/// What is wrong with an image reference, if anything.
pub fn image_problem(image: &str) -> Option<String> {
    if image.contains('@') {
        return None; // pinned by digest
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => Some(format!("image {image:?} has no tag (pulls :latest)")),
        Some((_, "latest")) => Some(format!("image {image:?} uses the moving tag latest")),
        Some((_, "")) => Some(format!("image {image:?} has an empty tag")),
        Some(_) => None,
    }
}

fn has(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// Checks every container of every workload.
pub fn check(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for obj in &ctx.manifest.objects {
        let Some(pod) = workload::pod_spec(obj) else {
            continue;
        };
        for c in workload::containers(&pod) {
            check_container(obj, &pod, &c, &mut out);
        }
        check_privileges(ctx, obj, &pod, &mut out);
    }
    out
}

fn check_container(
    obj: &Object,
    pod: &workload::PodSpec,
    c: &workload::Container,
    out: &mut Vec<Finding>,
) {
    let who = format!("container {}", c.name);
    // Istio's injector replaces `image: auto` and adds the proxy's probes at admission.
    let injected = pod.istio_injected() && c.body["image"].as_str() == Some("auto");
    match c.body["image"].as_str() {
        Some(_) if injected => {}
        Some(image) => {
            if let Some(p) = image_problem(image) {
                out.push(Finding::new(
                    IMAGE_RULE,
                    Severity::Error,
                    obj,
                    join(&c.path, "image"),
                    format!("{who}: {p}"),
                ));
            }
        }
        None if !pod.operator_managed => {
            out.push(Finding::new(
                IMAGE_RULE,
                Severity::Error,
                obj,
                join(&c.path, "image"),
                format!("{who} has no image"),
            ));
        }
        None => {}
    }
    let res = &c.body["resources"];
    let missing: Vec<&str> = ["cpu", "memory"]
        .into_iter()
        .filter(|r| !has(&res["requests"][*r]))
        .collect();
    if !missing.is_empty() {
        out.push(Finding::new(
            REQUESTS_RULE,
            Severity::Error,
            obj,
            join(&c.path, &format!("resources.requests.{}", missing[0])),
            format!("{who} has no {} request", missing.join(" or ")),
        ));
    }
    if !has(&res["limits"]["memory"]) {
        out.push(Finding::new(
            LIMITS_RULE,
            Severity::Error,
            obj,
            join(&c.path, "resources.limits.memory"),
            format!("{who} has no memory limit"),
        ));
    }
    if pod.long_running && !c.init && !pod.operator_managed && !injected {
        let probed = ["readinessProbe", "livenessProbe", "startupProbe"]
            .iter()
            .any(|p| has(&c.body[*p]));
        if !probed {
            out.push(Finding::new(
                PROBES_RULE,
                Severity::Warning,
                obj,
                join(&c.path, "readinessProbe"),
                format!("{who} runs until stopped but has no readiness or liveness probe"),
            ));
        }
    }
}

fn check_privileges(ctx: &Context, obj: &Object, pod: &workload::PodSpec, out: &mut Vec<Finding>) {
    let ns = obj.namespace.as_deref().unwrap_or("");
    let mut wants: Vec<(String, String)> = Vec::new(); // (what, field)
    for flag in ["hostPID", "hostNetwork", "hostIPC"] {
        if pod.spec[flag].as_bool() == Some(true) {
            wants.push((flag.to_string(), join(&pod.path, flag)));
        }
    }
    if pod.spec["securityContext"]["seccompProfile"]["type"].as_str() == Some("Unconfined") {
        wants.push((
            "seccomp:Unconfined".into(),
            join(&pod.path, "securityContext.seccompProfile.type"),
        ));
    }
    for c in workload::containers(pod) {
        let sc = &c.body["securityContext"];
        if sc["privileged"].as_bool() == Some(true) {
            wants.push((
                "privileged".into(),
                join(&c.path, "securityContext.privileged"),
            ));
        }
        if sc["seccompProfile"]["type"].as_str() == Some("Unconfined") {
            wants.push((
                "seccomp:Unconfined".into(),
                join(&c.path, "securityContext.seccompProfile.type"),
            ));
        }
        let added = sc["capabilities"]["add"].as_array().into_iter().flatten();
        for (i, cap) in added.enumerate() {
            let Some(cap) = cap.as_str() else { continue };
            let cap = cap.trim_start_matches("CAP_");
            // Binding a low port is the one capability any service may need.
            if cap != "NET_BIND_SERVICE" {
                wants.push((
                    format!("capability:{cap}"),
                    index(&join(&c.path, "securityContext.capabilities.add"), i),
                ));
            }
        }
    }
    if let Some(vols) = pod.spec["volumes"].as_array() {
        for (i, v) in vols.iter().enumerate() {
            if let Some(path) = v["hostPath"]["path"].as_str() {
                wants.push((
                    format!("hostPath:{path}"),
                    join(&index(&join(&pod.path, "volumes"), i), "hostPath.path"),
                ));
            }
        }
    }
    for (what, field) in wants {
        if ctx.policy.grant(&obj.kind, ns, &obj.name, &what).is_some() {
            continue;
        }
        out.push(Finding::new(
            PRIVILEGED_RULE,
            Severity::Error,
            obj,
            field,
            format!(
                "{} uses {what}, which the privilege allow-list does not grant it (add an entry with a reason to kalypso-policy.yaml `privileged:`)",
                obj.reference()
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags() {
        assert!(image_problem("nginx").is_some());
        assert!(image_problem("nginx:latest").is_some());
        assert!(image_problem("registry:5000/nginx").is_some());
        assert!(image_problem("registry:5000/nginx:1.27").is_none());
        assert!(image_problem("nginx@sha256:abc").is_none());
    }
}
