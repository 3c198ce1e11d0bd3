//! A repository copy for `kalypso up` on the control plane. Each upstream chart whose archive
//! is present (`charts/<chart>/charts/<dep>-<version>.tgz`, from `helm dependency build`) is
//! used as is; each absent one (always, offline in CI) gets a small stand-in chart written
//! here, with what kalypso's gates and the charts' own templates depend on: the CRDs the
//! umbrella charts create resources of, webhook configurations behind Services with ready
//! endpoints (cainjector-annotated like the real ones), and one workload per upstream chart,
//! backends as StatefulSets with volume claim templates. They are not copies of the upstream
//! charts and prove nothing about them; the test prints which charts were stand-ins.

use std::io::Write as _;
use std::path::Path;

use crate::support::copy_repo;

/// A repository copy ready for `kalypso up`.
pub struct UpRepo {
    pub dir: tempfile::TempDir,
}

impl UpRepo {
    /// The repository root of the copy.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Copies the repository and completes every chart's dependencies; prints which are
    /// stand-ins on the real stderr, so CI's log says what the test really installed.
    pub fn prepare(test: &str) -> UpRepo {
        let dir = copy_repo();
        let mut stand_ins = Vec::new();
        // CI has no upstream archives; this makes a developer's run take the same path.
        let force = std::env::var("KALYPSO_TEST_STAND_INS").as_deref() == Ok("1");
        for chart in std::fs::read_dir(dir.path().join("charts"))
            .expect("charts")
            .flatten()
        {
            let chart_dir = chart.path();
            let meta = kalypso::chart::ChartMeta::load(&chart_dir).expect("Chart.yaml");
            for dep in &meta.dependencies {
                // kalypso copies the repository's own (file://) charts in itself.
                if dep.is_local() {
                    continue;
                }
                let archive = dep.archive_path(&chart_dir);
                if archive.is_file() {
                    if !force {
                        continue;
                    }
                    std::fs::remove_file(&archive).expect("remove archive");
                }
                write_stand_in(
                    &chart_dir.join("charts").join(&dep.name),
                    &dep.name,
                    &dep.version,
                );
                stand_ins.push(format!("{}/{}", meta.name, dep.name));
            }
        }
        stand_ins.sort();
        let note = if stand_ins.is_empty() {
            "every upstream chart real".to_string()
        } else {
            format!("stand-ins for {}", stand_ins.join(", "))
        };
        let _ = writeln!(std::io::stderr(), "NOTE: control plane ({test}): {note}");
        UpRepo { dir }
    }
}

fn write_stand_in(dir: &Path, name: &str, version: &str) {
    std::fs::create_dir_all(dir.join("templates")).expect("mkdir stand-in");
    std::fs::write(
        dir.join("Chart.yaml"),
        format!(
            "apiVersion: v2\nname: {name}\nversion: {}\ndescription: kalypso control-plane test stand-in\n",
            version.trim_start_matches('=')
        ),
    )
    .expect("stand-in Chart.yaml");
    let text = match name {
        "cert-manager" => format!(
            "{}\n---\n{}\n---\n{}\n---\n{}\n---\n{}\n---\n{}\n---\n{}",
            crd("cert-manager.io", "Certificate", "certificates", "v1", true),
            crd("cert-manager.io", "Issuer", "issuers", "v1", true),
            crd("cert-manager.io", "CertificateRequest", "certificaterequests", "v1", true),
            crd("cert-manager.io", "ClusterIssuer", "clusterissuers", "v1", false),
            workload("Deployment", "{{ .Release.Name }}-cert-manager", ""),
            workload("Deployment", "{{ .Release.Name }}-cert-manager-webhook", ""),
            webhook(
                "ValidatingWebhookConfiguration",
                "{{ .Release.Name }}-cert-manager-webhook",
                "cert-manager.io/inject-ca-from-secret: {{ .Release.Namespace }}/{{ .Release.Name }}-cert-manager-webhook-ca"
            ),
        ),
        "opentelemetry-operator" => format!(
            "{}\n---\n{}\n---\n{}\n---\n{}\n---\n{}\n---\n{}",
            crd("opentelemetry.io", "OpenTelemetryCollector", "opentelemetrycollectors", "v1beta1", true),
            crd("opentelemetry.io", "Instrumentation", "instrumentations", "v1alpha1", true),
            ISSUER_AND_CERTIFICATE,
            workload("Deployment", "{{ .Release.Name }}-opentelemetry-operator", ""),
            webhook(
                "MutatingWebhookConfiguration",
                "{{ .Release.Name }}-opentelemetry-operator",
                "cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ .Release.Name }}-opentelemetry-operator-serving-cert"
            ),
            "",
        ),
        "base" => format!(
            "{}\n---\n{}\n---\n{}",
            crd("telemetry.istio.io", "Telemetry", "telemetries", "v1", true),
            crd("security.istio.io", "PeerAuthentication", "peerauthentications", "v1", true),
            crd("networking.istio.io", "DestinationRule", "destinationrules", "v1", true),
        ),
        "istiod" => workload("Deployment", "istiod", ""),
        "gateway" => workload("Deployment", "istio-ingressgateway", ""),
        "minio" => workload(
            "Deployment",
            "minio",
            "{{- with .Values.persistence.existingClaim }}\n      volumes:\n        - name: export\n          persistentVolumeClaim:\n            claimName: {{ . }}\n{{- end }}",
        ),
        // The all-in-one server, labelled as upstream labels it (kalypso-minio's Service `minio`
        // selects those labels), on the claim kalypso-minio creates.
        "seaweedfs" => workload(
            "Deployment",
            "seaweedfs-all-in-one",
            "{{- with .Values.allInOne.data.claimName }}\n      volumes:\n        - name: data\n          persistentVolumeClaim:\n            claimName: {{ . }}\n{{- end }}",
        )
        .replace(
            "{app.kubernetes.io/name: \"seaweedfs-all-in-one\"}",
            "{app.kubernetes.io/name: seaweedfs, app.kubernetes.io/instance: \"{{ .Release.Name }}\", app.kubernetes.io/component: seaweedfs-all-in-one}",
        ),
        "mimir-distributed" => workload("StatefulSet", "mimir-distributed-ingester", VOLUME_CLAIM),
        "tempo-distributed" => workload("StatefulSet", "tempo-distributed-ingester", VOLUME_CLAIM),
        "loki" => workload("StatefulSet", "loki", VOLUME_CLAIM),
        "pyroscope" => workload("StatefulSet", "pyroscope", VOLUME_CLAIM),
        "grafana" => workload("Deployment", "{{ .Release.Name }}", ""),
        _ => String::new(),
    };
    std::fs::write(dir.join("templates/stand-in.yaml"), text).expect("stand-in template");
}

fn crd(group: &str, kind: &str, plural: &str, version: &str, namespaced: bool) -> String {
    let scope = if namespaced { "Namespaced" } else { "Cluster" };
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  names: {{kind: {kind}, plural: {plural}, singular: {singular}, listKind: {kind}List}}
  scope: {scope}
  versions:
    - name: {version}
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true"#,
        singular = kind.to_lowercase()
    )
}

/// A workload whose pods pass the `restricted` Pod Security level, with a Service selecting
/// them (so webhooks in front of it get ready endpoints). `extra` is appended to the pod spec
/// (volumes) or, for a StatefulSet, to the spec (volume claim templates).
fn workload(kind: &str, name: &str, extra: &str) -> String {
    let (pod_extra, spec_extra) = if kind == "StatefulSet" {
        ("", extra)
    } else {
        (extra, "")
    };
    let service_name = if kind == "StatefulSet" {
        format!("\n  serviceName: {name}")
    } else {
        String::new()
    };
    format!(
        r#"apiVersion: apps/v1
kind: {kind}
metadata:
  name: {name}
spec:{service_name}
  replicas: 1
  selector:
    matchLabels: {{app.kubernetes.io/name: "{name}"}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: "{name}"}}
    spec:
      automountServiceAccountToken: false
      securityContext: {{runAsNonRoot: true, runAsUser: 65532, seccompProfile: {{type: RuntimeDefault}}}}
      containers:
        - name: main
          image: registry.invalid/kalypso-stand-in:1
          resources: {{requests: {{cpu: 10m, memory: 16Mi}}, limits: {{memory: 32Mi}}}}
          securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {{drop: [ALL]}}}}
{pod_extra}
{spec_extra}
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector: {{app.kubernetes.io/name: "{name}"}}
  ports: [{{name: https, port: 443, targetPort: 10250}}]"#
    )
}

const VOLUME_CLAIM: &str = r#"  volumeClaimTemplates:
    - metadata: {name: storage}
      spec:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 1Gi}}"#;

fn webhook(kind: &str, service: &str, annotation: &str) -> String {
    let hooks = if kind == "MutatingWebhookConfiguration" {
        "mutating"
    } else {
        "validating"
    };
    format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: {kind}
metadata:
  name: {service}
  annotations:
    {annotation}
webhooks:
  - name: {hooks}.stand-in.kalypso.test
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: Fail
    clientConfig:
      service: {{name: {service}, namespace: "{{{{ .Release.Namespace }}}}", path: /validate}}
    rules:
      - operations: [CREATE]
        apiGroups: [stand-in.kalypso.test]
        apiVersions: [v1]
        resources: [nothing]"#
    )
}

/// What the operator chart creates with `admissionWebhooks.certManager.enabled`: needs the
/// cert-manager CRDs from the earlier install step.
const ISSUER_AND_CERTIFICATE: &str = r#"apiVersion: cert-manager.io/v1
kind: Issuer
metadata:
  name: {{ .Release.Name }}-opentelemetry-operator-selfsigned-issuer
spec:
  selfSigned: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: {{ .Release.Name }}-opentelemetry-operator-serving-cert
spec:
  secretName: {{ .Release.Name }}-opentelemetry-operator-controller-manager-service-cert
  dnsNames: [{{ .Release.Name }}-opentelemetry-operator-webhook.{{ .Release.Namespace }}.svc]
  issuerRef: {kind: Issuer, name: {{ .Release.Name }}-opentelemetry-operator-selfsigned-issuer}"#;
