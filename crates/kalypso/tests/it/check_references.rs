//! Every kind of Service reference, operator-made Services and the report of `check -m`, each
//! written down from a cause found by checking public charts nobody here wrote (a registry, an
//! operator-managed metrics stack, GitOps and autoscaling charts, a Thanos and a Postgres
//! operator chart), with breaks planted into their renders (`docs/check-corpus.md`).

use std::io::Write;

use assert_cmd::Command;
use predicates::prelude::*;

use crate::support::{of_rule, problems, show, Fixture};
use kalypso::check::Severity;

fn service(name: &str, ports: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {{selector: {{app: {name}}}, ports: [{ports}]}}\n"
    )
}

fn errors_of<'a>(
    findings: &'a [kalypso::check::Finding],
    rule: &str,
) -> Vec<&'a kalypso::check::Finding> {
    of_rule(findings, rule)
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .collect()
}

const INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: registry}
spec:
  defaultBackend: {service: {name: portal, port: {name: http}}}
  rules:
    - host: registry.example.org
      http:
        paths:
          - {path: /api, pathType: Prefix, backend: {service: {name: core, port: {number: 8080}}}}
"#;

#[test]
fn an_ingress_backend_must_name_a_rendered_service_and_one_of_its_ports() {
    let ok = format!(
        "{INGRESS}---\n{}---\n{}",
        service("core", "{name: http, port: 8080}"),
        service("portal", "{name: http, port: 80}")
    );
    let findings = Fixture::new().chart("reg", "reg", 1, &ok).findings();
    let wiring = problems(&findings);
    assert!(wiring.is_empty(), "{}", show(&wiring));

    // The core Service renamed: the Ingress and its field are named.
    let renamed = ok.replace("name: core}", "name: core-v2}");
    let findings = Fixture::new().chart("reg", "reg", 1, &renamed).findings();
    let errs = errors_of(&findings, "wiring/service");
    assert_eq!(errs.len(), 1, "{}", show(&errs));
    assert_eq!(errs[0].object.kind, "Ingress");
    assert_eq!(
        errs[0].field,
        "spec.rules[0].http.paths[0].backend.service.name"
    );
    assert!(errs[0].message.contains("reg/core"), "{}", errs[0].message);

    // A port the Service does not have, by number and by name.
    let ports = ok
        .replace("{name: http, port: 8080}", "{name: http, port: 8081}")
        .replace("{name: http, port: 80}", "{name: web, port: 80}");
    let findings = Fixture::new().chart("reg", "reg", 1, &ports).findings();
    let errs = errors_of(&findings, "wiring/service");
    assert_eq!(errs.len(), 2, "{}", show(&errs));
    assert!(errs.iter().any(|f| f.message.contains("no port 8080")));
    assert!(errs
        .iter()
        .any(|f| f.message.contains("no port named http")));
}

#[test]
fn gateway_routes_default_to_their_namespace_and_follow_an_explicit_one() {
    let routes = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  rules:
    - backendRefs:
        - {name: frontend, port: 80}
        - {name: search, namespace: other, port: 9200}
        - {group: example.org, kind: Bucket, name: assets}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: api}
spec:
  rules:
    - backendRefs: [{name: grpc-api, port: 9090}]
"#;
    let stack = format!(
        "{routes}---\n{}---\n{}",
        service("frontend", "{port: 80}"),
        service("grpc-api", "{port: 9091}")
    );
    let findings = Fixture::new()
        .chart("web", "web", 1, &stack)
        .chart("other", "other", 1, &service("search", "{port: 9200}"))
        .findings();
    let errs = errors_of(&findings, "wiring/service");
    assert_eq!(errs.len(), 1, "{}", show(&errs));
    assert_eq!(errs[0].object.kind, "GRPCRoute");
    assert!(
        errs[0].message.contains("no port 9090"),
        "{}",
        errs[0].message
    );

    let findings = Fixture::new()
        .chart("web", "web", 1, &stack)
        .chart("other", "other", 1, &service("elastic", "{port: 9200}"))
        .findings();
    let errs = errors_of(&findings, "wiring/service");
    assert!(
        errs.iter().any(|f| f.message.contains("other/search")),
        "{}",
        show(&errs)
    );
}

#[test]
fn istio_hosts_short_namespaced_and_fully_qualified_resolve_to_services() {
    let mesh = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: {host: reviews, port: {number: 9080}}
        - destination: {host: ratings.shop}
        - destination: {host: details.shop.svc.cluster.local}
        - destination: {host: api.example.com}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec: {host: ratings-v2}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: partner}
spec: {hosts: [partner], ports: [{number: 443, name: https, protocol: TLS}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: partner}
spec: {host: partner}
"#;
    let stack = format!(
        "{mesh}---\n{}---\n{}",
        service("reviews", "{port: 9080}"),
        service("ratings", "{port: 9080}")
    );
    let findings = Fixture::new().chart("shop", "shop", 1, &stack).findings();
    let errs = errors_of(&findings, "wiring/service");
    let mut named: Vec<&str> = errs
        .iter()
        .filter_map(|f| {
            ["details", "ratings-v2", "partner", "api.example.com"]
                .into_iter()
                .find(|n| f.message.contains(&format!("shop/{n},")))
        })
        .collect();
    named.sort();
    assert_eq!(named, ["details", "ratings-v2"], "{}", show(&errs));
}

#[test]
fn a_statefulset_without_its_governing_service_is_a_warning() {
    let sts = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: receive}
spec:
  serviceName: receive-headless
  template:
    spec:
      containers: [{name: receive, image: example/receive:1.0.0}]
"#;
    let findings = Fixture::new().chart("t", "t", 1, sts).findings();
    let found = of_rule(&findings, "wiring/service");
    assert_eq!(found.len(), 1, "{}", show(&found));
    assert_eq!(found[0].severity, Severity::Warning);
    assert_eq!(found[0].field, "spec.serviceName");
    let with = format!("{sts}---\n{}", service("receive-headless", "{port: 10901}"));
    let findings = Fixture::new().chart("t", "t", 1, &with).findings();
    assert!(of_rule(&findings, "wiring/service").is_empty());
}

#[test]
fn api_services_and_webhooks_name_their_service_and_port() {
    let hooks = r#"
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.external.metrics.k8s.io}
spec:
  group: external.metrics.k8s.io
  version: v1beta1
  service: {name: metrics-apiserver, namespace: scale}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: scale-validate}
webhooks:
  - name: validate.scale.example.org
    clientConfig:
      service: {name: admission-webhooks, namespace: scale, path: /validate, port: 9443}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: scale-mutate}
webhooks:
  - name: mutate.scale.example.org
    clientConfig:
      service: {name: admission, namespace: scale}
"#;
    let stack = format!(
        "{hooks}---\n{}---\n{}",
        service("metrics-apiserver", "{name: https, port: 443}"),
        service("admission-webhooks", "{name: https, port: 443}")
    );
    let findings = Fixture::new().chart("scale", "scale", 1, &stack).findings();
    let errs = errors_of(&findings, "wiring/service");
    let mut seen: Vec<(String, String)> = errs
        .iter()
        .map(|f| (f.object.kind.clone(), f.field.clone()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                "MutatingWebhookConfiguration".to_string(),
                "webhooks[0].clientConfig.service.name".to_string()
            ),
            (
                "ValidatingWebhookConfiguration".to_string(),
                "webhooks[0].clientConfig.service.name".to_string()
            ),
        ],
        "{}",
        show(&errs)
    );
}

fn app_with_env(env: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: jobservice}}
spec:
  template:
    spec:
      containers:
        - name: jobservice
          image: example/jobservice:2.0.0
          env: {env}
"#
    )
}

#[test]
fn short_same_namespace_names_are_addresses_when_used_as_one() {
    let env = r#"[
            {name: CORE_URL, value: "http://core:80"},
            {name: REGISTRY_ADDR, value: "registry:5000"},
            {name: DATABASE_HOST, value: "app-database"},
            {name: IMAGE, value: "redis:7"},
            {name: PROTOCOL, value: "tcp:90"},
            {name: LOCAL, value: "http://localhost:8080"},
            {name: GREETING, value: "see core for details"}]"#;
    let rendered = format!(
        "{}---\n{}---\n{}---\n{}",
        app_with_env(env),
        service("core", "{port: 80}"),
        service("registry", "{port: 5000}"),
        service("app-database", "{port: 5432}")
    );
    let findings = Fixture::new().chart("reg", "reg", 1, &rendered).findings();
    let dns = of_rule(&findings, "wiring/dns");
    assert!(dns.is_empty(), "{}", show(&dns));

    // Each renamed Service, and a changed port, is reported at the variable using it.
    for (from, to, field) in [
        ("name: core}", "name: core-v2}", "env[0]"),
        ("name: registry}", "name: registry-v2}", "env[1]"),
        ("name: app-database}", "name: app-db}", "env[2]"),
        ("{port: 5000}", "{port: 5001}", "env[1]"),
    ] {
        let broken = rendered.replace(from, to);
        let findings = Fixture::new().chart("reg", "reg", 1, &broken).findings();
        let errs = errors_of(&findings, "wiring/dns");
        assert_eq!(errs.len(), 1, "{from}: {}", show(&errs));
        assert!(errs[0].field.contains(field), "{from}: {}", show(&errs));
    }
}

#[test]
fn an_nginx_upstream_of_short_names_is_checked() {
    let conf = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: proxy}
data:
  nginx.conf: |
    events {}
    http {
      upstream core { server core:8080; }
      server {
        listen 8080;
        location /api/ { proxy_pass http://core/api/; }
        location /v2/ { proxy_pass http://registry:5000/v2/; }
      }
    }
"#;
    let ok = format!(
        "{conf}---\n{}---\n{}",
        service("core", "{port: 8080}"),
        service("registry", "{port: 5000}")
    );
    let findings = Fixture::new().chart("reg", "reg", 1, &ok).findings();
    assert!(
        problems(&findings).is_empty(),
        "{}",
        show(&problems(&findings))
    );
    let broken = ok.replace("name: core}", "name: core-v2}");
    let findings = Fixture::new().chart("reg", "reg", 1, &broken).findings();
    let errs = errors_of(&findings, "wiring/dns");
    assert_eq!(errs.len(), 1, "{}", show(&errs));
    assert!(errs[0].message.contains("reg/core"), "{}", errs[0].message);
}

const OPERATED: &str = r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s}
spec: {replicas: 1}
---
apiVersion: operator.victoriametrics.com/v1beta1
kind: VMSingle
metadata: {name: main}
spec: {retentionPeriod: "1"}
---
apiVersion: kafka.strimzi.io/v1beta2
kind: Kafka
metadata: {name: events}
spec:
  kafka:
    listeners: [{name: plain, port: 9092, type: internal, tls: false}]
---
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: pg}
spec: {instances: 1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  template:
    spec:
      containers:
        - name: app
          image: example/app:1.0.0
          args:
            - --prometheus=http://prometheus-operated:9090
            - --metrics=http://vmsingle-main.obs.svc:8428
            - --kafka=events-kafka-bootstrap:9092
            - --db=postgres://pg-rw:5432/app
          env:
            - name: PGPASSWORD
              valueFrom: {secretKeyRef: {name: pg-app, key: password}}
"#;

#[test]
fn services_and_secrets_that_operators_make_from_custom_resources_are_known() {
    let findings = Fixture::new().chart("obs", "obs", 1, OPERATED).findings();
    let wiring: Vec<_> = problems(&findings)
        .into_iter()
        .filter(|f| f.rule.starts_with("wiring/"))
        .collect();
    assert!(wiring.is_empty(), "{}", show(&wiring));

    // The operator's Service has the ports the operator gives it.
    let wrong = OPERATED.replace("vmsingle-main.obs.svc:8428", "vmsingle-main.obs.svc:8429");
    let findings = Fixture::new().chart("obs", "obs", 1, &wrong).findings();
    let errs = errors_of(&findings, "wiring/dns");
    assert_eq!(errs.len(), 1, "{}", show(&errs));
    assert!(
        errs[0].message.contains("made by the operator for"),
        "{}",
        errs[0].message
    );
}

#[test]
fn a_dangling_name_containing_a_custom_resource_is_info_naming_it() {
    let stack = r#"
apiVersion: example.org/v1
kind: SearchCluster
metadata: {name: logs}
spec: {nodes: 3}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: api}
spec: {endpoints: [{port: http}], selector: {matchLabels: {app: api}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: shipper}
spec:
  template:
    spec:
      containers:
        - name: shipper
          image: example/shipper:1.0.0
          args: ["--output=https://logs-search-http:9200", "--api=http://api:8080"]
"#;
    let findings = Fixture::new().chart("obs", "obs", 1, stack).findings();
    let dns = of_rule(&findings, "wiring/dns");
    let guessed: Vec<_> = dns
        .iter()
        .filter(|f| f.message.contains("logs-search-http"))
        .collect();
    assert_eq!(guessed.len(), 1, "{}", show(&dns));
    assert_eq!(guessed[0].severity, Severity::Info);
    assert!(guessed[0].message.contains("SearchCluster/logs"));
    // A ServiceMonitor makes no Service: a missing `api` is still an error.
    assert!(
        dns.iter()
            .any(|f| f.severity == Severity::Error && f.message.contains("obs/api")),
        "{}",
        show(&dns)
    );
}

#[test]
fn a_controller_told_its_certificate_secret_by_a_flag_writes_it() {
    let stack = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: operator}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: operator}
rules: [{apiGroups: [""], resources: [secrets], verbs: [create, get, update]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: operator}
subjects: [{kind: ServiceAccount, name: operator, namespace: scale}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: operator}
spec:
  template:
    spec:
      serviceAccountName: operator
      containers:
        - name: operator
          image: example/operator:2.0.0
          args: ["--cert-secret-name=operator-certs"]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: webhooks}
spec:
  template:
    spec:
      containers:
        - name: webhooks
          image: example/webhooks:2.0.0
      volumes: [{name: certs, secret: {secretName: operator-certs}}]
"#;
    let findings = Fixture::new().chart("scale", "scale", 1, stack).findings();
    let secrets = errors_of(&findings, "wiring/secret");
    assert!(secrets.is_empty(), "{}", show(&secrets));
}

#[test]
fn an_srv_name_reaches_the_port_of_that_name_through_a_network_policy() {
    let stack = r#"
apiVersion: v1
kind: Service
metadata: {name: store}
spec: {selector: {app: store}, ports: [{name: grpc, port: 10901, targetPort: grpc}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: store}
spec:
  serviceName: store
  template:
    metadata: {labels: {app: store}}
    spec:
      containers:
        - name: store
          image: example/store:1.0.0
          ports: [{name: grpc, containerPort: 10901}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: store}
spec:
  podSelector: {matchLabels: {app: store}}
  policyTypes: [Ingress]
  ingress: [{ports: [{port: 10901}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: query}
spec:
  template:
    metadata: {labels: {app: query}}
    spec:
      containers:
        - name: query
          image: example/query:1.0.0
          args: ["--endpoint=dnssrv+_grpc._tcp.store.obs.svc.cluster.local"]
"#;
    let findings = Fixture::new().chart("obs", "obs", 1, stack).findings();
    let netpol = of_rule(&findings, "wiring/netpol");
    let errs: Vec<_> = netpol
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert!(errs.is_empty(), "{}", show(&netpol));
}

fn kalypso() -> Command {
    let mut c = Command::cargo_bin("kalypso").expect("binary");
    c.env("KALYPSO_SCHEMA_DIR", "/nonexistent");
    c
}

const MIXED: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  template:
    spec:
      containers:
        - name: api
          image: example/api:1.0.0
          env: [{name: CART_URL, value: "http://cart:8080"}]
"#;

#[test]
fn check_m_leads_with_wiring_and_puts_policy_under_its_own_heading() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("mixed.yaml");
    std::fs::write(&f, MIXED).unwrap();
    let out = kalypso()
        .args(["check", "--schema-dir", "/nonexistent", "-m"])
        .arg(&f)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let wiring = text.find("== Wiring").expect("a wiring heading");
    let policy = text.find("== Policy").expect("a policy heading");
    let cart = text.find("shop/cart").expect("the dangling cart address");
    let requests = text.find("hygiene/requests").expect("a requests finding");
    assert!(
        wiring < cart && cart < policy && policy < requests,
        "{text}"
    );
}

#[test]
fn severity_overrides_in_the_policy_file_apply_and_bad_ones_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("mixed.yaml");
    std::fs::write(&f, MIXED).unwrap();
    let policy = dir.path().join("policy.yaml");
    let mut p = std::fs::File::create(&policy).unwrap();
    writeln!(p, "severity:\n  hygiene/*: off\n  wiring/dns: warning").unwrap();
    kalypso()
        .args(["check", "--schema-dir", "/nonexistent", "-o", "json", "-m"])
        .arg(&f)
        .arg("--policy")
        .arg(&policy)
        .assert()
        .success()
        .stdout(predicate::str::contains("hygiene/").not())
        .stdout(predicate::str::contains("\"severity\": \"warning\""));

    std::fs::write(&policy, "severity:\n  wiring/dsn: info\n").unwrap();
    kalypso()
        .args(["check", "--schema-dir", "/nonexistent", "-m"])
        .arg(&f)
        .arg("--policy")
        .arg(&policy)
        .assert()
        .failure()
        .stderr(predicate::str::contains("policy.yaml"))
        .stderr(predicate::str::contains("severity.wiring/dsn"));
}

#[test]
fn a_prometheus_names_its_alertmanager_services_and_a_known_operator_is_not_guessed() {
    let stack = r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: main-prometheus}
spec:
  externalUrl: http://main-prometheus.mon:9090/
  alerting:
    alertmanagers: [{namespace: mon, name: main-alertmanager, port: http-web}]
"#;
    let with = format!(
        "{stack}---\n{}---\n{}",
        service("main-alertmanager", "{name: http-web, port: 9093}"),
        service("main-prometheus", "{name: http-web, port: 9090}")
    );
    let findings = Fixture::new().chart("mon", "mon", 1, &with).findings();
    let wiring: Vec<_> = problems(&findings)
        .into_iter()
        .filter(|f| f.rule.starts_with("wiring/"))
        .collect();
    assert!(wiring.is_empty(), "{}", show(&wiring));

    // Both Services renamed: prometheus-operator makes only `prometheus-operated` for a
    // Prometheus (data/operators.yaml), so a name containing the resource's is not guessed.
    let moved = with
        .replace("name: main-alertmanager}", "name: main-am}")
        .replace("name: main-prometheus}", "name: main-prom}");
    let findings = Fixture::new().chart("mon", "mon", 1, &moved).findings();
    let errs: Vec<_> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error && f.rule.starts_with("wiring/"))
        .collect();
    assert!(
        errs.iter().any(|f| f.rule == "wiring/service"
            && f.field == "spec.alerting.alertmanagers[0].name"),
        "{}",
        show(&errs)
    );
    assert!(
        errs.iter()
            .any(|f| f.rule == "wiring/dns" && f.message.contains("mon/main-prometheus")),
        "{}",
        show(&errs)
    );
}

#[test]
fn a_certgen_job_writes_only_the_secret_it_names_whatever_its_role_allows() {
    let stack = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: admission}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: admission}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get, create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: admission}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: admission}
subjects: [{kind: ServiceAccount, name: admission, namespace: mon}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: admission-create}
spec:
  template:
    spec:
      serviceAccountName: admission
      restartPolicy: OnFailure
      containers:
        - name: create
          image: registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.9
          args: [create, --host=operator, --namespace=mon, --secret-name=admission-tls]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: dashboards}
spec:
  template:
    spec:
      containers:
        - name: dashboards
          image: example/dashboards:1.0.0
          env:
            - name: ADMIN_PASSWORD
              valueFrom: {secretKeyRef: {name: dashboards-admin, key: password}}
"#;
    let findings = Fixture::new().chart("mon", "mon", 1, stack).findings();
    let errs = errors_of(&findings, "wiring/secret");
    assert_eq!(
        errs.len(),
        1,
        "{}",
        show(&of_rule(&findings, "wiring/secret"))
    );
    assert!(errs[0].message.contains("mon/dashboards-admin"));
}
