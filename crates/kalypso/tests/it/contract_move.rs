//! Moving a component to another namespace is an edit of the ApplicationSet, the AppProject's
//! destinations and the contract, nothing else: `check`, `up --dry-run`, `verify --help` and
//! `doctor` all follow. And when the contract and the ApplicationSet disagree, `check` says so.

use assert_cmd::Command;
use serde_json::Value;

use crate::fakes::api::Obj;
use crate::fakes::deploy::{comp, Harness};
use crate::fakes::k8s;
use crate::support::{copy_repo, helm_or_skip, mutate};

/// A repository copy with kalypso-loki in namespace `logs`.
fn loki_in_logs() -> tempfile::TempDir {
    let repo = copy_repo();
    for (file, from, to) in [
        (
            "argocd/applicationset.yaml",
            "path: charts/kalypso-loki, namespace: loki,",
            "path: charts/kalypso-loki, namespace: logs,",
        ),
        (
            "argocd/project.yaml",
            "namespace: loki}",
            "namespace: logs}",
        ),
        (
            "contract.yaml",
            "      kalypso-loki:\n        namespace: loki\n",
            "      kalypso-loki:\n        namespace: logs\n",
        ),
    ] {
        mutate(repo.path(), file, from, to);
    }
    repo
}

fn kalypso(repo: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("kalypso").expect("binary");
    c.current_dir(repo)
        .env("KALYPSO_SCHEMA_DIR", "/nonexistent");
    c
}

#[test]
fn check_up_and_verify_follow_a_component_moved_to_another_namespace() {
    let Some(helm) = helm_or_skip("namespace move") else {
        return;
    };
    let repo = loki_in_logs();

    let out = kalypso(repo.path())
        .env("KALYPSO_HELM", &helm.binary)
        .args(["check", "-o", "json", "--only", "otel,loki,grafana"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    let errors: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The collector and Grafana now point at the moved gateway (checked wherever rendered).
    let rendered = kalypso(repo.path())
        .env("KALYPSO_HELM", &helm.binary)
        .args(["render", "--only", "otel,grafana"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        text.contains("loki-gateway.logs.svc.cluster.local"),
        "{text}"
    );
    assert!(
        !text.contains(".loki.svc"),
        "a reference still says namespace loki"
    );

    kalypso(repo.path())
        .args(["up", "--dry-run", "--only", "loki"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains("kalypso-loki  namespace logs"));
    kalypso(repo.path())
        .args(["verify", "--help"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains("svc/loki-gateway.logs:80"));
}

#[test]
fn a_contract_that_disagrees_with_the_applicationset_is_an_error_naming_both() {
    let Some(helm) = helm_or_skip("contract mismatch") else {
        return;
    };
    let repo = copy_repo();
    mutate(
        repo.path(),
        "contract.yaml",
        "      kalypso-loki:\n        namespace: loki\n",
        "      kalypso-loki:\n        namespace: logs\n",
    );
    let out = kalypso(repo.path())
        .env("KALYPSO_HELM", &helm.binary)
        .args(["check", "-o", "json", "--only", "minio"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "wiring/contract")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(
        f["message"],
        "component kalypso-loki is in namespace loki in the ApplicationSet but logs in contract.yaml"
    );
}

#[test]
fn doctor_follows_the_namespace_of_the_component_that_installs_cert_manager() {
    // kalypso-otel moved to `telemetry`: its own cert-manager there is not a conflict, one
    // installed by the same release name in the old namespace is.
    let h = Harness::new(&[comp("kalypso-otel", "telemetry", 1)]);
    std::fs::write(
        h.repo.join("charts/kalypso-otel/Chart.yaml"),
        "apiVersion: v2\nname: kalypso-otel\nversion: 0.1.0\ndependencies:\n  - {name: cert-manager, version: v1.0.0, repository: https://charts.invalid}\n",
    )
    .unwrap();
    let crd = |name: &str, ns: &str| {
        Obj::fixed(serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name, "annotations": {
                "meta.helm.sh/release-name": "kalypso-otel", "meta.helm.sh/release-namespace": ns}},
        }))
    };
    h.api.add([
        Obj::fixed(k8s::node("n", "6.1.0", "amd64")),
        crd("certificates.cert-manager.io", "telemetry"),
    ]);
    let finding = |h: &Harness| -> Value {
        let out = h.kalypso().args(["doctor", "-o", "json"]).output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == "conflict/cert-manager")
            .cloned()
            .unwrap_or_else(|| panic!("{v:#}"))
    };
    assert_eq!(finding(&h)["severity"], "ok");
    h.api.add([crd("issuers.cert-manager.io", "otel-system")]);
    let f = finding(&h);
    assert_eq!(f["severity"], "error", "{f}");
    assert!(
        f["message"]
            .as_str()
            .unwrap_or("")
            .contains("owned by helm release kalypso-otel in otel-system"),
        "{f}"
    );
}
