//! `kalypso check -f …` through the real binary: exit codes, formats, bad input.

use std::io::Write;

use assert_cmd::Command;
use predicates::prelude::*;

const CLEAN: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{name: http, port: 80, targetPort: 8080}], selector: {app: web}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: client, namespace: shop}
data:
  upstream: http://web.shop.svc.cluster.local/api
"#;

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

fn kalypso() -> Command {
    let mut c = Command::cargo_bin("kalypso").expect("binary");
    // Keep the CLI tests independent of an installed schema package.
    c.env("KALYPSO_SCHEMA_DIR", "/nonexistent");
    c
}

#[test]
fn clean_manifests_exit_zero_with_a_summary_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "clean.yaml", CLEAN);
    kalypso()
        .args(["check", "--schema-dir", "/nonexistent", "--manifests"])
        .arg(&f)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "0 errors, 1 warning, 0 info; charts: 0 full, 0 partial",
        ))
        .stdout(predicate::str::contains("schema check skipped"));
}

#[test]
fn a_broken_wire_exits_one_and_names_object_field_and_address() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "broken.yaml",
        &CLEAN.replace("web.shop.svc", "api.shop.svc"),
    );
    kalypso()
        .args(["check", "--schema-dir", "/nonexistent", "--manifests"])
        .arg(&f)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "wiring/dns ConfigMap shop/client data.upstream",
        ))
        .stdout(predicate::str::contains(
            "api.shop.svc.cluster.local points at Service shop/api",
        ));
}

#[test]
fn fail_on_warning_turns_warnings_into_exit_one() {
    let dir = tempfile::tempdir().unwrap();
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - {name: c, image: 'nginx:1.27', resources: {requests: {cpu: 1m, memory: 1Mi}, limits: {memory: 2Mi}}}\n";
    let f = write(dir.path(), "pod.yaml", pod);
    kalypso()
        .args(["check", "--schema-dir", "/nonexistent", "--manifests"])
        .arg(&f)
        .assert()
        .code(0);
    kalypso()
        .args([
            "check",
            "--schema-dir",
            "/nonexistent",
            "--fail-on",
            "warning",
            "--manifests",
        ])
        .arg(&f)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("hygiene/probes"));
}

/// `check` on the clean stack with one broken wire (a ConfigMap pointing at a missing
/// Service), in output format `format`.
fn broken_wire_output(format: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "broken.yaml",
        &CLEAN.replace("web.shop.svc", "api.shop.svc"),
    );
    kalypso()
        .args([
            "check",
            "--schema-dir",
            "/nonexistent",
            "--output",
            format,
            "--manifests",
        ])
        .arg(&f)
        .output()
        .unwrap()
}

#[test]
fn json_output_has_findings_with_rule_severity_object_field_message_and_charts() {
    let out = broken_wire_output("json");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(v["charts"].is_array());
    let dns = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "wiring/dns")
        .expect("a dns finding");
    assert_eq!(dns["severity"], "error");
    assert_eq!(dns["object"]["kind"], "ConfigMap");
    assert_eq!(dns["object"]["namespace"], "shop");
    assert_eq!(dns["object"]["name"], "client");
    assert_eq!(dns["field"], "data.upstream");
    assert!(dns["message"].as_str().unwrap().contains("api.shop"));
}

#[test]
fn sarif_output_is_sarif_2_1_0_with_rules_and_results() {
    let out = broken_wire_output("sarif");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "kalypso");
    assert!(run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == "wiring/dns"));
    let result = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "wiring/dns")
        .unwrap();
    assert_eq!(result["level"], "error");
    assert!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("broken.yaml")
    );
}

#[test]
fn stdin_and_directories_are_accepted() {
    let mut child = kalypso()
        .args(["check", "--schema-dir", "/nonexistent", "--manifests", "-"])
        .write_stdin(CLEAN)
        .assert();
    child = child.code(0);
    drop(child);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", CLEAN);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write(
        &dir.path().join("sub"),
        "b.yml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    );
    kalypso()
        .args(["check", "--schema-dir", "/nonexistent", "--manifests"])
        .arg(dir.path())
        .assert()
        .code(0);
}

#[test]
fn broken_yaml_is_exit_two_naming_file_and_line_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: [b\n");
    let out = kalypso()
        .args(["check", "--manifests"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml:"), "{err}");
    assert!(
        err.contains(":7:") || err.contains(":8:") || err.contains(":5:"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

#[test]
fn a_missing_input_file_and_a_bad_flag_are_exit_two() {
    kalypso()
        .args(["check", "--manifests", "/nonexistent/x.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent/x.yaml"));
    kalypso()
        .args(["check", "--fail-on", "fatal"])
        .assert()
        .code(2);
    kalypso()
        .args(["check", "--kube-version", "latest", "--manifests", "-"])
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--kube-version"));
}

#[test]
fn a_repository_without_a_component_list_is_exit_two() {
    let dir = tempfile::tempdir().unwrap();
    kalypso()
        .args(["check", "--repo"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("argocd/applicationset.yaml"));
    let _ = std::io::stdout().flush();
}

#[test]
fn a_render_directory_gives_objects_their_release_and_namespace() {
    // What `kalypso render --out DIR` writes: one file per release and an index.json.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "kalypso-web.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n",
    );
    write(
        dir.path(),
        "kalypso-client.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: client}\ndata:\n  upstream: http://web.shop.svc.cluster.local/\n  broken: http://nope.shop.svc.cluster.local/\n",
    );
    write(
        dir.path(),
        "index.json",
        r#"[{"release": "kalypso-web", "namespace": "shop", "wave": 1, "file": "kalypso-web.yaml", "chart": {"status": "full"}},
            {"release": "kalypso-client", "namespace": "front", "wave": 2, "file": "kalypso-client.yaml", "chart": {"status": "full"}}]"#,
    );
    let out = kalypso()
        .args([
            "check",
            "--schema-dir",
            "/nonexistent",
            "-o",
            "json",
            "--manifests",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let dns: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "wiring/dns")
        .collect();
    assert_eq!(dns.len(), 1, "{dns:?}");
    assert_eq!(dns[0]["component"], "kalypso-client");
    assert_eq!(dns[0]["object"]["namespace"], "front");
    assert_eq!(dns[0]["field"], "data.broken");
}

#[test]
fn objects_without_a_namespace_take_the_one_given_with_n_as_kubectl_would() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "app.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: client}\ndata:\n  upstream: http://web.shop.svc.cluster.local/\n",
    );
    // Without -n both land in `default` and the address dangles; with -n shop it resolves.
    let dns = |extra: &[&str]| -> Vec<serde_json::Value> {
        let out = kalypso()
            .args(["check", "--schema-dir", "/nonexistent", "-o", "json"])
            .args(extra)
            .arg("--manifests")
            .arg(&f)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "wiring/dns")
            .cloned()
            .collect()
    };
    let without = dns(&[]);
    assert_eq!(without.len(), 1, "{without:?}");
    assert_eq!(without[0]["object"]["namespace"], "default");
    assert_eq!(dns(&["-n", "shop"]), Vec::<serde_json::Value>::new());
}
