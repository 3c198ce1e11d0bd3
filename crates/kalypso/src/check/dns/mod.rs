//! `wiring/dns`: every in-cluster DNS name the stack uses resolves to a rendered Service that
//! exposes the port used.

pub mod extract;

use std::collections::BTreeSet;

use extract::PortUse;
use serde_json::Value;

use super::context::{Context, DnsUse};
use super::finding::{Finding, Severity};
use crate::manifest::Object;

/// Rule id.
pub const RULE: &str = "wiring/dns";

/// Services every cluster provides: (service, namespace).
pub const CLUSTER_SERVICES: &[(&str, &str)] =
    &[("kubernetes", "default"), ("kube-dns", "kube-system")];

/// The Service a DNS use resolves to, if rendered.
pub fn target<'a>(ctx: &'a Context, u: &DnsUse) -> Option<&'a Object> {
    ctx.manifest.get(
        "Service",
        Some(&u.reference.namespace),
        &u.reference.service,
    )
}

/// Checks every DNS use.
pub fn check(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for u in &ctx.dns {
        let r = &u.reference;
        if !seen.insert((u.object, u.field.clone(), r.address.clone())) {
            continue;
        }
        if CLUSTER_SERVICES.contains(&(r.service.as_str(), r.namespace.as_str())) {
            continue;
        }
        let obj = &ctx.manifest.objects[u.object];
        if ctx
            .policy
            .external("Service", &r.namespace, &r.service)
            .is_some()
        {
            continue;
        }
        if !ctx.namespaces.contains(&r.namespace) {
            out.push(Finding::new(
                RULE,
                Severity::Info,
                obj,
                &u.field,
                format!(
                    "{} is unresolvable here: namespace {} is not part of the input",
                    r.address, r.namespace
                ),
            ));
            continue;
        }
        let Some(svc) = target(ctx, u) else {
            match ctx.partial_reason(&r.namespace) {
                Some(why) => out.push(Finding::new(
                    RULE,
                    Severity::Info,
                    obj,
                    &u.field,
                    format!(
                        "{} not verified: no Service {} in {} ({why})",
                        r.address, r.service, r.namespace
                    ),
                )),
                None => out.push(Finding::new(
                    RULE,
                    Severity::Error,
                    obj,
                    &u.field,
                    format!(
                        "{} points at Service {}/{}, which the stack does not render",
                        r.address, r.namespace, r.service
                    ),
                )),
            }
            continue;
        };
        if let Some(problem) = port_problem(svc, &r.port, r.per_pod) {
            out.push(Finding::new(
                RULE,
                Severity::Error,
                obj,
                &u.field,
                format!("{}: {problem}", r.address),
            ));
        }
    }
    out
}

/// Why a Service does not serve the port used, if it does not.
pub fn port_problem(svc: &Object, port: &PortUse, per_pod: bool) -> Option<String> {
    let ports: Vec<&Value> = svc.body["spec"]["ports"]
        .as_array()
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    let headless = svc.body["spec"]["clusterIP"].as_str() == Some("None");
    let listing = || {
        let list: Vec<String> = ports
            .iter()
            .map(|p| match p["name"].as_str() {
                Some(n) => format!("{} ({n})", p["port"]),
                None => p["port"].to_string(),
            })
            .collect();
        if list.is_empty() {
            "no ports".to_string()
        } else {
            format!("ports {}", list.join(", "))
        }
    };
    let name = format!(
        "Service {}/{}",
        svc.namespace.as_deref().unwrap_or(""),
        svc.name
    );
    let serves = |n: u32| {
        ports.iter().any(|p| {
            p["port"].as_u64() == Some(n as u64)
                // Headless names resolve to pod IPs: the pod's port is what is reached.
                || ((headless || per_pod) && p["targetPort"].as_u64() == Some(n as u64))
        })
    };
    match port {
        PortUse::Number(n) => {
            (!serves(*n)).then(|| format!("{name} has no port {n} ({})", listing()))
        }
        PortUse::SchemeDefault(n, scheme) => (!serves(*n)).then(|| {
            format!(
                "{name} has no port {n} (the default for {scheme}:// without a port; {})",
                listing()
            )
        }),
        PortUse::Named(want) => {
            (!ports.iter().any(|p| p["name"].as_str() == Some(want))).then(|| {
                format!(
                    "{name} has no port named {want} for the SRV lookup ({})",
                    listing()
                )
            })
        }
        PortUse::Unknown => None,
    }
}
