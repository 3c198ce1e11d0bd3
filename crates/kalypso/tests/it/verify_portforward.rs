//! Port-forward resolution against a fake Kubernetes API: a Service port maps to the named
//! targetPort of a ready pod behind the selector; a missing Service, a port the Service does
//! not expose and a Service without ready pods are each reported by name.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use kalypso::cluster::portforward::{resolve_service, PortForwardError};
use kalypso::cluster::Cluster;
use serde_json::json;

fn not_found(kind: &str, name: &str) -> Response {
    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": format!("{kind} \"{name}\" not found"), "reason": "NotFound", "code": 404});
    (StatusCode::NOT_FOUND, Json(status)).into_response()
}

async fn service(Path((ns, name)): Path<(String, String)>) -> Response {
    match (ns.as_str(), name.as_str()) {
        ("tempo", "tempo-distributed-query-frontend") => Json(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app.kubernetes.io/component": "query-frontend"},
                     "ports": [{"name": "http-metrics", "port": 3100, "targetPort": "http-metrics"}]}
        }))
        .into_response(),
        ("loki", "loki-gateway") => Json(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app.kubernetes.io/component": "gateway"},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
        }))
        .into_response(),
        _ => not_found("services", &name),
    }
}

fn pod(name: &str, ns: &str, ready: bool) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": [{"name": "main", "ports": [{"name": "http-metrics", "containerPort": 3200}]}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
    })
}

async fn pods(Path(ns): Path<String>, Query(q): Query<HashMap<String, String>>) -> Response {
    let selector = q.get("labelSelector").cloned().unwrap_or_default();
    let items = match (ns.as_str(), selector.as_str()) {
        ("tempo", "app.kubernetes.io/component=query-frontend") => {
            vec![pod("qf-0", "tempo", false), pod("qf-1", "tempo", true)]
        }
        ("loki", _) => vec![pod("gw-0", "loki", false)],
        _ => vec![],
    };
    Json(json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": items}))
        .into_response()
}

async fn fake_api() -> SocketAddr {
    let router = Router::new()
        .route("/api/v1/namespaces/{ns}/services/{name}", get(service))
        .route("/api/v1/namespaces/{ns}/pods", get(pods));
    crate::fakes::serve(router).await
}

async fn cluster() -> Cluster {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let addr = fake_api().await;
    let url = format!("http://{addr}");
    let config = kube::Config::new(url.parse().expect("uri"));
    let client = kube::Client::try_from(config).expect("client");
    Cluster::from_client(client, url)
}

#[tokio::test]
async fn the_tempo_query_port_3100_lands_on_the_ready_pods_container_port_3200() {
    let c = cluster().await;
    let target = resolve_service(&c, "tempo", "tempo-distributed-query-frontend", 3100)
        .await
        .expect("resolve");
    assert_eq!(target.pod, "qf-1");
    assert_eq!(target.port, 3200);
}

#[tokio::test]
async fn each_reason_a_service_cannot_be_forwarded_to_is_named() {
    let c = cluster().await;
    let err = resolve_service(&c, "mimir", "mimir-distributed-gateway", 80)
        .await
        .expect_err("missing");
    assert!(
        matches!(err, PortForwardError::ServiceNotFound { .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "Service mimir/mimir-distributed-gateway not found"
    );

    let err = resolve_service(&c, "tempo", "tempo-distributed-query-frontend", 3200)
        .await
        .expect_err("port");
    assert_eq!(
        err.to_string(),
        "Service tempo/tempo-distributed-query-frontend exposes no port 3200 (it has: 3100)"
    );

    let err = resolve_service(&c, "loki", "loki-gateway", 80)
        .await
        .expect_err("not ready");
    assert!(
        err.to_string()
            .starts_with("no ready pod behind Service loki/loki-gateway"),
        "{err}"
    );
}
