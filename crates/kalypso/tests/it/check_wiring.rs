//! Wiring rules on small stacks written in the tests: DNS names, Secrets and ConfigMaps,
//! buckets, tenants and S3 credentials.

use crate::support::{of_rule, problems, show, Fixture};
use kalypso::check::Severity;

const MINIO: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: minio}
spec:
  ports: [{name: http, port: 9000, targetPort: 9000}]
---
apiVersion: v1
kind: Secret
metadata: {name: minio-user-mimir}
stringData: {secretKey: mimir-secret}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: minio}
data:
  initialize: |-
    createBucket mimir-blocks "none" false false false
    createBucket loki-chunks "none" false false false
  add-user: |-
    echo mimir > $MINIO_ACCESSKEY_SECRETKEY_TMP
    cat /config/secrets/minio-user-mimir/secretKey >> $MINIO_ACCESSKEY_SECRETKEY_TMP
    echo >> $MINIO_ACCESSKEY_SECRETKEY_TMP
    createUser kalypso-mimir
"#;

const MIMIR: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: mimir-gateway}
spec:
  ports: [{name: http-metrics, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: mimir-gossip-ring}
spec:
  clusterIP: None
  ports: [{name: gossip-ring, port: 7946, targetPort: 7946}]
---
apiVersion: v1
kind: Secret
metadata: {name: mimir-s3-credentials}
stringData: {S3_ACCESS_KEY_ID: mimir, S3_SECRET_ACCESS_KEY: mimir-secret}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: mimir-config}
data:
  mimir.yaml: |
    common:
      storage:
        backend: s3
        s3: {endpoint: "minio.minio.svc.cluster.local:9000", access_key_id: "${S3_ACCESS_KEY_ID}"}
    blocks_storage:
      s3: {bucket_name: mimir-blocks}
    memberlist:
      join_members: ["dns+mimir-gossip-ring.mimir.svc.cluster.local.:7946"]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: mimir}
spec:
  template:
    spec:
      containers:
        - name: mimir
          image: grafana/mimir:3.2.0
          envFrom: [{secretRef: {name: mimir-s3-credentials}}]
          volumeMounts: [{name: config, mountPath: /etc/mimir}]
          resources: {requests: {cpu: 10m, memory: 64Mi}, limits: {memory: 128Mi}}
          readinessProbe: {httpGet: {path: /ready, port: 8080}}
      volumes:
        - {name: config, configMap: {name: mimir-config}}
"#;

const OTEL: &str = r#"
apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: gateway}
spec:
  mode: deployment
  resources: {requests: {cpu: 10m, memory: 64Mi}, limits: {memory: 128Mi}}
  config:
    receivers:
      otlp: {protocols: {grpc: {endpoint: "0.0.0.0:4317"}, http: {endpoint: "0.0.0.0:4318"}}}
    exporters:
      otlp_http/mimir:
        endpoint: http://mimir-gateway.mimir.svc.cluster.local/otlp
        headers: {X-Scope-OrgID: kalypso}
"#;

const GRAFANA: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: grafana-datasources}
data:
  datasources.yaml: |
    apiVersion: 1
    datasources:
      - name: Mimir
        uid: mimir
        type: prometheus
        url: http://mimir-gateway.mimir.svc.cluster.local/prometheus
        jsonData: {httpHeaderName1: X-Scope-OrgID}
        secureJsonData: {httpHeaderValue1: kalypso}
      - name: Agent
        type: prometheus
        url: http://gateway-collector.otel-system:4318
"#;

fn consistent() -> Fixture {
    with_grafana(GRAFANA)
}

fn with_grafana(grafana: &str) -> Fixture {
    Fixture::new()
        .chart("kalypso-otel", "otel-system", 1, OTEL)
        .chart("kalypso-minio", "minio", 3, MINIO)
        .chart("kalypso-mimir", "mimir", 4, MIMIR)
        .chart("kalypso-grafana", "grafana", 6, grafana)
}

#[test]
fn a_consistent_multi_namespace_stack_has_no_wiring_finding() {
    let findings = consistent().findings();
    let wiring: Vec<_> = findings
        .iter()
        .filter(|f| f.rule.starts_with("wiring/"))
        .collect();
    assert!(wiring.is_empty(), "unexpected:\n{}", show(&wiring));
}

#[test]
fn a_grafana_datasource_pointing_at_a_missing_service_is_reported_naming_it_and_the_address() {
    let grafana = GRAFANA.replace("mimir-gateway.mimir", "mimir-query.mimir");
    let findings = with_grafana(&grafana).findings();
    let dns = of_rule(&findings, "wiring/dns");
    assert_eq!(dns.len(), 1, "{}", show(&dns));
    let f = dns[0];
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.object.name, "grafana-datasources");
    assert_eq!(f.object.namespace.as_deref(), Some("grafana"));
    assert_eq!(f.field, "data.datasources.yaml: datasources[0].url");
    assert!(
        f.message.contains("mimir-query.mimir.svc.cluster.local"),
        "{}",
        f.message
    );
    assert!(f.message.contains("mimir/mimir-query"), "{}", f.message);
}

#[test]
fn a_port_the_service_does_not_expose_is_reported_with_the_ports_it_has() {
    let mimir = MIMIR.replace(
        "minio.minio.svc.cluster.local:9000",
        "minio.minio.svc.cluster.local:9001",
    );
    let findings = Fixture::new()
        .chart("kalypso-minio", "minio", 3, MINIO)
        .chart("kalypso-mimir", "mimir", 4, &mimir)
        .findings();
    let dns = of_rule(&findings, "wiring/dns");
    assert_eq!(dns.len(), 1, "{}", show(&dns));
    assert_eq!(dns[0].field, "data.mimir.yaml: common.storage.s3.endpoint");
    assert!(
        dns[0].message.contains("no port 9001 (ports 9000 (http))"),
        "{}",
        dns[0].message
    );
}

#[test]
fn http_urls_without_a_port_need_port_80_and_headless_names_may_use_the_target_port() {
    let mimir = MIMIR.replace("port: 80, targetPort: 8080", "port: 8080, targetPort: 8080");
    let findings = Fixture::new()
        .chart("kalypso-mimir", "mimir", 4, &mimir)
        .chart("g", "grafana", 6, GRAFANA)
        .findings();
    let dns = of_rule(&findings, "wiring/dns");
    assert!(
        dns.iter()
            .any(|f| f.message.contains("no port 80 (the default for http://")),
        "{}",
        show(&dns)
    );
}

#[test]
fn per_pod_and_srv_names_resolve_to_their_service() {
    let extra = r#"
apiVersion: v1
kind: Service
metadata: {name: pyroscope-headless}
spec:
  clusterIP: None
  ports: [{name: grpc, port: 9095}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data:
  config.yaml: |
    a: dnssrvnoa+_grpc._tcp.pyroscope-headless.pyroscope.svc.cluster.local
    b: pyroscope-0.pyroscope-headless.pyroscope.svc.cluster.local:9095
    c: dnssrvnoa+_raft._tcp.pyroscope-headless.pyroscope.svc.cluster.local
"#;
    let findings = Fixture::new()
        .chart("kalypso-pyroscope", "pyroscope", 5, extra)
        .findings();
    let dns = of_rule(&findings, "wiring/dns");
    assert_eq!(dns.len(), 1, "{}", show(&dns));
    assert_eq!(dns[0].field, "data.config.yaml: c");
    assert!(
        dns[0].message.contains("no port named raft"),
        "{}",
        dns[0].message
    );
}

#[test]
fn names_outside_the_input_are_unresolvable_info_and_cluster_services_are_known() {
    let cm = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data:
  a: "http://thing.elsewhere.svc.cluster.local:8080"
  b: "https://kubernetes.default.svc:443"
  c: "kube-dns.kube-system.svc.cluster.local:53"
"#;
    let findings = Fixture::new().chart("x", "x", 1, cm).findings();
    let dns = of_rule(&findings, "wiring/dns");
    assert_eq!(dns.len(), 1, "{}", show(&dns));
    assert_eq!(dns[0].severity, Severity::Info);
    assert!(
        dns[0].message.contains("unresolvable"),
        "{}",
        dns[0].message
    );
}

#[test]
fn a_missing_service_of_a_chart_rendered_with_stand_ins_is_only_info() {
    let findings = Fixture::new()
        .partial("kalypso-mimir", "mimir", 4, &["mimir-distributed"], "")
        .chart("kalypso-grafana", "grafana", 6, GRAFANA)
        .findings();
    let dns = of_rule(&findings, "wiring/dns");
    assert!(!dns.is_empty());
    assert!(
        dns.iter().all(|f| f.severity == Severity::Info),
        "{}",
        show(&dns)
    );
    assert!(
        dns[0].message.contains("stand-ins for mimir-distributed"),
        "{}",
        dns[0].message
    );
}

#[test]
fn services_the_otel_operator_makes_for_a_collector_resolve() {
    let findings = consistent().findings();
    // The datasource "Agent" points at gateway-collector:4318, made by the operator.
    assert!(of_rule(&findings, "wiring/dns").is_empty());
    let bad = GRAFANA.replace(
        "gateway-collector.otel-system:4318",
        "gateway-collector.otel-system:4319",
    );
    let findings = with_grafana(&bad).findings();
    let dns = of_rule(&findings, "wiring/dns");
    assert_eq!(dns.len(), 1, "{}", show(&dns));
    assert!(
        dns[0]
            .message
            .contains("made by the operator for OpenTelemetryCollector otel-system/gateway"),
        "{}",
        dns[0].message
    );
}

#[test]
fn a_missing_secret_is_reported_unless_optional_or_declared_external() {
    let mimir = MIMIR.replace(
        "secretRef: {name: mimir-s3-credentials}",
        "secretRef: {name: mimir-s3}",
    );
    let findings = Fixture::new()
        .chart("kalypso-mimir", "mimir", 4, &mimir)
        .findings();
    let secret = of_rule(&findings, "wiring/secret");
    assert_eq!(secret.len(), 1, "{}", show(&secret));
    assert_eq!(
        secret[0].field,
        "spec.template.spec.containers[0].envFrom[0].secretRef.name"
    );
    assert!(
        secret[0]
            .message
            .contains("Secret mimir/mimir-s3 does not exist"),
        "{}",
        secret[0].message
    );

    let optional = MIMIR.replace(
        "secretRef: {name: mimir-s3-credentials}",
        "secretRef: {name: mimir-s3, optional: true}",
    );
    let findings = Fixture::new()
        .chart("kalypso-mimir", "mimir", 4, &optional)
        .findings();
    assert!(of_rule(&findings, "wiring/secret").is_empty());
}

#[test]
fn a_missing_configmap_and_a_missing_key_are_reported() {
    let mimir = MIMIR.replace(
        "configMap: {name: mimir-config}",
        "configMap: {name: mimir-cfg}",
    );
    let findings = Fixture::new()
        .chart("kalypso-mimir", "mimir", 4, &mimir)
        .findings();
    let cm = of_rule(&findings, "wiring/configmap");
    assert_eq!(cm.len(), 1, "{}", show(&cm));
    assert_eq!(cm[0].field, "spec.template.spec.volumes[0].configMap.name");

    let keyed = MIMIR.replace(
        "envFrom: [{secretRef: {name: mimir-s3-credentials}}]",
        "env: [{name: K, valueFrom: {secretKeyRef: {name: mimir-s3-credentials, key: S3_KEY}}}]",
    );
    let findings = Fixture::new()
        .chart("kalypso-mimir", "mimir", 4, &keyed)
        .findings();
    let secret = of_rule(&findings, "wiring/secret");
    assert_eq!(secret.len(), 1, "{}", show(&secret));
    assert!(
        secret[0].message.contains("has no key \"S3_KEY\""),
        "{}",
        secret[0].message
    );
}

#[test]
fn a_bucket_the_object_store_does_not_create_is_reported() {
    let mimir = MIMIR.replace("bucket_name: mimir-blocks", "bucket_name: mimir-blockz");
    let findings = consistent()
        .chart("kalypso-mimir2", "mimir2", 4, &mimir)
        .findings();
    let bucket = of_rule(&findings, "wiring/bucket");
    assert_eq!(bucket.len(), 1, "{}", show(&bucket));
    assert_eq!(
        bucket[0].field,
        "data.mimir.yaml: blocks_storage.s3.bucket_name"
    );
    assert!(
        bucket[0]
            .message
            .contains("\"mimir-blockz\" is not created"),
        "{}",
        bucket[0].message
    );
}

#[test]
fn buckets_without_an_object_store_in_the_input_are_info() {
    let findings = Fixture::new()
        .chart("kalypso-mimir", "mimir", 4, MIMIR)
        .findings();
    let bucket = of_rule(&findings, "wiring/bucket");
    assert_eq!(bucket.len(), 1);
    assert_eq!(bucket[0].severity, Severity::Info);
}

#[test]
fn s3_credentials_must_match_an_object_store_user() {
    let wrong = MIMIR.replace(
        "S3_SECRET_ACCESS_KEY: mimir-secret",
        "S3_SECRET_ACCESS_KEY: other",
    );
    let findings = Fixture::new()
        .chart("m", "minio", 3, MINIO)
        .chart("x", "mimir", 4, &wrong)
        .findings();
    let creds = of_rule(&findings, "wiring/credentials");
    assert_eq!(creds.len(), 1, "{}", show(&creds));
    assert_eq!(creds[0].field, "data.S3_SECRET_ACCESS_KEY");
    assert!(
        creds[0]
            .message
            .contains("Secret minio/minio-user-mimir key secretKey"),
        "{}",
        creds[0].message
    );
    assert!(
        !creds[0].message.contains("other"),
        "never print secret values"
    );

    let unknown = MIMIR.replace("S3_ACCESS_KEY_ID: mimir,", "S3_ACCESS_KEY_ID: root,");
    let findings = Fixture::new()
        .chart("m", "minio", 3, MINIO)
        .chart("x", "mimir", 4, &unknown)
        .findings();
    let creds = of_rule(&findings, "wiring/credentials");
    assert!(
        creds[0].message.contains("\"root\" is not a user"),
        "{}",
        show(&creds)
    );
}

#[test]
fn writers_and_readers_that_disagree_on_the_tenant_are_reported() {
    let grafana = GRAFANA.replace("httpHeaderValue1: kalypso", "httpHeaderValue1: anonymous");
    let findings = with_grafana(&grafana).findings();
    let tenant = of_rule(&findings, "wiring/tenant");
    assert_eq!(tenant.len(), 1, "{}", show(&tenant));
    let f = tenant[0];
    assert_eq!(f.object.kind, "OpenTelemetryCollector");
    assert_eq!(f.field, "spec.config.exporters.otlp_http/mimir.endpoint");
    assert!(f.message.contains("tenant \"kalypso\""), "{}", f.message);
    assert!(
        f.message.contains("uses tenant \"anonymous\""),
        "{}",
        f.message
    );

    let no_header = OTEL.replace("headers: {X-Scope-OrgID: kalypso}", "headers: {}");
    let findings = Fixture::new()
        .chart("o", "otel-system", 1, &no_header)
        .chart("m", "mimir", 4, MIMIR)
        .chart("g", "grafana", 6, GRAFANA)
        .findings();
    let tenant = of_rule(&findings, "wiring/tenant");
    assert_eq!(tenant.len(), 1, "{}", show(&tenant));
    assert!(
        tenant[0].message.contains("no X-Scope-OrgID"),
        "{}",
        tenant[0].message
    );
}

#[test]
fn the_consistent_stack_only_has_expected_non_wiring_findings() {
    let findings = consistent().findings();
    // The collector runs in wave 1 and exports to Mimir in wave 4: a runtime dependency, info.
    let p = problems(&findings);
    assert!(p.is_empty(), "{}", show(&p));
}
