//! The `kalypso up` binary end to end against the fakes, `--dry-run` without a cluster, and
//! one clear message (never a panic) for each environment problem: no kubeconfig, an
//! unreachable cluster, missing RBAC, helm missing or too old.

use std::time::Duration;

use predicates::prelude::*;
use serde_json::json;

use crate::fakes::api::Obj;
use crate::fakes::deploy::{comp, Harness};
use crate::fakes::k8s;

fn stack() -> Harness {
    Harness::new(&[
        comp("kalypso-otel", "otel-system", 1),
        comp("kalypso-mimir", "mimir", 4),
    ])
}

#[test]
fn dry_run_prints_the_plan_without_a_cluster_or_helm() {
    let h = stack();
    let otel = h.repo.join("charts/kalypso-otel");
    std::fs::write(
        otel.join("Chart.yaml"),
        "apiVersion: v2\nname: kalypso-otel\nversion: 0.1.0\ndependencies:\n  - name: cert-manager\n    version: v1.21.1\n    repository: oci://quay.io/jetstack/charts\n    condition: cert-manager.enabled\n  - name: opentelemetry-operator\n    version: 0.122.0\n    repository: https://open-telemetry.github.io/opentelemetry-helm-charts\n    condition: opentelemetry-operator.enabled\n",
    )
    .expect("Chart.yaml");
    std::fs::create_dir_all(otel.join("charts")).expect("mkdir");
    std::fs::write(
        otel.join("charts/cert-manager-v1.21.1.tgz"),
        b"not really a chart",
    )
    .expect("tgz");
    std::fs::create_dir_all(otel.join("profiles")).expect("mkdir");
    std::fs::write(otel.join("profiles/dev.yaml"), "x: 1\n").expect("profile");
    std::fs::write(h.repo.join("mine.yaml"), "y: 2\n").expect("values");

    let out = h
        .kalypso()
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("KALYPSO_HELM", "/nonexistent/helm")
        .args([
            "up",
            "--dry-run",
            "--profile",
            "dev",
            "-f",
            "mine.yaml",
            "--set",
            "a.b=c",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8_lossy(&out);
    let wave1 = text.find("Wave 1 (1 in parallel):").expect("wave 1");
    let wave4 = text.find("Wave 4 (1 in parallel):").expect("wave 4");
    assert!(wave1 < wave4, "{text}");
    assert!(
        text.contains("Plan: 2 release(s) in 2 wave(s), profile dev"),
        "{text}"
    );
    assert!(
        text.contains(
            "kalypso-otel  namespace otel-system  chart kalypso-otel 0.1.0 (charts/kalypso-otel)"
        ),
        "{text}"
    );
    assert!(
        text.contains("upstream cert-manager v1.21.1 from oci://quay.io/jetstack/charts\n"),
        "{text}"
    );
    assert!(text.contains("upstream opentelemetry-operator 0.122.0 from https://open-telemetry.github.io/opentelemetry-helm-charts  [archive missing: helm dependency build charts/kalypso-otel]"), "{text}");
    assert!(text.contains("values: charts/kalypso-otel/values.yaml, charts/kalypso-otel/profiles/dev.yaml, mine.yaml"), "{text}");
    assert!(
        text.contains("values: charts/kalypso-mimir/values.yaml, mine.yaml"),
        "{text}"
    );
    assert!(text.contains("set: a.b=c"), "{text}");
    assert!(h.calls().is_empty());
}

#[test]
fn up_refuses_to_start_when_an_upstream_archive_is_missing_and_names_the_command() {
    let h = stack();
    std::fs::write(
        h.repo.join("charts/kalypso-mimir/Chart.yaml"),
        "apiVersion: v2\nname: kalypso-mimir\nversion: 0.1.0\ndependencies:\n  - name: mimir-distributed\n    version: 6.2.0\n    repository: https://grafana.github.io/helm-charts\n",
    )
    .expect("Chart.yaml");
    h.kalypso()
        .args(["up"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "helm dependency build charts/kalypso-mimir   # mimir-distributed-6.2.0",
        ));
    assert!(h.calls().is_empty());
}

#[test]
fn up_failure_names_the_release_the_object_its_events_and_log_and_exits_1() {
    let h = stack();
    let (pending, _) = k8s::statefulset("otel-system", "store", "kalypso-otel");
    h.scenario(json!({"releases": {"kalypso-otel": {"manifest": k8s::manifest(&[&pending])}}}));
    h.api.add([
        Obj::fixed(pending),
        Obj::fixed(k8s::pod(
            "otel-system",
            "store-0",
            "store",
            false,
            0,
            Some("ImagePullBackOff"),
        )),
        Obj::fixed(k8s::event(
            "otel-system",
            "Pod",
            "store-0",
            "Warning",
            "Failed",
            "Failed to pull image \"example/store:1.0.0\": not found",
            "2026-01-01T00:01:00Z",
        )),
    ]);
    h.kalypso()
        .args(["up", "--wave-timeout", "1s"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("kalypso up stopped in wave 1; later waves were not started."))
        .stderr(predicate::str::contains("release kalypso-otel (namespace otel-system): not healthy within the wave timeout (1s): StatefulSet otel-system/store: 0/1 replicas ready"))
        .stderr(predicate::str::contains("failing container: store in pod store-0 (ImagePullBackOff"))
        .stderr(predicate::str::contains("Warning Failed Pod/store-0: Failed to pull image"))
        .stderr(predicate::str::contains("panicked").not());
    assert!(!h.upgrades().contains(&"kalypso-mimir".to_string()));
}

#[test]
fn no_kubeconfig_is_one_clear_usage_error() {
    let h = stack();
    let home = h.dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    h.kalypso()
        .env("KUBECONFIG", h.dir.path().join("missing-kubeconfig"))
        .env("HOME", &home)
        .args(["status"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no kubeconfig found"))
        .stderr(predicate::str::contains(
            "missing-kubeconfig does not exist",
        ))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn an_unreachable_cluster_is_one_clear_error() {
    let h = stack();
    let cfg = h.dir.path().join("dead-kubeconfig");
    std::fs::write(
        &cfg,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: dead\n  context: {cluster: dead, user: dev}\ncurrent-context: dead\nusers:\n- name: dev\n  user: {token: x}\n",
    )
    .expect("kubeconfig");
    h.kalypso()
        .env("KUBECONFIG", &cfg)
        .args(["doctor"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot reach the Kubernetes API at http://127.0.0.1:9/",
        ))
        .stderr(predicate::str::contains("Is the cluster running"));
}

#[test]
fn missing_rbac_names_what_was_refused() {
    let h = stack();
    h.preinstall("kalypso-otel", "otel-system", "deployed", "x");
    h.api.forbid("/api/v1/namespaces/otel-system/pods");
    h.kalypso()
        .args(["status"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "missing RBAC permission: listing pods in otel-system was refused (403 Forbidden",
        ));
}

#[test]
fn helm_missing_is_a_usage_error() {
    let h = stack();
    let empty = h.dir.path().join("empty-path");
    std::fs::create_dir_all(&empty).expect("dir");
    h.kalypso()
        .env_remove("KALYPSO_HELM")
        .env("PATH", &empty)
        .args(["up"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("helm is not installed"));
}

#[test]
fn helm_too_old_is_a_usage_error_naming_the_minimum() {
    let h = stack();
    h.scenario(json!({"version": "v3.7.2+g663a896", "releases": {}}));
    h.kalypso()
        .args(["up"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("helm v3.7.2+g663a896"))
        .stderr(predicate::str::contains(
            "is too old: kalypso needs helm 3.8.0 or newer",
        ));
    assert!(h.upgrades().is_empty());
}

/// Pids of processes whose command line mentions `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn an_interrupted_up_stops_helm_gracefully_and_says_to_rerun() {
    let h = stack();
    h.scenario(json!({"releases": {"kalypso-otel": {"manifest": "", "hang": true}}}));
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("kalypso"))
        .args(["up"])
        .env("KUBECONFIG", h.kubeconfig())
        .env("KALYPSO_HELM", &h.helm.binary)
        .current_dir(&h.repo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start kalypso");
    let started = std::time::Instant::now();
    while h.upgrades().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "helm upgrade never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let helm_path = h.helm.binary.to_string_lossy().into_owned();
    assert!(
        !processes_with(&helm_path).is_empty(),
        "the fake helm should be running"
    );
    // SAFETY: signalling the child process this test started and has not reaped.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("kalypso up interrupted (SIGTERM)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Run `kalypso up` again to continue"),
        "{stderr}"
    );
    let gone = std::time::Instant::now();
    while !processes_with(&helm_path).is_empty() {
        assert!(
            gone.elapsed() < Duration::from_secs(5),
            "helm was left running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn up_json_reports_each_release_and_helm_gets_the_chosen_cluster() {
    let h = stack();
    let kubeconfig = h.kubeconfig();
    let out = h
        .kalypso()
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .args([
            "up",
            "-o",
            "json",
            "--wave-timeout",
            "30s",
            "--kube-context",
            "fake",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["healthy"], true);
    let releases = v["releases"].as_array().expect("releases");
    let names: Vec<&str> = releases
        .iter()
        .filter_map(|r| r["release"].as_str())
        .collect();
    assert_eq!(names, ["kalypso-otel", "kalypso-mimir"]);
    for r in releases {
        assert_eq!(r["outcome"], "healthy", "{r}");
        assert_eq!(r["action"], "applied", "{r}");
        assert!(r["duration_ms"].is_u64(), "{r}");
    }
    for call in h.calls() {
        let args: Vec<String> = serde_json::from_value(call["args"].clone()).expect("args");
        let at = args.iter().position(|a| a == "--kube-context");
        assert_eq!(at.map(|i| args[i + 1].as_str()), Some("fake"), "{args:?}");
        let at = args.iter().position(|a| a == "--kubeconfig");
        assert_eq!(
            at.map(|i| std::path::PathBuf::from(&args[i + 1])),
            Some(kubeconfig.clone()),
            "{args:?}"
        );
    }
}
