//! Precision on stacks nobody here wrote: each test is one cause of a false error found by
//! checking public charts (kube-prometheus-stack, ingress-nginx, argo-cd, the loki chart …)
//! rendered with their defaults, written down as a few lines of YAML.

use crate::support::{of_rule, show, Fixture};
use kalypso::check::Severity;

/// A Job running kube-webhook-certgen, as kube-prometheus-stack and ingress-nginx render it.
const CERTGEN: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: operator-admission-create
  annotations: {"helm.sh/hook": "pre-install,pre-upgrade"}
spec:
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: create
          image: registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.9
          args:
            - create
            - --host=operator,operator.$(POD_NAMESPACE).svc
            - --namespace=$(POD_NAMESPACE)
            - --secret-name=operator-admission
          env:
            - name: POD_NAMESPACE
              valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
"#;

fn operator_mounting(secret: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: operator}}
spec:
  template:
    spec:
      containers:
        - name: operator
          image: quay.io/example/operator:1.0.0
      volumes:
        - {{name: tls, secret: {{secretName: {secret}}}}}
"#
    )
}

#[test]
fn a_secret_that_a_certgen_hook_job_creates_at_install_is_not_reported_missing() {
    let stack = format!("{CERTGEN}---{}", operator_mounting("operator-admission"));
    let findings = Fixture::new()
        .chart("operator", "monitoring", 1, &stack)
        .findings();
    let secrets = of_rule(&findings, "wiring/secret");
    assert!(secrets.is_empty(), "{}", show(&secrets));
}

#[test]
fn a_secret_that_the_certgen_job_does_not_create_is_still_an_error() {
    let stack = format!("{CERTGEN}---{}", operator_mounting("operator-tls"));
    let findings = Fixture::new()
        .chart("operator", "monitoring", 1, &stack)
        .findings();
    let secrets = of_rule(&findings, "wiring/secret");
    assert_eq!(secrets.len(), 1, "{}", show(&secrets));
    assert_eq!(secrets[0].severity, Severity::Error);
    assert!(
        secrets[0].message.contains("monitoring/operator-tls"),
        "{}",
        show(&secrets)
    );
}

/// argo-cd's `redis-secret-init` hook: a Job whose Role may create Secrets and names the one
/// it manages.
const SECRET_INIT: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: redis-secret-init}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: redis-secret-init}
rules:
  - {apiGroups: [""], resources: [secrets], resourceNames: [redis-auth], verbs: [get]}
  - {apiGroups: [""], resources: [secrets], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: redis-secret-init}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: redis-secret-init}
subjects: [{kind: ServiceAccount, name: redis-secret-init, namespace: argocd}]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: redis-secret-init
  annotations: {"helm.sh/hook": "pre-install,pre-upgrade"}
spec:
  template:
    spec:
      serviceAccountName: redis-secret-init
      restartPolicy: OnFailure
      containers:
        - name: secret-init
          image: quay.io/argoproj/argocd:v3.4.4
          command: [argocd, admin, redis-initial-password]
"#;

fn redis_reading(secret: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: redis}}
spec:
  template:
    spec:
      containers:
        - name: redis
          image: redis:8.2.3
          env:
            - name: REDIS_PASSWORD
              valueFrom: {{secretKeyRef: {{name: {secret}, key: auth}}}}
"#
    )
}

#[test]
fn a_secret_named_by_the_role_of_a_hook_job_that_may_create_secrets_is_not_reported_missing() {
    let stack = format!("{SECRET_INIT}---{}", redis_reading("redis-auth"));
    let findings = Fixture::new()
        .chart("argocd", "argocd", 1, &stack)
        .findings();
    let secrets = of_rule(&findings, "wiring/secret");
    assert!(secrets.is_empty(), "{}", show(&secrets));
}

#[test]
fn a_secret_a_job_may_create_but_does_not_name_is_reported_as_not_verified_naming_the_job() {
    let stack = format!("{SECRET_INIT}---{}", redis_reading("redis-other"))
        .replace("resourceNames: [redis-auth], ", "");
    let findings = Fixture::new()
        .chart("argocd", "argocd", 1, &stack)
        .findings();
    let secrets = of_rule(&findings, "wiring/secret");
    assert_eq!(secrets.len(), 1, "{}", show(&secrets));
    assert_eq!(secrets[0].severity, Severity::Info, "{}", show(&secrets));
    assert!(
        secrets[0].message.contains("Job argocd/redis-secret-init"),
        "{}",
        show(&secrets)
    );
}

#[test]
fn a_job_without_rights_on_secrets_does_not_excuse_a_missing_secret() {
    let stack = format!("{SECRET_INIT}---{}", redis_reading("redis-auth")).replace(
        "resources: [secrets], verbs: [create]",
        "resources: [configmaps], verbs: [create]",
    );
    let findings = Fixture::new()
        .chart("argocd", "argocd", 1, &stack)
        .findings();
    let secrets = of_rule(&findings, "wiring/secret");
    assert_eq!(secrets.len(), 1, "{}", show(&secrets));
    assert_eq!(secrets[0].severity, Severity::Error);
}

/// Loki's config as the loki chart renders it in Distributed mode: the bloom blocks are
/// switched off, and their Services are not rendered.
const LOKI_CONFIG: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: loki-distributor}
spec:
  ports: [{name: grpc, port: 9095, targetPort: 9095}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: loki}
data:
  config.yaml: |
    bloom_build:
      enabled: false
      builder:
        planner_address: loki-bloom-planner-headless.loki.svc.cluster.local:9095
    bloom_gateway:
      enabled: false
      client:
        addresses: dnssrvnoa+_grpc._tcp.loki-bloom-gateway-headless.loki.svc.cluster.local
    frontend_worker:
      frontend_address: loki-query-frontend.loki.svc.cluster.local:9095
"#;

#[test]
fn addresses_in_a_config_block_switched_off_are_not_dialled() {
    let findings = Fixture::new()
        .chart("loki", "loki", 1, LOKI_CONFIG)
        .findings();
    let dns = of_rule(&findings, "wiring/dns");
    assert_eq!(dns.len(), 1, "{}", show(&dns));
    assert!(
        dns[0].message.contains("loki/loki-query-frontend"),
        "{}",
        show(&dns)
    );
}

#[test]
fn switching_the_block_on_makes_its_addresses_count() {
    let stack = LOKI_CONFIG.replacen("enabled: false", "enabled: true", 1);
    let findings = Fixture::new().chart("loki", "loki", 1, &stack).findings();
    let dns = of_rule(&findings, "wiring/dns");
    assert!(
        dns.iter()
            .any(|f| f.message.contains("loki/loki-bloom-planner-headless")),
        "{}",
        show(&dns)
    );
}

/// An Alloy config as k8s-monitoring renders it: a destination, and a comment naming an old one.
const ALLOY: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: alloy-metrics}
data:
  config.alloy: |
    // Destination: mimir (was http://old-mimir.mimir.svc:8080 before the move)
    prometheus.remote_write "mimir" {
      endpoint {
        url = "http://mimir-gateway.mimir.svc:80/api/v1/push"
        /* headers = { "X-Scope-OrgID" = "http://tenant.mimir.svc:1" } */
      }
    }
"#;

const MIMIR_GATEWAY: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: mimir-gateway}
spec:
  ports: [{name: http-metrics, port: 80, targetPort: 8080}]
"#;

#[test]
fn an_address_in_an_alloy_comment_is_not_used_and_its_values_are() {
    let findings = Fixture::new()
        .chart("mimir", "mimir", 1, MIMIR_GATEWAY)
        .chart("collectors", "collectors", 2, ALLOY)
        .findings();
    let dns = of_rule(&findings, "wiring/dns");
    assert!(dns.is_empty(), "{}", show(&dns));
    let moved = ALLOY.replace("mimir.svc:80/api", "mimir.svc:8080/api");
    let findings = Fixture::new()
        .chart("mimir", "mimir", 1, MIMIR_GATEWAY)
        .chart("collectors", "collectors", 2, &moved)
        .findings();
    let dns = of_rule(&findings, "wiring/dns");
    assert_eq!(dns.len(), 1, "{}", show(&dns));
    assert!(
        dns[0].field.ends_with("line 4") && dns[0].message.contains("no port 8080"),
        "{}",
        show(&dns)
    );
}

#[test]
fn an_alloy_collector_before_its_destination_is_a_runtime_dependency_not_a_startup_one() {
    let findings = Fixture::new()
        .chart("collectors", "collectors", 1, ALLOY)
        .chart("mimir", "mimir", 2, MIMIR_GATEWAY)
        .findings();
    let waves = of_rule(&findings, "ordering/waves");
    assert_eq!(waves.len(), 1, "{}", show(&waves));
    assert_eq!(waves[0].severity, Severity::Info, "{}", show(&waves));
}

/// k8s-monitoring's Loki destination: the tenant is read from a Secret the chart renders.
const ALLOY_LOKI: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: loki-k8smon}
stringData: {tenantId: team-a}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: alloy-logs}
data:
  config.alloy: |
    remote.kubernetes.secret "loki" {
      name      = "loki-k8smon"
      namespace = "collectors"
    }
    loki.write "loki" {
      endpoint {
        url = "http://loki-gateway.loki.svc:80/loki/api/v1/push"
        tenant_id = convert.nonsensitive(remote.kubernetes.secret.loki.data["tenantId"])
      }
    }
"#;

const LOKI_GATEWAY: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: loki-gateway}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
"#;

fn grafana_reading_loki_as(tenant: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: datasources}}
data:
  datasources.yaml: |
    apiVersion: 1
    datasources:
      - name: Loki
        type: loki
        url: http://loki-gateway.loki.svc:80
        jsonData: {{httpHeaderName1: X-Scope-OrgID}}
        secureJsonData: {{httpHeaderValue1: {tenant}}}
"#
    )
}

fn alloy_tenant_findings(alloy: &str, grafana_tenant: &str) -> Vec<kalypso::check::Finding> {
    Fixture::new()
        .chart("loki", "loki", 1, LOKI_GATEWAY)
        .chart("collectors", "collectors", 2, alloy)
        .chart(
            "grafana",
            "grafana",
            3,
            &grafana_reading_loki_as(grafana_tenant),
        )
        .findings()
}

#[test]
fn an_alloy_writer_s_tenant_is_read_from_the_secret_it_names_and_compared_with_the_readers() {
    let same = alloy_tenant_findings(ALLOY_LOKI, "team-a");
    assert!(
        of_rule(&same, "wiring/tenant").is_empty(),
        "{}",
        show(&of_rule(&same, "wiring/tenant"))
    );
    let other = alloy_tenant_findings(ALLOY_LOKI, "team-b");
    let tenant = of_rule(&other, "wiring/tenant");
    assert_eq!(tenant.len(), 1, "{}", show(&tenant));
    assert_eq!(tenant[0].object.name, "alloy-logs");
    assert_eq!(
        tenant[0].field,
        "data.config.alloy: loki.write \"loki\" endpoint.url (line 6)"
    );
    let m = &tenant[0].message;
    assert!(
        m.contains("writes to loki/loki-gateway with tenant \"team-a\""),
        "{m}"
    );
    assert!(m.contains("uses tenant \"team-b\""), "{m}");
}

#[test]
fn an_alloy_tenant_that_cannot_be_known_offline_is_not_compared() {
    for unknown in [
        // Read from the environment at run time.
        r#"tenant_id = sys.env("TENANT")"#,
        // A Secret the input does not contain.
        r#"tenant_id = convert.nonsensitive(remote.kubernetes.secret.gone.data["tenantId"])"#,
    ] {
        let alloy = ALLOY_LOKI.replace(
            r#"tenant_id = convert.nonsensitive(remote.kubernetes.secret.loki.data["tenantId"])"#,
            unknown,
        );
        let f = alloy_tenant_findings(&alloy, "team-b");
        assert!(
            of_rule(&f, "wiring/tenant").is_empty(),
            "{unknown}: {}",
            show(&of_rule(&f, "wiring/tenant"))
        );
    }
}

/// A client that builds its push URL from its own variables, as the kubelet expands them.
fn client_with_arg(arg: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: shipper}}
spec:
  selector: {{matchLabels: {{app: shipper}}}}
  template:
    metadata: {{labels: {{app: shipper}}}}
    spec:
      containers:
        - name: shipper
          image: shipper:1.0
          env:
            - {{name: LOKI_HOST, value: loki-gateway.loki.svc.cluster.local}}
          args: ["{arg}"]
"#
    )
}

#[test]
fn container_variables_in_args_are_expanded_before_the_address_is_read() {
    let f = Fixture::new()
        .chart("loki", "loki", 1, LOKI_GATEWAY)
        .chart(
            "shippers",
            "shippers",
            2,
            &client_with_arg("--url=http://$(LOKI_HOST):3101/push"),
        )
        .findings();
    let dns = of_rule(&f, "wiring/dns");
    assert_eq!(dns.len(), 1, "{}", show(&dns));
    assert!(dns[0].message.contains("no port 3101"), "{}", show(&dns));
    assert_eq!(dns[0].field, "spec.template.spec.containers[0].args[0]");
    // `$$(VAR)` is the kubelet's escape: the argument is the literal text, no address.
    let f = Fixture::new()
        .chart("loki", "loki", 1, LOKI_GATEWAY)
        .chart(
            "shippers",
            "shippers",
            2,
            &client_with_arg("--url=http://$$(LOKI_HOST):3101/push"),
        )
        .findings();
    assert!(
        of_rule(&f, "wiring/dns").is_empty(),
        "{}",
        show(&of_rule(&f, "wiring/dns"))
    );
}
