//! `wiring/netpol`: a wire the NetworkPolicies would drop is an error naming the wire, the
//! policy and the missing peer or port; a cross-namespace allow no wire uses is info.

use crate::support::{of_rule, show, Fixture};

fn all(f: &[kalypso::check::Finding]) -> String {
    show(&f.iter().collect::<Vec<_>>())
}
use kalypso::check::Severity;

/// A client in `app` reading `web` in `shop` through a ConfigMap; `shop` denies ingress by
/// default and allows `app` on the named port `http` (container port 8080 behind Service 80).
const SHOP: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: web:1
          ports: [{name: http, containerPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-app}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: app}}
      ports: [{port: http}]
"#;

const APP: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: client}
data:
  upstream: http://web.shop.svc.cluster.local:80/api
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client}
spec:
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec:
      containers:
        - name: client
          image: client:1
          envFrom: [{configMapRef: {name: client}}]
"#;

fn findings(shop: &str, app: &str) -> Vec<kalypso::check::Finding> {
    Fixture::new()
        .chart("kalypso-shop", "shop", 1, shop)
        .chart("kalypso-app", "app", 2, app)
        .findings()
}

#[test]
fn a_wire_the_policies_allow_gives_no_finding() {
    let f = findings(SHOP, APP);
    assert!(of_rule(&f, "wiring/netpol").is_empty(), "{}", all(&f));
}

#[test]
fn a_dropped_allow_is_an_error_naming_the_wire_the_policy_and_the_peer() {
    let shop = SHOP.replace(
        "      ports: [{port: http}]\n",
        "      ports: [{port: http}]\n  # (dropped)\n",
    );
    let shop = shop.replace(
        "    - from:\n        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: app}}\n      ports: [{port: http}]\n",
        "",
    );
    let f = findings(&shop, APP);
    let n = of_rule(&f, "wiring/netpol");
    let errors: Vec<_> = n.iter().filter(|f| f.severity == Severity::Error).collect();
    assert_eq!(errors.len(), 1, "{}", all(&f));
    let m = &errors[0].message;
    assert!(m.contains("web.shop.svc.cluster.local:80"), "{m}");
    assert!(m.contains("used by Deployment app/client"), "{m}");
    assert!(
        m.contains("default-deny, web-from-app") || m.contains("web-from-app, default-deny"),
        "{m}"
    );
    assert!(m.contains("app/client on port 8080"), "{m}");
    assert_eq!(
        errors[0].object.name, "client",
        "reported on the ConfigMap that holds the address"
    );
}

#[test]
fn a_narrowed_port_is_an_error() {
    let shop = SHOP.replace("ports: [{port: http}]", "ports: [{port: 9090}]");
    let f = findings(&shop, APP);
    let errors: Vec<_> = of_rule(&f, "wiring/netpol")
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{}", all(&f));
    // The 9090 allow no wire uses is reported too, as info.
    assert!(
        of_rule(&f, "wiring/netpol")
            .iter()
            .any(|f| f.severity == Severity::Info && f.object.name == "web-from-app"),
        "{}",
        all(&f)
    );
}

#[test]
fn a_renamed_namespace_in_a_selector_is_an_error() {
    let shop = SHOP.replace(
        "kubernetes.io/metadata.name: app}",
        "kubernetes.io/metadata.name: apps}",
    );
    let f = findings(&shop, APP);
    assert_eq!(
        of_rule(&f, "wiring/netpol")
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count(),
        1,
        "{}",
        all(&f)
    );
}

#[test]
fn an_egress_policy_of_the_source_counts_too() {
    let app = format!(
        "{APP}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: egress-dns-only}}\nspec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress:\n    - to: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: kube-system}}}}}}]\n      ports: [{{port: 53, protocol: UDP}}, {{port: 53}}]\n"
    );
    let f = findings(SHOP, &app);
    let errors: Vec<_> = of_rule(&f, "wiring/netpol")
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{}", all(&f));
    assert!(
        errors[0].message.contains("egress-dns-only"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[0].message.contains("for egress"),
        "{}",
        errors[0].message
    );
}

// ---- scrapes: a collector's Prometheus receiver with Kubernetes pod discovery

/// A node agent in `obs` that scrapes annotated pods (on their prometheus.io/port) and ports
/// named `http-metrics`, like the stack's own agent.
const AGENT: &str = r#"
apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: agent}
spec:
  mode: daemonset
  config:
    receivers:
      prometheus:
        config:
          scrape_configs:
            - job_name: pods
              kubernetes_sd_configs:
                - role: pod
                  selectors: [{role: pod, field: "spec.nodeName=${env:K8S_NODE_NAME}"}]
              relabel_configs:
                - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape, __meta_kubernetes_pod_container_port_name]
                  regex: 'true;.*|[^;]*;(http-metrics)'
                  action: keep
                - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
                  regex: '([^:]+)(?::\d+)?;(\d+)'
                  replacement: '$$1:$$2'
                  target_label: __address__
    exporters:
      debug: {}
    service:
      pipelines:
        metrics: {receivers: [prometheus], exporters: [debug]}
"#;

/// `web` in `shop` with a metrics port, and the policy that lets the agent scrape it.
fn shop_with_metrics() -> String {
    SHOP.replace(
        "          ports: [{name: http, containerPort: 8080}]",
        "          ports: [{name: http, containerPort: 8080}, {name: http-metrics, containerPort: 3100}]",
    ) + r#"---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-metrics}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: obs}}}]
      ports: [{port: 3100}]
"#
}

fn with_agent(shop: &str) -> Vec<kalypso::check::Finding> {
    Fixture::new()
        .chart("kalypso-shop", "shop", 1, shop)
        .chart("kalypso-app", "app", 2, APP)
        .chart("kalypso-obs", "obs", 0, AGENT)
        .findings()
}

fn netpol_errors(f: &[kalypso::check::Finding]) -> Vec<&kalypso::check::Finding> {
    of_rule(f, "wiring/netpol")
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .collect()
}

#[test]
fn a_scrape_the_policies_allow_is_a_wire_and_uses_its_rule() {
    let f = with_agent(&shop_with_metrics());
    assert!(
        of_rule(&f, "wiring/netpol").is_empty(),
        "the metrics rule is used by the scrape, and nothing is dropped:\n{}",
        all(&f)
    );
}

#[test]
fn a_scrape_a_policy_drops_is_an_error_naming_the_job_the_pods_and_the_policy() {
    let shop = shop_with_metrics().replace("ports: [{port: 3100}]", "ports: [{port: 3101}]");
    let f = with_agent(&shop);
    let errors = netpol_errors(&f);
    assert_eq!(errors.len(), 1, "{}", all(&f));
    let e = errors[0];
    assert_eq!(e.object.kind, "OpenTelemetryCollector");
    assert_eq!(
        e.field,
        "spec.config.receivers.prometheus.config.scrape_configs[0]"
    );
    for want in [
        "Deployment shop/web port 3100",
        "scraped by job \"pods\" of OpenTelemetryCollector obs/agent",
        "web-metrics",
        "obs/agent on port 3100",
    ] {
        assert!(e.message.contains(want), "missing {want:?}: {}", e.message);
    }
}

#[test]
fn an_annotated_pod_is_scraped_on_its_annotation_port() {
    // No metrics port name: the annotation alone selects the pod, on port 9102.
    let shop = SHOP
        .replace(
            "    metadata: {labels: {app: web}}",
            "    metadata:\n      labels: {app: web}\n      annotations: {prometheus.io/scrape: \"true\", prometheus.io/port: \"9102\"}",
        );
    let f = with_agent(&shop);
    let errors = netpol_errors(&f);
    assert_eq!(errors.len(), 1, "{}", all(&f));
    assert!(
        errors[0].message.contains("Deployment shop/web port 9102"),
        "{}",
        errors[0].message
    );
}

#[test]
fn pods_the_relabelling_drops_and_receivers_outside_a_pipeline_are_not_scraped() {
    // `web` has neither the annotation nor a metrics port: not a target, nothing to allow.
    let f = with_agent(SHOP);
    assert!(netpol_errors(&f).is_empty(), "{}", all(&f));
    // A receiver no pipeline uses scrapes nothing.
    let shop = shop_with_metrics().replace("ports: [{port: 3100}]", "ports: [{port: 3101}]");
    let agent = AGENT.replace("receivers: [prometheus]", "receivers: []");
    let f = Fixture::new()
        .chart("kalypso-shop", "shop", 1, &shop)
        .chart("kalypso-obs", "obs", 0, &agent)
        .findings();
    assert!(netpol_errors(&f).is_empty(), "{}", all(&f));
}

#[test]
fn a_host_network_pod_is_not_governed_by_network_policies() {
    // The scrape would be dropped for a pod on the pod network (see above); on the node's
    // network the policies do not apply to it, so nothing is reported.
    let shop = shop_with_metrics()
        .replace("ports: [{port: 3100}]", "ports: [{port: 3101}]")
        .replace(
            "    spec:\n      containers:\n        - name: web",
            "    spec:\n      hostNetwork: true\n      containers:\n        - name: web",
        );
    assert!(shop.contains("hostNetwork: true"), "fixture changed");
    let f = with_agent(&shop);
    assert!(netpol_errors(&f).is_empty(), "{}", all(&f));
}
