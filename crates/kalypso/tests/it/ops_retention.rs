//! `ops/retention` and `ops/rings` on the repository's own charts: the default stack bounds
//! every backend's retention, fits the bundled store and isolates every ring; mutations in a
//! temporary copy (one backend's retention removed, Loki's retention switched off, an ingest
//! budget that no longer fits, two rings sharing a label, a gossip port Istio would sniff) each
//! fail naming what broke. They render the real upstream charts (archives under
//! `charts/*/charts/`) and print a SKIP line without them.

use std::path::Path;

use serde_json::Value;

use crate::support::{
    archives_or_skip, check_command, copy_repo, helm_or_skip, json_report, mutate, repo_root,
    show_json,
};

const MIMIR: &str = "kalypso-mimir/charts/mimir-distributed-6.2.0.tgz";
const LOKI: &str = "kalypso-loki/charts/loki-18.11.0.tgz";
const TEMPO: &str = "kalypso-tempo/charts/tempo-distributed-2.26.2.tgz";
const PYROSCOPE: &str = "kalypso-pyroscope/charts/pyroscope-2.2.1.tgz";
const MINIO: &str = "kalypso-minio/charts/minio-5.4.0.tgz";

/// `kalypso check --output json` on `repo`: exit code and findings.
fn check(helm: &kalypso::helm::Helm, repo: &Path, extra: &[&str]) -> (i32, Vec<Value>) {
    let (code, findings, _) = json_report(check_command(helm, repo, extra));
    (code, findings)
}

fn of_rule<'a>(findings: &'a [Value], rule: &str, severity: &str) -> Vec<&'a Value> {
    findings
        .iter()
        .filter(|f| f["rule"] == rule && f["severity"] == severity)
        .collect()
}

fn ready(test: &str, archives: &[&str]) -> Option<kalypso::helm::Helm> {
    let helm = helm_or_skip(test)?;
    archives_or_skip(test, archives).then_some(helm)
}

#[test]
fn the_default_stack_bounds_every_retention_fits_the_store_and_isolates_every_ring() {
    let Some(helm) = ready("ops default stack", &[MIMIR, LOKI, TEMPO, PYROSCOPE, MINIO]) else {
        return;
    };
    let (_, findings) = check(&helm, &repo_root(), &[]);
    for rule in ["ops/retention", "ops/rings"] {
        let errs = of_rule(&findings, rule, "error");
        assert!(errs.is_empty(), "{rule}:\n{}", show_json(&errs));
    }
    // The budget's figures are reported: each signal's term, the total and the claim.
    let info = of_rule(&findings, "ops/retention", "info");
    let budget = info
        .iter()
        .find(|f| f["object"]["kind"] == "PersistentVolumeClaim")
        .unwrap_or_else(|| {
            panic!(
                "no budget finding on the store's claim:\n{}",
                show_json(&info)
            )
        });
    let message = budget["message"].as_str().unwrap_or_default();
    for figure in [
        "metrics 100Mi/day × (168h",
        "logs 500Mi/day × (72h",
        "traces 200Mi/day × (48h",
        "profiles 50Mi/day × (72h",
        "80% of claim minio (5Gi) = 4Gi",
    ] {
        assert!(message.contains(figure), "{figure:?} not in {message}");
    }
}

#[test]
fn a_backend_without_retention_is_an_error_naming_it_and_its_key() {
    let Some(helm) = ready("ops/retention removed", &[MIMIR]) else {
        return;
    };
    let repo = copy_repo();
    mutate(
        repo.path(),
        "charts/kalypso-mimir/values.yaml",
        "compactor_blocks_retention_period: '{{ include \"kalypso-common.get\" (list . \"retention\" \"metrics\" \"keep\") }}'",
        "",
    );
    let (code, findings) = check(&helm, repo.path(), &["--only", "mimir"]);
    let errs = of_rule(&findings, "ops/retention", "error");
    assert_eq!(code, 1, "{}", show_json(&errs));
    assert!(
        errs.iter().any(|f| {
            let m = f["message"].as_str().unwrap_or_default();
            f["object"]["namespace"] == "mimir"
                && f["field"]
                    .as_str()
                    .is_some_and(|x| x.ends_with("limits.compactor_blocks_retention_period"))
                && m.contains("mimir 3.2.0 keeps its data forever")
        }),
        "{}",
        show_json(&errs)
    );
}

#[test]
fn loki_with_retention_disabled_keeps_everything_and_is_an_error() {
    let Some(helm) = ready("ops/retention loki", &[LOKI]) else {
        return;
    };
    let repo = copy_repo();
    mutate(
        repo.path(),
        "charts/kalypso-loki/values.yaml",
        "retention_enabled: true",
        "retention_enabled: false",
    );
    let (code, findings) = check(&helm, repo.path(), &["--only", "loki"]);
    let errs = of_rule(&findings, "ops/retention", "error");
    assert_eq!(code, 1, "{}", show_json(&errs));
    assert!(
        errs.iter().any(|f| {
            f["object"]["namespace"] == "loki"
                && f["field"]
                    .as_str()
                    .is_some_and(|x| x.ends_with("compactor.retention_enabled"))
                && f["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("keeps every log forever"))
        }),
        "{}",
        show_json(&errs)
    );
}

#[test]
fn an_ingest_budget_that_no_longer_fits_the_store_fails_with_the_figures() {
    let Some(helm) = ready(
        "ops/retention budget",
        &[MIMIR, LOKI, TEMPO, PYROSCOPE, MINIO],
    ) else {
        return;
    };
    let repo = copy_repo();
    mutate(
        repo.path(),
        "contract.yaml",
        "logs: {keep: 72h, perDay: 500Mi}",
        "logs: {keep: 72h, perDay: 2Gi}",
    );
    let (code, findings) = check(&helm, repo.path(), &[]);
    let errs = of_rule(&findings, "ops/retention", "error");
    assert_eq!(code, 1, "{}", show_json(&errs));
    let hit = errs
        .iter()
        .find(|f| f["object"]["kind"] == "PersistentVolumeClaim" && f["object"]["name"] == "minio")
        .unwrap_or_else(|| panic!("no error on the store's claim:\n{}", show_json(&errs)));
    let message = hit["message"].as_str().unwrap_or_default();
    // 2Gi/day × (72h + Loki's default 2h delete delay) alone is 6.2Gi, over 4Gi.
    for figure in [
        "logs 2Gi/day × (72h loki limits_config.retention_period + 2h compactor.retention_delete_delay by default) = 6.2Gi",
        "80% of claim minio (5Gi) = 4Gi",
        "does not fit",
    ] {
        assert!(message.contains(figure), "{figure:?} not in {message}");
    }
}

#[test]
fn two_backends_sharing_a_cluster_label_are_both_named() {
    let Some(helm) = ready("ops/rings shared label", &[MIMIR, LOKI]) else {
        return;
    };
    let repo = copy_repo();
    let ours = "cluster_label: '{{ .Release.Name }}.{{ .Release.Namespace }}'";
    mutate(
        repo.path(),
        "charts/kalypso-mimir/values.yaml",
        ours,
        "cluster_label: shared-ring",
    );
    mutate(
        repo.path(),
        "charts/kalypso-loki/values.yaml",
        ours,
        "cluster_label: shared-ring",
    );
    let (code, findings) = check(&helm, repo.path(), &["--only", "mimir,loki"]);
    let errs = of_rule(&findings, "ops/rings", "error");
    assert_eq!(code, 1, "{}", show_json(&errs));
    for ns in ["mimir", "loki"] {
        assert!(
            errs.iter().any(|f| f["object"]["namespace"] == ns
                && f["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("\"shared-ring\" is shared by")
                        && m.contains("mimir (mimir)")
                        && m.contains("loki (loki)"))),
            "{ns}:\n{}",
            show_json(&errs)
        );
    }
}

#[test]
fn a_gossip_port_named_for_http_without_app_protocol_is_an_error() {
    let Some(helm) = ready("ops/rings gossip port", &[PYROSCOPE]) else {
        return;
    };
    let repo = copy_repo();
    mutate(
        repo.path(),
        "charts/kalypso-pyroscope/values.yaml",
        "port_name: tcp-memberlist",
        "port_name: http-memberlist",
    );
    let (code, findings) = check(&helm, repo.path(), &["--only", "pyroscope"]);
    let errs = of_rule(&findings, "ops/rings", "error");
    assert_eq!(code, 1, "{}", show_json(&errs));
    assert!(
        errs.iter().any(|f| f["object"]["kind"] == "Service"
            && f["object"]["name"] == "pyroscope-memberlist"
            && f["message"]
                .as_str()
                .is_some_and(|m| m.contains("\"http-memberlist\" and no appProtocol"))),
        "{}",
        show_json(&errs)
    );
}
