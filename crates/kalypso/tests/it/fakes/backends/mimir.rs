//! The fake Mimir.

use super::*;

/// `prometheus.WriteRequest` as the fake decodes it (independent of the crate's own structs).
#[derive(Clone, PartialEq, prost::Message)]
struct WireWriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<WireSeries>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct WireSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<WireLabel>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<WireSample>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct WireLabel {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}
#[derive(Clone, PartialEq, prost::Message)]
struct WireSample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

/// A fake Mimir gateway: `/api/v1/push` and `/prometheus/api/v1/query`, multi-tenant.
pub async fn mimir(b: Behaviour) -> Fake {
    let state = store(b);
    let router = Router::new()
        .route("/api/v1/push", post(mimir_push))
        .route("/prometheus/api/v1/query", get(mimir_query))
        .with_state(state.clone());
    Fake {
        addr: serve(router).await,
        state,
    }
}

async fn mimir_push(State(s): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    s.lock()
        .expect("lock")
        .requests
        .push("POST /api/v1/push".into());
    if let Some(r) = before_write(&s).await {
        return r;
    }
    let drop_tenant = behaviour(&s).drop_tenant;
    let org = if drop_tenant {
        Some("anonymous".to_string())
    } else {
        tenant(&h)
    };
    let Some(org) = org else {
        return text(401, "no org id");
    };
    if header(&h, "Content-Encoding") != Some("snappy") {
        return text(400, "expected Content-Encoding: snappy");
    }
    if header(&h, "Content-Type") != Some("application/x-protobuf") {
        return text(415, "expected Content-Type: application/x-protobuf");
    }
    if header(&h, "X-Prometheus-Remote-Write-Version").is_none() {
        return text(400, "missing X-Prometheus-Remote-Write-Version");
    }
    let raw = match snap::raw::Decoder::new().decompress_vec(&body) {
        Ok(r) => r,
        Err(e) => return text(400, &format!("snappy: {e}")),
    };
    let req = match WireWriteRequest::decode(raw.as_slice()) {
        Ok(r) => r,
        Err(e) => return text(400, &format!("proto: {e}")),
    };
    let mut st = s.lock().expect("lock");
    for ts in req.timeseries {
        let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        if names != sorted || !names.contains(&"__name__") {
            return text(400, "labels not sorted or no metric name");
        }
        let labels: BTreeMap<String, String> =
            ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
        for smp in ts.samples {
            st.samples.entry(org.clone()).or_default().push((
                labels.clone(),
                smp.value,
                smp.timestamp,
            ));
        }
    }
    StatusCode::OK.into_response()
}

/// Parses `name{a="b",c="d"}` into the name and matchers.
pub fn parse_selector(q: &str) -> Option<(String, Vec<(String, String)>)> {
    let re = regex::Regex::new(r#"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{(.*)\}"#).ok()?;
    let caps = re.captures(q)?;
    let name = caps
        .get(1)
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let matcher = regex::Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)""#).ok()?;
    let pairs = matcher
        .captures_iter(&caps[2])
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    Some((name, pairs))
}

async fn mimir_query(
    State(s): State<Shared>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = before_read(&s) {
        return r;
    }
    let Some(org) = tenant(&h) else {
        return text(401, "no org id");
    };
    let b = behaviour(&s);
    let query = q.get("query").cloned().unwrap_or_default();
    let Some((name, matchers)) = parse_selector(&query) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"status":"error","errorType":"bad_data","error":"parse error"})),
        )
            .into_response();
    };
    let at_ms = q
        .get("time")
        .and_then(|t| t.parse::<f64>().ok())
        .map(|t| (t * 1000.0).round() as i64)
        .unwrap_or(i64::MAX);
    let st = s.lock().expect("lock");
    let mut result = Vec::new();
    if !b.never_readable {
        let found = st
            .samples
            .get(&org)
            .into_iter()
            .flatten()
            .filter(|(labels, _, ts)| {
                labels.get("__name__") == Some(&name)
                    && matchers.iter().all(|(k, v)| labels.get(k) == Some(v))
                    && *ts <= at_ms
                    && at_ms - *ts <= 300_000
            });
        if let Some((labels, value, ts)) = found.max_by_key(|(_, _, ts)| *ts) {
            let v = if b.corrupt { value + 1.0 } else { *value };
            result.push(json!({"metric": labels, "value": [*ts as f64 / 1000.0, v.to_string()]}));
        }
    }
    Json(json!({"status":"success","data":{"resultType":"vector","result":result}})).into_response()
}
