//! Ordering rules: CRDs before their custom resources, startup dependencies in earlier waves,
//! and Argo CD manifests that really enforce the waves.

use crate::support::{of_rule, show, Fixture};
use kalypso::check::Severity;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.io}
spec:
  group: example.io
  scope: Namespaced
  names: {kind: Widget, plural: widgets}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
"#;

const WIDGET: &str = r#"
apiVersion: example.io/v1
kind: Widget
metadata: {name: w}
"#;

#[test]
fn a_custom_resource_in_an_earlier_wave_than_its_crd_is_an_error() {
    let findings = Fixture::new()
        .chart("a", "a", 1, WIDGET)
        .chart("b", "b", 2, CRD)
        .findings();
    let crd = of_rule(&findings, "ordering/crd");
    assert_eq!(crd.len(), 1, "{}", show(&crd));
    assert_eq!(crd[0].severity, Severity::Error);
    assert!(
        crd[0].message.contains("wave 1, before b (wave 2)"),
        "{}",
        crd[0].message
    );
}

#[test]
fn a_custom_resource_after_its_crd_is_fine_and_the_same_wave_is_a_warning() {
    let later = Fixture::new()
        .chart("b", "b", 1, CRD)
        .chart("a", "a", 2, WIDGET)
        .findings();
    assert!(of_rule(&later, "ordering/crd").is_empty());
    let same = Fixture::new()
        .chart("b", "b", 2, CRD)
        .chart("a", "a", 2, WIDGET)
        .findings();
    let crd = of_rule(&same, "ordering/crd");
    assert_eq!(crd.len(), 1);
    assert_eq!(crd[0].severity, Severity::Warning);
}

#[test]
fn in_one_chart_a_custom_resource_needs_a_later_sync_wave_than_its_crd() {
    let together = format!("{CRD}---{WIDGET}");
    let findings = Fixture::new().chart("a", "a", 1, &together).findings();
    let crd = of_rule(&findings, "ordering/crd");
    assert_eq!(crd.len(), 1, "{}", show(&crd));
    assert!(
        crd[0].message.contains("argocd.argoproj.io/sync-wave"),
        "{}",
        crd[0].message
    );
    let annotated = format!(
        "{CRD}---{}",
        WIDGET.replace(
            "metadata: {name: w}",
            "metadata: {name: w, annotations: {argocd.argoproj.io/sync-wave: \"2\"}}"
        )
    );
    let findings = Fixture::new().chart("a", "a", 1, &annotated).findings();
    assert!(of_rule(&findings, "ordering/crd").is_empty());
}

const LOKI: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: loki}
data:
  config.yaml: |
    common:
      storage:
        s3: {endpoint: "minio.minio.svc.cluster.local:9000"}
"#;

const MINIO_SVC: &str =
    "apiVersion: v1\nkind: Service\nmetadata: {name: minio}\nspec: {ports: [{port: 9000}]}\n";

#[test]
fn a_startup_dependency_on_a_later_wave_is_an_error_and_on_the_same_wave_a_warning() {
    let later = Fixture::new()
        .chart("kalypso-loki", "loki", 3, LOKI)
        .chart("kalypso-minio", "minio", 4, MINIO_SVC)
        .findings();
    let waves = of_rule(&later, "ordering/waves");
    assert_eq!(waves.len(), 1, "{}", show(&waves));
    assert_eq!(waves[0].severity, Severity::Error);
    assert!(
        waves[0]
            .message
            .contains("kalypso-loki (wave 3) needs minio.minio.svc.cluster.local:9000"),
        "{}",
        waves[0].message
    );

    let same = Fixture::new()
        .chart("kalypso-loki", "loki", 4, LOKI)
        .chart("kalypso-minio", "minio", 4, MINIO_SVC)
        .findings();
    let waves = of_rule(&same, "ordering/waves");
    assert_eq!(waves[0].severity, Severity::Warning, "{}", show(&waves));

    let right = Fixture::new()
        .chart("kalypso-minio", "minio", 3, MINIO_SVC)
        .chart("kalypso-loki", "loki", 4, LOKI)
        .findings();
    assert!(of_rule(&right, "ordering/waves").is_empty());
}

#[test]
fn a_remote_write_to_a_backend_of_the_same_wave_is_runtime_only_info() {
    let tempo = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: tempo}
data:
  tempo.yaml: |
    metrics_generator:
      storage:
        remote_write:
          - url: http://mimir-gateway.mimir.svc.cluster.local/api/v1/push
"#;
    let mimir = "apiVersion: v1\nkind: Service\nmetadata: {name: mimir-gateway}\nspec: {ports: [{port: 80}]}\n";
    let findings = Fixture::new()
        .chart("kalypso-mimir", "mimir", 4, mimir)
        .chart("kalypso-tempo", "tempo", 4, tempo)
        .findings();
    let waves = of_rule(&findings, "ordering/waves");
    assert_eq!(waves.len(), 1, "{}", show(&waves));
    assert_eq!(waves[0].severity, Severity::Info);
    assert!(
        waves[0].message.contains("runtime dependency"),
        "{}",
        waves[0].message
    );
}

const APPSET: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: kalypso}
spec:
  generators:
    - list:
        elements:
          - {name: kalypso-minio, path: charts/kalypso-minio, namespace: minio, wave: "3"}
          - {name: kalypso-loki, path: charts/kalypso-loki, namespace: loki, wave: "4"}
  strategy:
    type: RollingSync
    rollingSync:
      steps:
        - matchExpressions: [{key: kalypso/wave, operator: In, values: ["3"]}]
        - matchExpressions: [{key: kalypso/wave, operator: In, values: ["4"]}]
  template:
    metadata:
      name: "{{ .name }}"
      labels: {kalypso/wave: "{{ .wave }}"}
    spec:
      project: kalypso
      source: {repoURL: "https://example.org/kalypso.git", path: "{{ .path }}"}
      destination: {server: "https://kubernetes.default.svc", namespace: "{{ .namespace }}"}
      syncPolicy: {syncOptions: [CreateNamespace=true]}
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: kalypso}
spec:
  sourceRepos: ["https://example.org/kalypso.git"]
  destinations:
    - {server: "https://kubernetes.default.svc", namespace: minio}
    - {server: "https://kubernetes.default.svc", namespace: loki}
  clusterResourceWhitelist:
    - {group: "", kind: Namespace}
    - {group: rbac.authorization.k8s.io, kind: ClusterRole}
"#;

const CLUSTER_ROLE: &str =
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: loki}\n";

fn gitops(appset: &str) -> Vec<kalypso::check::Finding> {
    Fixture::new()
        .chart("kalypso-minio", "minio", 3, MINIO_SVC)
        .chart(
            "kalypso-loki",
            "loki",
            4,
            &format!("{LOKI}---\n{CLUSTER_ROLE}"),
        )
        .extra("argocd", "argocd", appset)
        .findings()
}

#[test]
fn rolling_sync_steps_that_enforce_every_wave_in_order_pass() {
    let findings = gitops(APPSET);
    let waves = of_rule(&findings, "ordering/waves");
    assert!(waves.is_empty(), "{}", show(&waves));
}

#[test]
fn a_wave_without_a_step_is_an_error_naming_the_component() {
    let findings = gitops(&APPSET.replace("wave: \"4\"}", "wave: \"5\"}"));
    let waves = of_rule(&findings, "ordering/waves");
    assert!(
        waves.iter().any(|f| f
            .message
            .contains("wave \"5\" of kalypso-loki has no RollingSync step")),
        "{}",
        show(&waves)
    );
}

#[test]
fn steps_out_of_order_and_strategies_that_do_not_order_are_errors() {
    let swapped = APPSET.replace("values: [\"3\"]}]\n        - matchExpressions: [{key: kalypso/wave, operator: In, values: [\"4\"]}]", "values: [\"4\"]}]\n        - matchExpressions: [{key: kalypso/wave, operator: In, values: [\"3\"]}]");
    let waves_found = gitops(&swapped);
    let waves = of_rule(&waves_found, "ordering/waves");
    assert!(
        waves
            .iter()
            .any(|f| f.message.contains("not in ascending wave order")),
        "{}",
        show(&waves)
    );

    let all_at_once = gitops(&APPSET.replace("type: RollingSync", "type: AllAtOnce"));
    let waves = of_rule(&all_at_once, "ordering/waves");
    assert!(
        waves.iter().any(|f| f.field == "spec.strategy.type"),
        "{}",
        show(&waves)
    );

    let unlabelled = gitops(&APPSET.replace(
        "labels: {kalypso/wave: \"{{ .wave }}\"}",
        "labels: {kalypso/wave: \"4\"}",
    ));
    let waves = of_rule(&unlabelled, "ordering/waves");
    assert!(
        waves
            .iter()
            .any(|f| f.field == "spec.template.metadata.labels"),
        "{}",
        show(&waves)
    );
}

#[test]
fn the_app_project_must_allow_every_namespace_cluster_kind_and_the_repository() {
    let narrow = APPSET
        .replace(
            "    - {server: \"https://kubernetes.default.svc\", namespace: loki}\n",
            "",
        )
        .replace(
            "    - {group: rbac.authorization.k8s.io, kind: ClusterRole}\n",
            "",
        )
        .replace(
            "sourceRepos: [\"https://example.org/kalypso.git\"]",
            "sourceRepos: [\"https://example.org/other.git\"]",
        );
    let findings = gitops(&narrow);
    let waves = of_rule(&findings, "ordering/waves");
    let text = show(&waves);
    assert!(
        text.contains("namespace loki is not an allowed destination"),
        "{text}"
    );
    assert!(
        text.contains(
            "cluster-scoped kind rbac.authorization.k8s.io/ClusterRole is not whitelisted"
        ),
        "{text}"
    );
    assert!(
        text.contains("repoURL https://example.org/kalypso.git is not in sourceRepos"),
        "{text}"
    );
}
