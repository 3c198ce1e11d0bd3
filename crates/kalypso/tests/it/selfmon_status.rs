//! `kalypso status` lists the self-monitoring alerts Mimir's ruler has firing for the contract's
//! metrics tenant: read from Mimir's Prometheus API (a fake here, on 127.0.0.1, that answers only
//! with the tenant header), critical ones first, pending ones left out; a critical one makes the
//! stack unhealthy (exit 1). Without an explicit URL status port-forwards to the contract's Mimir
//! gateway, as verify does; when that Service is not there the alerts are "not checked", named,
//! and the exit code is the workloads' alone. The rest of status runs against the fake
//! Kubernetes API and the fake helm.

use std::net::SocketAddr;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use predicates::prelude::*;
use serde_json::{json, Value};

use crate::fakes::deploy::{comp, Harness};
use crate::support::repo_root;

/// A harness with kalypso-mimir installed and the repository's contract.
fn stack() -> Harness {
    let h = Harness::new(&[comp("kalypso-mimir", "mimir", 4)]);
    std::fs::copy(
        repo_root().join("contract.yaml"),
        h.repo.join("contract.yaml"),
    )
    .expect("contract");
    h.preinstall("kalypso-mimir", "mimir", "deployed", "kalypso test");
    h
}

/// Serves `/prometheus/api/v1/alerts` with `alerts` to requests for tenant `kalypso`.
fn fake_mimir(rt: &tokio::runtime::Runtime, alerts: Value) -> SocketAddr {
    let app = Router::new().route(
        "/prometheus/api/v1/alerts",
        get(move |headers: HeaderMap| {
            let alerts = alerts.clone();
            async move {
                if headers.get("X-Scope-OrgID").and_then(|v| v.to_str().ok()) != Some("kalypso") {
                    return (StatusCode::UNAUTHORIZED, "no org id").into_response();
                }
                let r: Response =
                    Json(json!({"status": "success", "data": {"alerts": alerts}})).into_response();
                r
            }
        }),
    );
    rt.block_on(crate::fakes::serve(app))
}

fn alert(name: &str, severity: &str, state: &str, namespace: &str) -> Value {
    json!({
        "labels": {"alertname": name, "severity": severity, "cluster": "kalypso", "namespace": namespace},
        "annotations": {"message": format!("{name} in {namespace}")},
        "state": state,
        "activeAt": "2026-12-01T10:00:00Z",
        "value": "1e+00"
    })
}

#[test]
fn status_lists_the_firing_self_monitoring_alerts_and_a_critical_one_fails_it() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mimir = fake_mimir(
        &rt,
        json!([
            alert("MimirRequestLatency", "warning", "firing", "mimir"),
            alert("LokiRequestErrors", "critical", "pending", "loki"),
            alert("MimirIngesterUnhealthy", "critical", "firing", "mimir"),
        ]),
    );
    let h = stack();
    let url = format!("http://{mimir}/prometheus");
    let out = h
        .kalypso()
        .args(["status", "-o", "json", "--metrics-query-url", &url])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["healthy"], false);
    let a = &v["alerts"];
    assert_eq!(a["checked"], true);
    assert_eq!(a["tenant"], "kalypso");
    let firing: Vec<&str> = a["firing"]
        .as_array()
        .expect("firing")
        .iter()
        .map(|f| f["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(firing, ["MimirIngesterUnhealthy", "MimirRequestLatency"]);
    assert_eq!(a["firing"][0]["severity"], "critical");
    assert_eq!(a["firing"][0]["labels"]["namespace"], "mimir");
    // The component itself is healthy: only the alert makes the stack unhealthy.
    assert_eq!(v["components"][0]["healthy"], true);

    h.kalypso()
        .args(["status", "--metrics-query-url", &url])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "self-monitoring alerts (Mimir ruler, tenant kalypso",
        ))
        .stdout(predicate::str::contains("2 firing"))
        .stdout(predicate::str::contains("MimirIngesterUnhealthy"))
        .stdout(predicate::str::contains("kalypso/mimir"))
        .stdout(predicate::str::contains("LokiRequestErrors").not())
        .stdout(predicate::str::contains(
            "a critical self-monitoring alert is firing",
        ));
}

#[test]
fn warnings_alone_are_listed_without_failing_status() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mimir = fake_mimir(
        &rt,
        json!([alert(
            "TempoProvisioningTooManyWrites",
            "warning",
            "firing",
            "tempo"
        )]),
    );
    let h = stack();
    h.kalypso()
        .args([
            "status",
            "--metrics-query-url",
            &format!("http://{mimir}/prometheus"),
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("1 firing"))
        .stdout(predicate::str::contains("TempoProvisioningTooManyWrites"));
}

#[test]
fn without_a_reachable_mimir_the_alerts_are_not_checked_and_say_why() {
    let h = stack();
    // No Service mimir-distributed-gateway in the fake API: the port-forward cannot start.
    let out = h
        .kalypso()
        .args(["status", "-o", "json"])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["alerts"]["checked"], false);
    assert_eq!(
        v["alerts"]["source"],
        "svc/mimir-distributed-gateway.mimir:80"
    );
    let reason = v["alerts"]["reason"].as_str().expect("reason");
    assert!(
        reason.contains("mimir/mimir-distributed-gateway"),
        "{reason}"
    );
    h.kalypso()
        .args(["status"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "self-monitoring alerts (Mimir ruler, tenant kalypso): not checked (",
        ));
}
