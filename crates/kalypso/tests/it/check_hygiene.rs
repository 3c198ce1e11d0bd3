//! Hygiene, determinism and schema rules on small manifests written in the tests.

use crate::support::{of_rule, show, Fixture};
use kalypso::check::{self, SchemaOptions, Severity};
use kalypso::manifest::{Manifest, Source};
use kalypso::render::{ChartRender, ChartStatus};
use kalypso::stack::Component;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      initContainers:
        - name: init
          image: busybox:1.37
          resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 32Mi}}
      containers:
        - name: app
          image: nginx:1.27
          resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 32Mi}}
          readinessProbe: {httpGet: {path: /, port: 80}}
"#;

#[test]
fn a_clean_deployment_has_no_hygiene_finding() {
    let findings = Fixture::new().chart("a", "a", 1, DEPLOYMENT).findings();
    let h: Vec<_> = findings
        .iter()
        .filter(|f| f.rule.starts_with("hygiene/"))
        .collect();
    assert!(h.is_empty(), "{}", show(&h));
}

#[test]
fn latest_and_untagged_images_are_errors_naming_the_container() {
    let latest = DEPLOYMENT
        .replace("nginx:1.27", "nginx:latest")
        .replace("busybox:1.37", "busybox");
    let findings = Fixture::new().chart("a", "a", 1, &latest).findings();
    let img = of_rule(&findings, "hygiene/image");
    assert_eq!(img.len(), 2, "{}", show(&img));
    assert!(img.iter().any(
        |f| f.field == "spec.template.spec.containers[0].image" && f.message.contains("latest")
    ));
    assert!(img
        .iter()
        .any(|f| f.field == "spec.template.spec.initContainers[0].image"
            && f.message.contains("no tag")));
}

#[test]
fn missing_requests_and_memory_limits_are_errors_on_init_containers_too() {
    let bare = DEPLOYMENT.replacen(
        "resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 32Mi}}",
        "resources: {requests: {memory: 16Mi}}",
        1,
    );
    let findings = Fixture::new().chart("a", "a", 1, &bare).findings();
    let req = of_rule(&findings, "hygiene/requests");
    assert_eq!(req.len(), 1, "{}", show(&req));
    assert_eq!(
        req[0].field,
        "spec.template.spec.initContainers[0].resources.requests.cpu"
    );
    let lim = of_rule(&findings, "hygiene/limits");
    assert_eq!(lim.len(), 1, "{}", show(&lim));
    assert!(lim[0]
        .message
        .contains("container init has no memory limit"));
}

#[test]
fn a_long_running_container_without_probes_is_a_warning_and_a_job_is_not() {
    let unprobed = DEPLOYMENT.replace(
        "          readinessProbe: {httpGet: {path: /, port: 80}}\n",
        "",
    );
    let findings = Fixture::new().chart("a", "a", 1, &unprobed).findings();
    let probes = of_rule(&findings, "hygiene/probes");
    assert_eq!(probes.len(), 1, "{}", show(&probes));
    assert_eq!(probes[0].severity, Severity::Warning);
    let job = unprobed
        .replace("apiVersion: apps/v1", "apiVersion: batch/v1")
        .replace("kind: Deployment", "kind: Job")
        .replace("  selector: {matchLabels: {app: a}}\n", "");
    let findings = Fixture::new().chart("a", "a", 1, &job).findings();
    assert!(of_rule(&findings, "hygiene/probes").is_empty());
    // Read as a Job (an apps/v1 Job would be skipped, reported by schema/types).
    assert!(of_rule(&findings, "schema/types").is_empty());
    let no_limit = job.replacen(", limits: {memory: 32Mi}", "", 1);
    let findings = Fixture::new().chart("a", "a", 1, &no_limit).findings();
    assert_eq!(of_rule(&findings, "hygiene/limits").len(), 1);
}

const PROFILER: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: otel-ebpf-profiler}
spec:
  selector: {matchLabels: {app: p}}
  template:
    metadata: {labels: {app: p}}
    spec:
      hostPID: true
      containers:
        - name: profiler
          image: otel/opentelemetry-collector-ebpf-profiler:0.159.0
          securityContext: {privileged: true, capabilities: {add: [BPF, NET_BIND_SERVICE]}}
          resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 32Mi}}
          livenessProbe: {httpGet: {path: /, port: 13133}}
      volumes:
        - {name: kernel, hostPath: {path: /sys/kernel}}
        - {name: etc, hostPath: {path: /etc}}
"#;

#[test]
fn host_access_is_allowed_only_where_the_allow_list_grants_it() {
    let findings = Fixture::new()
        .chart("kalypso-pyroscope", "pyroscope", 5, PROFILER)
        .findings();
    let p = of_rule(&findings, "hygiene/privileged");
    assert_eq!(p.len(), 1, "{}", show(&p));
    assert_eq!(p[0].field, "spec.template.spec.volumes[1].hostPath.path");
    assert!(p[0].message.contains("hostPath:/etc"), "{}", p[0].message);

    // Outside the allow-list: hostPID, privileged, BPF and both hostPaths (not NET_BIND_SERVICE).
    let elsewhere = Fixture::new()
        .chart("kalypso-loki", "loki", 4, PROFILER)
        .findings();
    let p = of_rule(&elsewhere, "hygiene/privileged");
    assert_eq!(p.len(), 5, "{}", show(&p));
    assert!(p.iter().any(|f| f.field
        == "spec.template.spec.containers[0].securityContext.capabilities.add[0]"
        && f.message.contains("capability:BPF")));
}

#[test]
fn two_renders_that_differ_are_reported_naming_the_object() {
    let a = "---\n# Source: c/templates/s.yaml\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  password: abc\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\n";
    let b = a.replace("password: abc", "password: xyz");
    let render = ChartRender {
        component: Component {
            name: "c".into(),
            path: "charts/c".into(),
            namespace: "ns".into(),
            wave: 1,
            pod_security: None,
        },
        status: ChartStatus::Full,
        outputs: vec![a.to_string(), b],
        second_from_cache: false,
        reused: false,
        stand_in_values: Vec::new(),
    };
    let found = check::determinism::check(&[render]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].object.name, "s");
    assert_eq!(found[0].object.namespace.as_deref(), Some("ns"));
    assert!(
        found[0].message.contains("c/templates/s.yaml"),
        "{}",
        found[0].message
    );
    assert!(!found[0].message.contains("xyz") && !found[0].field.contains("xyz"));
}

fn schema_findings(yaml: &str) -> Option<Vec<check::Finding>> {
    let opts = SchemaOptions {
        kube_version: "1.32".into(),
        schema_dir: None,
        repo: Some(crate::support::repo_root()),
    };
    if let Err(why) = check::schema::locate(&opts) {
        crate::support::skip(&why);
        return None;
    }
    let manifest = Manifest::from_sources(&[Source {
        component: "c".into(),
        origin: "test".into(),
        default_namespace: "ns".into(),
        text: yaml.into(),
    }])
    .expect("parses");
    Some(check::schema::check(&manifest, &opts))
}

#[test]
fn an_unknown_field_fails_the_strict_kubernetes_schema() {
    let bad = DEPLOYMENT.replace(
        "image: nginx:1.27",
        "image: nginx:1.27\n          imagePolicy: Always",
    );
    let Some(found) = schema_findings(&bad) else {
        return;
    };
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field, "spec.template.spec.containers[0]");
    assert!(
        found[0].message.contains("imagePolicy"),
        "{}",
        found[0].message
    );
    let Some(clean) = schema_findings(DEPLOYMENT) else {
        return;
    };
    assert!(clean.is_empty(), "{clean:?}");
}

#[test]
fn custom_resources_validate_against_the_crds_in_the_input_and_others_are_info() {
    let crd = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.io}
spec:
  group: example.io
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
---
apiVersion: example.io/v1
kind: Widget
metadata: {name: w}
spec: {size: big, colour: red}
---
apiVersion: other.io/v1
kind: Gadget
metadata: {name: g}
"#;
    let Some(found) = schema_findings(crd) else {
        return;
    };
    let errors: Vec<_> = found
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 2, "{found:?}");
    assert!(errors.iter().all(|f| f.object.kind == "Widget"));
    assert!(errors.iter().any(|f| f.field == "spec.size"));
    assert!(errors.iter().any(|f| f.message.contains("colour")));
    let info: Vec<_> = found
        .iter()
        .filter(|f| f.severity == Severity::Info)
        .collect();
    assert_eq!(info.len(), 1);
    assert!(
        info[0].message.contains("no schema for other.io/v1 Gadget"),
        "{}",
        info[0].message
    );
}

#[test]
fn a_kind_kubernetes_no_longer_serves_is_an_error() {
    let psp =
        "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: p}\nspec: {}\n";
    let Some(found) = schema_findings(psp) else {
        return;
    };
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]
            .message
            .contains("does not serve policy/v1beta1 PodSecurityPolicy"),
        "{}",
        found[0].message
    );
}

#[test]
fn missing_schemas_give_one_warning_not_a_silent_pass() {
    let manifest = Manifest::from_sources(&[]).expect("empty");
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = SchemaOptions {
        kube_version: "1.32".into(),
        schema_dir: Some(dir.path().to_path_buf()),
        repo: None,
    };
    let found = check::schema::check(&manifest, &opts);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Warning);
    assert!(
        found[0].message.starts_with("schema check skipped:"),
        "{}",
        found[0].message
    );
}

#[test]
fn an_accepted_finding_is_downgraded_to_info_with_its_reason() {
    let unprobed = DEPLOYMENT.replace(
        "          readinessProbe: {httpGet: {path: /, port: 80}}\n",
        "",
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kalypso-policy.yaml"),
        "accepted:\n  - {rule: hygiene/probes, kind: Deployment, namespace: a, name: app, reason: upstream has no probe values}\n",
    )
    .unwrap();
    let manifest = Manifest::from_sources(&[Source {
        component: "a".into(),
        origin: "test".into(),
        default_namespace: "a".into(),
        text: unprobed,
    }])
    .unwrap();
    let policy = kalypso::check::Policy::load(Some(dir.path()), None).unwrap();
    let found = check::run_on(
        &manifest,
        &[],
        &policy,
        &[],
        &check::CheckOptions {
            skip_schema: true,
            ..Default::default()
        },
    );
    let probes = of_rule(&found, "hygiene/probes");
    assert_eq!(probes.len(), 1);
    assert_eq!(probes[0].severity, Severity::Info);
    assert!(probes[0]
        .message
        .ends_with("(accepted: upstream has no probe values)"));
}

#[test]
fn an_object_that_does_not_decode_into_its_kubernetes_type_is_an_error_naming_the_field() {
    let service = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: a}, ports: [{name: http, port: 80, targetPort: http}]}\n";
    let clean = format!("{DEPLOYMENT}---\n{service}");
    let findings = Fixture::new().chart("a", "a", 1, &clean).findings();
    let types = of_rule(&findings, "schema/types");
    assert!(types.is_empty(), "{}", show(&types));

    // A port name where the Service needs a number, and a containerPort written as a string:
    // the API server refuses both, and no schema files are needed to say so.
    let broken = clean
        .replace("port: 80, targetPort", "port: http, targetPort")
        .replace(
            "image: nginx:1.27\n",
            "image: nginx:1.27\n          ports: [{containerPort: \"8080\"}]\n",
        );
    let findings = Fixture::new().chart("a", "a", 1, &broken).findings();
    let mut types = of_rule(&findings, "schema/types");
    types.sort_by(|a, b| a.object.kind.cmp(&b.object.kind));
    assert_eq!(types.len(), 2, "{}", show(&types));
    assert_eq!(types[0].severity, Severity::Error);
    assert_eq!(types[0].object.to_string(), "Deployment a/app");
    assert_eq!(
        types[0].field,
        "spec.template.spec.containers[0].ports[0].containerPort"
    );
    assert_eq!(types[1].object.to_string(), "Service a/web");
    assert_eq!(types[1].field, "spec.ports[0].port");
    assert!(
        types[1].message.contains("v1 Service") && types[1].message.contains("expected i32"),
        "{}",
        types[1].message
    );

    // A built-in kind at a version Kubernetes no longer serves has no typed view either.
    let old = "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: nightly}\nspec: {schedule: '@daily', jobTemplate: {spec: {template: {spec: {containers: [{name: c, image: busybox}]}}}}}\n";
    let findings = Fixture::new().chart("a", "a", 1, old).findings();
    let types = of_rule(&findings, "schema/types");
    assert_eq!(types.len(), 1, "{}", show(&types));
    assert_eq!(types[0].object.to_string(), "CronJob a/nightly");
    assert_eq!(types[0].field, "apiVersion");
    assert!(
        types[0].message.contains("use batch/v1"),
        "{}",
        types[0].message
    );
}
