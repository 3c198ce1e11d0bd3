//! Precision on stacks nobody here wrote: each test is one cause of a false error found by
//! checking public charts (kube-prometheus-stack, ingress-nginx, argo-cd, the loki chart …)
//! rendered with their defaults, written down as a few lines of YAML.

use crate::support::{of_rule, show, Fixture};

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
