//! The pod specs and containers inside workloads, with their field paths. Besides the built-in
//! workload kinds this knows the OpenTelemetry Operator's `OpenTelemetryCollector`, whose spec
//! is both a pod spec (volumes, hostNetwork) and its main container (image, resources, env).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::batch::v1 as batch;
use k8s_openapi::api::core::v1 as core;
use serde_json::Value;

use super::walk::{index, join};
use super::Object;

/// A pod spec inside an object.
#[derive(Debug, Clone)]
pub struct PodSpec<'a> {
    pub spec: &'a Value,
    /// The typed pod spec of a built-in workload kind (`None` for an operator's resource).
    pub typed: Option<&'a core::PodSpec>,
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
    /// The typed container of a built-in workload kind (`None` for an operator's resource).
    pub typed: Option<&'a core::Container>,
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

/// The typed pod spec of a built-in workload kind: `Some(None)` for an object without one (or
/// one that does not decode, which `schema/types` reports), `None` for other kinds.
fn typed_pod_spec(obj: &Object) -> Option<Option<&core::PodSpec>> {
    fn template(t: Option<&core::PodTemplateSpec>) -> Option<&core::PodSpec> {
        t?.spec.as_ref()
    }
    Some(match obj.kind.as_str() {
        "Pod" => obj.typed::<core::Pod>().and_then(|p| p.spec.as_ref()),
        "Deployment" => template(
            obj.typed::<apps::Deployment>()
                .and_then(|d| Some(&d.spec.as_ref()?.template)),
        ),
        "StatefulSet" => template(
            obj.typed::<apps::StatefulSet>()
                .and_then(|d| Some(&d.spec.as_ref()?.template)),
        ),
        "DaemonSet" => template(
            obj.typed::<apps::DaemonSet>()
                .and_then(|d| Some(&d.spec.as_ref()?.template)),
        ),
        "ReplicaSet" => template(
            obj.typed::<apps::ReplicaSet>()
                .and_then(|d| d.spec.as_ref()?.template.as_ref()),
        ),
        "ReplicationController" => template(
            obj.typed::<core::ReplicationController>()
                .and_then(|d| d.spec.as_ref()?.template.as_ref()),
        ),
        "Job" => template(
            obj.typed::<batch::Job>()
                .and_then(|d| Some(&d.spec.as_ref()?.template)),
        ),
        "CronJob" => template(
            obj.typed::<batch::CronJob>()
                .and_then(|d| Some(&d.spec.as_ref()?.job_template.spec.as_ref()?.template)),
        ),
        _ => return None,
    })
}

/// The pod spec of a workload object, if it has one. A built-in kind is read typed (an
/// object that does not decode has none); the OpenTelemetry Operator's resource untyped.
pub fn pod_spec(obj: &Object) -> Option<PodSpec<'_>> {
    let b = &obj.body;
    let (path, long_running, operator_managed) = match obj.kind.as_str() {
        "Pod" => ("spec", false, false),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "ReplicationController" => {
            ("spec.template.spec", true, false)
        }
        "Job" => ("spec.template.spec", false, false),
        "CronJob" => ("spec.jobTemplate.spec.template.spec", false, false),
        OTEL_COLLECTOR_KIND => ("spec", true, true),
        _ => return None,
    };
    let (spec, template_meta) = match path {
        "spec" => (&b["spec"], &b["metadata"]),
        "spec.template.spec" => (
            &b["spec"]["template"]["spec"],
            &b["spec"]["template"]["metadata"],
        ),
        _ => {
            let t = &b["spec"]["jobTemplate"]["spec"]["template"];
            (&t["spec"], &t["metadata"])
        }
    };
    let typed = match typed_pod_spec(obj) {
        Some(typed) => Some(typed?),
        None if spec.is_object() => None,
        None => return None,
    };
    // A Pod runs until stopped unless its restartPolicy says otherwise.
    let long_running = long_running
        || (obj.kind == "Pod"
            && typed
                .and_then(|p| p.restart_policy.as_deref())
                .unwrap_or("Always")
                == "Always");
    Some(PodSpec {
        spec,
        typed,
        path: path.to_string(),
        long_running,
        operator_managed,
        template_meta,
    })
}

/// Every container of a pod spec: init containers first, then containers.
pub fn containers<'a>(pod: &PodSpec<'a>) -> Vec<Container<'a>> {
    let mut out = Vec::new();
    if let Some(typed) = pod.typed {
        // A built-in kind: the typed lists, each container with its body for untyped readers.
        let lists: [(&'a [core::Container], &str, bool); 2] = [
            (
                typed.init_containers.as_deref().unwrap_or_default(),
                "initContainers",
                true,
            ),
            (&typed.containers, "containers", false),
        ];
        for (items, key, init) in lists {
            for (i, c) in items.iter().enumerate() {
                let native_sidecar = c.restart_policy.as_deref() == Some("Always");
                out.push(Container {
                    body: &pod.spec[key][i],
                    typed: Some(c),
                    path: index(&join(&pod.path, key), i),
                    // A missing name decodes as empty.
                    name: if c.name.is_empty() {
                        "?".into()
                    } else {
                        c.name.clone()
                    },
                    init: init && !native_sidecar,
                });
            }
        }
        return out;
    }
    if pod.operator_managed {
        out.push(Container {
            body: pod.spec,
            typed: None,
            path: pod.path.clone(),
            name: "collector".into(),
            init: false,
        });
    }
    // The OpenTelemetry Operator's resource: its extra containers are lists of the spec.
    for (key, init) in [("initContainers", true), ("additionalContainers", false)] {
        for (i, c) in pod.spec[key].as_array().into_iter().flatten().enumerate() {
            let native_sidecar = c["restartPolicy"].as_str() == Some("Always");
            out.push(Container {
                body: c,
                typed: None,
                path: index(&join(&pod.path, key), i),
                name: c["name"].as_str().unwrap_or("?").to_string(),
                init: init && !native_sidecar,
            });
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
