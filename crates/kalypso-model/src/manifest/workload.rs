//! The pod specs and containers inside workloads, with their field paths. Besides the built-in
//! workload kinds this knows the OpenTelemetry Operator's `OpenTelemetryCollector`, whose spec
//! is both a pod spec (volumes, hostNetwork) and its main container (image, resources, env).

use std::collections::BTreeMap;

use serde_json::Value;

use super::walk::{index, join};
use super::Object;

/// A pod spec inside an object.
#[derive(Debug, Clone)]
pub struct PodSpec<'a> {
    pub spec: &'a Value,
    /// Path of the pod spec (`spec.template.spec`).
    pub path: String,
    /// Whether its pods run until stopped (Deployments, DaemonSets …), as opposed to Jobs.
    pub long_running: bool,
    /// Whether this is an operator custom resource whose controller fills in probes and image.
    pub operator_managed: bool,
    /// The pod template's metadata (labels, annotations), `Null` when absent.
    pub template_meta: &'a Value,
}

impl PodSpec<'_> {
    /// Whether Istio's injector fills this pod in (a gateway with `image: auto`).
    pub fn istio_injected(&self) -> bool {
        let m = self.template_meta;
        m["annotations"]["inject.istio.io/templates"].is_string()
            || m["labels"]["sidecar.istio.io/inject"].as_str() == Some("true")
    }
}

/// One container of a pod spec.
#[derive(Debug, Clone)]
pub struct Container<'a> {
    pub body: &'a Value,
    /// Path of the container (`spec.template.spec.containers[0]`).
    pub path: String,
    pub name: String,
    /// An init container that is not a native sidecar.
    pub init: bool,
}

/// Kind of the OpenTelemetry Operator's collector resource.
pub const OTEL_COLLECTOR_KIND: &str = "OpenTelemetryCollector";

/// The workload the OpenTelemetry Operator makes for a collector resource called `name`, as
/// (apiVersion, kind, name): `<name>-collector`, a Deployment, DaemonSet or StatefulSet after
/// `spec.mode` (default `deployment`); none for a `sidecar` collector. `check` models the
/// Services the same way; `up` gates on this workload and `status` reports it.
pub fn collector_workload(
    name: &str,
    spec: &Value,
) -> Option<(&'static str, &'static str, String)> {
    let kind = match spec["mode"].as_str().unwrap_or("deployment") {
        "sidecar" => return None,
        "daemonset" => "DaemonSet",
        "statefulset" => "StatefulSet",
        _ => "Deployment",
    };
    Some(("apps/v1", kind, format!("{name}-collector")))
}

/// A collector resource's configuration: a map in `v1beta1`, a YAML string in `v1alpha1`
/// (null when that string does not parse).
pub fn collector_config(spec: &Value) -> Value {
    match &spec["config"] {
        Value::String(s) => super::yaml::value(s).unwrap_or(Value::Null),
        v => v.clone(),
    }
}

/// The pod spec of a workload object, if it has one.
pub fn pod_spec(obj: &Object) -> Option<PodSpec<'_>> {
    let b = &obj.body;
    let meta_of = |spec_path: &str| -> &Value {
        match spec_path {
            "spec" => &b["metadata"],
            "spec.template.spec" => &b["spec"]["template"]["metadata"],
            _ => &b["spec"]["jobTemplate"]["spec"]["template"]["metadata"],
        }
    };
    let (spec, path, long_running, operator_managed) = match obj.kind.as_str() {
        "Pod" => {
            let rp = b["spec"]["restartPolicy"].as_str().unwrap_or("Always");
            (&b["spec"], "spec", rp == "Always", false)
        }
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "ReplicationController" => (
            &b["spec"]["template"]["spec"],
            "spec.template.spec",
            true,
            false,
        ),
        "Job" => (
            &b["spec"]["template"]["spec"],
            "spec.template.spec",
            false,
            false,
        ),
        "CronJob" => (
            &b["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            "spec.jobTemplate.spec.template.spec",
            false,
            false,
        ),
        OTEL_COLLECTOR_KIND => (&b["spec"], "spec", true, true),
        _ => return None,
    };
    spec.is_object().then(|| PodSpec {
        spec,
        path: path.to_string(),
        long_running,
        operator_managed,
        template_meta: meta_of(path),
    })
}

/// Every container of a pod spec: init containers first, then containers.
pub fn containers<'a>(pod: &PodSpec<'a>) -> Vec<Container<'a>> {
    let mut out = Vec::new();
    let lists: &[(&str, bool)] = if pod.operator_managed {
        &[("initContainers", true), ("additionalContainers", false)]
    } else {
        &[("initContainers", true), ("containers", false)]
    };
    if pod.operator_managed {
        out.push(Container {
            body: pod.spec,
            path: pod.path.clone(),
            name: "collector".into(),
            init: false,
        });
    }
    for (key, init) in lists {
        if let Some(items) = pod.spec[*key].as_array() {
            for (i, c) in items.iter().enumerate() {
                let native_sidecar = c["restartPolicy"].as_str() == Some("Always");
                out.push(Container {
                    body: c,
                    path: index(&join(&pod.path, key), i),
                    name: c["name"].as_str().unwrap_or("?").to_string(),
                    init: *init && !native_sidecar,
                });
            }
        }
    }
    out
}

/// A container's `$(VAR)` references expanded from its `env` (literal values and the pod's
/// own namespace); `$$(VAR)` is an escaped literal, unknown variables stay as written.
pub fn expand(arg: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(escaped) = after.strip_prefix("$(") {
            out.push_str("$(");
            rest = escaped;
            continue;
        }
        match after
            .strip_prefix('(')
            .and_then(|inner| inner.find(')').map(|end| &inner[..end]))
        {
            Some(name) => {
                match env.get(name) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&format!("$({name})")),
                }
                rest = &after[name.len() + 2..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A container's variables as `$(VAR)` expansion sees them: literal `env` values (themselves
/// expanded in order) and `fieldRef: metadata.namespace`.
pub fn environment(container: &Value, namespace: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for e in container["env"].as_array().into_iter().flatten() {
        let Some(name) = e["name"].as_str() else {
            continue;
        };
        if let Some(v) = e["value"].as_str() {
            let v = expand(v, &env);
            env.insert(name.to_string(), v);
        } else if e["valueFrom"]["fieldRef"]["fieldPath"].as_str() == Some("metadata.namespace") {
            env.insert(name.to_string(), namespace.to_string());
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_variables_are_expanded_as_the_kubelet_does() {
        let env: BTreeMap<String, String> = [("NS".to_string(), "monitoring".to_string())].into();
        assert_eq!(expand("--namespace=$(NS)", &env), "--namespace=monitoring");
        assert_eq!(
            expand("$$(NS) $(OTHER) $HOME", &env),
            "$(NS) $(OTHER) $HOME"
        );
    }
}
