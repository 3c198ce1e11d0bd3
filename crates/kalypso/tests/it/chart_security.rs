//! The charts' security defaults and their production profile, as the install paths see them:
//! every namespace gets a Pod Security Standards level on the Argo CD path; every chart renders a
//! default-deny NetworkPolicy for its namespace, switchable with `networkPolicy.enabled`; the
//! production profile renders no development credential and denies egress too; every workload it
//! runs with two replicas or more has a PodDisruptionBudget.
//!
//! The charts' own templates render offline (upstream subcharts as empty stand-ins, the library
//! chart copied in, as `kalypso render` does without archives). The tests that need the upstream
//! workloads print a SKIP line when `charts/<chart>/charts/*.tgz` are absent.

use std::path::{Path, PathBuf};

use kalypso::manifest::{Manifest, Object, Source};
use serde_json::Value;
use tempfile::TempDir;

use crate::support::{helm_or_skip, repo_root, skip};

const LEVELS: &[&str] = &["restricted", "baseline", "privileged"];
const ENFORCE: &str = "pod-security.kubernetes.io/enforce";

/// One element of the ApplicationSet's list generator, as parsed.
struct Element {
    name: String,
    path: String,
    namespace: String,
    fields: Value,
}

fn applicationset() -> (String, Value) {
    let path = repo_root().join("argocd/applicationset.yaml");
    let text = std::fs::read_to_string(&path).expect("argocd/applicationset.yaml");
    let doc = serde_saphyr::from_str(&text).expect("applicationset parses");
    (text, doc)
}

fn elements() -> Vec<Element> {
    let (_, doc) = applicationset();
    doc["spec"]["generators"][0]["list"]["elements"]
        .as_array()
        .expect("list generator elements")
        .iter()
        .map(|e| Element {
            name: e["name"].as_str().expect("name").into(),
            path: e["path"].as_str().expect("path").into(),
            namespace: e["namespace"].as_str().expect("namespace").into(),
            fields: e.clone(),
        })
        .collect()
}

/// The chart's `file://` and upstream dependencies: (name, version, repository).
fn dependencies(chart_dir: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(chart_dir.join("Chart.yaml")).expect("Chart.yaml");
    let chart: Value = serde_saphyr::from_str(&text).expect("Chart.yaml parses");
    chart["dependencies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let field = |k: &str| d[k].as_str().unwrap_or_default().to_string();
            (field("name"), field("version"), field("repository"))
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path, with_archives: bool) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target, with_archives);
        } else if with_archives || !e.file_name().to_string_lossy().ends_with(".tgz") {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// Whether every upstream archive of the chart is present; prints a SKIP line if not.
fn archives_present(element: &Element, test: &str) -> bool {
    let dir = repo_root().join(&element.path);
    for (name, version, repo) in dependencies(&dir) {
        let archive = dir.join("charts").join(format!("{name}-{version}.tgz"));
        if !repo.starts_with("file://") && !archive.is_file() {
            skip(&format!(
                "{test}: {}/charts/{name}-{version}.tgz not present",
                element.path
            ));
            return false;
        }
    }
    true
}

/// A renderable copy of the chart: the library chart copied in; upstream subcharts as their
/// archives (`upstream`) or as empty stand-ins.
fn chart_copy(element: &Element, upstream: bool) -> (TempDir, PathBuf) {
    let src = repo_root().join(&element.path);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dest = tmp.path().join(&element.name);
    copy_dir(&src, &dest, upstream);
    for (name, version, repo) in dependencies(&src) {
        let target = dest.join("charts").join(&name);
        let _ = std::fs::remove_dir_all(&target);
        if let Some(rel) = repo.strip_prefix("file://") {
            copy_dir(&src.join(rel), &target, false);
        } else if !upstream {
            std::fs::create_dir_all(&target).expect("mkdir stand-in");
            std::fs::write(
                target.join("Chart.yaml"),
                format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
            )
            .expect("write stand-in");
        }
    }
    (tmp, dest)
}

/// `helm template` of the element with the contract, optionally its production profile and
/// `--set` strings (what deploys: no test hooks), parsed.
fn render(element: &Element, upstream: bool, production: bool, set: &[&str]) -> Vec<Object> {
    let helm = helm_or_skip("chart_security").expect("helm (the chart tests need it)");
    let (_tmp, dir) = chart_copy(element, upstream);
    let mut args: Vec<String> = vec![
        "template".into(),
        element.name.clone(),
        dir.display().to_string(),
        "-n".into(),
        element.namespace.clone(),
        "--kube-version".into(),
        "1.32.0".into(),
        "--skip-tests".into(),
        "-f".into(),
        repo_root().join("contract.yaml").display().to_string(),
    ];
    if production {
        let profile = dir.join("profiles/production.yaml");
        assert!(
            profile.is_file(),
            "{} has no profiles/production.yaml",
            element.path
        );
        args.push("-f".into());
        args.push(profile.display().to_string());
    }
    for s in set {
        args.push("--set".into());
        args.push(s.to_string());
    }
    let out = helm.command(&args).output().expect("run helm");
    assert!(
        out.status.success(),
        "{} does not render (production: {production}, set: {set:?}):\n{}",
        element.name,
        String::from_utf8_lossy(&out.stderr)
    );
    let source = Source {
        component: element.name.clone(),
        origin: format!("helm template {}", element.name),
        default_namespace: element.namespace.clone(),
        text: String::from_utf8_lossy(&out.stdout).into_owned(),
    };
    Manifest::from_sources(&[source])
        .unwrap_or_else(|e| panic!("{}: the render does not parse: {e:?}", element.name))
        .objects
}

fn have_helm() -> bool {
    helm_or_skip("chart_security").is_some()
}

fn policy_types(np: &Object) -> Vec<&str> {
    np.body["spec"]["policyTypes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The namespace-wide default-deny policy of a render: empty podSelector, no allow rule.
fn default_deny<'a>(objects: &'a [Object], namespace: &str) -> Option<&'a Object> {
    objects.iter().find(|o| {
        o.kind == "NetworkPolicy"
            && o.namespace.as_deref() == Some(namespace)
            && o.body["spec"]["podSelector"]
                .as_object()
                .is_some_and(|m| m.is_empty())
            && o.body["spec"]["ingress"].is_null()
            && o.body["spec"]["egress"].is_null()
            && policy_types(o).contains(&"Ingress")
    })
}

// ---- Pod Security Standards on the Argo CD path

#[test]
fn every_component_names_a_pod_security_level_and_a_privileged_one_says_why() {
    let (text, _) = applicationset();
    let lines: Vec<&str> = text.lines().collect();
    for e in elements() {
        let level = e.fields["podSecurity"].as_str().unwrap_or_else(|| {
            panic!(
                "{} has no podSecurity in argocd/applicationset.yaml: its namespace would enforce no Pod Security Standards level",
                e.name
            )
        });
        assert!(
            LEVELS.contains(&level),
            "{}: podSecurity {level:?} is not one of {LEVELS:?}",
            e.name
        );
        if level != "restricted" {
            // The reason sits in the comment right above the element.
            let at = lines
                .iter()
                .position(|l| l.contains(&format!("name: {},", e.name)))
                .expect("element line");
            let comment: Vec<&str> = lines[..at]
                .iter()
                .rev()
                .take_while(|l| l.trim_start().starts_with('#'))
                .copied()
                .collect();
            assert!(
                comment.iter().any(|l| l.contains(&format!("{level}:"))),
                "{} enforces {level} without a `# {level}: <reason>` comment above its element",
                e.name
            );
        }
    }
}

#[test]
fn argo_cd_labels_every_namespace_it_creates_with_the_components_level() {
    let (_, doc) = applicationset();
    let sync = &doc["spec"]["template"]["spec"]["syncPolicy"];
    let options: Vec<&str> = sync["syncOptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        options.contains(&"CreateNamespace=true"),
        "managedNamespaceMetadata applies only with CreateNamespace=true"
    );
    assert_eq!(
        sync["managedNamespaceMetadata"]["labels"][ENFORCE].as_str(),
        Some("{{ .podSecurity }}"),
        "the Applications' namespaces must carry {ENFORCE} from the element's podSecurity"
    );
}

#[test]
fn the_applicationset_selects_each_components_profile_as_an_optional_values_file() {
    let (_, doc) = applicationset();
    let helm = &doc["spec"]["template"]["spec"]["source"]["helm"];
    let files: Vec<&str> = helm["valueFiles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        files.first().copied(),
        Some("../../contract.yaml"),
        "the contract comes first"
    );
    assert!(
        files.contains(&"profiles/{{ .profile }}.yaml"),
        "no profile values file in {files:?}"
    );
    assert_eq!(
        helm["ignoreMissingValueFiles"].as_bool(),
        Some(true),
        "`development` has no file: Argo CD must skip a missing one"
    );
    let root = repo_root();
    for e in elements() {
        let profile = e.fields["profile"]
            .as_str()
            .unwrap_or_else(|| panic!("{} has no profile", e.name));
        let file = root.join(&e.path).join(format!("profiles/{profile}.yaml"));
        assert!(
            profile == "development" || file.is_file(),
            "{}: profile {profile} has no {}",
            e.name,
            file.display()
        );
        assert!(
            root.join(&e.path)
                .join("profiles/production.yaml")
                .is_file(),
            "{} has no production profile",
            e.name
        );
    }
}

// ---- NetworkPolicies

#[test]
fn every_chart_renders_a_default_deny_network_policy_for_its_namespace_and_can_switch_it_off() {
    if !have_helm() {
        return;
    }
    for e in elements() {
        let objects = render(&e, false, false, &[]);
        let deny = default_deny(&objects, &e.namespace).unwrap_or_else(|| {
            panic!(
                "{} renders no default-deny NetworkPolicy (empty podSelector, Ingress, no rule) in {}",
                e.name, e.namespace
            )
        });
        assert!(
            !policy_types(deny).contains(&"Egress"),
            "{}: development denies no egress (only the production profile does)",
            e.name
        );
        let off = render(&e, false, false, &["networkPolicy.enabled=false"]);
        assert!(
            !off.iter().any(|o| o.kind == "NetworkPolicy"),
            "{} still renders NetworkPolicies with networkPolicy.enabled=false",
            e.name
        );
    }
}

#[test]
fn allow_rules_name_their_peers_by_the_contracts_namespaces() {
    if !have_helm() {
        return;
    }
    let namespaces: Vec<String> = elements().into_iter().map(|e| e.namespace).collect();
    for e in elements() {
        for np in render(&e, false, true, &[])
            .iter()
            .filter(|o| o.kind == "NetworkPolicy")
        {
            for direction in ["ingress", "egress"] {
                for rule in np.body["spec"][direction].as_array().into_iter().flatten() {
                    let peers = rule[if direction == "ingress" { "from" } else { "to" }]
                        .as_array()
                        .into_iter()
                        .flatten();
                    for peer in peers {
                        let Some(ns) = peer["namespaceSelector"]["matchLabels"]
                            ["kubernetes.io/metadata.name"]
                            .as_str()
                        else {
                            continue;
                        };
                        assert!(
                            ns == "kube-system" || namespaces.iter().any(|n| n == ns),
                            "{} {}: peer namespace {ns} is not a namespace of the stack",
                            e.name,
                            np.name
                        );
                    }
                }
            }
        }
    }
}

// ---- the production profile

#[test]
fn the_production_profile_renders_no_development_credential_and_denies_egress() {
    if !have_helm() {
        return;
    }
    for e in elements() {
        // Offline: this chart's own templates (the S3, admin and user Secrets); with the upstream
        // archives: everything, MinIO's root login included.
        let mut renders = vec![render(&e, false, true, &[])];
        if archives_present(&e, "chart_security::production_credentials") {
            renders.push(render(&e, true, true, &[]));
        }
        for objects in renders {
            for o in &objects {
                for dev in ["change-me", "minioadmin"] {
                    assert!(
                        !o.text.contains(dev),
                        "{}: {} {} renders the development credential {dev:?} under --profile production",
                        e.name,
                        o.kind,
                        o.name
                    );
                }
                if o.kind == "Secret" {
                    let keys: Vec<&String> = ["data", "stringData"]
                        .iter()
                        .flat_map(|section| o.body[*section].as_object().into_iter().flatten())
                        .map(|(k, _)| k)
                        .collect();
                    assert!(
                        !keys.iter().any(|k| {
                            ["S3_SECRET_ACCESS_KEY", "admin-password", "secretKey", "rootPassword"]
                                .contains(&k.as_str())
                        }),
                        "{}: Secret {} is rendered from values under --profile production; it must be an existingSecret",
                        e.name,
                        o.name
                    );
                }
            }
            let deny = default_deny(&objects, &e.namespace)
                .unwrap_or_else(|| panic!("{}: no default-deny policy in production", e.name));
            assert!(
                policy_types(deny).contains(&"Egress"),
                "{}: the production profile must deny egress by default",
                e.name
            );
        }
    }
}

/// The labels a selector's matchLabels require, all present in `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector["matchLabels"]
        .as_object()
        .is_some_and(|want| want.iter().all(|(k, v)| labels[k] == *v))
}

#[test]
fn every_workload_with_two_replicas_or_more_in_production_has_a_pod_disruption_budget() {
    if !have_helm() {
        return;
    }
    let mut checked = 0;
    for e in elements() {
        if !archives_present(&e, "chart_security::production_pdbs") {
            continue;
        }
        let objects = render(&e, true, true, &[]);
        let pdbs: Vec<&Object> = objects
            .iter()
            .filter(|o| o.kind == "PodDisruptionBudget")
            .collect();
        for w in &objects {
            let replicas = w.body["spec"]["replicas"].as_i64().unwrap_or(1);
            match w.kind.as_str() {
                "Deployment" | "StatefulSet" if replicas >= 2 => {
                    let labels = &w.body["spec"]["template"]["metadata"]["labels"];
                    assert!(
                        pdbs.iter().any(|p| p.namespace == w.namespace
                            && selects(&p.body["spec"]["selector"], labels)),
                        "{}: {} {} runs {replicas} replicas in production without a PodDisruptionBudget",
                        e.name,
                        w.kind,
                        w.name
                    );
                    checked += 1;
                }
                // The operator makes the collector's PDB from spec.podDisruptionBudget.
                "OpenTelemetryCollector" if replicas >= 2 => {
                    assert!(
                        w.body["spec"]["podDisruptionBudget"].is_object(),
                        "{}: collector {} runs {replicas} replicas without spec.podDisruptionBudget",
                        e.name,
                        w.name
                    );
                    checked += 1;
                }
                "StatefulSet" => panic!(
                    "{}: StatefulSet {} runs a single replica in production",
                    e.name, w.name
                ),
                _ => {}
            }
        }
    }
    if checked == 0 {
        skip("chart_security::production_pdbs: no chart rendered with its upstream archives");
    }
}
