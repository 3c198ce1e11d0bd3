//! Scrape wires: the pods a collector's Prometheus receiver scrapes through Kubernetes service
//! discovery (`kubernetes_sd_configs` with `role: pod`). Service discovery makes one target
//! per container port of every pod (one without a port for a container that declares none);
//! the job's `relabel_configs` then keep or drop it and may move `__address__` to another
//! port. Both are evaluated here on every pod template of the render, so a NetworkPolicy that
//! would starve the metrics pipeline is found before a dashboard goes blank.
//!
//! Conservative where the outcome depends on run time: a `hashmod` step, a set-based role
//! selector or a regex that does not compile makes the job contribute no wire at all.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{PodGroup, Target};
use crate::relabel::{self, sanitize, Outcome, Step};
use kalypso_model::manifest::selector::{Labels, Selector};
use kalypso_model::manifest::workload::OTEL_COLLECTOR_KIND;

/// The host part of `__address__` before relabelling (the pod IP is not known offline).
const POD_HOST: &str = "pod-ip";

/// One scraped port of one workload's pods.
pub(super) struct Scrape<'a> {
    /// The collector that scrapes.
    pub scraper: &'a PodGroup<'a>,
    pub job: String,
    /// Where the job is configured in the collector, e.g.
    /// `spec.config.receivers.prometheus.config.scrape_configs[0]`.
    pub field: String,
    pub target: Target<'a>,
}

/// One `kubernetes_sd_configs` pod job of a collector.
struct Job {
    name: String,
    field: String,
    /// `None`: every namespace.
    namespaces: Option<Vec<String>>,
    /// The pod role's label selectors, all of them.
    selector: Selector,
    steps: Vec<Step>,
}

/// Every scrape of every collector in `groups`, one per (job, workload, port).
pub(super) fn scrapes<'a>(groups: &'a [PodGroup<'a>]) -> Vec<Scrape<'a>> {
    let mut out = Vec::new();
    for scraper in groups
        .iter()
        .filter(|g| g.object.kind == OTEL_COLLECTOR_KIND)
    {
        for job in jobs(scraper) {
            for g in groups.iter().filter(|g| reached(&job, g)) {
                for number in scraped_ports(&job, g) {
                    let name = g
                        .ports
                        .iter()
                        .find(|(_, p)| *p == number)
                        .and_then(|(n, _)| n.clone());
                    out.push(Scrape {
                        scraper,
                        job: job.name.clone(),
                        field: job.field.clone(),
                        target: Target {
                            group: g,
                            number: Some(number),
                            name,
                        },
                    });
                }
            }
        }
    }
    out
}

/// The ports of `g`'s pods that `job` keeps, after relabelling.
fn scraped_ports(job: &Job, g: &PodGroup) -> BTreeSet<u64> {
    let mut ports = BTreeSet::new();
    for l in kept_targets(job, g) {
        // A host without a port is scraped on the scheme's port.
        let port = match l.get("__address__").and_then(|a| a.rsplit_once(':')) {
            Some((_, p)) => p.parse().ok(),
            None => Some(
                if l.get("__scheme__").map(String::as_str) == Some("https") {
                    443
                } else {
                    80
                },
            ),
        };
        ports.extend(port);
    }
    ports
}

/// A target that a collector's Prometheus receiver scrapes, with its final labels.
pub(crate) struct ScrapedTarget {
    /// The labels the target's series carry: what relabelling left, without the `__` labels,
    /// `instance` defaulting to the address (as Prometheus finalises a target).
    pub labels: Labels,
}

/// Every target of every collector's pod-role scrape jobs in `groups`.
pub(super) fn targets(groups: &[PodGroup]) -> Vec<ScrapedTarget> {
    let mut out = Vec::new();
    for scraper in groups
        .iter()
        .filter(|g| g.object.kind == OTEL_COLLECTOR_KIND)
    {
        for job in jobs(scraper) {
            for g in groups.iter().filter(|g| reached(&job, g)) {
                for mut l in kept_targets(&job, g) {
                    if !l.contains_key("instance") {
                        let address = l.get("__address__").cloned().unwrap_or_default();
                        l.insert("instance".into(), address);
                    }
                    l.retain(|k, _| !k.starts_with("__"));
                    out.push(ScrapedTarget { labels: l });
                }
            }
        }
    }
    out
}

/// Whether service discovery of `job` finds `g`'s pods (namespaces and role selector).
fn reached(job: &Job, g: &PodGroup) -> bool {
    job.namespaces
        .as_ref()
        .is_none_or(|n| n.contains(&g.namespace))
        && job.selector.matches(&g.labels)
}

/// The name a pod of `g` gets: a StatefulSet's first ordinal, a generated suffix otherwise.
fn pod_name(g: &PodGroup) -> String {
    let name = &g.object.name;
    match g.object.kind.as_str() {
        "StatefulSet" => format!("{name}-0"),
        "Deployment" => format!("{name}-5d8f7c9b6-x2k4p"),
        "Job" | "CronJob" => format!("{name}-x2k4p"),
        OTEL_COLLECTOR_KIND => format!("{name}-collector-x2k4p"),
        _ => format!("{name}-x2k4p"),
    }
}

/// The targets `job` keeps among `g`'s container ports, with their labels after relabelling.
fn kept_targets(job: &Job, g: &PodGroup) -> Vec<Labels> {
    let mut common = Labels::from([
        (
            "__meta_kubernetes_namespace".to_string(),
            g.namespace.clone(),
        ),
        ("__meta_kubernetes_pod_name".into(), pod_name(g)),
        ("__meta_kubernetes_pod_phase".into(), "Running".into()),
        ("__meta_kubernetes_pod_ready".into(), "true".into()),
        (
            "__meta_kubernetes_pod_controller_kind".into(),
            controller_kind(g),
        ),
        (
            "__meta_kubernetes_pod_container_init".into(),
            "false".into(),
        ),
        ("__scheme__".into(), "http".into()),
        ("__metrics_path__".into(), "/metrics".into()),
        ("job".into(), job.name.clone()),
    ]);
    for (prefix, map) in [("label", &g.labels), ("annotation", &g.annotations)] {
        for (k, v) in map {
            let k = sanitize(k);
            common.insert(format!("__meta_kubernetes_pod_{prefix}_{k}"), v.clone());
            common.insert(
                format!("__meta_kubernetes_pod_{prefix}present_{k}"),
                "true".into(),
            );
        }
    }
    let mut kept = Vec::new();
    for (container, declared) in &g.containers {
        let mut targets = Vec::new();
        let mut base = common.clone();
        base.insert(
            "__meta_kubernetes_pod_container_name".into(),
            container.clone(),
        );
        if declared.is_empty() {
            let mut t = base.clone();
            t.insert("__address__".into(), POD_HOST.into());
            targets.push(t);
        }
        for (name, number, protocol) in declared {
            let mut t = base.clone();
            t.insert("__address__".into(), format!("{POD_HOST}:{number}"));
            t.insert(
                "__meta_kubernetes_pod_container_port_number".into(),
                number.to_string(),
            );
            t.insert(
                "__meta_kubernetes_pod_container_port_protocol".into(),
                protocol.clone(),
            );
            if let Some(n) = name {
                t.insert(
                    "__meta_kubernetes_pod_container_port_name".into(),
                    n.clone(),
                );
            }
            targets.push(t);
        }
        for t in targets {
            if let Outcome::Kept(l) = relabel::apply(&job.steps, t) {
                kept.push(l);
            }
        }
    }
    kept
}

/// The owner kind service discovery reports: a Deployment's pods belong to a ReplicaSet.
fn controller_kind(g: &PodGroup) -> String {
    let kind = if g.object.kind == OTEL_COLLECTOR_KIND {
        kalypso_model::manifest::workload::collector_workload(
            &g.object.name,
            &g.object.body["spec"],
        )
        .map(|(_, k, _)| k)
        .unwrap_or("Deployment")
    } else {
        g.object.kind.as_str()
    };
    match kind {
        "Deployment" => "ReplicaSet".into(),
        k => k.into(),
    }
}

/// `$$` is a literal `$` in collector configuration (the collector expands `${…}` itself).
fn unescape(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("$$", "$")),
        Value::Array(a) => Value::Array(a.iter().map(unescape).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), unescape(v))).collect())
        }
        other => other.clone(),
    }
}

/// The pod-role service discovery jobs of a collector's Prometheus receivers that a pipeline
/// uses.
fn jobs(scraper: &PodGroup) -> Vec<Job> {
    let spec = &scraper.object.body["spec"];
    let config = kalypso_model::manifest::workload::collector_config(spec);
    let in_pipeline: BTreeSet<&str> = config["service"]["pipelines"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(_, p)| p["receivers"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    let mut out = Vec::new();
    for (key, receiver) in config["receivers"].as_object().into_iter().flatten() {
        if key.split('/').next() != Some("prometheus") || !in_pipeline.contains(key.as_str()) {
            continue;
        }
        let scrape_configs = unescape(&receiver["config"]["scrape_configs"]);
        for (i, sc) in scrape_configs.as_array().into_iter().flatten().enumerate() {
            let Ok(steps) = sc["relabel_configs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(Step::parse)
                .collect::<Result<Vec<_>, _>>()
            else {
                continue;
            };
            for sd in sc["kubernetes_sd_configs"].as_array().into_iter().flatten() {
                if sd["role"].as_str() != Some("pod") {
                    continue;
                }
                let mut names: Vec<String> = sd["namespaces"]["names"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect();
                if sd["namespaces"]["own_namespace"].as_bool() == Some(true) {
                    names.push(scraper.namespace.clone());
                }
                let mut selector = Selector::default();
                let mut decidable = true;
                for s in sd["selectors"].as_array().into_iter().flatten() {
                    if s["role"].as_str() != Some("pod") {
                        continue;
                    }
                    // Field selectors (spec.nodeName=…) narrow by node: every node is scraped
                    // by some agent, so they do not change which workloads are reached.
                    if let Some(text) = s["label"].as_str() {
                        match Selector::parse(text) {
                            Some(sel) => selector.requirements.extend(sel.requirements),
                            None => decidable = false,
                        }
                    }
                }
                if !decidable {
                    continue;
                }
                out.push(Job {
                    name: sc["job_name"].as_str().unwrap_or_default().to_string(),
                    field: format!("spec.config.receivers.{key}.config.scrape_configs[{i}]"),
                    namespaces: (!names.is_empty()).then_some(names),
                    selector,
                    steps: steps.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_dollar_escapes_become_one_dollar() {
        let v = unescape(&serde_json::json!({"replacement": "$$1:$$2", "x": ["${env:A}"]}));
        assert_eq!(v["replacement"], "$1:$2");
        assert_eq!(v["x"][0], "${env:A}");
    }
}
