//! `--profile production` refuses development defaults, credentials rendered from values and
//! single-replica stateful backends; `kalypso-waivers.yaml` entries need a reason and a
//! rendered object. And Pod Security levels are judged offline.

use std::collections::BTreeMap;

use kalypso::check::production::Waiver;
use kalypso::check::{self, CheckOptions, Context, Finding, Policy, Severity};
use kalypso::manifest::Manifest;

use crate::support::Fixture;

fn run(f: &Fixture, opts: CheckOptions) -> Vec<Finding> {
    let manifest = Manifest::from_sources(&f.sources).expect("fixture parses");
    let policy = Policy::load(None, None).expect("policy");
    let ctx = Context::new(&manifest, &f.charts, &policy);
    check::run(
        &ctx,
        &[],
        &CheckOptions {
            skip_schema: true,
            ..opts
        },
    )
}

fn rule<'a>(f: &'a [Finding], id: &str) -> Vec<&'a Finding> {
    f.iter().filter(|x| x.rule == id).collect()
}

const BACKEND: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: loki-s3-credentials}
stringData:
  S3_ACCESS_KEY_ID: loki
  S3_SECRET_ACCESS_KEY: loki-dev-secret-change-me
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: loki}
spec:
  replicas: 1
  serviceName: loki
  selector: {matchLabels: {app: loki}}
  template:
    metadata: {labels: {app: loki}}
    spec:
      containers:
        - name: loki
          image: loki:1
          env: [{name: ADMIN_PASSWORD, value: kalypso-dev-admin-change-me}]
"#;

#[test]
fn production_refuses_dev_credentials_value_secrets_and_single_replicas() {
    let f = Fixture::new().chart("kalypso-loki", "loki", 4, BACKEND);
    let prod = run(
        &f,
        CheckOptions {
            production: true,
            ..Default::default()
        },
    );
    let creds = rule(&prod, "production/credentials");
    assert_eq!(creds.len(), 2, "Secret value and env literal: {creds:#?}");
    assert!(creds.iter().all(|c| c.severity == Severity::Error));
    assert_eq!(rule(&prod, "production/existing-secret").len(), 1);
    let r = rule(&prod, "production/replicas");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].object.name, "loki");
    // The development profile accepts all of it.
    let dev = run(&f, CheckOptions::default());
    assert!(
        dev.iter().all(|x| !x.rule.starts_with("production/")),
        "{dev:#?}"
    );
}

#[test]
fn a_waiver_needs_a_reason_and_an_object_the_stack_renders() {
    let f = Fixture::new().chart("kalypso-loki", "loki", 4, BACKEND);
    let waiver = |name: &str, reason: &str| Waiver {
        check: "CKV_K8S_43".into(),
        kind: "StatefulSet".into(),
        namespace: "loki".into(),
        name: name.into(),
        reason: reason.into(),
        profile: None,
    };
    let found = run(
        &f,
        CheckOptions {
            waivers: vec![
                waiver("loki", "image digests cannot be verified offline"),
                waiver("loki", " "),
                waiver("gone", "was renamed"),
            ],
            ..Default::default()
        },
    );
    let w = rule(&found, "policy/waivers");
    assert_eq!(w.len(), 2, "{w:#?}");
    assert!(w
        .iter()
        .any(|x| x.severity == Severity::Error && x.message.contains("has no reason")));
    assert!(w
        .iter()
        .any(|x| x.severity == Severity::Warning && x.message.contains("StatefulSet loki/gone")));
    // An object only the default render has is not stale in the production render.
    let only_default = Waiver {
        profile: Some("default".into()),
        ..waiver("gone", "MinIO is off in production")
    };
    let options = |profile: Option<&str>| CheckOptions {
        waivers: vec![only_default.clone()],
        profile: profile.map(String::from),
        production: profile == Some("production"),
        ..Default::default()
    };
    assert!(rule(&run(&f, options(Some("production"))), "policy/waivers").is_empty());
    assert_eq!(rule(&run(&f, options(None)), "policy/waivers").len(), 1);
}

#[test]
fn a_pod_below_its_namespaces_level_is_an_error_and_a_stack_namespace_without_one_a_warning() {
    let f = Fixture::new()
        .chart("kalypso-loki", "loki", 4, BACKEND)
        .chart(
            "kalypso-grafana",
            "grafana",
            6,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        );
    let levels = BTreeMap::from([("loki".to_string(), "restricted".to_string())]);
    let found = run(
        &f,
        CheckOptions {
            pod_security: Some(levels),
            ..Default::default()
        },
    );
    let p = rule(&found, "security/pod-security");
    let errors: Vec<_> = p.iter().filter(|x| x.severity == Severity::Error).collect();
    assert_eq!(errors.len(), 1, "{p:#?}");
    assert!(errors[0]
        .message
        .contains("enforces Pod Security \"restricted\""));
    assert!(errors[0]
        .message
        .contains("container loki: allowPrivilegeEscalation is not false"));
    let warnings: Vec<_> = p
        .iter()
        .filter(|x| x.severity == Severity::Warning)
        .collect();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0]
        .message
        .contains("namespace grafana enforces no Pod Security Standards level"));
}
