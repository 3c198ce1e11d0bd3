//! The node agent's scrape relabelling as rendered (charts/kalypso-otel) held against a real
//! Prometheus (Debian's): the targets Kubernetes service discovery would make for the backends'
//! pods (Mimir's ingester, Loki's and Pyroscope's monoliths, Tempo's distributor, Grafana, whose
//! pod has no component label) go through the same `relabel_configs` in both, and Prometheus'
//! `/api/v1/targets` must show exactly the labels `check` computes: the `cluster`, `namespace`,
//! `job="<namespace>/<component>"`, `pod`, `container` and `instance` the mixins select on.
//! Every address is on 127.0.0.1. SKIP lines without prometheus, helm or the archives.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kalypso::check::relabel::{self, Labels, Outcome, Step};
use serde_json::{json, Value};

use crate::fakes::backends::closed_port;
use crate::selfmon_check::rendered;
use crate::selfmon_promtool::{agent_rules, discovered};
use crate::verify_prometheus::{prometheus_binary, start_prometheus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_agent_relabelling_labels_targets_as_prometheus_does() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(bin) = prometheus_binary() else {
        crate::support::skip("prometheus not installed");
        return;
    };
    let Some(m) = rendered("the_rendered_agent_relabelling_labels_targets_as_prometheus_does")
    else {
        return;
    };
    let pods = [
        (
            "StatefulSet",
            "mimir",
            "mimir-distributed-ingester",
            "ingester",
            "http-metrics",
            "mimir/ingester",
        ),
        (
            "StatefulSet",
            "loki",
            "loki",
            "loki",
            "http-metrics",
            "loki/loki",
        ),
        (
            "Deployment",
            "tempo",
            "tempo-distributed-distributor",
            "distributor",
            "http-metrics",
            "tempo/distributor",
        ),
        (
            "StatefulSet",
            "pyroscope",
            "pyroscope",
            "pyroscope",
            "http2",
            "pyroscope/pyroscope",
        ),
        (
            "Deployment",
            "grafana",
            "kalypso-grafana",
            "grafana",
            "grafana",
            "grafana/grafana",
        ),
    ];
    let mut cases: BTreeMap<String, (Labels, &str)> = BTreeMap::new();
    for (kind, ns, name, container, port, job) in pods {
        let mut sd = discovered(m, kind, ns, name, container, port, "127.0.0.1");
        // A free loopback port for each target (the annotated ones move to their annotation's).
        let address = format!("127.0.0.1:{}", closed_port());
        if !sd.contains_key("__meta_kubernetes_pod_annotation_prometheus_io_port") {
            sd.insert("__address__".into(), address);
        }
        sd.insert("case".into(), name.to_string());
        cases.insert(name.to_string(), (sd, job));
    }
    let rules = agent_rules(m);
    let steps: Vec<Step> = rules
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| Step::parse(r).expect("rule"))
        .collect();

    let dir = tempfile::tempdir().expect("tempdir");
    let sd_file = dir.path().join("targets.json");
    let sd: Vec<Value> = cases
        .values()
        .map(|(t, _)| {
            let mut labels = t.clone();
            let address = labels.remove("__address__").expect("address");
            labels.remove("__scheme__");
            labels.remove("__metrics_path__");
            labels.remove("job");
            json!({"targets": [address], "labels": labels})
        })
        .collect();
    std::fs::write(&sd_file, serde_json::to_string(&sd).expect("json")).expect("sd");
    let config = json!({
        "global": {"scrape_interval": "1h"},
        "scrape_configs": [{
            "job_name": "kubernetes-pods",
            "file_sd_configs": [{"files": [sd_file.display().to_string()]}],
            "relabel_configs": rules,
        }]
    });
    let prom = start_prometheus(&bin, &config.to_string(), &[]).await;

    // Prometheus' active targets, by case.
    let url = format!("http://127.0.0.1:{}/api/v1/targets", prom.port);
    let deadline = Instant::now() + Duration::from_secs(60);
    let seen: BTreeMap<String, Value> = loop {
        let mut out = BTreeMap::new();
        if let Ok(r) = reqwest::get(&url).await {
            if let Ok(v) = r.json::<Value>().await {
                for t in v["data"]["activeTargets"].as_array().into_iter().flatten() {
                    let case = t["discoveredLabels"]["case"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    out.insert(case, t["labels"].clone());
                }
            }
        }
        if out.len() == cases.len() {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus listed {} targets",
            out.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for (name, (sd, job)) in &cases {
        let Outcome::Kept(l) = relabel::apply(&steps, sd.clone()) else {
            panic!("{name}: kalypso drops it, prometheus keeps it");
        };
        let mut ours: BTreeMap<String, String> = l
            .iter()
            .filter(|(k, _)| !k.starts_with("__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        ours.entry("instance".into())
            .or_insert_with(|| l["__address__"].clone());
        let theirs: BTreeMap<String, String> =
            serde_json::from_value(seen[name].clone()).expect("labels");
        assert_eq!(theirs, ours, "{name}: labels");
        assert_eq!(theirs["job"], *job, "{name}: job");
        assert_eq!(theirs["cluster"], "kalypso", "{name}: cluster");
        assert_eq!(theirs["pod"], format!("{name}-0"), "{name}: pod");
        for label in ["namespace", "container", "instance"] {
            assert!(theirs.contains_key(label), "{name}: no {label}");
        }
    }
}
