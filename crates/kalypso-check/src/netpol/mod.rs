//! `wiring/netpol`: every wire the stack uses is allowed by the NetworkPolicies of both ends.
//!
//! A wire is an in-cluster address an object uses (the `wiring/dns` references) that resolves
//! to a rendered Service: its sources are the pods that use it (the workload itself, the
//! workloads that mount or reference the ConfigMap or Secret holding it, the pods an operator
//! makes from a custom resource), its targets the pods the Service selects, on the container
//! port behind the Service port. Each (source, target) pair must pass the target's ingress
//! policies and the source's egress policies, evaluated as Kubernetes does: a pod is isolated
//! in a direction when a policy of its namespace selects it for that direction, and is then
//! reachable only through a rule whose peers match the other pod (pod and namespace
//! selectors, with namespaces labelled `kubernetes.io/metadata.name`) and whose ports match
//! the target container's port number or name.
//!
//! Scrapes are wires too: the pods a collector's Prometheus receiver finds through Kubernetes
//! service discovery, on the port its relabelling leaves ([`scrape`]).
//!
//! A cross-namespace ingress rule that no wire uses is reported as info: it opens a flow the
//! stack does not need (rules for the API server, the kubelet or pods of the same namespace
//! are not counted: those flows are not wires).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use kalypso_model::manifest::selector::{Labels, Selector};

use super::context::{Context, DnsUse};
use super::dns::extract::PortUse;
use super::finding::{Finding, Severity};
use kalypso_model::manifest::workload::{collector_workload, pod_spec, OTEL_COLLECTOR_KIND};
use kalypso_model::manifest::Object;

mod scrape;

pub(crate) use scrape::ScrapedTarget;

/// Every target the collectors' Prometheus receivers scrape, with its final labels (rule
/// selfmon/selectors matches the self-monitoring selectors against them).
pub(crate) fn scraped_targets(ctx: &Context) -> Vec<ScrapedTarget> {
    scrape::targets(&pod_groups(ctx))
}

/// Rule id.
pub const RULE: &str = "wiring/netpol";

/// The label every namespace carries with its own name (Kubernetes 1.22+).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Pods of one workload, as policies (and service discovery) see them.
struct PodGroup<'a> {
    object: &'a Object,
    namespace: String,
    labels: Labels,
    annotations: Labels,
    /// Container ports: (name, number).
    ports: Vec<(Option<String>, u64)>,
    /// Each container (not init containers) with its ports: (name, number, protocol).
    containers: Vec<(String, Vec<ContainerPort>)>,
    /// On the node's network: NetworkPolicies do not govern it (the CNIs ignore such pods).
    host_network: bool,
}

/// A declared container port: (name, number, protocol).
type ContainerPort = (Option<String>, u64, String);

/// One peer of a rule.
#[derive(Debug, Clone)]
enum Peer {
    /// Pods (of the policy's namespace, or of the namespaces the selector picks).
    Pods {
        namespaces: Option<Selector>,
        pods: Option<Selector>,
    },
    /// An address block: matches every pod only for 0.0.0.0/0 or ::/0.
    Block { all: bool },
}

/// One port of a rule: a protocol (TCP when not given) and which of its ports.
#[derive(Debug, Clone)]
struct RulePort {
    tcp: bool,
    port: PortRange,
}

#[derive(Debug, Clone)]
enum PortRange {
    /// No `port`: every port of the protocol.
    All,
    Number(u64, Option<u64>),
    Name(String),
}

#[derive(Debug, Clone)]
struct Rule {
    peers: Vec<Peer>,
    ports: Vec<RulePort>,
}

struct Policy<'a> {
    object: &'a Object,
    namespace: String,
    selects: Selector,
    ingress: Option<Vec<Rule>>,
    egress: Option<Vec<Rule>>,
}

/// One ingress or egress rule: its peers (`from` or `to`) and ports.
fn parse_rule(
    peers: Option<&Vec<NetworkPolicyPeer>>,
    ports: Option<&Vec<NetworkPolicyPort>>,
) -> Rule {
    Rule {
        peers: peers
            .into_iter()
            .flatten()
            .map(|p| match &p.ip_block {
                Some(block) => Peer::Block {
                    all: block.cidr == "0.0.0.0/0" || block.cidr == "::/0",
                },
                None => Peer::Pods {
                    namespaces: p
                        .namespace_selector
                        .as_ref()
                        .map(Selector::from_label_selector),
                    pods: p.pod_selector.as_ref().map(Selector::from_label_selector),
                },
            })
            .collect(),
        // A rule whose ports are all of another protocol allows no TCP wire: the entries
        // are kept (not filtered out), so that such a rule does not read as "every port".
        ports: ports
            .into_iter()
            .flatten()
            .map(|p| RulePort {
                tcp: p.protocol.as_deref().unwrap_or("TCP") == "TCP",
                port: match &p.port {
                    // A negative number (the API server refuses it) matches nothing.
                    Some(IntOrString::Int(n)) => PortRange::Number(
                        u64::try_from(*n).unwrap_or(u64::MAX),
                        p.end_port.and_then(|e| u64::try_from(e).ok()),
                    ),
                    Some(IntOrString::String(s)) => PortRange::Name(s.clone()),
                    None => PortRange::All,
                },
            })
            .collect(),
    }
}

/// A policy without a spec: it selects every pod of its namespace for ingress.
static NO_SPEC: NetworkPolicySpec = NetworkPolicySpec {
    egress: None,
    ingress: None,
    pod_selector: None,
    policy_types: None,
};

fn policies<'a>(ctx: &Context<'a>) -> Vec<Policy<'a>> {
    ctx.manifest
        .of_kind("NetworkPolicy")
        .filter_map(|o| {
            let spec = o.typed::<NetworkPolicy>()?.spec.as_ref();
            let spec = spec.unwrap_or(&NO_SPEC);
            let types = spec.policy_types.as_deref().unwrap_or_default();
            let has = |t: &str| types.iter().any(|x| x == t);
            // The API server's default without policyTypes: Ingress, and Egress when there is
            // at least one egress rule (`egress: []` does not isolate).
            let has_egress = spec.egress.as_ref().is_some_and(|e| !e.is_empty());
            let ingress_on = has("Ingress") || types.is_empty();
            let egress_on = has("Egress") || (types.is_empty() && has_egress);
            Some(Policy {
                object: o,
                namespace: o.namespace.clone().unwrap_or_default(),
                selects: spec
                    .pod_selector
                    .as_ref()
                    .map(Selector::from_label_selector)
                    .unwrap_or_default(),
                ingress: ingress_on.then(|| {
                    let rules = spec.ingress.iter().flatten();
                    rules
                        .map(|r| parse_rule(r.from.as_ref(), r.ports.as_ref()))
                        .collect()
                }),
                egress: egress_on.then(|| {
                    let rules = spec.egress.iter().flatten();
                    rules
                        .map(|r| parse_rule(r.to.as_ref(), r.ports.as_ref()))
                        .collect()
                }),
            })
        })
        .collect()
}

fn labels_of(v: &Value) -> Labels {
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// The labels the OpenTelemetry Operator puts on a collector's pods: the resource's own labels
/// and its selector labels.
fn collector_pod_labels(col: &Object) -> Labels {
    let ns = col.namespace.clone().unwrap_or_default();
    let mut l = labels_of(&col.body["metadata"]["labels"]);
    l.extend(collector_selector(&ns, &col.name));
    l.insert(
        "app.kubernetes.io/name".into(),
        format!("{}-collector", col.name),
    );
    l.insert("app.kubernetes.io/part-of".into(), "opentelemetry".into());
    l
}

/// The selector of the Services the operator makes for a collector.
fn collector_selector(ns: &str, name: &str) -> Labels {
    Labels::from([
        (
            "app.kubernetes.io/component".into(),
            "opentelemetry-collector".into(),
        ),
        ("app.kubernetes.io/instance".into(), format!("{ns}.{name}")),
        (
            "app.kubernetes.io/managed-by".into(),
            "opentelemetry-operator".into(),
        ),
    ])
}

fn pod_groups<'a>(ctx: &Context<'a>) -> Vec<PodGroup<'a>> {
    let mut out = Vec::new();
    for o in &ctx.manifest.objects {
        let Some(ns) = o.namespace.clone() else {
            continue;
        };
        if o.kind == OTEL_COLLECTOR_KIND {
            if collector_workload(&o.name, &o.body["spec"]).is_none() {
                continue;
            }
            let ports: Vec<(Option<String>, u64)> =
                super::services::collector_ports(&o.body["spec"])
                    .into_iter()
                    .map(|p| (p.name, p.port))
                    .collect();
            // The operator's collector container.
            let container_ports = ports
                .iter()
                .map(|(n, p)| (n.clone(), *p, "TCP".to_string()))
                .collect();
            out.push(PodGroup {
                object: o,
                namespace: ns,
                labels: collector_pod_labels(o),
                annotations: labels_of(&o.body["spec"]["podAnnotations"]),
                ports,
                containers: vec![("otc-container".into(), container_ports)],
                host_network: o.body["spec"]["hostNetwork"].as_bool() == Some(true),
            });
            continue;
        }
        let Some(pod) = pod_spec(o) else { continue };
        let labels = labels_of(&pod.template_meta["labels"]);
        let container_ports = |c: &Value| -> Vec<ContainerPort> {
            c["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    Some((
                        p["name"].as_str().map(str::to_string),
                        p["containerPort"].as_u64()?,
                        p["protocol"].as_str().unwrap_or("TCP").to_string(),
                    ))
                })
                .collect()
        };
        let ports = ["containers", "initContainers"]
            .iter()
            .flat_map(|k| pod.spec[*k].as_array().into_iter().flatten())
            .flat_map(container_ports)
            .map(|(name, number, _)| (name, number))
            .collect();
        let containers = pod.spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or_default().to_string(),
                    container_ports(c),
                )
            })
            .collect();
        out.push(PodGroup {
            object: o,
            namespace: ns,
            labels,
            annotations: labels_of(&pod.template_meta["annotations"]),
            ports,
            containers,
            host_network: pod.spec["hostNetwork"].as_bool() == Some(true),
        });
    }
    out
}

/// Whether a pod spec (or collector spec) refers to a ConfigMap or Secret by name.
fn refers_to(obj: &Object, kind: &str, name: &str) -> bool {
    let (volume_key, name_key, env_key, from_key) = if kind == "Secret" {
        ("secret", "secretName", "secretKeyRef", "secretRef")
    } else {
        ("configMap", "name", "configMapKeyRef", "configMapRef")
    };
    let spec = match pod_spec(obj) {
        Some(p) => p.spec.clone(),
        None => return false,
    };
    let volumes = spec["volumes"].as_array().into_iter().flatten().any(|v| {
        v[volume_key][name_key].as_str() == Some(name)
            || v["projected"]["sources"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s[volume_key]["name"].as_str() == Some(name))
    });
    if volumes {
        return true;
    }
    let containers = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().cloned().unwrap_or_default())
        .chain(std::iter::once(spec.clone()));
    for c in containers {
        let env = c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["valueFrom"][env_key]["name"].as_str() == Some(name));
        let env_from = c["envFrom"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e[from_key]["name"].as_str() == Some(name));
        if env || env_from {
            return true;
        }
    }
    false
}

/// The pod groups that use what object `i` holds.
fn users<'a>(ctx: &Context, groups: &'a [PodGroup<'a>], i: usize) -> Vec<&'a PodGroup<'a>> {
    let obj = &ctx.manifest.objects[i];
    if matches!(obj.kind.as_str(), "ConfigMap" | "Secret") {
        return groups
            .iter()
            .filter(|g| {
                g.namespace == obj.namespace.clone().unwrap_or_default()
                    && refers_to(g.object, &obj.kind, &obj.name)
            })
            .collect();
    }
    groups
        .iter()
        .filter(|g| std::ptr::eq(g.object, obj))
        .collect()
}

/// The Service's pods and the container port behind the used Service port.
struct Target<'a> {
    group: &'a PodGroup<'a>,
    /// The container port: its number (when known) and name (when named).
    number: Option<u64>,
    name: Option<String>,
}

fn targets<'a>(ctx: &Context, groups: &'a [PodGroup<'a>], u: &DnsUse) -> Vec<Target<'a>> {
    let r = &u.reference;
    let port = match &r.port {
        PortUse::Number(n) | PortUse::SchemeDefault(n, _) => Some(*n as u64),
        _ => None,
    };
    // The rendered Service: its selector and the target port of the port used.
    let rendered = ctx
        .manifest
        .get("Service", Some(&r.namespace), &r.service)
        .and_then(|o| o.typed::<Service>());
    let (selector, target_port): (Labels, Option<IntOrString>) = match rendered {
        Some(svc) => {
            let spec = svc.spec.as_ref();
            let tp = spec
                .and_then(|s| s.ports.as_ref())
                .into_iter()
                .flatten()
                .find(|p| {
                    port.is_some_and(|n| u64::try_from(p.port).ok() == Some(n))
                        // An SRV name (`_grpc._tcp.svc…`) uses the port of that name.
                        || matches!(&r.port, PortUse::Named(want) if p.name.as_ref() == Some(want))
                })
                .map(|p| p.target_port.clone().unwrap_or(IntOrString::Int(p.port)));
            let selector = spec.and_then(|s| s.selector.clone()).unwrap_or_default();
            (selector, tp)
        }
        None => match ctx
            .services
            .get(&(r.namespace.clone(), r.service.clone()))
            .and_then(|s| s.made_from.clone())
        {
            // An operator-made collector Service: same port on the pod.
            Some(from) => (
                collector_selector(&r.namespace, &from.name),
                port.and_then(|n| i32::try_from(n).ok())
                    .map(IntOrString::Int),
            ),
            None => return Vec::new(),
        },
    };
    if selector.is_empty() {
        return Vec::new();
    }
    groups
        .iter()
        .filter(|g| {
            g.namespace == r.namespace && selector.iter().all(|(k, v)| g.labels.get(k) == Some(v))
        })
        .map(|g| {
            let (number, name) = match &target_port {
                Some(IntOrString::Int(n)) => {
                    let n = u64::try_from(*n).ok();
                    let name = g
                        .ports
                        .iter()
                        .find(|(_, p)| Some(*p) == n)
                        .and_then(|(name, _)| name.clone());
                    (n, name)
                }
                Some(IntOrString::String(s)) => (
                    g.ports
                        .iter()
                        .find(|(n, _)| n.as_deref() == Some(s.as_str()))
                        .map(|(_, p)| *p),
                    Some(s.clone()),
                ),
                None => (None, None),
            };
            Target {
                group: g,
                number,
                name,
            }
        })
        .collect()
}

fn namespace_labels(ctx: &Context, ns: &str) -> Labels {
    let mut l = Labels::from([(NAMESPACE_NAME_LABEL.to_string(), ns.to_string())]);
    if let Some(obj) = ctx.manifest.get("Namespace", None, ns) {
        l.extend(labels_of(&obj.body["metadata"]["labels"]));
    }
    l
}

fn peer_matches(ctx: &Context, peer: &Peer, policy_ns: &str, other: &PodGroup) -> bool {
    match peer {
        Peer::Block { all } => *all,
        Peer::Pods { namespaces, pods } => {
            let ns_ok = match namespaces {
                None => other.namespace == policy_ns,
                Some(sel) => sel.matches(&namespace_labels(ctx, &other.namespace)),
            };
            ns_ok && pods.as_ref().is_none_or(|s| s.matches(&other.labels))
        }
    }
}

/// Whether a rule port admits a TCP wire to the container port `number` / `name`.
fn port_matches(p: &RulePort, number: Option<u64>, name: Option<&str>) -> bool {
    p.tcp
        && match &p.port {
            PortRange::All => true,
            PortRange::Number(n, end) => {
                number.is_some_and(|x| x == *n || end.is_some_and(|e| x >= *n && x <= e))
            }
            PortRange::Name(s) => name == Some(s.as_str()),
        }
}

/// Whether the pod `at` lets the flow through in one direction: `None` when allowed, else the
/// names of the policies that isolate it.
fn blocked<'a>(
    ctx: &Context,
    policies: &'a [Policy<'a>],
    (at, peer): (&PodGroup, &PodGroup),
    target: &Target,
    ingress: bool,
    used: &mut BTreeSet<(usize, usize)>,
) -> Option<Vec<&'a str>> {
    if at.host_network {
        return None;
    }
    let (number, name) = (target.number, target.name.as_deref());
    let mut isolating = Vec::new();
    let mut allowed = false;
    for (pi, p) in policies.iter().enumerate() {
        if p.namespace != at.namespace || !p.selects.matches(&at.labels) {
            continue;
        }
        let Some(rules) = (if ingress { &p.ingress } else { &p.egress }) else {
            continue;
        };
        isolating.push(p.object.name.as_str());
        for (ri, r) in rules.iter().enumerate() {
            let peers_ok = r.peers.is_empty()
                || r.peers
                    .iter()
                    .any(|pe| peer_matches(ctx, pe, &p.namespace, peer));
            let ports_ok =
                r.ports.is_empty() || r.ports.iter().any(|pt| port_matches(pt, number, name));
            if peers_ok && ports_ok {
                allowed = true;
                if ingress {
                    used.insert((pi, ri));
                }
            }
        }
    }
    if isolating.is_empty() || allowed {
        None
    } else {
        Some(isolating)
    }
}

/// Why the flow from `s` to `t` is dropped, if it is: the target's ingress policies first,
/// then the source's egress policies. Records the ingress rules that allow it in `used`.
fn dropped(
    ctx: &Context,
    policies: &[Policy],
    (s, t): (&PodGroup, &Target),
    used: &mut BTreeSet<(usize, usize)>,
) -> Option<String> {
    let port = t
        .number
        .map(|n| n.to_string())
        .or_else(|| t.name.clone())
        .unwrap_or_else(|| "?".into());
    let g = t.group;
    if let Some(pols) = blocked(ctx, policies, (g, s), t, true, used) {
        return Some(format!(
            "NetworkPolicy {} in {} selects {} {} for ingress and allows no peer matching {}/{} on port {port}",
            pols.join(", "),
            g.namespace,
            g.object.kind,
            g.object.name,
            s.namespace,
            s.object.name,
        ));
    }
    let pols = blocked(ctx, policies, (s, g), t, false, &mut BTreeSet::new())?;
    Some(format!(
        "NetworkPolicy {} in {} isolates {} {} for egress and allows no peer matching {} {}/{} on port {port}",
        pols.join(", "),
        s.namespace,
        s.object.kind,
        s.object.name,
        g.object.kind,
        g.namespace,
        g.object.name,
    ))
}

/// Checks every wire against the NetworkPolicies of both ends.
pub fn check(ctx: &Context) -> Vec<Finding> {
    let policies = policies(ctx);
    if policies.is_empty() {
        return Vec::new();
    }
    let groups = pod_groups(ctx);
    let mut out = Vec::new();
    let mut used = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for u in &ctx.dns {
        let r = &u.reference;
        if !seen.insert((u.object, r.address.clone())) {
            continue;
        }
        let targets = targets(ctx, &groups, u);
        // One finding per address: the first (source, target) pair that is dropped.
        let first = users(ctx, &groups, u.object).into_iter().find_map(|s| {
            targets.iter().find_map(|t| {
                let why = dropped(ctx, &policies, (s, t), &mut used)?;
                Some(format!(
                    "{} (used by {} {}/{}) is dropped: {why}",
                    r.address, s.object.kind, s.namespace, s.object.name
                ))
            })
        });
        if let Some(message) = first {
            let obj = &ctx.manifest.objects[u.object];
            out.push(Finding::new(RULE, Severity::Error, obj, &u.field, message));
        }
    }
    for sc in scrape::scrapes(&groups) {
        let (s, t) = (sc.scraper, &sc.target);
        if let Some(why) = dropped(ctx, &policies, (s, t), &mut used) {
            let message = format!(
                "{} {}/{} port {} (scraped by job {:?} of {} {}/{}) is dropped: {why}",
                t.group.object.kind,
                t.group.namespace,
                t.group.object.name,
                t.number.map(|n| n.to_string()).unwrap_or_default(),
                sc.job,
                s.object.kind,
                s.namespace,
                s.object.name,
            );
            out.push(Finding::new(
                RULE,
                Severity::Error,
                s.object,
                &sc.field,
                message,
            ));
        }
    }
    // Cross-namespace ingress rules no wire uses.
    for (pi, p) in policies.iter().enumerate() {
        for (ri, r) in p.ingress.iter().flatten().enumerate() {
            if used.contains(&(pi, ri)) {
                continue;
            }
            let cross = r.peers.iter().any(|pe| match pe {
                Peer::Pods {
                    namespaces: Some(sel),
                    ..
                } => !sel.matches(&Labels::from([(
                    NAMESPACE_NAME_LABEL.to_string(),
                    p.namespace.clone(),
                )])),
                _ => false,
            });
            if cross {
                let selects_a_pod = groups
                    .iter()
                    .any(|g| g.namespace == p.namespace && p.selects.matches(&g.labels));
                out.push(Finding::new(
                    RULE,
                    Severity::Info,
                    p.object,
                    format!("spec.ingress[{ri}]"),
                    if selects_a_pod {
                        "allows traffic from another namespace that no wire of the stack uses"
                    } else {
                        "allows traffic from another namespace to pods the render does not contain (a component switched off?)"
                    },
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(port: PortRange) -> RulePort {
        RulePort { tcp: true, port }
    }

    #[test]
    fn ports_match_by_number_range_or_name() {
        assert!(port_matches(
            &tcp(PortRange::Number(3100, None)),
            Some(3100),
            None
        ));
        assert!(port_matches(
            &tcp(PortRange::Number(4000, Some(5000))),
            Some(4317),
            None
        ));
        assert!(!port_matches(
            &tcp(PortRange::Number(3100, None)),
            Some(3200),
            Some("http")
        ));
        assert!(port_matches(
            &tcp(PortRange::Name("http".into())),
            Some(3200),
            Some("http")
        ));
        assert!(port_matches(&tcp(PortRange::All), None, None));
    }

    #[test]
    fn a_port_of_another_protocol_admits_no_tcp_wire() {
        let udp = RulePort {
            tcp: false,
            port: PortRange::Number(3100, None),
        };
        assert!(!port_matches(&udp, Some(3100), None));
    }
}
