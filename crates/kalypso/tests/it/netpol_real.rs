//! `wiring/netpol`'s NetworkPolicy evaluator held against the real API server and the SIG
//! Network policy model. Scenarios generated from a fixed seed (a client and a server pod, in
//! one namespace or two, each namespace with its own labels, and NetworkPolicies with every
//! kind of selector, peer, port, protocol and policyTypes) go two ways:
//! - kalypso checks them as rendered manifests (the client's ConfigMap names the server's
//!   Service) and reports the wire as allowed, or dropped by ingress or by egress;
//! - a real kube-apiserver stores the namespaces and policies (its validation and its defaults,
//!   `policyTypes` included), and `tools/netpol-oracle` (cyclonus' matcher, the engine of the
//!   upstream policy-assistant) evaluates the same flow against what it stored.
//!
//! Both must agree on every scenario the API server accepts. Pods get IPs in 10.244.0.0/16;
//! `ipBlock` peers are 0.0.0.0/0 or a block that holds no pod, since kalypso cannot know pod IPs
//! (an `except` that carves pods out is not modelled and not generated).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, PostParams};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::controlplane::ControlPlane;
use kalypso::manifest::selector::Selector;

use crate::support::{repo_root, skip, Fixture};

fn oracle() -> Option<PathBuf> {
    let path = std::env::var_os("KALYPSO_NETPOL_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/bin/netpol-oracle"));
    path.is_file().then_some(path)
}

const SCENARIOS: usize = 300;
const SERVER_IP: &str = "10.244.1.10";
const CLIENT_IP: &str = "10.244.2.20";

type Labels = BTreeMap<String, String>;

/// One generated flow: the client calls the server's Service on port 80, which goes to the
/// server's container port 8080 (named `http` unless `unnamed`).
struct Scenario {
    server_ns: String,
    client_ns: String,
    ns_labels: BTreeMap<String, Labels>,
    server_labels: Labels,
    client_labels: Labels,
    /// The Service's targetPort names the container port instead of its number.
    by_name: bool,
    /// The container port has no name.
    unnamed: bool,
    /// NetworkPolicies as rendered (no defaults), each with its namespace.
    policies: Vec<Value>,
}

struct Gen {
    rng: StdRng,
}

impl Gen {
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.rng.random_range(0..from.len())]
    }

    fn labels(&mut self, keys: &[&str], values: &[&str]) -> Labels {
        let mut l = Labels::new();
        for k in keys {
            if self.rng.random_bool(0.5) {
                l.insert(k.to_string(), self.pick(values).to_string());
            }
        }
        l
    }

    fn selector(&mut self, keys: &[&str], values: &[&str]) -> Value {
        let mut sel = serde_json::Map::new();
        if self.rng.random_bool(0.5) {
            let m = self.labels(keys, values);
            if !m.is_empty() {
                sel.insert("matchLabels".into(), json!(m));
            }
        }
        if self.rng.random_bool(0.35) {
            let mut exprs = Vec::new();
            for _ in 0..self.rng.random_range(1..3) {
                let key = self.pick(keys);
                let op = self.pick(&["In", "NotIn", "Exists", "DoesNotExist"]);
                let mut e = json!({"key": key, "operator": op});
                if matches!(op, "In" | "NotIn") {
                    let n = self.rng.random_range(1..3);
                    let vals: Vec<&str> = (0..n).map(|_| self.pick(values)).collect();
                    e["values"] = json!(vals);
                }
                exprs.push(e);
            }
            sel.insert("matchExpressions".into(), Value::Array(exprs));
        }
        Value::Object(sel)
    }

    fn pod_selector(&mut self) -> Value {
        self.selector(&["app", "tier"], &["web", "client", "a", "b"])
    }

    fn namespace_selector(&mut self, names: &[&str]) -> Value {
        if self.rng.random_bool(0.3) {
            let name = self.pick(names);
            return json!({"matchLabels": {"kubernetes.io/metadata.name": name}});
        }
        self.selector(&["team", "env"], &["a", "b", "prod"])
    }

    fn peer(&mut self, names: &[&str]) -> Value {
        match self.rng.random_range(0..6) {
            0 | 1 => json!({"podSelector": self.pod_selector()}),
            2 => json!({"namespaceSelector": self.namespace_selector(names)}),
            3 => json!({
                "namespaceSelector": self.namespace_selector(names),
                "podSelector": self.pod_selector(),
            }),
            4 => json!({"ipBlock": {"cidr": "0.0.0.0/0"}}),
            _ => json!({"ipBlock": {"cidr": "192.168.0.0/16"}}),
        }
    }

    fn port(&mut self) -> Value {
        match self.rng.random_range(0..9) {
            0 => json!({"port": 8080}),
            1 => json!({"port": "http"}),
            2 => json!({"port": 8000, "endPort": 8100}),
            3 => json!({"port": 9090}),
            4 => json!({"protocol": "UDP", "port": 8080}),
            5 => json!({"protocol": "SCTP", "port": 8080}),
            6 => json!({"protocol": "TCP"}),
            7 => json!({"protocol": "UDP"}),
            _ => json!({"protocol": "TCP", "port": "metrics"}),
        }
    }

    fn rules(&mut self, peers_key: &str, names: &[&str]) -> Value {
        let n = self.rng.random_range(0..3);
        let rules: Vec<Value> = (0..n)
            .map(|_| {
                let mut r = serde_json::Map::new();
                let peers = self.rng.random_range(0..3);
                if peers > 0 || self.rng.random_bool(0.3) {
                    let p: Vec<Value> = (0..peers).map(|_| self.peer(names)).collect();
                    r.insert(peers_key.into(), Value::Array(p));
                }
                let ports = self.rng.random_range(0..3);
                if ports > 0 || self.rng.random_bool(0.3) {
                    let p: Vec<Value> = (0..ports).map(|_| self.port()).collect();
                    r.insert("ports".into(), Value::Array(p));
                }
                Value::Object(r)
            })
            .collect();
        Value::Array(rules)
    }

    fn policy(&mut self, ns: &str, name: &str, names: &[&str]) -> Value {
        let mut spec = serde_json::Map::new();
        spec.insert("podSelector".into(), self.pod_selector());
        match self.rng.random_range(0..5) {
            0 => {}
            1 => {
                spec.insert("policyTypes".into(), json!(["Ingress"]));
            }
            2 => {
                spec.insert("policyTypes".into(), json!(["Egress"]));
            }
            3 => {
                spec.insert("policyTypes".into(), json!(["Ingress", "Egress"]));
            }
            _ => {
                spec.insert("policyTypes".into(), json!(["Egress", "Ingress"]));
            }
        }
        if self.rng.random_bool(0.7) {
            let r = self.rules("from", names);
            spec.insert("ingress".into(), r);
        }
        if self.rng.random_bool(0.6) {
            let r = self.rules("to", names);
            spec.insert("egress".into(), r);
        }
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        })
    }

    fn scenario(&mut self, i: usize) -> Scenario {
        let server_ns = format!("s{i}");
        let client_ns = if self.rng.random_bool(0.3) {
            server_ns.clone()
        } else {
            format!("c{i}")
        };
        let names = [server_ns.as_str(), client_ns.as_str(), "other"];
        let mut ns_labels = BTreeMap::new();
        for ns in [&server_ns, &client_ns] {
            let l = self.labels(&["team", "env"], &["a", "b", "prod"]);
            ns_labels.insert(ns.clone(), l);
        }
        let mut server_labels = self.labels(&["tier"], &["a", "b", "web"]);
        server_labels.insert("app".into(), "web".into());
        let mut client_labels = self.labels(&["tier"], &["a", "b", "client"]);
        client_labels.insert("app".into(), "client".into());
        let unnamed = self.rng.random_bool(0.15);
        let by_name = !unnamed && self.rng.random_bool(0.5);
        let mut policies = Vec::new();
        let namespaces = if server_ns == client_ns {
            vec![server_ns.clone(), server_ns.clone(), server_ns.clone()]
        } else {
            vec![
                server_ns.clone(),
                server_ns.clone(),
                client_ns.clone(),
                client_ns.clone(),
            ]
        };
        for (k, ns) in namespaces.iter().enumerate() {
            if self.rng.random_bool(0.55) {
                policies.push(self.policy(ns, &format!("p{k}"), &names));
            }
        }
        Scenario {
            server_ns,
            client_ns,
            ns_labels,
            server_labels,
            client_labels,
            by_name,
            unnamed,
            policies,
        }
    }
}

impl Scenario {
    /// The rendered manifests of each namespace, for kalypso.
    fn charts(&self) -> Vec<(String, String)> {
        let mut by_ns: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (ns, labels) in &self.ns_labels {
            by_ns.entry(ns.clone()).or_default().push(json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "labels": labels},
            }));
        }
        let port = if self.unnamed {
            json!({"containerPort": 8080})
        } else {
            json!({"name": "http", "containerPort": 8080})
        };
        let target = if self.by_name {
            json!("http")
        } else {
            json!(8080)
        };
        let server = by_ns.entry(self.server_ns.clone()).or_default();
        server.push(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": self.server_ns},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": target}]},
        }));
        server.push(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": self.server_ns},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": self.server_labels},
                    "spec": {"containers": [{"name": "web", "image": "web:1", "ports": [port]}]},
                },
            },
        }));
        let client = by_ns.entry(self.client_ns.clone()).or_default();
        client.push(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "client", "namespace": self.client_ns},
            "data": {"upstream": format!("http://web.{}.svc.cluster.local:80/api", self.server_ns)},
        }));
        client.push(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "client", "namespace": self.client_ns},
            "spec": {
                "selector": {"matchLabels": {"app": "client"}},
                "template": {
                    "metadata": {"labels": self.client_labels},
                    "spec": {"containers": [{
                        "name": "client", "image": "client:1",
                        "envFrom": [{"configMapRef": {"name": "client"}}],
                    }]},
                },
            },
        }));
        for p in &self.policies {
            let ns = p["metadata"]["namespace"].as_str().unwrap_or_default();
            by_ns.entry(ns.to_string()).or_default().push(p.clone());
        }
        by_ns
            .into_iter()
            .map(|(ns, objs)| {
                let text = objs
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("\n---\n");
                (ns, text)
            })
            .collect()
    }

    /// kalypso's verdict on the wire: "allowed", "ingress" or "egress" (the direction that
    /// drops it; ingress is reported first).
    fn kalypso(&self) -> String {
        let mut f = Fixture::new();
        for (k, (ns, text)) in self.charts().iter().enumerate() {
            f = f.chart(&format!("kalypso-{ns}"), ns, k as u32 + 1, text);
        }
        let errors: Vec<String> = f
            .findings()
            .into_iter()
            .filter(|x| x.rule == "wiring/netpol" && x.severity == kalypso::check::Severity::Error)
            .map(|x| x.message)
            .collect();
        match errors.as_slice() {
            [] => "allowed".into(),
            [m] if m.contains("for ingress") => "ingress".into(),
            [m] if m.contains("for egress") => "egress".into(),
            other => format!("unexpected findings: {other:?}"),
        }
    }
}

#[test]
fn the_netpol_evaluator_agrees_with_the_api_server_and_the_policy_model() {
    let Some(oracle) = oracle() else {
        skip("netpol-oracle not built (wiring/netpol against the policy model); bash .ci/run builds it");
        return;
    };
    let Some(cp) = ControlPlane::start("netpol differential") else {
        return;
    };
    let mut g = Gen {
        rng: StdRng::seed_from_u64(0x6e65_7470),
    };
    let scenarios: Vec<Scenario> = (0..SCENARIOS).map(|i| g.scenario(i)).collect();

    // What the API server stores: namespaces with their labels, policies with their defaults.
    let mut cases = Vec::new();
    let mut kept = Vec::new();
    // Per kept scenario: client pod, server pod, client namespace, server namespace labels.
    let mut label_sets: Vec<[Labels; 4]> = Vec::new();
    let mut refused = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        let stored = cp.rt.block_on(async {
            let mut ns_stored: BTreeMap<String, Labels> = BTreeMap::new();
            for (ns, labels) in &s.ns_labels {
                if ns_stored.contains_key(ns) {
                    continue;
                }
                let body: Namespace = serde_json::from_value(json!({
                    "metadata": {"name": ns, "labels": labels},
                }))
                .expect("namespace");
                let api = Api::<Namespace>::all(cp.client.clone());
                let made = api.create(&PostParams::default(), &body).await?;
                ns_stored.insert(ns.clone(), made.metadata.labels.unwrap_or_default());
            }
            let mut pols = Vec::new();
            for p in &s.policies {
                let body: NetworkPolicy = serde_json::from_value(p.clone()).expect("policy");
                let ns = p["metadata"]["namespace"].as_str().unwrap_or_default();
                let api = Api::<NetworkPolicy>::namespaced(cp.client.clone(), ns);
                pols.push(api.create(&PostParams::default(), &body).await?);
            }
            Ok::<_, kube::Error>((ns_stored, pols))
        });
        let (ns_stored, pols) = match stored {
            Ok(x) => x,
            Err(e) => {
                refused.push(format!("scenario {i}: {e}"));
                continue;
            }
        };
        let peer = |ns: &str, labels: &Labels, ip: &str| {
            json!({
                "namespace": ns,
                "namespaceLabels": ns_stored.get(ns).cloned().unwrap_or_default(),
                "podLabels": labels,
                "ip": ip,
            })
        };
        let ns_labels = |ns: &str| ns_stored.get(ns).cloned().unwrap_or_default();
        label_sets.push([
            s.client_labels.clone(),
            s.server_labels.clone(),
            ns_labels(&s.client_ns),
            ns_labels(&s.server_ns),
        ]);
        cases.push(json!({
            "policies": pols,
            "source": peer(&s.client_ns, &s.client_labels, CLIENT_IP),
            "destination": peer(&s.server_ns, &s.server_labels, SERVER_IP),
            "port": 8080,
            "portName": if s.unnamed { "" } else { "http" },
            "protocol": "TCP",
        }));
        kept.push(i);
    }
    drop(cp);

    let mut child = Command::new(&oracle)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netpol-oracle starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(Value::Array(cases).to_string().as_bytes())
        .expect("write cases");
    let out = child.wait_with_output().expect("netpol-oracle runs");
    assert!(
        out.status.success(),
        "netpol-oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Value> = serde_json::from_slice(&out.stdout).expect("oracle JSON");
    assert_eq!(verdicts.len(), kept.len());

    let mut mismatches = Vec::new();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let (mut selector_checks, mut model_differs) = (0, 0);
    for ((&i, v), sets) in kept.iter().zip(&verdicts).zip(&label_sets) {
        // Every selector against Kubernetes' own matching (apimachinery).
        for m in v["selectors"].as_array().into_iter().flatten() {
            let ours = Selector::from_object(&m["selector"]);
            for (set, real) in sets
                .iter()
                .zip(m["matches"].as_array().into_iter().flatten())
            {
                selector_checks += 1;
                if Some(ours.matches(set)) != real.as_bool() {
                    mismatches.push(format!(
                        "scenario {i}: selector {} on labels {set:?}: kalypso {}, apimachinery {real}",
                        m["selector"],
                        ours.matches(set)
                    ));
                }
            }
        }
        // The policy model's verdict is Kubernetes' only where it matches labels as
        // apimachinery does.
        if v["modelDiffers"] == true {
            model_differs += 1;
            continue;
        }
        let real = if v["ingress"] != true {
            "ingress"
        } else if v["egress"] != true {
            "egress"
        } else {
            "allowed"
        };
        *tally.entry(real.to_string()).or_default() += 1;
        let ours = scenarios[i].kalypso();
        if ours != real {
            let s = &scenarios[i];
            mismatches.push(format!(
                "scenario {i}: kalypso {ours}, policy model {real}\n  client {}/{:?} server {}/{:?} namespaces {:?} by_name={} unnamed={}\n  {}",
                s.client_ns,
                s.client_labels,
                s.server_ns,
                s.server_labels,
                s.ns_labels,
                s.by_name,
                s.unnamed,
                s.policies
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("\n  ")
            ));
        }
    }
    eprintln!(
        "wiring/netpol: {} scenarios compared with the API server and the policy model ({tally:?}), {model_differs} more where the model's label matching is not Kubernetes'; {selector_checks} selector matches compared with apimachinery; {} mismatches; {} refused by the API server",
        kept.len() - model_differs,
        mismatches.len(),
        refused.len()
    );
    // A generator whose scenarios the API server refuses tests nothing; each verdict must occur.
    assert!(
        refused.len() * 10 < SCENARIOS,
        "the API server refused {} scenarios:\n{}",
        refused.len(),
        refused.join("\n")
    );
    for verdict in ["allowed", "ingress", "egress"] {
        assert!(
            tally.get(verdict).copied().unwrap_or(0) >= 10,
            "too few {verdict}: {tally:?}"
        );
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} scenarios evaluated differently; the first:\n{}",
        mismatches.len(),
        kept.len(),
        mismatches
            .iter()
            .take(4)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}
