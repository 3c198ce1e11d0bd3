//! The self-monitoring rules against the real Prometheus rule engine (Debian's `promtool`):
//! `promtool check rules` on every group the stack loads into Mimir's ruler (Mimir's and
//! Loki's from the render, Tempo's from the test copy of its published files), and
//! `promtool test rules` with synthetic series that carry exactly the labels the node agent
//! gives a backend pod's scrape (computed from the rendered agent's `relabel_configs` with the
//! relabel engine, itself held against Prometheus in `selfmon_relabel.rs`): an unhealthy
//! ingester, request errors, panics, failing flushes and compactions fire with the cluster,
//! namespace and job the mixins aggregate by. The rule files are written to a temporary
//! directory, never committed; the copies under test drop the rules' annotations (promtool
//! compares them verbatim, and their text is upstream's), nothing else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kalypso::check::relabel::{self, sanitize, Labels, Outcome, Step};
use kalypso::manifest::Manifest;
use serde_json::{json, Value};

use crate::selfmon_check::{labelled, local_copy, monitoring_dir, rendered, rule_sources};
use crate::support::skip;

/// Debian's promtool (next to prometheus), or one on PATH.
fn promtool_binary() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/bin/promtool");
    if debian.is_file() {
        return Some(debian);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join("promtool"))
        .find(|p| p.is_file())
}

/// The rule files of the stack: ruler namespace -> text (URL-loaded ones from the test copy).
fn rule_files(m: &Manifest) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for ns in ["mimir", "loki", "tempo"] {
        for cm in labelled(m, ns, "kalypso/ruler-rules", "true") {
            for (ruler_ns, text, is_url) in rule_sources(cm) {
                if !is_url {
                    out.insert(ruler_ns, text);
                } else if let Some(p) = monitoring_dir().and_then(|d| local_copy(&d, &text)) {
                    out.insert(ruler_ns, std::fs::read_to_string(p).expect("copy"));
                } else {
                    skip(&format!("no copy of {text}: not checked with promtool"));
                }
            }
        }
    }
    out
}

/// The node agent's scrape relabelling, as rendered (the collector's `$$` escapes resolved).
pub(crate) fn agent_rules(m: &Manifest) -> Value {
    let agent = m
        .of_kind("OpenTelemetryCollector")
        .find(|o| o.name.ends_with("-agent"))
        .expect("the node agent collector");
    let rules = &agent.body["spec"]["config"]["receivers"]["prometheus"]["config"]
        ["scrape_configs"][0]["relabel_configs"];
    serde_json::from_str(&rules.to_string().replace("$$", "$")).expect("rules")
}

/// [`agent_rules`] for the relabel engine.
fn agent_steps(m: &Manifest) -> Vec<Step> {
    agent_rules(m)
        .as_array()
        .expect("relabel_configs")
        .iter()
        .map(|r| Step::parse(r).expect("rule compiles"))
        .collect()
}

/// The labels the agent gives the `http-metrics` scrape of `container` in workload
/// `kind namespace/name`, as Kubernetes service discovery and the relabelling make them.
fn scrape_labels(m: &Manifest, kind: &str, ns: &str, name: &str, container: &str) -> Labels {
    let sd = discovered(m, kind, ns, name, container, "http-metrics", "10.0.0.7");
    let Outcome::Kept(mut l) = relabel::apply(&agent_steps(m), sd) else {
        panic!("the agent does not scrape {name}'s http-metrics port");
    };
    let address = l["__address__"].clone();
    l.entry("instance".into()).or_insert(address);
    l.retain(|k, _| !k.starts_with("__"));
    l
}

/// The target Kubernetes service discovery (role pod) makes for port `port_name` of
/// `container` in workload `kind namespace/name`, on `host`, before relabelling.
pub(crate) fn discovered(
    m: &Manifest,
    kind: &str,
    ns: &str,
    name: &str,
    container: &str,
    port_name: &str,
    host: &str,
) -> Labels {
    let w = m
        .get(kind, Some(ns), name)
        .unwrap_or_else(|| panic!("{kind} {ns}/{name} is not rendered"));
    let template = &w.body["spec"]["template"];
    let c = template["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|c| c["name"] == container)
        .unwrap_or_else(|| panic!("{name}: no container {container}"));
    let port = c["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .find(|p| p["name"] == port_name)
        .unwrap_or_else(|| panic!("{name}: no port {port_name}"));
    let number = port["containerPort"].as_u64().expect("port number");
    let mut sd: Labels = [
        ("__meta_kubernetes_namespace", ns.to_string()),
        ("__meta_kubernetes_pod_name", format!("{name}-0")),
        ("__meta_kubernetes_pod_phase", "Running".into()),
        ("__meta_kubernetes_pod_container_name", container.into()),
        (
            "__meta_kubernetes_pod_container_port_name",
            port_name.into(),
        ),
        (
            "__meta_kubernetes_pod_container_port_number",
            number.to_string(),
        ),
        (
            "__meta_kubernetes_pod_container_port_protocol",
            "TCP".into(),
        ),
        ("__address__", format!("{host}:{number}")),
        ("__scheme__", "http".into()),
        ("__metrics_path__", "/metrics".into()),
        ("job", "kubernetes-pods".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (prefix, map) in [("label", "labels"), ("annotation", "annotations")] {
        for (k, v) in template["metadata"][map].as_object().into_iter().flatten() {
            let k = sanitize(k);
            sd.insert(
                format!("__meta_kubernetes_pod_{prefix}_{k}"),
                v.as_str().unwrap_or_default().to_string(),
            );
            sd.insert(
                format!("__meta_kubernetes_pod_{prefix}present_{k}"),
                "true".into(),
            );
        }
    }
    sd
}

/// `metric{labels…, extra…}` as promtool's series notation.
fn series(metric: &str, labels: &Labels, extra: &[(&str, &str)]) -> String {
    let mut all = labels.clone();
    for (k, v) in extra {
        all.insert(k.to_string(), v.to_string());
    }
    let inner: Vec<String> = all
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{metric}{{{}}}", inner.join(","))
}

/// A copy of a rule file without the rules' annotations.
fn without_annotations(text: &str) -> String {
    let mut v = kalypso::manifest::yaml::value(text).expect("rule file parses");
    for g in v["groups"].as_array_mut().into_iter().flatten() {
        for r in g["rules"].as_array_mut().into_iter().flatten() {
            if let Some(o) = r.as_object_mut() {
                o.remove("annotations");
            }
        }
    }
    // JSON is YAML.
    v.to_string()
}

/// Runs promtool; panics with its output unless it succeeds.
fn promtool(bin: &Path, args: &[&str], dir: &Path) -> String {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

fn labels(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect(),
    )
}

/// The rendered stack, promtool, and the rule files; `None` after a SKIP line.
fn setup(test: &str) -> Option<(&'static Manifest, PathBuf, BTreeMap<String, String>)> {
    let Some(bin) = promtool_binary() else {
        skip(&format!(
            "promtool not installed ({test}); Debian's prometheus package has it"
        ));
        return None;
    };
    let m = rendered(test)?;
    Some((m, bin, rule_files(m)))
}

#[test]
fn promtool_accepts_every_rule_group_the_stack_loads() {
    let Some((_, bin, files)) = setup("promtool_accepts_every_rule_group_the_stack_loads") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rules = 0;
    for (ns, text) in &files {
        let file = format!("{ns}.yaml");
        std::fs::write(dir.path().join(&file), text).expect("write");
        // Syntax, types and templates; the duplicate-rule lint is upstream's business (Loki's
        // chart renders LokiCompactorHasNotSuccessfullyRunCompaction twice, both loadable).
        let out = promtool(&bin, &["check", "rules", "--lint=none", &file], dir.path());
        let found: usize = out
            .lines()
            .filter_map(|l| l.trim().strip_prefix("SUCCESS: "))
            .filter_map(|l| l.split_whitespace().next()?.parse::<usize>().ok())
            .sum();
        assert!(found > 0, "{file}: no rules found:\n{out}");
        eprintln!("promtool check rules {file}: {found} rules");
        rules += found;
    }
    for ns in ["mimir-rules", "mimir-alerts", "loki-rules", "loki-alerts"] {
        assert!(files.contains_key(ns), "{ns} is not loaded");
    }
    assert!(rules > 200, "{rules} rules");
}

#[test]
fn mimir_alerts_fire_on_the_series_the_agent_labels() {
    let Some((m, bin, files)) = setup("mimir_alerts_fire_on_the_series_the_agent_labels") else {
        return;
    };
    let ingester = scrape_labels(
        m,
        "StatefulSet",
        "mimir",
        "mimir-distributed-ingester",
        "ingester",
    );
    let distributor = scrape_labels(
        m,
        "Deployment",
        "mimir",
        "mimir-distributed-distributor",
        "distributor",
    );
    // What the mixins select and aggregate on.
    assert_eq!(ingester["cluster"], "kalypso");
    assert_eq!(ingester["namespace"], "mimir");
    assert_eq!(ingester["job"], "mimir/ingester");
    assert_eq!(ingester["pod"], "mimir-distributed-ingester-0");
    assert_eq!(ingester["container"], "ingester");
    assert_eq!(distributor["job"], "mimir/distributor");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("mimir-alerts.yaml"),
        without_annotations(&files["mimir-alerts"]),
    )
    .expect("write");
    let push = [("route", "api_v1_push"), ("method", "POST")];
    let test = json!({
        "rule_files": ["mimir-alerts.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": series("cortex_ring_members", &ingester, &[("name", "ingester"), ("state", "Unhealthy")]), "values": "1x40"},
                {"series": series("cortex_request_duration_seconds_count", &distributor, &[push[0], push[1], ("status_code", "500")]), "values": "0+60x40"},
                {"series": series("cortex_request_duration_seconds_count", &distributor, &[push[0], push[1], ("status_code", "200")]), "values": "0+60x40"}
            ],
            "alert_rule_test": [
                // Pending for its 15 minutes first.
                {"eval_time": "10m", "alertname": "MimirIngesterUnhealthy", "exp_alerts": []},
                {"eval_time": "30m", "alertname": "MimirIngesterUnhealthy", "exp_alerts": [
                    {"exp_labels": labels(&[("severity", "critical"), ("cluster", "kalypso"), ("namespace", "mimir")])}
                ]},
                {"eval_time": "30m", "alertname": "MimirRequestErrors", "exp_alerts": [
                    {"exp_labels": labels(&[("severity", "critical"), ("histogram", "classic"), ("cluster", "kalypso"),
                        ("namespace", "mimir"), ("job", "mimir/distributor"), ("route", "api_v1_push")])}
                ]}
            ]
        }]
    });
    std::fs::write(dir.path().join("test.yaml"), test.to_string()).expect("write");
    promtool(&bin, &["test", "rules", "test.yaml"], dir.path());
}

#[test]
fn loki_alerts_fire_on_the_series_the_agent_labels() {
    let Some((m, bin, files)) = setup("loki_alerts_fire_on_the_series_the_agent_labels") else {
        return;
    };
    let loki = scrape_labels(m, "StatefulSet", "loki", "loki", "loki");
    // Loki's mixin names its monolith's job after the application; 18.0 selects app_instance.
    assert_eq!(loki["job"], "loki/loki");
    assert_eq!(loki["app_instance"], "kalypso-loki");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("loki-alerts.yaml"),
        without_annotations(&files["loki-alerts"]),
    )
    .expect("write");
    let where_ = [
        ("cluster", "kalypso"),
        ("app_instance", "kalypso-loki"),
        ("namespace", "loki"),
        ("job", "loki/loki"),
    ];
    let mut errors = where_.to_vec();
    errors.extend([("route", "loki_api_v1_push"), ("severity", "critical")]);
    let mut panics = where_.to_vec();
    panics.push(("severity", "critical"));
    let test = json!({
        "rule_files": ["loki-alerts.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": series("loki_request_duration_seconds_count", &loki, &[("route", "loki_api_v1_push"), ("status_code", "500")]), "values": "0+60x40"},
                {"series": series("loki_request_duration_seconds_count", &loki, &[("route", "loki_api_v1_push"), ("status_code", "200")]), "values": "0+60x40"},
                {"series": series("loki_panic_total", &loki, &[]), "values": "0+1x40"}
            ],
            "alert_rule_test": [
                {"eval_time": "30m", "alertname": "LokiRequestErrors", "exp_alerts": [{"exp_labels": labels(&errors)}]},
                {"eval_time": "20m", "alertname": "LokiRequestPanics", "exp_alerts": [{"exp_labels": labels(&panics)}]}
            ]
        }]
    });
    std::fs::write(dir.path().join("test.yaml"), test.to_string()).expect("write");
    promtool(&bin, &["test", "rules", "test.yaml"], dir.path());
}

#[test]
fn tempo_alerts_fire_on_the_series_the_agent_labels() {
    let Some((m, bin, files)) = setup("tempo_alerts_fire_on_the_series_the_agent_labels") else {
        return;
    };
    let Some(alerts) = files.get("tempo-alerts") else {
        return; // rule_files printed the SKIP line
    };
    let ingester = scrape_labels(
        m,
        "StatefulSet",
        "tempo",
        "tempo-distributed-ingester",
        "ingester",
    );
    let compactor = scrape_labels(
        m,
        "Deployment",
        "tempo",
        "tempo-distributed-compactor",
        "compactor",
    );
    assert_eq!(ingester["job"], "tempo/ingester");
    assert_eq!(compactor["job"], "tempo/compactor");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("tempo-alerts.yaml"),
        without_annotations(alerts),
    )
    .expect("write");
    let at = |severity: &str| {
        labels(&[
            ("severity", severity),
            ("cluster", "kalypso"),
            ("namespace", "tempo"),
        ])
    };
    let test = json!({
        "rule_files": ["tempo-alerts.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": series("tempo_ingester_flush_failed_retries_total", &ingester, &[]), "values": "0+1x120"},
                {"series": series("tempodb_compaction_errors_total", &compactor, &[]), "values": "0+1x120"},
                // 60 MB/s received by the ingester: the mixin's `job=~".+/ingester"` must match.
                {"series": series("tempo_ingester_bytes_received_total", &ingester, &[]), "values": "0+3600000000x120"}
            ],
            "alert_rule_test": [
                {"eval_time": "30m", "alertname": "TempoIngesterFlushesFailing", "exp_alerts": [{"exp_labels": at("critical")}]},
                {"eval_time": "100m", "alertname": "TempoCompactionsFailing", "exp_alerts": [{"exp_labels": at("critical")}]},
                {"eval_time": "30m", "alertname": "TempoProvisioningTooManyWrites", "exp_alerts": [{"exp_labels": at("warning")}]}
            ]
        }]
    });
    std::fs::write(dir.path().join("test.yaml"), test.to_string()).expect("write");
    promtool(&bin, &["test", "rules", "test.yaml"], dir.path());
}

#[test]
fn tempos_published_block_list_alert_never_fires_and_a_grouped_one_would() {
    let test = "tempos_published_block_list_alert_never_fires_and_a_grouped_one_would";
    let Some((m, bin, files)) = setup(test) else {
        return;
    };
    let Some(alerts) = files.get("tempo-alerts") else {
        return;
    };
    let compactor = scrape_labels(
        m,
        "Deployment",
        "tempo",
        "tempo-distributed-compactor",
        "compactor",
    );
    // The published rule, and the same rule with its numerator grouped like its denominator.
    let mut published = kalypso::manifest::yaml::value(alerts).expect("parses");
    let rule = published["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .find(|r| r["alert"] == "TempoBlockListRisingQuickly")
        .cloned()
        .expect("TempoBlockListRisingQuickly is published");
    let expr = rule["expr"].as_str().expect("expr").to_string();
    let numerator = "avg(tempodb_blocklist_length";
    assert!(
        expr.starts_with(numerator),
        "the published expression changed: {expr}"
    );
    let mut grouped = rule.clone();
    grouped["alert"] = json!("TempoBlockListRisingQuicklyGrouped");
    grouped["expr"] = json!(expr.replacen(
        numerator,
        "avg by (cluster, namespace) (tempodb_blocklist_length",
        1
    ));
    grouped.as_object_mut().expect("rule").remove("annotations");
    let mut only = rule;
    only.as_object_mut().expect("rule").remove("annotations");
    published = json!({"groups": [{"name": "tempo_block_list", "rules": [only, grouped]}]});
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("tempo-block-list.yaml"),
        published.to_string(),
    )
    .expect("write");
    let test = json!({
        "rule_files": ["tempo-block-list.yaml"],
        "evaluation_interval": "5m",
        "tests": [{
            // The block list grows eightfold in a week.
            "interval": "5m",
            "input_series": [
                {"series": series("tempodb_blocklist_length", &compactor, &[]), "values": "10+1x2300"}
            ],
            "alert_rule_test": [
                {"eval_time": "190h", "alertname": "TempoBlockListRisingQuickly", "exp_alerts": []},
                {"eval_time": "190h", "alertname": "TempoBlockListRisingQuicklyGrouped", "exp_alerts": [
                    {"exp_labels": labels(&[("severity", "critical"), ("cluster", "kalypso"), ("namespace", "tempo")])}
                ]}
            ]
        }]
    });
    std::fs::write(dir.path().join("test.yaml"), test.to_string()).expect("write");
    promtool(&bin, &["test", "rules", "test.yaml"], dir.path());
}
