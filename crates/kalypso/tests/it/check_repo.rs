//! `kalypso check` on the repository's own charts, and mutation tests that break one wire at a
//! time in a temporary copy and expect `check` to fail naming it. They need helm (CI installs
//! it); mutations whose broken side is rendered by an upstream chart also need that chart's
//! archive under `charts/<chart>/charts/` and print a SKIP line without it.

use std::path::Path;

use crate::support::{
    archives_or_skip, check_command, copy_repo, helm_or_skip, json_report, mutate, repo_root,
    show_json,
};

const TEMPO: &str = "kalypso-tempo/charts/tempo-distributed-2.26.2.tgz";
const MINIO: &str = "kalypso-minio/charts/minio-5.4.0.tgz";
const LOKI: &str = "kalypso-loki/charts/loki-18.11.0.tgz";

/// Runs `kalypso check --output json` on `repo`; returns the exit code and the findings.
fn check(
    helm: &kalypso::helm::Helm,
    repo: &Path,
    extra: &[&str],
) -> (i32, Vec<serde_json::Value>, serde_json::Value) {
    json_report(check_command(helm, repo, extra))
}

fn errors(findings: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    findings
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect()
}

#[test]
fn the_repository_stack_checks_clean() {
    let Some(helm) = helm_or_skip("the_repository_stack_checks_clean") else {
        return;
    };
    let (code, findings, v) = check(&helm, &repo_root(), &[]);
    let errs = errors(&findings);
    assert_eq!(
        code,
        0,
        "kalypso check on the repository failed:\n{}",
        show_json(&errs)
    );
    let warnings: Vec<_> = findings
        .iter()
        .filter(|f| f["severity"] == "warning")
        .collect();
    assert!(warnings.is_empty(), "warnings:\n{}", show_json(&warnings));
    let charts = v["charts"].as_array().expect("charts");
    assert_eq!(charts.len(), 8, "{charts:?}");
    for c in charts {
        println!("chart {} {} {:?}", c["name"], c["status"], c["stand_ins"]);
    }
}

/// The main job on a fresh clone: every upstream chart a stand-in, and still no error and no
/// warning (a waiver of an object only an upstream chart renders is not called stale).
#[test]
fn offline_the_repository_stack_checks_clean_without_warnings() {
    let Some((helm, repo)) = offline_repo("offline clean check") else {
        return;
    };
    let (code, findings, v) = check(&helm, repo.path(), &[]);
    let loud: Vec<_> = findings
        .iter()
        .filter(|f| f["severity"] != "info")
        .collect();
    assert_eq!(code, 0, "{}", show_json(&loud));
    assert!(loud.is_empty(), "{}", show_json(&loud));
    assert!(partial(&v), "{v}");
}

/// A repository copy with one mutation (`file`: `from` → `to`), checked with `--only only`:
/// the exit code and the errors. `None`, after a SKIP line, when helm or an upstream archive
/// the broken side needs is absent.
fn check_mutated(
    test: &str,
    archives: &[&str],
    (file, from, to): (&str, &str, &str),
    only: &str,
) -> Option<(i32, Vec<serde_json::Value>)> {
    let helm = helm_or_skip(test)?;
    if !archives_or_skip(test, archives) {
        return None;
    }
    let repo = copy_repo();
    mutate(repo.path(), file, from, to);
    let (code, findings, _) = check(&helm, repo.path(), &["--only", only]);
    Some((code, errors(&findings).into_iter().cloned().collect()))
}

#[test]
fn a_grafana_datasource_on_the_wrong_port_is_reported() {
    let Some((code, errs)) = check_mutated(
        "datasource mutation",
        &[TEMPO],
        (
            "charts/kalypso-grafana/templates/datasources-configmap.yaml",
            r#"url: {{ include "kalypso-common.url" (list . "kalypso-tempo" "queryFrontend") | quote }}"#,
            "url: http://tempo-distributed-query-frontend.tempo.svc.cluster.local:3300",
        ),
        "tempo,grafana",
    ) else {
        return;
    };
    assert_eq!(code, 1);
    assert!(
        errs.iter().any(|f| f["rule"] == "wiring/dns"
            && f["object"]["namespace"] == "grafana"
            && f["message"]
                .as_str()
                .unwrap_or("")
                .contains("has no port 3300")),
        "{}",
        show_json(&errs.iter().collect::<Vec<_>>())
    );
}

#[test]
fn a_wrong_s3_endpoint_is_reported() {
    let Some((code, errs)) = check_mutated(
        "S3 endpoint mutation",
        &[MINIO, LOKI],
        (
            "charts/kalypso-loki/values.yaml",
            r#"endpoint: '{{ include "kalypso-common.address" (list . "kalypso-minio" "s3") }}'"#,
            "endpoint: minio.minio.svc.cluster.local:9001",
        ),
        "minio,loki",
    ) else {
        return;
    };
    assert_eq!(code, 1);
    assert!(
        errs.iter().any(|f| f["rule"] == "wiring/dns"
            && f["object"]["namespace"] == "loki"
            && f["field"].as_str().unwrap_or("").contains("s3.endpoint")
            && f["message"]
                .as_str()
                .unwrap_or("")
                .contains("minio.minio.svc.cluster.local:9001")),
        "{}",
        show_json(&errs.iter().collect::<Vec<_>>())
    );
}

#[test]
fn a_metrics_port_the_policies_close_to_the_node_agent_is_reported() {
    // The node agent finds Loki's `http-metrics` port (3100) by service discovery; the
    // metrics rule now opens another port.
    let rule = "      podSelector: {matchLabels: {app.kubernetes.io/component: single-binary}}\n      ports: [3100]";
    let Some((code, errs)) = check_mutated(
        "scrape mutation",
        &[LOKI],
        (
            "charts/kalypso-loki/values.yaml",
            rule,
            &rule.replace("[3100]", "[3101]"),
        ),
        "otel,loki",
    ) else {
        return;
    };
    let all = errs.iter().collect::<Vec<_>>();
    assert_eq!(code, 1, "{}", show_json(&all));
    let scrape: Vec<_> = errs
        .iter()
        .filter(|f| f["rule"] == "wiring/netpol")
        .collect();
    assert_eq!(scrape.len(), 1, "{}", show_json(&all));
    assert_eq!(scrape[0]["object"]["name"], "kalypso-agent");
    let m = scrape[0]["message"].as_str().unwrap_or_default();
    assert!(
        m.contains("StatefulSet loki/loki port 3100 (scraped by job \"kubernetes-pods\""),
        "{m}"
    );
    assert!(m.contains("kalypso-loki-ingress-metrics"), "{m}");
}

#[test]
fn a_bucket_the_object_store_does_not_create_is_reported() {
    let Some((code, errs)) = check_mutated(
        "bucket mutation",
        &[MINIO, TEMPO],
        (
            "charts/kalypso-tempo/values.yaml",
            r#"bucket: '{{ include "kalypso-common.get" (list . "components" "kalypso-tempo" "storage" "buckets" "traces") }}'"#,
            "bucket: tempo-tracez",
        ),
        "minio,tempo",
    ) else {
        return;
    };
    assert_eq!(code, 1);
    assert!(
        errs.iter().any(|f| f["rule"] == "wiring/bucket"
            && f["object"]["namespace"] == "tempo"
            && f["message"]
                .as_str()
                .unwrap_or("")
                .contains("\"tempo-tracez\"")),
        "{}",
        show_json(&errs.iter().collect::<Vec<_>>())
    );
}

#[test]
fn a_secret_that_is_not_rendered_is_reported_until_declared_external() {
    let Some(helm) = helm_or_skip("Secret mutation") else {
        return;
    };
    if !archives_or_skip("Secret mutation", &[LOKI]) {
        return;
    }
    // Point Loki at a user-managed S3 Secret that nobody creates.
    let repo = copy_repo();
    mutate(
        repo.path(),
        "charts/kalypso-loki/values.yaml",
        "existingSecret: \"\"",
        "existingSecret: loki-s3-external",
    );
    mutate(
        repo.path(),
        "charts/kalypso-loki/values.yaml",
        "name: loki-s3-credentials",
        "name: loki-s3-external",
    );
    let (code, findings, _) = check(&helm, repo.path(), &["--only", "loki"]);
    let errs = errors(&findings);
    assert_eq!(code, 1);
    assert!(
        errs.iter().any(|f| f["rule"] == "wiring/secret"
            && f["object"]["namespace"] == "loki"
            && f["field"].as_str().unwrap_or("").contains("envFrom")
            && f["message"]
                .as_str()
                .unwrap_or("")
                .contains("Secret loki/loki-s3-external does not exist")),
        "{}",
        show_json(&errs)
    );
    // Declared as supplied from outside, it is no longer a finding.
    std::fs::write(
        repo.path().join("kalypso-policy.yaml"),
        "external:\n  - {kind: Secret, namespace: loki, name: loki-s3-external, reason: created from the vault before install}\n",
    )
    .unwrap();
    let (_, findings, _) = check(&helm, repo.path(), &["--only", "loki"]);
    assert!(
        !findings.iter().any(|f| f["rule"] == "wiring/secret"),
        "{}",
        show_json(&errors(&findings))
    );
}

#[test]
fn a_wave_without_a_rolling_sync_step_is_reported() {
    let Some(helm) = helm_or_skip("wave mutation") else {
        return;
    };
    let repo = copy_repo();
    mutate(
        repo.path(),
        "argocd/applicationset.yaml",
        "namespace: minio, wave: \"3\",",
        "namespace: minio, wave: \"7\",",
    );
    let (code, findings, _) = check(&helm, repo.path(), &["--only", "minio"]);
    let errs = errors(&findings);
    assert_eq!(code, 1);
    assert!(
        errs.iter().any(|f| f["rule"] == "ordering/waves"
            && f["object"]["kind"] == "ApplicationSet"
            && f["message"]
                .as_str()
                .unwrap_or("")
                .contains("wave \"7\" of kalypso-minio has no RollingSync step")),
        "{}",
        show_json(&errs)
    );
}

/// A repository copy as the offline main job sees it: no upstream archive (every upstream chart
/// a stand-in), and the Kubernetes schemas CI installed for the repository (without them the
/// schema rule warns). `None`, after a SKIP line, without helm.
fn offline_repo(test: &str) -> Option<(kalypso::helm::Helm, tempfile::TempDir)> {
    let helm = helm_or_skip(test)?;
    let repo = copy_repo();
    without_archives(repo.path());
    let venv = repo_root().join(".cache/venv");
    if venv.is_dir() {
        std::fs::create_dir_all(repo.path().join(".cache")).expect("cache dir");
        std::os::unix::fs::symlink(&venv, repo.path().join(".cache/venv")).expect("link venv");
    }
    Some((helm, repo))
}

/// Whether the summary says the check was partial.
fn partial(v: &serde_json::Value) -> bool {
    v["summary"]["text"]
        .as_str()
        .unwrap_or_default()
        .starts_with("PARTIAL")
}

/// Removes the upstream archives from a repository copy: the offline check, with stand-ins.
fn without_archives(root: &Path) {
    for chart in std::fs::read_dir(root.join("charts"))
        .expect("charts")
        .flatten()
    {
        let Ok(entries) = std::fs::read_dir(chart.path().join("charts")) else {
            continue;
        };
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "tgz") {
                std::fs::remove_file(e.path()).expect("remove archive");
            }
        }
    }
}

#[test]
fn offline_a_bucket_the_object_store_does_not_create_is_still_reported_from_the_values() {
    let Some((helm, repo)) = offline_repo("offline bucket mutation") else {
        return;
    };
    // Offline, Loki and MinIO are stand-ins: no Loki config and no MinIO bucket Job are
    // rendered, only the values each would have received.
    mutate(
        repo.path(),
        "charts/kalypso-loki/values.yaml",
        r#"chunks: '{{ include "kalypso-common.get" (list . "components" "kalypso-loki" "storage" "buckets" "chunks") }}'"#,
        "chunks: loki-chunkz",
    );
    let (code, findings, v) = check(&helm, repo.path(), &[]);
    assert!(partial(&v), "{v}");
    let errs = errors(&findings);
    assert_eq!(code, 1, "{}", show_json(&errs));
    let bucket: Vec<_> = errs
        .iter()
        .filter(|f| f["rule"] == "wiring/bucket")
        .collect();
    assert_eq!(bucket.len(), 1, "{}", show_json(&errs));
    assert_eq!(bucket[0]["field"], "loki.loki.storage.bucketNames.chunks");
    assert_eq!(bucket[0]["object"]["namespace"], "loki");
    let m = bucket[0]["message"].as_str().unwrap_or_default();
    assert!(
        m.contains("\"loki-chunkz\" is not created by the object store"),
        "{m}"
    );
    assert!(m.contains("loki-chunks"), "lists what is created: {m}");
}

#[test]
fn offline_a_bucket_set_by_a_template_kalypso_cannot_evaluate_is_listed_as_not_verified() {
    let Some((helm, repo)) = offline_repo("offline unverifiable bucket") else {
        return;
    };
    mutate(
        repo.path(),
        "charts/kalypso-tempo/values.yaml",
        r#"bucket: '{{ include "kalypso-common.get" (list . "components" "kalypso-tempo" "storage" "buckets" "traces") }}'"#,
        r#"bucket: '{{ printf "%s-traces" "tempo" }}'"#,
    );
    let (_, findings, _) = check(&helm, repo.path(), &[]);
    let listed: Vec<_> = findings
        .iter()
        .filter(|f| f["rule"] == "wiring/bucket")
        .collect();
    assert_eq!(listed.len(), 1, "{}", show_json(&listed));
    assert_eq!(listed[0]["severity"], "info");
    assert_eq!(
        listed[0]["field"],
        "tempo-distributed.storage.trace.s3.bucket"
    );
    assert!(
        listed[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not verified"),
        "{}",
        show_json(&listed)
    );
}

#[test]
fn the_production_profile_checks_clean_and_fails_when_a_development_credential_comes_back() {
    let Some(helm) = helm_or_skip("production profile") else {
        return;
    };
    let repo = copy_repo();
    let (code, findings, _) = check(&helm, repo.path(), &["--profile", "production"]);
    assert_eq!(code, 0, "{}", show_json(&errors(&findings)));
    // Someone drops the existingSecret of Loki's production profile and restores the
    // development key of values.yaml.
    mutate(
        repo.path(),
        "charts/kalypso-loki/profiles/production.yaml",
        "    secretAccessKey: \"\"\n    existingSecret: loki-s3-credentials\n",
        "    secretAccessKey: loki-dev-secret-change-me\n    existingSecret: \"\"\n",
    );
    let (code, findings, _) = check(&helm, repo.path(), &["--profile", "production"]);
    let errs = errors(&findings);
    assert_eq!(code, 1, "{}", show_json(&errs));
    let on_loki_secret = |rule: &str| {
        errs.iter().any(|f| {
            f["rule"] == rule
                && f["object"]["kind"] == "Secret"
                && f["object"]["namespace"] == "loki"
                && f["object"]["name"] == "loki-s3-credentials"
        })
    };
    assert!(
        on_loki_secret("production/credentials"),
        "{}",
        show_json(&errs)
    );
    assert!(
        on_loki_secret("production/existing-secret"),
        "{}",
        show_json(&errs)
    );
    // The same render without the profile is development: no production findings.
    let (_, findings, _) = check(&helm, repo.path(), &[]);
    assert!(
        findings
            .iter()
            .all(|f| !f["rule"].as_str().unwrap_or("").starts_with("production/")),
        "{}",
        show_json(&findings.iter().collect::<Vec<_>>())
    );
}

/// A value a backend refuses at startup (outside the closed set its source accepts, or a
/// duration its Go type cannot parse) is a `config/value` error naming the key, the value, what
/// is accepted and where the source says so: one case per backend, with the real charts.
#[test]
fn a_value_each_backend_refuses_at_startup_is_an_error_naming_key_value_and_source() {
    const MIMIR: &str = "kalypso-mimir/charts/mimir-distributed-6.2.0.tgz";
    const PYROSCOPE: &str = "kalypso-pyroscope/charts/pyroscope-2.2.1.tgz";
    let test = "config/value per backend";
    let Some(helm) = helm_or_skip(test) else {
        return;
    };
    if !archives_or_skip(test, &[MIMIR, TEMPO, LOKI, PYROSCOPE]) {
        return;
    }
    let root = repo_root();
    let cases = [
        (
            "pyroscope",
            "pyroscope.pyroscope.structuredConfig.storage.s3.bucket_lookup_type=path",
            "storage.s3.bucket_lookup_type",
            "\"path-style\"",
        ),
        (
            "tempo",
            "tempo-distributed.storage.trace.backend=s4",
            "storage.trace.backend",
            "\"s3\"",
        ),
        (
            "tempo",
            "tempo-distributed.tempo.structuredConfig.compactor.compaction.block_retention=2d",
            "compactor.compaction.block_retention",
            "is not a Go duration",
        ),
        (
            "mimir",
            "mimir-distributed.mimir.structuredConfig.ruler_storage.backend=s4",
            "ruler_storage.backend",
            "\"filesystem\"",
        ),
        (
            "loki",
            "loki.loki.limits_config.retention_period=3days",
            "limits_config.retention_period",
            "Prometheus duration",
        ),
    ];
    for (only, set, key, accepted) in cases {
        let (code, findings, _) = check(&helm, &root, &["--only", only, "--set", set]);
        let errs = errors(&findings);
        assert_eq!(code, 1, "{set}: expected exit 1\n{}", show_json(&errs));
        let hit = errs.iter().find(|f| {
            f["rule"] == "config/value"
                && f["field"].as_str().is_some_and(|x| x.ends_with(key))
                && f["message"].as_str().is_some_and(|m| m.contains(accepted))
        });
        assert!(
            hit.is_some(),
            "{set}: no config/value error on {key}\n{}",
            show_json(&errs)
        );
    }
}
