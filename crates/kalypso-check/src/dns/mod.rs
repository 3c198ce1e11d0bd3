//! `wiring/dns`: every in-cluster DNS name the stack uses resolves to a rendered Service that
//! exposes the port used.

pub mod alloy;
pub mod extract;
pub mod nginx;
pub mod objects;

use std::collections::BTreeSet;

use extract::PortUse;

use super::context::{Context, DnsUse};
use super::finding::{Finding, Severity};
use super::services::ServiceView;

/// Rule id.
pub const RULE: &str = "wiring/dns";

/// Services every cluster provides: (service, namespace).
pub const CLUSTER_SERVICES: &[(&str, &str)] =
    &[("kubernetes", "default"), ("kube-dns", "kube-system")];

/// The Service a DNS use resolves to, if the stack has it.
pub fn target<'a>(ctx: &'a Context, u: &DnsUse) -> Option<&'a ServiceView> {
    ctx.services
        .get(&(u.reference.namespace.clone(), u.reference.service.clone()))
}

/// Checks every DNS use.
pub fn check(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for u in ctx.dns.iter().chain(&ctx.short_dns) {
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
                None => match ctx.operator_guess(&r.namespace, &r.service) {
                    Some(cr) => out.push(Finding::new(
                        RULE,
                        Severity::Info,
                        obj,
                        &u.field,
                        format!(
                            "{} points at Service {}/{}, which is not rendered: probably made by the operator of {}/{}",
                            r.address, r.namespace, r.service, cr.kind, cr.name
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
                },
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
pub fn port_problem(svc: &ServiceView, port: &PortUse, per_pod: bool) -> Option<String> {
    let listing = || {
        let list: Vec<String> = svc
            .ports
            .iter()
            .map(|p| match &p.name {
                Some(n) => format!("{} ({n})", p.port),
                None => p.port.to_string(),
            })
            .collect();
        if list.is_empty() {
            "no ports".to_string()
        } else {
            format!("ports {}", list.join(", "))
        }
    };
    let name = match &svc.made_from {
        Some(from) => format!(
            "Service {}/{} (made by the operator for {from})",
            svc.namespace, svc.name
        ),
        None => format!("Service {}/{}", svc.namespace, svc.name),
    };
    let serves = |n: u32| {
        svc.ports.iter().any(|p| {
            p.port == n as u64
                // Headless names resolve to pod IPs: the pod's port is what is reached.
                || ((svc.headless || per_pod) && p.target_port == Some(n as u64))
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
        PortUse::Named(want) => (!svc
            .ports
            .iter()
            .any(|p| p.name.as_deref() == Some(want.as_str())))
        .then(|| {
            format!(
                "{name} has no port named {want} for the SRV lookup ({})",
                listing()
            )
        }),
        PortUse::Unknown => None,
    }
}
