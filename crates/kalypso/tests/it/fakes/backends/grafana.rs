//! The fake Grafana.

use super::*;

/// How the fake Grafana is set up.
#[derive(Debug, Clone)]
pub struct GrafanaSetup {
    pub user: &'static str,
    pub password: &'static str,
    /// Datasource uids whose health check fails.
    pub unhealthy: Vec<&'static str>,
    /// Drop Tempo's tracesToProfiles link.
    pub drop_profiles_link: bool,
    /// Leave out the pyroscope datasource.
    pub drop_pyroscope: bool,
}

impl Default for GrafanaSetup {
    fn default() -> Self {
        GrafanaSetup {
            user: "admin",
            password: "s3cret",
            unhealthy: vec![],
            drop_profiles_link: false,
            drop_pyroscope: false,
        }
    }
}

/// The datasources as kalypso-grafana provisions them.
pub fn provisioned_datasources(setup: &GrafanaSetup) -> Vec<Value> {
    let mut tempo_json = json!({
        "tracesToLogsV2": {"datasourceUid": "loki", "filterByTraceID": true},
        "tracesToMetrics": {"datasourceUid": "mimir"},
        "tracesToProfiles": {"datasourceUid": "pyroscope", "profileTypeId": "process_cpu:cpu:nanoseconds:cpu:nanoseconds"},
        "serviceMap": {"datasourceUid": "mimir"},
        "nodeGraph": {"enabled": true}
    });
    if setup.drop_profiles_link {
        if let Some(o) = tempo_json.as_object_mut() {
            o.remove("tracesToProfiles");
        }
    }
    let mut list = vec![
        json!({"id": 1, "uid": "mimir", "name": "Mimir", "type": "prometheus", "url": "http://mimir-distributed-gateway.mimir.svc.cluster.local/prometheus",
               "jsonData": {"prometheusType": "Mimir", "exemplarTraceIdDestinations": [{"name": "trace_id", "datasourceUid": "tempo"}]}}),
        json!({"id": 2, "uid": "loki", "name": "Loki", "type": "loki", "url": "http://loki-gateway.loki.svc.cluster.local",
               "jsonData": {"derivedFields": [{"name": "TraceID", "matcherRegex": "trace_id", "datasourceUid": "tempo"}]}}),
        json!({"id": 3, "uid": "tempo", "name": "Tempo", "type": "tempo", "url": "http://tempo-distributed-query-frontend.tempo.svc.cluster.local:3100",
               "jsonData": tempo_json}),
    ];
    if !setup.drop_pyroscope {
        list.push(json!({"id": 4, "uid": "pyroscope", "name": "Pyroscope", "type": "grafana-pyroscope-datasource",
                         "url": "http://pyroscope.pyroscope.svc.cluster.local:4040", "jsonData": {}}));
    }
    list
}

#[derive(Clone)]
struct GrafanaState {
    setup: GrafanaSetup,
    datasources: Vec<Value>,
}

/// A fake Grafana HTTP API.
pub async fn grafana(setup: GrafanaSetup) -> SocketAddr {
    let state = Arc::new(GrafanaState {
        datasources: provisioned_datasources(&setup),
        setup,
    });
    let router = Router::new()
        .route(
            "/api/health",
            get(|| async {
                Json(json!({"database": "ok", "version": "13.2.0", "commit": "fake"}))
            }),
        )
        .route("/api/user", get(grafana_user))
        .route("/api/datasources", get(grafana_datasources))
        .route("/api/datasources/uid/{uid}", get(grafana_datasource))
        .route("/api/datasources/uid/{uid}/health", get(grafana_health))
        .with_state(state);
    serve(router).await
}

fn authorised(s: &GrafanaState, h: &HeaderMap) -> Result<(), Box<Response>> {
    let expected = format!(
        "Basic {}",
        b64(format!("{}:{}", s.setup.user, s.setup.password))
    );
    if header(h, "Authorization") == Some(expected.as_str()) {
        Ok(())
    } else {
        Err(Box::new(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"message": "Invalid username or password"})),
            )
                .into_response(),
        ))
    }
}

async fn grafana_user(State(s): State<Arc<GrafanaState>>, h: HeaderMap) -> Response {
    if let Err(r) = authorised(&s, &h) {
        return *r;
    }
    Json(json!({"id": 1, "login": s.setup.user, "isGrafanaAdmin": true})).into_response()
}

async fn grafana_datasources(State(s): State<Arc<GrafanaState>>, h: HeaderMap) -> Response {
    if let Err(r) = authorised(&s, &h) {
        return *r;
    }
    Json(Value::Array(s.datasources.clone())).into_response()
}

async fn grafana_datasource(
    State(s): State<Arc<GrafanaState>>,
    h: HeaderMap,
    Path(uid): Path<String>,
) -> Response {
    if let Err(r) = authorised(&s, &h) {
        return *r;
    }
    match s.datasources.iter().find(|d| d["uid"] == uid.as_str()) {
        Some(d) => Json(d.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "Data source not found"})),
        )
            .into_response(),
    }
}

async fn grafana_health(
    State(s): State<Arc<GrafanaState>>,
    h: HeaderMap,
    Path(uid): Path<String>,
) -> Response {
    if let Err(r) = authorised(&s, &h) {
        return *r;
    }
    if s.setup.unhealthy.contains(&uid.as_str()) {
        return (StatusCode::BAD_REQUEST, Json(json!({"status": "ERROR", "message": "Post \"http://loki-gateway.loki.svc.cluster.local/loki/api/v1/labels\": dial tcp: lookup loki-gateway.loki.svc.cluster.local: no such host"})))
            .into_response();
    }
    Json(json!({"status": "OK", "message": "Data source is working"})).into_response()
}
