//! Realistic Kubernetes JSON for the fake API: each builder returns the object as the API
//! server would serve it (apiVersion, kind, metadata, spec, status), pending and ready.

use std::time::Duration;

use serde_json::{json, Value};

use super::api::Obj;

fn meta(name: &str, ns: Option<&str>, release: &str) -> Value {
    let mut m = json!({
        "name": name, "uid": format!("uid-{name}"), "resourceVersion": "1000", "generation": 1,
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "labels": {"app.kubernetes.io/instance": release, "app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "Helm"},
        "annotations": {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": ns.unwrap_or("default")}
    });
    if let Some(ns) = ns {
        m["namespace"] = json!(ns);
    }
    m
}

fn pod_template(name: &str) -> Value {
    json!({"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": format!("example/{name}:1.0.0")}]}})
}

/// A Deployment of one replica: pending = new ReplicaSet created, pod not available.
pub fn deployment(ns: &str, name: &str, release: &str) -> (Value, Value) {
    let base = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name, Some(ns), release),
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": pod_template(name),
                 "strategy": {"type": "RollingUpdate"}, "progressDeadlineSeconds": 600}
    });
    let mut pending = base.clone();
    pending["status"] = json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1,
        "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
                       {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]});
    let mut ready = base;
    ready["status"] = json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
        "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                       {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]});
    (pending, ready)
}

/// A StatefulSet of one replica: pending = not ready and still on the old revision.
pub fn statefulset(ns: &str, name: &str, release: &str) -> (Value, Value) {
    let base = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(name, Some(ns), release),
        "spec": {"replicas": 1, "serviceName": name, "selector": {"matchLabels": {"app": name}}, "template": pod_template(name),
                 "updateStrategy": {"type": "RollingUpdate"}}
    });
    let mut pending = base.clone();
    pending["status"] = json!({"observedGeneration": 1, "replicas": 1, "readyReplicas": 0, "updatedReplicas": 1,
        "currentRevision": format!("{name}-old"), "updateRevision": format!("{name}-new")});
    let mut ready = base;
    ready["status"] = json!({"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1,
        "currentReplicas": 1, "currentRevision": format!("{name}-new"), "updateRevision": format!("{name}-new")});
    (pending, ready)
}

/// A Job: pending = active; ready = Complete.
pub fn job(ns: &str, name: &str, release: &str) -> (Value, Value) {
    let base = json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": meta(name, Some(ns), release),
        "spec": {"backoffLimit": 2, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": format!("uid-{name}")}},
                 "template": pod_template(name)}
    });
    let mut pending = base.clone();
    pending["status"] = json!({"active": 1, "startTime": "2026-01-01T00:00:01Z"});
    let mut ready = base;
    ready["status"] = json!({"succeeded": 1, "startTime": "2026-01-01T00:00:01Z", "completionTime": "2026-01-01T00:00:09Z",
        "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]});
    (pending, ready)
}

/// A Job that failed for good.
pub fn failed_job(ns: &str, name: &str, release: &str) -> Value {
    let (mut v, _) = job(ns, name, release);
    v["status"] = json!({"failed": 3, "startTime": "2026-01-01T00:00:01Z",
        "conditions": [{"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
                       {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]});
    v
}

/// A CRD: pending = names accepted, not Established yet.
pub fn crd(name: &str, release: &str) -> (Value, Value) {
    let (plural, group) = name.split_once('.').unwrap_or((name, "example.io"));
    let base = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": meta(name, None, release),
        "spec": {"group": group, "scope": "Namespaced", "names": {"plural": plural, "kind": "Thing", "listKind": "ThingList", "singular": "thing"},
                 "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}
    });
    let mut pending = base.clone();
    pending["status"] = json!({"conditions": [{"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
        {"type": "Established", "status": "False", "reason": "Installing"}], "acceptedNames": {"plural": plural, "kind": "Thing"}, "storedVersions": ["v1"]});
    let mut ready = base;
    ready["status"] = json!({"conditions": [{"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}], "acceptedNames": {"plural": plural, "kind": "Thing"}, "storedVersions": ["v1"]});
    (pending, ready)
}

/// A pod of workload `app` (label `app=<app>`), ready or not, with restarts and an optional
/// waiting reason for its container.
pub fn pod(
    ns: &str,
    name: &str,
    app: &str,
    ready: bool,
    restarts: i32,
    waiting: Option<&str>,
) -> Value {
    let state = match waiting {
        Some(reason) => {
            json!({"waiting": {"reason": reason, "message": format!("back-off 5m0s restarting failed container={app} pod={name}")}})
        }
        None if ready => json!({"running": {"startedAt": "2026-01-01T00:00:05Z"}}),
        None => json!({"running": {"startedAt": "2026-01-01T00:00:05Z"}}),
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "labels": {"app": app, "app.kubernetes.io/instance": "x"}},
        "spec": {"containers": [{"name": app, "image": format!("example/{app}:1.0.0")}], "nodeName": "kind-control-plane"},
        "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "containerStatuses": [{"name": app, "image": format!("example/{app}:1.0.0"), "imageID": "", "ready": ready, "started": ready,
                "restartCount": restarts, "state": state,
                "lastState": if restarts > 0 { json!({"terminated": {"exitCode": 1, "reason": "Error"}}) } else { json!({}) }}]}
    })
}

/// A core/v1 Event about `kind/name`.
pub fn event(
    ns: &str,
    kind: &str,
    name: &str,
    type_: &str,
    reason: &str,
    message: &str,
    at: &str,
) -> Value {
    json!({"apiVersion": "v1", "kind": "Event",
           "metadata": {"name": format!("{name}.{reason}.{at}").to_lowercase().replace(':', ""), "namespace": ns},
           "involvedObject": {"kind": kind, "name": name, "namespace": ns},
           "reason": reason, "message": message, "type": type_, "count": 3,
           "firstTimestamp": at, "lastTimestamp": at, "source": {"component": "kubelet"}})
}

/// A node with a kernel and architecture.
pub fn node(name: &str, kernel: &str, arch: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/arch": arch, "kubernetes.io/os": "linux"}},
           "status": {"nodeInfo": {"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": kernel, "osImage": "Debian GNU/Linux 12 (bookworm)",
               "containerRuntimeVersion": "containerd://2.1.1", "kubeletVersion": "v1.33.1", "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": arch},
               "conditions": [{"type": "Ready", "status": "True"}]}})
}

/// A StorageClass, default or not.
pub fn storage_class(name: &str, default: bool) -> Value {
    let mut v = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
                       "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"});
    if default {
        v["metadata"]["annotations"] =
            json!({"storageclass.kubernetes.io/is-default-class": "true"});
    }
    v
}

/// A namespace.
pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
}

/// A PersistentVolumeClaim.
pub fn pvc(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": ns},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}, "status": {"phase": "Bound"}})
}

/// A ConfigMap.
pub fn configmap(ns: &str, name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data})
}

/// Pending + ready pair as an object flipping `delay` after `release` is installed.
pub fn flip(pair: (Value, Value), release: &str, delay: Duration) -> Obj {
    Obj::flipping(pair.0, pair.1, release, delay)
}

/// The manifest `helm get manifest` would print for these objects (JSON is YAML).
pub fn manifest(objects: &[&Value]) -> String {
    objects
        .iter()
        .map(|v| {
            let head = json!({"apiVersion": v["apiVersion"], "kind": v["kind"], "metadata": {"name": v["metadata"]["name"], "namespace": v["metadata"]["namespace"]}});
            let mut head = head;
            if head["metadata"]["namespace"].is_null() {
                head["metadata"].as_object_mut().map(|m| m.remove("namespace"));
            }
            format!("---\n# Source: chart/templates/{}.yaml\n{head}\n", v["kind"].as_str().unwrap_or("x").to_lowercase())
        })
        .collect()
}
