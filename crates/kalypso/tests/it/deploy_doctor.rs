//! `kalypso doctor`: Kubernetes version, node kernels and architectures, default
//! StorageClass, conflicting cert-manager / Istio / OpenTelemetry Operator installs, and the
//! Argo CD progressive-sync setting; every finding says how to fix it.

use serde_json::{json, Value};

use crate::fakes::api::Obj;
use crate::fakes::deploy::{comp, Harness};
use crate::fakes::k8s;

/// kalypso-otel brings cert-manager and the operator, kalypso-istio brings istiod: doctor
/// finds out which component installs what from their charts' dependencies.
fn harness() -> Harness {
    let h = Harness::new(&[
        comp("kalypso-otel", "otel-system", 1),
        comp("kalypso-istio", "istio-system", 2),
    ]);
    for (chart, deps) in [
        (
            "kalypso-otel",
            &["cert-manager", "opentelemetry-operator"][..],
        ),
        ("kalypso-istio", &["base", "istiod"][..]),
    ] {
        let mut yaml = format!("apiVersion: v2\nname: {chart}\nversion: 0.1.0\ndependencies:\n");
        for d in deps {
            yaml.push_str(&format!(
                "  - {{name: {d}, version: 1.0.0, repository: https://charts.invalid}}\n"
            ));
        }
        std::fs::write(h.repo.join("charts").join(chart).join("Chart.yaml"), yaml)
            .expect("Chart.yaml");
    }
    h
}

fn findings(h: &Harness, args: &[&str], code: i32) -> Vec<Value> {
    let out = h
        .kalypso()
        .args(["doctor", "--output", "json"])
        .args(args)
        .assert()
        .code(code)
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).expect("JSON");
    v["findings"].as_array().expect("findings").clone()
}

fn find<'a>(f: &'a [Value], check: &str, contains: &str) -> &'a Value {
    f.iter()
        .find(|x| x["check"] == check && x["message"].as_str().unwrap_or("").contains(contains))
        .unwrap_or_else(|| panic!("no {check} finding with {contains:?} in {f:#?}"))
}

#[test]
fn problems_are_reported_each_with_a_fix() {
    let h = harness();
    h.api.set_version("v1.31.4", "31");
    let mut foreign_crd = k8s::crd("certificates.cert-manager.io", "cert-manager").1;
    foreign_crd["metadata"]["annotations"]["meta.helm.sh/release-namespace"] =
        json!("cert-manager");
    let istiod = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "istiod", "namespace": "istio-system", "labels": {"app": "istiod"}},
        "spec": {"selector": {"matchLabels": {"app": "istiod"}}, "template": {}}});
    h.api.add([
        Obj::fixed(k8s::node("old", "4.19.112-1.el7", "amd64")),
        Obj::fixed(k8s::node("mainframe", "6.1.0", "s390x")),
        Obj::fixed(k8s::storage_class("local", false)),
        Obj::fixed(foreign_crd),
        Obj::fixed(istiod),
    ]);
    let f = findings(&h, &[], 1);
    let v = find(&f, "kubernetes-version", "v1.31.4 is older than 1.32");
    assert_eq!(v["severity"], "error");
    let k = find(
        &f,
        "node-kernel",
        "node old: kernel 4.19.112-1.el7 is older than 5.10",
    );
    assert_eq!(k["severity"], "warning");
    assert!(k["fix"]
        .as_str()
        .unwrap_or("")
        .contains("ebpfProfiler.enabled: false"));
    assert_eq!(
        find(&f, "node-arch", "mainframe: architecture s390x")["severity"],
        "warning"
    );
    let s = find(
        &f,
        "storage-class",
        "no default StorageClass (classes: local)",
    );
    assert_eq!(s["severity"], "error");
    assert!(s["fix"]
        .as_str()
        .unwrap_or("")
        .contains("kubectl patch storageclass local"));
    let c = find(
        &f,
        "conflict/cert-manager",
        "CRD certificates.cert-manager.io is owned by helm release cert-manager in cert-manager",
    );
    assert_eq!(c["severity"], "error");
    assert!(c["fix"]
        .as_str()
        .unwrap_or("")
        .contains("cert-manager.enabled=false"));
    let i = find(
        &f,
        "conflict/istio",
        "Deployment istio-system/istiod is owned by no helm release",
    );
    assert_eq!(i["severity"], "error");
    for x in &f {
        if x["severity"] != "ok" {
            assert!(
                x["fix"].as_str().is_some_and(|s| !s.is_empty()),
                "no fix in {x}"
            );
        }
    }
}

#[test]
fn gitops_needs_argocd_with_progressive_syncs() {
    let h = harness();
    h.api.add([
        Obj::fixed(k8s::node("n", "6.1.0", "amd64")),
        Obj::fixed(k8s::storage_class("standard", true)),
    ]);
    let f = findings(&h, &["--gitops"], 1);
    assert_eq!(
        find(&f, "gitops/argocd", "namespace argocd does not exist")["severity"],
        "error"
    );

    let argocd_crds = [
        "applications.argoproj.io",
        "applicationsets.argoproj.io",
        "appprojects.argoproj.io",
    ];
    h.api.add([
        Obj::fixed(k8s::namespace("argocd")),
        Obj::fixed(k8s::configmap(
            "argocd",
            "argocd-cmd-params-cm",
            json!({"server.insecure": "true"}),
        )),
    ]);
    h.api.add(
        argocd_crds
            .iter()
            .map(|n| Obj::fixed(k8s::crd(n, "argocd").1)),
    );
    let f = findings(&h, &["--gitops"], 1);
    find(&f, "gitops/argocd", "Argo CD CRDs present");
    let p = find(
        &f,
        "gitops/progressive-syncs",
        "applicationsetcontroller.enable.progressive.syncs is not set",
    );
    assert!(p["fix"]
        .as_str()
        .unwrap_or("")
        .contains("kubectl -n argocd patch configmap argocd-cmd-params-cm"));

    let h2 = harness();
    h2.api.add([
        Obj::fixed(k8s::node("n", "6.1.0", "amd64")),
        Obj::fixed(k8s::storage_class("standard", true)),
        Obj::fixed(k8s::namespace("argocd")),
    ]);
    h2.api.add(
        argocd_crds
            .iter()
            .map(|n| Obj::fixed(k8s::crd(n, "argocd").1)),
    );
    h2.api.add([Obj::fixed(k8s::configmap(
        "argocd",
        "argocd-cmd-params-cm",
        json!({"applicationsetcontroller.enable.progressive.syncs": "true"}),
    ))]);
    let f = findings(&h2, &["--gitops"], 0);
    find(&f, "gitops/progressive-syncs", "is \"true\"");
}
