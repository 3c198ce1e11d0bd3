//! `check`'s Prometheus relabelling (`wiring/netpol` uses it to find what the node agent
//! scrapes) held against a real Prometheus (Debian's `prometheus`) on the same targets and the
//! same `relabel_configs`: the node agent's rules plus the other actions the engine knows.
//! Targets come from a file_sd file with the labels Kubernetes service discovery would set;
//! Prometheus' `/api/v1/targets` says which it kept (and its final address and labels) and
//! which it dropped. Every address is on 127.0.0.1. Prints a SKIP line when the binary is absent.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kalypso::check::relabel::{self, Labels, Outcome, Step};
use serde_json::{json, Value};

use crate::fakes::backends::closed_port;
use crate::verify_prometheus::{prometheus_binary, start_prometheus, Prometheus};

/// The node agent's keep, drop, path, address and target-label rules
/// (charts/kalypso-otel/templates/agent-collector.yaml, the collector's `$$` escapes resolved),
/// then labelmap, lowercase, labeldrop and keepequal.
fn rules() -> Value {
    json!([
        {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape", "__meta_kubernetes_pod_container_port_name"],
         "regex": "true;.*|[^;]*;(http-metrics)", "action": "keep"},
        {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Pending|Succeeded|Failed", "action": "drop"},
        {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"], "regex": "(.+)", "target_label": "__metrics_path__"},
        {"source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
         "regex": "([^:]+)(?::\\d+)?;(\\d+)", "replacement": "$1:$2", "target_label": "__address__"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"regex": "__meta_kubernetes_pod_label_(.+)", "action": "labelmap"},
        {"source_labels": ["team"], "target_label": "team", "action": "lowercase"},
        {"regex": "tier", "action": "labeldrop"},
        {"source_labels": ["namespace"], "target_label": "expect_ns", "action": "keepequal"}
    ])
}

/// One discovered target per case: a container port of a pod, as `kubernetes_sd` labels it.
fn cases() -> Vec<Labels> {
    let base = |case: &str, port: u16, port_name: &str, extra: &[(&str, &str)]| -> Labels {
        let mut l: Labels = [
            ("case", case),
            ("__meta_kubernetes_namespace", "loki"),
            ("expect_ns", "loki"),
            ("__meta_kubernetes_pod_phase", "Running"),
            ("__meta_kubernetes_pod_container_name", "loki"),
            ("__meta_kubernetes_pod_container_port_name", port_name),
            (
                "__meta_kubernetes_pod_label_app_kubernetes_io_component",
                "single-binary",
            ),
            ("__meta_kubernetes_pod_label_team", "Storage"),
            ("__meta_kubernetes_pod_label_tier", "backend"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        l.insert("__address__".into(), format!("127.0.0.1:{port}"));
        for (k, v) in extra {
            l.insert(k.to_string(), v.to_string());
        }
        l
    };
    let ann = "__meta_kubernetes_pod_annotation_prometheus_io_scrape";
    let port_ann = "__meta_kubernetes_pod_annotation_prometheus_io_port";
    let path_ann = "__meta_kubernetes_pod_annotation_prometheus_io_path";
    vec![
        // A metrics port by name.
        base("named", closed_port(), "http-metrics", &[]),
        // Another port name, not annotated: dropped.
        base("other-name", closed_port(), "grpc", &[]),
        // Anchored: a longer name does not match.
        base("longer-name", closed_port(), "http-metrics-x", &[]),
        // Annotated: any port, moved to the annotation's port, with its path.
        base(
            "annotated",
            closed_port(),
            "grpc",
            &[
                (ann, "true"),
                (port_ann, &closed_port().to_string()),
                (path_ann, "/custom"),
            ],
        ),
        // Annotated false, but a metrics port name: kept by the second alternative.
        base(
            "annotated-false",
            closed_port(),
            "http-metrics",
            &[(ann, "false")],
        ),
        // Pending pods are dropped.
        base(
            "pending",
            closed_port(),
            "http-metrics",
            &[("__meta_kubernetes_pod_phase", "Pending")],
        ),
        // keepequal: the namespace label must equal expect_ns.
        base(
            "not-equal",
            closed_port(),
            "http-metrics",
            &[("expect_ns", "mimir")],
        ),
    ]
}

/// A Prometheus reading `targets` from a file_sd file in `dir`, with the rules above.
async fn start(bin: &std::path::Path, dir: &std::path::Path, targets: &[Labels]) -> Prometheus {
    let sd: Vec<Value> = targets
        .iter()
        .map(|t| {
            let mut labels = t.clone();
            let address = labels.remove("__address__").expect("address");
            json!({"targets": [address], "labels": labels})
        })
        .collect();
    let sd_file = dir.join("targets.json");
    std::fs::write(&sd_file, serde_json::to_string(&sd).expect("json")).expect("sd file");
    // JSON is YAML.
    let config = json!({
        "global": {"scrape_interval": "1h"},
        "scrape_configs": [{
            "job_name": "kubernetes-pods",
            "file_sd_configs": [{"files": [sd_file.display().to_string()]}],
            "relabel_configs": rules(),
        }]
    });
    start_prometheus(bin, &config.to_string(), &[]).await
}

/// Prometheus' view: case → `Some((scrape URL, labels))` when active, `None` when dropped.
async fn targets(prom: &Prometheus, want: usize) -> BTreeMap<String, Option<(String, Value)>> {
    let url = format!("http://127.0.0.1:{}/api/v1/targets?state=any", prom.port);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(&url).await {
            if let Ok(v) = r.json::<Value>().await {
                let mut out = BTreeMap::new();
                for t in v["data"]["activeTargets"].as_array().into_iter().flatten() {
                    let case = t["discoveredLabels"]["case"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    let url = t["scrapeUrl"].as_str().unwrap_or("").to_string();
                    out.insert(case, Some((url, t["labels"].clone())));
                }
                for t in v["data"]["droppedTargets"].as_array().into_iter().flatten() {
                    let case = t["discoveredLabels"]["case"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    out.insert(case, None);
                }
                if out.len() == want {
                    return out;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "prometheus on port {} did not list {want} targets",
            prom.port
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relabel_engine_keeps_drops_and_rewrites_targets_as_prometheus_does() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(bin) = prometheus_binary() else {
        crate::support::skip("prometheus not installed");
        return;
    };
    let steps: Vec<Step> = rules()
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| Step::parse(r).expect("rule"))
        .collect();
    let cases = cases();
    let sd_dir = tempfile::tempdir().expect("tempdir");
    let prom = start(&bin, sd_dir.path(), &cases).await;
    let seen = targets(&prom, cases.len()).await;
    let mut kept = 0;
    for case in &cases {
        let name = &case["case"];
        // Prometheus sets these before relabelling.
        let mut input = case.clone();
        input.insert("job".into(), "kubernetes-pods".into());
        input.insert("__scheme__".into(), "http".into());
        input.insert("__metrics_path__".into(), "/metrics".into());
        let ours = relabel::apply(&steps, input);
        let theirs = seen
            .get(name)
            .unwrap_or_else(|| panic!("{name}: not listed"));
        match (&ours, theirs) {
            (Outcome::Kept(l), Some((url, labels))) => {
                kept += 1;
                let want_url = format!(
                    "{}://{}{}",
                    l["__scheme__"], l["__address__"], l["__metrics_path__"]
                );
                assert_eq!(url, &want_url, "{name}: scrape URL");
                // The final labels: ours without the `__` ones, plus the instance Prometheus adds.
                let mut want: BTreeMap<String, String> = l
                    .iter()
                    .filter(|(k, _)| !k.starts_with("__"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                want.entry("instance".into())
                    .or_insert_with(|| l["__address__"].clone());
                let got: BTreeMap<String, String> =
                    serde_json::from_value(labels.clone()).expect("labels");
                assert_eq!(got, want, "{name}: labels");
            }
            (Outcome::Dropped, None) => {}
            (ours, theirs) => panic!("{name}: kalypso {ours:?}, prometheus {theirs:?}"),
        }
    }
    assert_eq!(kept, 3, "named, annotated and annotated-false are scraped");
}
