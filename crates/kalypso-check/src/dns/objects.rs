//! `wiring/service`: the Services that Kubernetes objects name in structured fields, rather
//! than in an address: Ingress backends, Gateway API route `backendRefs`, Istio
//! `VirtualService` destinations and `DestinationRule` hosts, the Alertmanager Services of a
//! prometheus-operator `Prometheus` (`spec.alerting.alertmanagers`), a StatefulSet's governing
//! `spec.serviceName`, an `APIService`'s `spec.service`, and the `clientConfig.service` of
//! admission webhooks and CRD conversion webhooks. Each must name a Service the stack renders
//! (or an operator makes), with the port used.

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ServiceReference as WebhookService,
    ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use serde_json::Value;

use super::super::context::Context;
use super::super::finding::{Finding, Severity};
use kalypso_model::manifest::walk::{index, join};
use kalypso_model::manifest::Object;

/// Rule id.
pub const RULE: &str = "wiring/service";

/// Which port of the Service a reference uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    Number(u64),
    Name(String),
    /// The reference says nothing about the port (a StatefulSet's `serviceName`).
    Any,
}

/// One structured reference to a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    /// Index of the referring object in the manifest.
    pub object: usize,
    pub field: String,
    pub namespace: String,
    pub service: String,
    pub port: PortRef,
}

fn port_of(v: &Value) -> PortRef {
    if let Some(n) = v.as_u64() {
        PortRef::Number(n)
    } else if let Some(s) = v.as_str() {
        port_named(s)
    } else {
        PortRef::Any
    }
}

/// A port given by name, or by a number written as text.
fn port_named(s: &str) -> PortRef {
    match s.parse() {
        Ok(n) => PortRef::Number(n),
        Err(_) => PortRef::Name(s.to_string()),
    }
}

/// A port given by number (a negative one says nothing).
fn port_number(n: i32) -> PortRef {
    u64::try_from(n).map_or(PortRef::Any, PortRef::Number)
}

/// Every structured Service reference of the manifest.
pub fn references(ctx: &Context) -> Vec<ServiceRef> {
    let mut out = Vec::new();
    for (i, obj) in ctx.manifest.objects.iter().enumerate() {
        let ns = obj.namespace.clone().unwrap_or_default();
        let mut push = |field: String, namespace: &str, service: &str, port: PortRef| {
            if !service.is_empty() {
                out.push(ServiceRef {
                    object: i,
                    field,
                    namespace: namespace.to_string(),
                    service: service.to_string(),
                    port,
                });
            }
        };
        let spec = &obj.body["spec"];
        match (obj.group(), obj.kind.as_str()) {
            ("networking.k8s.io" | "extensions", "Ingress") => {
                match obj.typed::<Ingress>() {
                    Some(ing) => {
                        if let Some(spec) = &ing.spec {
                            ingress(spec, &ns, &mut push);
                        }
                    }
                    // extensions/v1beta1 and networking.k8s.io/v1beta1 have no k8s-openapi type.
                    None if obj.api_version != "networking.k8s.io/v1" => {
                        legacy_ingress(spec, &ns, &mut push);
                    }
                    None => {}
                }
            }
            ("gateway.networking.k8s.io", kind) if kind.ends_with("Route") => {
                for (r, rule) in array(&spec["rules"]) {
                    let base = index("spec.rules", r);
                    for (b, backend) in array(&rule["backendRefs"]) {
                        gateway_backend(
                            backend,
                            &index(&join(&base, "backendRefs"), b),
                            &ns,
                            &mut push,
                        );
                    }
                    for (f, filter) in array(&rule["filters"]) {
                        let at = join(&index(&join(&base, "filters"), f), "requestMirror");
                        gateway_backend(
                            &filter["requestMirror"]["backendRef"],
                            &join(&at, "backendRef"),
                            &ns,
                            &mut push,
                        );
                    }
                }
            }
            ("networking.istio.io", "VirtualService") => {
                for section in ["http", "tcp", "tls"] {
                    for (r, route) in array(&spec[section]) {
                        let base = index(&join("spec", section), r);
                        for (d, dest) in array(&route["route"]) {
                            let at = join(&index(&join(&base, "route"), d), "destination");
                            istio_host(ctx, &dest["destination"], &at, &ns, &mut push);
                        }
                        istio_host(
                            ctx,
                            &route["mirror"],
                            &join(&base, "mirror"),
                            &ns,
                            &mut push,
                        );
                    }
                }
            }
            ("networking.istio.io", "DestinationRule") => {
                if let Some(host) = spec["host"].as_str() {
                    if let Some((svc, svc_ns)) = istio_service(ctx, host, &ns) {
                        push("spec.host".into(), &svc_ns, &svc, PortRef::Any);
                    }
                }
            }
            ("monitoring.coreos.com", "Prometheus" | "PrometheusAgent" | "ThanosRuler") => {
                // prometheus-operator discovers the Alertmanagers behind these Services.
                for (a, am) in array(&spec["alerting"]["alertmanagers"]) {
                    if let Some(name) = am["name"].as_str() {
                        let am_ns = am["namespace"].as_str().unwrap_or(&ns);
                        let at = join(&index("spec.alerting.alertmanagers", a), "name");
                        push(at, am_ns, name, port_of(&am["port"]));
                    }
                }
            }
            ("apps", "StatefulSet") => {
                let spec = obj.typed::<StatefulSet>().and_then(|s| s.spec.as_ref());
                if let Some(name) = spec.and_then(|s| s.service_name.as_deref()) {
                    push("spec.serviceName".into(), &ns, name, PortRef::Any);
                }
            }
            ("apiregistration.k8s.io", "APIService") => {
                let spec = obj.typed::<APIService>().and_then(|a| a.spec.as_ref());
                if let Some(s) = spec.and_then(|s| s.service.as_ref()) {
                    let (name, namespace) = (s.name.as_deref(), s.namespace.as_deref());
                    webhook_service(name, namespace, s.port, "spec.service", &mut push);
                }
            }
            ("admissionregistration.k8s.io", kind) if kind.ends_with("WebhookConfiguration") => {
                // The two kinds are distinct types with the same webhook client config.
                let services: Vec<_> = if kind == "MutatingWebhookConfiguration" {
                    let c = obj.typed::<MutatingWebhookConfiguration>();
                    let hooks = c.and_then(|c| c.webhooks.as_ref()).into_iter().flatten();
                    hooks.map(|h| h.client_config.service.as_ref()).collect()
                } else {
                    let c = obj.typed::<ValidatingWebhookConfiguration>();
                    let hooks = c.and_then(|c| c.webhooks.as_ref()).into_iter().flatten();
                    hooks.map(|h| h.client_config.service.as_ref()).collect()
                };
                for (w, service) in services.into_iter().enumerate() {
                    let at = join(&index("webhooks", w), "clientConfig.service");
                    admission_service(service, &at, &mut push);
                }
            }
            ("apiextensions.k8s.io", "CustomResourceDefinition") => {
                let service = obj
                    .typed::<CustomResourceDefinition>()
                    .and_then(|c| c.spec.conversion.as_ref()?.webhook.as_ref())
                    .and_then(|w| w.client_config.as_ref()?.service.as_ref());
                if let Some(s) = service {
                    webhook_service(
                        Some(&s.name),
                        Some(&s.namespace),
                        s.port,
                        "spec.conversion.webhook.clientConfig.service",
                        &mut push,
                    );
                }
            }
            _ => {}
        }
    }
    out
}

fn array(v: &Value) -> impl Iterator<Item = (usize, &Value)> {
    v.as_array().into_iter().flatten().enumerate()
}

type Push<'p> = dyn FnMut(String, &str, &str, PortRef) + 'p;

fn ingress(spec: &IngressSpec, ns: &str, push: &mut Push<'_>) {
    let mut backend = |b: &IngressBackend, at: String| {
        if let Some(s) = &b.service {
            let port = s.port.as_ref();
            let port = match (
                port.and_then(|p| p.number),
                port.and_then(|p| p.name.as_deref()),
            ) {
                (Some(n), _) if n >= 0 => port_number(n),
                (_, Some(name)) => port_named(name),
                _ => PortRef::Any,
            };
            push(join(&at, "service.name"), ns, &s.name, port);
        }
    };
    if let Some(b) = &spec.default_backend {
        backend(b, "spec.defaultBackend".into());
    }
    for (r, rule) in spec.rules.iter().flatten().enumerate() {
        let paths = rule.http.as_ref().map(|h| &h.paths).into_iter().flatten();
        for (p, path) in paths.enumerate() {
            let at = join(
                &index(&join(&index("spec.rules", r), "http.paths"), p),
                "backend",
            );
            backend(&path.backend, at);
        }
    }
}

/// An `extensions/v1beta1` or `networking.k8s.io/v1beta1` Ingress (`serviceName`,
/// `servicePort`), which k8s-openapi has no type for.
fn legacy_ingress(spec: &Value, ns: &str, push: &mut Push<'_>) {
    let mut backend = |b: &Value, at: String| {
        if let Some(name) = b["serviceName"].as_str() {
            push(
                join(&at, "serviceName"),
                ns,
                name,
                port_of(&b["servicePort"]),
            );
        }
    };
    backend(&spec["backend"], "spec.backend".into());
    for (r, rule) in array(&spec["rules"]) {
        for (p, path) in array(&rule["http"]["paths"]) {
            let at = join(
                &index(&join(&index("spec.rules", r), "http.paths"), p),
                "backend",
            );
            backend(&path["backend"], at);
        }
    }
}

fn gateway_backend(b: &Value, at: &str, ns: &str, push: &mut Push<'_>) {
    let group = b["group"].as_str().unwrap_or("");
    let kind = b["kind"].as_str().unwrap_or("Service");
    if !group.is_empty() || kind != "Service" {
        return;
    }
    if let Some(name) = b["name"].as_str() {
        let target_ns = b["namespace"].as_str().unwrap_or(ns);
        push(join(at, "name"), target_ns, name, port_of(&b["port"]));
    }
}

/// An admission webhook's Service.
fn admission_service(s: Option<&WebhookService>, at: &str, push: &mut Push<'_>) {
    if let Some(s) = s {
        webhook_service(Some(&s.name), Some(&s.namespace), s.port, at, push);
    }
}

/// A webhook's or APIService's Service: both name and namespace are required (a missing one
/// decodes as empty), the port defaults to 443.
fn webhook_service(
    name: Option<&str>,
    namespace: Option<&str>,
    port: Option<i32>,
    at: &str,
    push: &mut Push<'_>,
) {
    let namespace = namespace.filter(|n| !n.is_empty());
    if let (Some(name), Some(ns)) = (name, namespace) {
        push(
            join(at, "name"),
            ns,
            name,
            port.map_or(PortRef::Number(443), port_number),
        );
    }
}

fn istio_host(ctx: &Context, dest: &Value, at: &str, ns: &str, push: &mut Push<'_>) {
    let Some(host) = dest["host"].as_str() else {
        return;
    };
    if let Some((svc, svc_ns)) = istio_service(ctx, host, ns) {
        push(
            join(at, "host"),
            &svc_ns,
            &svc,
            port_of(&dest["port"]["number"]),
        );
    }
}

/// The Kubernetes Service an Istio host names: `svc` (the referring object's namespace),
/// `svc.ns` (for a namespace of the input) or `svc.ns.svc[.cluster.local]`. Wildcards, hosts
/// a `ServiceEntry` declares and other domains are not Services.
pub fn istio_service(ctx: &Context, host: &str, ns: &str) -> Option<(String, String)> {
    if host.contains('*') || service_entry_declares(ctx, host) {
        return None;
    }
    let trimmed = host.trim_end_matches('.');
    let trimmed = trimmed
        .strip_suffix(".cluster.local")
        .unwrap_or(trimmed)
        .trim_end_matches(".svc");
    let labels: Vec<&str> = trimmed.split('.').collect();
    let fqdn = host.trim_end_matches('.').ends_with(".svc.cluster.local")
        || host.trim_end_matches('.').ends_with(".svc");
    match labels.as_slice() {
        [svc] => Some((svc.to_string(), ns.to_string())),
        [svc, svc_ns] if fqdn || ctx.namespaces.contains(*svc_ns) => {
            Some((svc.to_string(), svc_ns.to_string()))
        }
        _ => None,
    }
}

fn service_entry_declares(ctx: &Context, host: &str) -> bool {
    ctx.manifest.of_kind("ServiceEntry").any(|se| {
        se.body["spec"]["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|h| h.as_str() == Some(host))
    })
}

/// Checks every structured Service reference.
pub fn check(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in references(ctx) {
        let obj = &ctx.manifest.objects[r.object];
        if let Some(f) = problem(ctx, obj, &r) {
            out.push(f);
        }
    }
    out
}

fn problem(ctx: &Context, obj: &Object, r: &ServiceRef) -> Option<Finding> {
    let what = format!(
        "{} {}/{}",
        obj.kind,
        obj.namespace.as_deref().unwrap_or("-"),
        obj.name
    );
    if super::CLUSTER_SERVICES.contains(&(r.service.as_str(), r.namespace.as_str()))
        || ctx
            .policy
            .external("Service", &r.namespace, &r.service)
            .is_some()
    {
        return None;
    }
    let finding =
        |severity, message: String| Some(Finding::new(RULE, severity, obj, &r.field, message));
    if !ctx.namespaces.contains(&r.namespace) {
        return finding(
            Severity::Info,
            format!(
                "{what} names Service {}/{}: namespace {} is not part of the input",
                r.namespace, r.service, r.namespace
            ),
        );
    }
    let Some(svc) = ctx.services.get(&(r.namespace.clone(), r.service.clone())) else {
        if let Some(why) = ctx.partial_reason(&r.namespace) {
            return finding(
                Severity::Info,
                format!(
                    "{what} names Service {}/{}, not verified ({why})",
                    r.namespace, r.service
                ),
            );
        }
        if let Some(cr) = ctx.operator_guess(&r.namespace, &r.service) {
            return finding(
                Severity::Info,
                format!(
                    "{what} names Service {}/{}, which is not rendered: probably made by the operator of {}/{}",
                    r.namespace, r.service, cr.kind, cr.name
                ),
            );
        }
        // A StatefulSet runs without its governing Service; only its pods' DNS names
        // (`pod-0.svc`) are missing, and `wiring/dns` reports every use of those.
        if r.field == "spec.serviceName" {
            return finding(
                Severity::Warning,
                format!(
                    "{what} names Service {}/{} as its governing Service, which the stack does not render: its pods get no DNS names",
                    r.namespace, r.service
                ),
            );
        }
        return finding(
            Severity::Error,
            format!(
                "{what} names Service {}/{}, which the stack does not render",
                r.namespace, r.service
            ),
        );
    };
    let listing = || {
        svc.ports
            .iter()
            .map(|p| match &p.name {
                Some(n) => format!("{} ({n})", p.port),
                None => p.port.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let missing = match &r.port {
        PortRef::Any => None,
        PortRef::Number(n) => {
            (!svc.ports.iter().any(|p| p.port == *n)).then(|| format!("no port {n}"))
        }
        PortRef::Name(name) => (!svc
            .ports
            .iter()
            .any(|p| p.name.as_deref() == Some(name.as_str())))
        .then(|| format!("no port named {name}")),
    };
    missing.and_then(|m| {
        finding(
            Severity::Error,
            format!(
                "{what} uses Service {}/{}, which has {m} (ports: {})",
                r.namespace,
                r.service,
                if svc.ports.is_empty() {
                    "none".to_string()
                } else {
                    listing()
                }
            ),
        )
    })
}
