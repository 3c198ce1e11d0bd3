//! The stack watches itself: the render provisions each backend's dashboards and loads its
//! rules into Mimir's ruler, `kalypso check` (rule selfmon/selectors) finds no panel or rule
//! of the default stack that can only show nothing, and a planted relabelling change that drops
//! `job` from the node agent's scrapes makes it fail, naming the dashboard, the panel and the
//! selector. Needs helm and the upstream archives of Mimir, Loki, Tempo and Grafana (SKIP lines
//! without them); the dashboards and rules loaded by URL at install time are read from the test
//! copy of the published files (`KALYPSO_UPSTREAM_MONITORING`, else `../shared/upstream-monitoring`
//! beside the repository) when there is one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use kalypso::manifest::{Manifest, Object, Source};
use serde_json::Value;

use crate::support::{
    archives_or_skip, check_command, copy_repo, helm_or_skip, json_report, mutate, repo_root, skip,
};

/// The archives whose charts provision the self-monitoring.
pub(crate) const ARCHIVES: &[&str] = &[
    "kalypso-mimir/charts/mimir-distributed-6.2.0.tgz",
    "kalypso-loki/charts/loki-18.11.0.tgz",
    "kalypso-tempo/charts/tempo-distributed-2.26.2.tgz",
    "kalypso-grafana/charts/grafana-12.11.1.tgz",
];

/// Where the published monitoring files of the pinned versions are, when they are.
pub(crate) fn monitoring_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os(kalypso::check::MONITORING_DIR_ENV) {
        Some(d) => PathBuf::from(d),
        None => repo_root().join("../shared/upstream-monitoring"),
    };
    dir.is_dir().then_some(dir)
}

/// The repository's stack rendered once per test process (`kalypso render`), or `None` after
/// a SKIP line when helm or an archive is missing.
pub(crate) fn rendered(test: &str) -> Option<&'static Manifest> {
    static RENDER: OnceLock<Option<Manifest>> = OnceLock::new();
    if helm_or_skip(test).is_none() || !archives_or_skip(test, ARCHIVES) {
        return None;
    }
    RENDER
        .get_or_init(|| {
            let helm = helm_or_skip(test)?;
            let out = tempfile::tempdir().expect("tempdir");
            let status = Command::cargo_bin("kalypso")
                .expect("binary")
                .env("KALYPSO_HELM", &helm.binary)
                .args(["render", "--repo"])
                .arg(repo_root())
                .arg("--out")
                .arg(out.path())
                .output()
                .expect("kalypso render runs");
            assert!(
                status.status.success(),
                "kalypso render failed:\n{}",
                String::from_utf8_lossy(&status.stderr)
            );
            let index: Value = serde_json::from_str(
                &std::fs::read_to_string(out.path().join("index.json")).expect("index.json"),
            )
            .expect("index");
            let sources: Vec<Source> = index
                .as_array()
                .expect("index entries")
                .iter()
                .map(|e| {
                    let file = e["file"].as_str().expect("file");
                    Source {
                        component: e["release"].as_str().expect("release").to_string(),
                        origin: file.to_string(),
                        default_namespace: e["namespace"].as_str().expect("ns").to_string(),
                        text: std::fs::read_to_string(out.path().join(file)).expect("render"),
                    }
                })
                .collect();
            Some(Manifest::from_sources(&sources).expect("render parses"))
        })
        .as_ref()
}

/// ConfigMaps of `namespace` carrying label `key=value`.
pub(crate) fn labelled<'a>(
    m: &'a Manifest,
    namespace: &str,
    key: &str,
    value: &str,
) -> Vec<&'a Object> {
    m.of_kind("ConfigMap")
        .filter(|o| o.namespace.as_deref() == Some(namespace))
        .filter(|o| o.body["metadata"]["labels"][key].as_str() == Some(value))
        .collect()
}

/// The rule files a rules ConfigMap loads: `(ruler namespace, text or URL, is_url)`.
pub(crate) fn rule_sources(cm: &Object) -> Vec<(String, String, bool)> {
    cm.body["data"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let text = v.as_str()?.to_string();
            if let Some(ns) = k.strip_suffix(".yaml") {
                Some((ns.to_string(), text, false))
            } else {
                k.strip_suffix(".url")
                    .map(|ns| (ns.to_string(), text.trim().to_string(), true))
            }
        })
        .collect()
}

/// The local copy of a published file (`<dir>/<repo>-<tag>/<longest tail of its path>`).
pub(crate) fn local_copy(dir: &Path, url: &str) -> Option<PathBuf> {
    let parts: Vec<&str> = url.split_once("://")?.1.split('/').collect();
    let base = dir.join(format!("{}-{}", parts.get(2)?, parts.get(3)?));
    let path = parts.get(4..)?;
    (0..path.len())
        .map(|skip| base.join(path[skip..].join("/")))
        .find(|p| p.is_file())
}

/// Rule groups of a rule file's text.
fn groups(text: &str) -> usize {
    kalypso::manifest::yaml::value(text)
        .and_then(|v| v["groups"].as_array().map(Vec::len))
        .unwrap_or(0)
}

#[test]
fn the_stack_provisions_each_backends_dashboards_and_loads_its_rules() {
    let Some(m) = rendered("the_stack_provisions_each_backends_dashboards_and_loads_its_rules")
    else {
        return;
    };
    // Mimir and Loki: their charts' own switches, ConfigMaps the Grafana sidecar loads.
    let mimir = labelled(m, "mimir", "grafana_dashboard", "1");
    let loki = labelled(m, "loki", "grafana_dashboard", "1");
    // Tempo and Pyroscope: downloaded by Grafana at start, from the pinned versions.
    let script = m
        .get("ConfigMap", Some("grafana"), "kalypso-grafana")
        .and_then(|c| c.body["data"]["download_dashboards.sh"].as_str())
        .expect("grafana's download script");
    let urls: Vec<&str> = script
        .split('"')
        .filter(|p| p.starts_with("https://"))
        .collect();
    let tempo = urls
        .iter()
        .filter(|u| u.contains("/grafana/tempo/v2.10.7/"))
        .count();
    let pyroscope = urls
        .iter()
        .filter(|u| u.contains("/grafana/pyroscope/v2.2.1/"))
        .count();
    eprintln!(
        "dashboards: Mimir {}, Loki {}, Tempo {tempo}, Pyroscope {pyroscope}",
        mimir.len(),
        loki.len()
    );
    assert!(mimir.len() >= 20, "Mimir dashboards: {}", mimir.len());
    assert!(loki.len() >= 10, "Loki dashboards: {}", loki.len());
    assert!(tempo >= 5, "Tempo dashboards: {tempo}");
    assert!(pyroscope >= 2, "Pyroscope dashboards: {pyroscope}");
    for d in mimir.iter().chain(&loki) {
        let json = d.body["data"]
            .as_object()
            .and_then(|data| data.values().next())
            .and_then(Value::as_str)
            .expect("dashboard JSON");
        let v: Value = serde_json::from_str(json).expect("dashboard parses");
        assert!(v["title"].is_string(), "{} has a dashboard", d.name);
    }

    // The sidecar watches exactly those namespaces, for that label.
    let grafana = m
        .get("Deployment", Some("grafana"), "kalypso-grafana")
        .expect("grafana");
    let sidecar = grafana.body["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|c| c["name"] == "grafana-sc-dashboard")
        .expect("dashboard sidecar");
    let env: BTreeMap<&str, &str> = sidecar["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str()?)))
        .collect();
    assert_eq!(env.get("NAMESPACE"), Some(&"mimir,loki"));
    assert_eq!(env.get("LABEL"), Some(&"grafana_dashboard"));
    assert_eq!(env.get("LABEL_VALUE"), Some(&"1"));

    // Rules: Mimir's mixin and Loki's chart rules in the render, Tempo's by URL; each loaded by
    // a hook Job into the contract's metrics tenant through Mimir's gateway.
    let mut counts = BTreeMap::new();
    for ns in ["mimir", "loki", "tempo"] {
        let cms = labelled(m, ns, "kalypso/ruler-rules", "true");
        assert_eq!(cms.len(), 1, "{ns}: one rules ConfigMap");
        let sources = rule_sources(cms[0]);
        assert!(sources.len() >= 2, "{ns}: rules and alerts: {sources:?}");
        let mut n = 0;
        for (ruler_ns, text, is_url) in &sources {
            assert!(ruler_ns.starts_with(ns), "{ruler_ns}");
            n += if *is_url {
                monitoring_dir()
                    .and_then(|d| local_copy(&d, text))
                    .map(|p| groups(&std::fs::read_to_string(p).expect("copy")))
                    .unwrap_or(0)
            } else {
                groups(text)
            };
        }
        counts.insert(ns, n);
        let job = m
            .of_kind("Job")
            .find(|j| j.namespace.as_deref() == Some(ns) && j.name.ends_with("-selfmon-rules"))
            .unwrap_or_else(|| panic!("{ns}: no rules loader Job"));
        assert_eq!(
            job.body["metadata"]["annotations"]["helm.sh/hook"],
            "post-install,post-upgrade"
        );
        let c = &job.body["spec"]["template"]["spec"]["containers"][0];
        let env: BTreeMap<&str, &str> = c["env"]
            .as_array()
            .expect("env")
            .iter()
            .filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str()?)))
            .collect();
        assert_eq!(
            env.get("MIMIR_ADDRESS"),
            Some(&"http://mimir-distributed-gateway.mimir.svc.cluster.local")
        );
        assert_eq!(env.get("MIMIR_TENANT_ID"), Some(&"kalypso"));
    }
    eprintln!("rule groups loaded: {counts:?}");
    assert!(counts["mimir"] >= 30, "Mimir groups: {}", counts["mimir"]);
    assert!(counts["loki"] >= 2, "Loki groups: {}", counts["loki"]);
    if monitoring_dir().is_some() {
        assert!(counts["tempo"] >= 2, "Tempo groups: {}", counts["tempo"]);
    } else {
        skip("no copy of the published monitoring files: Tempo's rule groups not counted");
    }
}

/// `kalypso check --output json` of `repo` with `extra` arguments; the selfmon findings.
fn selfmon_findings(repo: &Path, monitoring: Option<&Path>, extra: &[&str]) -> (i32, Vec<Value>) {
    let helm = helm_or_skip("selfmon").expect("helm");
    let mut cmd = check_command(&helm, repo, extra);
    cmd.env_remove(kalypso::check::MONITORING_DIR_ENV);
    if let Some(d) = monitoring {
        cmd.env(kalypso::check::MONITORING_DIR_ENV, d);
    }
    let (code, _, v) = json_report(cmd);
    let findings = v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["rule"] == "selfmon/selectors")
        .cloned()
        .collect();
    (code, findings)
}

fn show(findings: &[&Value]) -> String {
    findings
        .iter()
        .take(20)
        .map(|f| {
            format!(
                "{} {} {} | {}",
                f["severity"], f["object"], f["field"], f["message"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_panel_or_rule_of_the_default_stack_can_only_show_nothing() {
    let test = "no_panel_or_rule_of_the_default_stack_can_only_show_nothing";
    if rendered(test).is_none() {
        return;
    }
    let dir = monitoring_dir();
    if dir.is_none() {
        skip("no copy of the published monitoring files: Tempo and Pyroscope read as not verified");
    }
    let (_, findings) = selfmon_findings(&repo_root(), dir.as_deref(), &[]);
    let problems: Vec<&Value> = findings
        .iter()
        .filter(|f| f["severity"] != "info")
        .collect();
    assert!(
        problems.is_empty(),
        "selfmon/selectors:\n{}",
        show(&problems)
    );
    let by_kind = |word: &str| {
        findings
            .iter()
            .filter(|f| f["message"].as_str().is_some_and(|m| m.contains(word)))
            .count()
    };
    eprintln!(
        "selfmon/selectors on the default stack: {} info ({} accepted, {} metrics the stack does not collect, {} not verified)",
        findings.len(),
        by_kind("(accepted:"),
        by_kind("which the stack does not scrape"),
        by_kind("not verified")
    );
    match dir {
        // Read from the copy: nothing is left unverified.
        Some(_) => assert_eq!(by_kind("not verified"), 0),
        // Each of the 7 dashboards and 2 rule files loaded by URL says so.
        None => assert_eq!(by_kind("not verified"), 9),
    }
}

#[test]
fn dropping_job_from_the_agents_relabelling_empties_the_panels_that_select_it() {
    let test = "dropping_job_from_the_agents_relabelling_empties_the_panels_that_select_it";
    if rendered(test).is_none() {
        return;
    }
    let copy = copy_repo();
    mutate(
        copy.path(),
        "charts/kalypso-otel/templates/agent-collector.yaml",
        "                - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_instance]\n                  target_label: app_instance\n",
        "                - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_instance]\n                  target_label: app_instance\n                - regex: job\n                  action: labeldrop\n",
    );
    let (code, findings) = selfmon_findings(copy.path(), None, &["--fail-on", "warning"]);
    assert_eq!(code, 1, "check must fail");
    let warnings: Vec<&Value> = findings
        .iter()
        .filter(|f| f["severity"] == "warning")
        .collect();
    let no_job = |f: &&Value| {
        f["message"]
            .as_str()
            .is_some_and(|m| m.contains("has a `job` label"))
    };
    assert!(warnings.iter().all(no_job), "{}", show(&warnings));
    // A Mimir writes panel, named with its dashboard and the selector that needs `job`.
    let writes = warnings
        .iter()
        .find(|f| f["object"]["name"] == "mimir-writes-dashboard")
        .unwrap_or_else(|| panic!("no Mimir / Writes panel among:\n{}", show(&warnings)));
    let message = writes["message"].as_str().expect("message");
    assert!(
        message.starts_with("dashboard \"Mimir / Writes\", panel "),
        "{message}"
    );
    assert!(
        message.contains("selector ") && message.contains("job=~\""),
        "{message}"
    );
    assert!(writes["field"]
        .as_str()
        .expect("field")
        .contains(": panel "));
    // Loki's dashboards and the loaded alerts are hit too.
    assert!(warnings.iter().any(|f| f["object"]["namespace"] == "loki"));
    assert!(warnings.iter().any(|f| f["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("alert ") && m.contains("can never fire"))));
    eprintln!("with `job` dropped: {} selfmon warnings", warnings.len());
}
