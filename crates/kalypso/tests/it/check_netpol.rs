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
