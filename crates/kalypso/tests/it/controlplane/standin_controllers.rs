//! Stand-ins for the two controllers whose work a health gate depends on and that cannot run
//! under kwok (no container runs there):
//!
//! - **cert-manager's cainjector** fills `caBundle` of webhook configurations and CRD
//!   conversion webhooks annotated `cert-manager.io/inject-ca-from*`. Without it, the gate that
//!   waits for the CA (as the real cluster needs) would wait forever. It can be paused, so a
//!   test can hold a release at that gate.
//! - **the OpenTelemetry Operator** creates, for every `OpenTelemetryCollector`, the workload
//!   `<name>-collector` of its `spec.mode` (Deployment, DaemonSet or StatefulSet) and its
//!   ServiceAccount, owned by the collector resource as the operator does. The pod template
//!   carries the spec's security settings, so PodSecurity admission judges what the real
//!   operator would create.
//!
//! Everything else (Deployments, Jobs, scheduling, garbage collection) is the real
//! kube-controller-manager and kube-scheduler.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::ByteString;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::{json, Value};

/// The running stand-ins.
pub struct Running {
    stop: Arc<AtomicBool>,
    cainjector_paused: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Holds (true) or releases (false) the cainjector.
    pub fn pause_cainjector(&self, paused: bool) {
        self.cainjector_paused.store(paused, Ordering::SeqCst);
    }

    /// Stops both stand-ins.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.task.abort();
    }
}

/// Starts both stand-ins on `rt`; `ca_pem` is the CA they inject.
pub fn start(rt: &tokio::runtime::Runtime, client: kube::Client, ca_pem: &str) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let paused = Arc::new(AtomicBool::new(false));
    let ca = ca_pem.as_bytes().to_vec();
    let (s, p) = (stop.clone(), paused.clone());
    let task = rt.spawn(async move {
        while !s.load(Ordering::SeqCst) {
            if !p.load(Ordering::SeqCst) {
                inject_ca(&client, &ca).await;
            }
            reconcile_collectors(&client).await;
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    });
    Running {
        stop,
        cainjector_paused: paused,
        task,
    }
}

const INJECT: &[&str] = &[
    "cert-manager.io/inject-ca-from",
    "cert-manager.io/inject-ca-from-secret",
    "cert-manager.io/inject-apiserver-ca",
];

fn wants_ca(annotations: Option<&std::collections::BTreeMap<String, String>>) -> bool {
    annotations.is_some_and(|a| INJECT.iter().any(|k| a.contains_key(*k)))
}

fn missing(ca: &Option<ByteString>) -> bool {
    ca.as_ref().is_none_or(|b| b.0.is_empty())
}

async fn inject_ca(client: &kube::Client, ca: &[u8]) {
    let pp = PostParams::default();
    let vwc = Api::<ValidatingWebhookConfiguration>::all(client.clone());
    for mut o in vwc
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        let hooks = o.webhooks.get_or_insert_with(Vec::new);
        if wants_ca(o.metadata.annotations.as_ref())
            && hooks.iter().any(|w| missing(&w.client_config.ca_bundle))
        {
            for w in hooks.iter_mut() {
                w.client_config.ca_bundle = Some(ByteString(ca.to_vec()));
            }
            let name = o.metadata.name.clone().unwrap_or_default();
            let _ = vwc.replace(&name, &pp, &o).await;
        }
    }
    let mwc = Api::<MutatingWebhookConfiguration>::all(client.clone());
    for mut o in mwc
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        let hooks = o.webhooks.get_or_insert_with(Vec::new);
        if wants_ca(o.metadata.annotations.as_ref())
            && hooks.iter().any(|w| missing(&w.client_config.ca_bundle))
        {
            for w in hooks.iter_mut() {
                w.client_config.ca_bundle = Some(ByteString(ca.to_vec()));
            }
            let name = o.metadata.name.clone().unwrap_or_default();
            let _ = mwc.replace(&name, &pp, &o).await;
        }
    }
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    for mut o in crds
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        if !wants_ca(o.metadata.annotations.as_ref()) {
            continue;
        }
        let Some(cfg) = o
            .spec
            .conversion
            .as_mut()
            .and_then(|c| c.webhook.as_mut())
            .and_then(|w| w.client_config.as_mut())
        else {
            continue;
        };
        if missing(&cfg.ca_bundle) {
            cfg.ca_bundle = Some(ByteString(ca.to_vec()));
            let name = o.metadata.name.clone().unwrap_or_default();
            let _ = crds.replace(&name, &pp, &o).await;
        }
    }
}

fn collector_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("opentelemetry.io", "v1beta1", "OpenTelemetryCollector"),
        "opentelemetrycollectors",
    )
}

async fn reconcile_collectors(client: &kube::Client) {
    let api = Api::<DynamicObject>::all_with(client.clone(), &collector_resource());
    let Ok(list) = api.list(&ListParams::default()).await else {
        return; // no CRD (yet)
    };
    for cr in list.items {
        if cr.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let (Some(ns), Some(name), Some(uid)) = (
            cr.metadata.namespace.clone(),
            cr.metadata.name.clone(),
            cr.metadata.uid.clone(),
        ) else {
            continue;
        };
        let spec = cr.data.get("spec").cloned().unwrap_or(Value::Null);
        let mode = spec
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or("deployment");
        let (api_version, kind, plural) = match mode {
            "daemonset" => ("apps/v1", "DaemonSet", "daemonsets"),
            "statefulset" => ("apps/v1", "StatefulSet", "statefulsets"),
            "sidecar" => continue,
            _ => ("apps/v1", "Deployment", "deployments"),
        };
        let workload = format!("{name}-collector");
        let owner = json!([{
            "apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
            "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true
        }]);
        let labels = json!({
            "app.kubernetes.io/name": workload,
            "app.kubernetes.io/instance": format!("{ns}.{name}"),
            "app.kubernetes.io/managed-by": "opentelemetry-operator",
            "app.kubernetes.io/component": "opentelemetry-collector",
            "app.kubernetes.io/part-of": "opentelemetry",
        });
        let sa = spec
            .get("serviceAccount")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| workload.clone());
        let field = |k: &str| spec.get(k).cloned().unwrap_or(Value::Null);
        let mut container = json!({
            "name": "otc-container",
            "image": spec.get("image").and_then(Value::as_str)
                .unwrap_or("ghcr.io/open-telemetry/opentelemetry-collector-releases/opentelemetry-collector-k8s:0.158.0"),
            "args": ["--config=/conf/collector.yaml"],
        });
        for (from, to) in [
            ("resources", "resources"),
            ("securityContext", "securityContext"),
            ("env", "env"),
            ("envFrom", "envFrom"),
            ("volumeMounts", "volumeMounts"),
            ("ports", "ports"),
            ("livenessProbe", "livenessProbe"),
            ("readinessProbe", "readinessProbe"),
        ] {
            if !field(from).is_null() {
                container[to] = field(from);
            }
        }
        let mut pod_spec = json!({
            "serviceAccountName": sa,
            "containers": [container],
        });
        for (from, to) in [
            ("podSecurityContext", "securityContext"),
            ("volumes", "volumes"),
            ("hostNetwork", "hostNetwork"),
            ("hostPID", "hostPID"),
            ("tolerations", "tolerations"),
            ("nodeSelector", "nodeSelector"),
            ("priorityClassName", "priorityClassName"),
            ("affinity", "affinity"),
            ("topologySpreadConstraints", "topologySpreadConstraints"),
            ("initContainers", "initContainers"),
        ] {
            if !field(from).is_null() {
                pod_spec[to] = field(from);
            }
        }
        if let Some(auto) = spec.get("automountServiceAccountToken") {
            pod_spec["automountServiceAccountToken"] = auto.clone();
        }
        let mut body = json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": workload, "namespace": ns, "labels": labels, "ownerReferences": owner},
            "spec": {
                "selector": {"matchLabels": {
                    "app.kubernetes.io/component": "opentelemetry-collector",
                    "app.kubernetes.io/instance": format!("{ns}.{name}"),
                }},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            }
        });
        if kind != "DaemonSet" {
            body["spec"]["replicas"] = spec.get("replicas").cloned().unwrap_or(json!(1));
        }
        if kind == "StatefulSet" {
            body["spec"]["serviceName"] = json!(workload);
        }
        let pp = PatchParams::apply("kalypso-test-otel-operator-standin").force();
        if spec.get("serviceAccount").is_none() {
            let sa_obj = json!({
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": workload, "namespace": ns, "ownerReferences": owner},
            });
            let sa_api = Api::<DynamicObject>::namespaced_with(
                client.clone(),
                &ns,
                &ApiResource::from_gvk_with_plural(
                    &GroupVersionKind::gvk("", "v1", "ServiceAccount"),
                    "serviceaccounts",
                ),
            );
            let _ = sa_api.patch(&workload, &pp, &Patch::Apply(&sa_obj)).await;
        }
        let res =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", kind), plural);
        let wl = Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &res);
        let _ = wl.patch(&workload, &pp, &Patch::Apply(&body)).await;
    }
}
