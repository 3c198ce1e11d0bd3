//! HTTP-level fakes of Mimir, Loki, Tempo, Pyroscope, Grafana and MinIO for the verify and
//! canary tests. Each decodes and validates the real wire format (snappy + protobuf, OTLP
//! protobuf, Loki push JSON, Connect JSON, SigV4), stores what it got, and answers reads with
//! bodies shaped like the real APIs' responses. A [`Behaviour`] makes one misbehave.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prost::Message;
use serde_json::{json, Value};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};

/// How a fake misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Answer every write with this status and body.
    pub write_error: Option<(u16, &'static str)>,
    /// Answer every read with this status and body.
    pub read_error: Option<(u16, &'static str)>,
    /// Sleep this long before answering a write.
    pub write_delay: Option<Duration>,
    /// Accept writes but never show them.
    pub never_readable: bool,
    /// Show different content than written.
    pub corrupt: bool,
    /// Mimir/Loki: store writes under `anonymous`, as a gateway that drops the tenant would.
    pub drop_tenant: bool,
}

/// A running fake: its base URL and what it stored.
#[derive(Clone)]
pub struct Fake {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<Store>>,
}

impl Fake {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// Label or attribute name → value.
pub type Labels = BTreeMap<String, String>;
/// Attributes as (key, value) pairs.
pub type Attrs = Vec<(String, String)>;
/// A Mimir sample: labels, value, timestamp (ms).
pub type StoredSample = (Labels, f64, i64);
/// A Loki entry: stream labels, structured metadata, timestamp (ns), line.
pub type StoredLine = (Labels, Labels, u64, String);
/// A Tempo span: resource attributes, span attributes, span name.
pub type StoredSpan = (Attrs, Attrs, String);
/// A Pyroscope series: profile type id, function names, total.
pub type StoredProfile = (String, Vec<String>, i64);
/// Matchers of a LogQL query: stream, structured metadata, line filters.
type LogQuery = (Vec<(String, String)>, Vec<(String, String)>, Vec<String>);

/// Everything the fakes stored.
#[derive(Debug, Default)]
pub struct Store {
    pub behaviour: Behaviour,
    /// Mimir: tenant → samples (labels, value, timestamp ms).
    pub samples: HashMap<String, Vec<StoredSample>>,
    /// Loki: tenant → entries (stream labels + structured metadata, ts ns, line).
    pub lines: HashMap<String, Vec<StoredLine>>,
    /// Tempo: trace id hex → (resource attrs, span attrs, span name).
    pub spans: HashMap<String, Vec<StoredSpan>>,
    /// Pyroscope: service_name → (profile type id, function names, total).
    pub profiles: HashMap<String, StoredProfile>,
    /// Requests seen, "METHOD path".
    pub requests: Vec<String>,
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

type Shared = Arc<Mutex<Store>>;

fn store(behaviour: Behaviour) -> Shared {
    Arc::new(Mutex::new(Store {
        behaviour,
        ..Default::default()
    }))
}

fn behaviour(s: &Shared) -> Behaviour {
    s.lock().expect("lock").behaviour.clone()
}

fn text(status: u16, body: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.to_string(),
    )
        .into_response()
}

async fn before_write(s: &Shared) -> Option<Response> {
    let b = behaviour(s);
    if let Some(d) = b.write_delay {
        tokio::time::sleep(d).await;
    }
    b.write_error.map(|(code, body)| text(code, body))
}

fn before_read(s: &Shared) -> Option<Response> {
    behaviour(s).read_error.map(|(code, body)| text(code, body))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn tenant(h: &HeaderMap) -> Option<String> {
    header(h, "X-Scope-OrgID")
        .filter(|t| !t.is_empty())
        .map(String::from)
}

fn attr_string(kv: &KeyValue) -> Option<(String, String)> {
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some((kv.key.clone(), s.clone())),
        _ => None,
    }
}

// ---------------------------------------------------------------- Mimir

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

// ---------------------------------------------------------------- Loki

/// A fake Loki gateway: push JSON, OTLP logs, `query_range` with a LogQL subset.
pub async fn loki(b: Behaviour) -> Fake {
    let state = store(b);
    let router = Router::new()
        .route("/loki/api/v1/push", post(loki_push))
        .route("/otlp/v1/logs", post(loki_otlp))
        .route("/loki/api/v1/query_range", get(loki_query))
        .with_state(state.clone());
    Fake {
        addr: serve(router).await,
        state,
    }
}

async fn loki_push(State(s): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = before_write(&s).await {
        return r;
    }
    let org = if behaviour(&s).drop_tenant {
        Some("anonymous".into())
    } else {
        tenant(&h)
    };
    let Some(org) = org else {
        return text(401, "no org id");
    };
    if header(&h, "Content-Type") != Some("application/json") {
        return text(415, "expected application/json");
    }
    let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
        return text(400, "loghttp: invalid JSON");
    };
    let Some(streams) = doc["streams"].as_array() else {
        return text(400, "no streams");
    };
    let mut entries = Vec::new();
    for stream in streams {
        let Some(labels) = stream["stream"].as_object() else {
            return text(400, "stream is not an object");
        };
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        for v in stream["values"].as_array().into_iter().flatten() {
            let (Some(ts), Some(line)) = (v[0].as_str(), v[1].as_str()) else {
                return text(400, "values must be [\"<unix ns>\", \"<line>\"]");
            };
            let Ok(ts) = ts.parse::<u64>() else {
                return text(400, "timestamp is not unix nanoseconds");
            };
            entries.push((labels.clone(), BTreeMap::new(), ts, line.to_string()));
        }
    }
    s.lock()
        .expect("lock")
        .lines
        .entry(org)
        .or_default()
        .extend(entries);
    StatusCode::NO_CONTENT.into_response()
}

async fn loki_otlp(State(s): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = before_write(&s).await {
        return r;
    }
    let Some(org) = tenant(&h) else {
        return text(401, "no org id");
    };
    if header(&h, "Content-Type") != Some("application/x-protobuf") {
        return text(415, "unsupported content type");
    }
    let Ok(req) = ExportLogsServiceRequest::decode(body.as_ref()) else {
        return text(400, "cannot decode OTLP logs");
    };
    let mut st = s.lock().expect("lock");
    for rl in req.resource_logs {
        let mut labels = BTreeMap::new();
        for kv in rl.resource.map(|r| r.attributes).unwrap_or_default() {
            if let Some((k, v)) = attr_string(&kv) {
                labels.insert(k.replace('.', "_"), v);
            }
        }
        for sl in rl.scope_logs {
            for rec in sl.log_records {
                let meta: BTreeMap<String, String> =
                    rec.attributes.iter().filter_map(attr_string).collect();
                let line = match rec.body.and_then(|b| b.value) {
                    Some(any_value::Value::StringValue(s)) => s,
                    _ => String::new(),
                };
                st.lines.entry(org.clone()).or_default().push((
                    labels.clone(),
                    meta,
                    rec.time_unix_nano,
                    line,
                ));
            }
        }
    }
    StatusCode::OK.into_response()
}

/// `{a="b"} | k="v" |= "text"` → (stream matchers, metadata matchers, line filters).
fn parse_logql(q: &str) -> Option<LogQuery> {
    let (_, stream) = parse_selector(q)?;
    let rest = &q[q.find('}')? + 1..];
    let mut meta = Vec::new();
    let mut contains = Vec::new();
    let stage =
        regex::Regex::new(r#"\|(=)?\s*(?:([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*)?"([^"]*)""#).ok()?;
    for c in stage.captures_iter(rest) {
        match (c.get(1), c.get(2)) {
            (Some(_), _) => contains.push(c[3].to_string()),
            (None, Some(k)) => meta.push((k.as_str().to_string(), c[3].to_string())),
            _ => return None,
        }
    }
    Some((stream, meta, contains))
}

async fn loki_query(
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
    let Some((stream, meta, contains)) =
        parse_logql(q.get("query").map(String::as_str).unwrap_or(""))
    else {
        return text(400, "parse error");
    };
    let start: u64 = q.get("start").and_then(|v| v.parse().ok()).unwrap_or(0);
    let end: u64 = q
        .get("end")
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX);
    let st = s.lock().expect("lock");
    let mut streams: BTreeMap<String, (Value, Vec<Value>)> = BTreeMap::new();
    if !b.never_readable {
        for (labels, md, ts, line) in st.lines.get(&org).into_iter().flatten() {
            let ok = stream.iter().all(|(k, v)| labels.get(k) == Some(v))
                && meta.iter().all(|(k, v)| md.get(k) == Some(v))
                && contains.iter().all(|c| line.contains(c))
                && *ts >= start
                && *ts <= end;
            if ok {
                let shown = if b.corrupt {
                    format!("{line} (tampered)")
                } else {
                    line.clone()
                };
                let key = serde_json::to_string(labels).unwrap_or_default();
                streams
                    .entry(key)
                    .or_insert_with(|| (json!(labels), Vec::new()))
                    .1
                    .push(json!([ts.to_string(), shown]));
            }
        }
    }
    let result: Vec<Value> = streams
        .into_values()
        .map(|(l, v)| json!({"stream": l, "values": v}))
        .collect();
    Json(json!({"status":"success","data":{"resultType":"streams","result":result,"stats":{}}}))
        .into_response()
}

// ---------------------------------------------------------------- Tempo

/// A fake Tempo: OTLP/HTTP `/v1/traces` and `/api/traces/<id>` (OTLP JSON `batches`).
pub async fn tempo(b: Behaviour) -> Fake {
    let state = store(b);
    let router = Router::new()
        .route("/v1/traces", post(tempo_push))
        .route("/api/traces/{id}", get(tempo_trace))
        .with_state(state.clone());
    Fake {
        addr: serve(router).await,
        state,
    }
}

async fn tempo_push(State(s): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = before_write(&s).await {
        return r;
    }
    if header(&h, "Content-Type") != Some("application/x-protobuf") {
        return text(415, "unsupported content type");
    }
    let Ok(req) = ExportTraceServiceRequest::decode(body.as_ref()) else {
        return text(400, "bad OTLP traces");
    };
    let mut st = s.lock().expect("lock");
    for rs in req.resource_spans {
        let res: Vec<(String, String)> = rs
            .resource
            .map(|r| r.attributes.iter().filter_map(attr_string).collect())
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for span in ss.spans {
                if span.trace_id.len() != 16 || span.span_id.len() != 8 {
                    return text(400, "invalid trace or span id length");
                }
                let id: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                let attrs = span.attributes.iter().filter_map(attr_string).collect();
                st.spans
                    .entry(id)
                    .or_default()
                    .push((res.clone(), attrs, span.name));
            }
        }
    }
    (
        StatusCode::OK,
        [("Content-Type", "application/x-protobuf")],
        Vec::<u8>::new(),
    )
        .into_response()
}

fn json_attrs(attrs: &[(String, String)]) -> Vec<Value> {
    attrs
        .iter()
        .map(|(k, v)| json!({"key": k, "value": {"stringValue": v}}))
        .collect()
}

async fn tempo_trace(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    if let Some(r) = before_read(&s) {
        return r;
    }
    let b = behaviour(&s);
    let st = s.lock().expect("lock");
    let spans = if b.never_readable {
        None
    } else {
        st.spans.get(&id.to_lowercase())
    };
    let Some(spans) = spans else {
        return text(404, "trace not found");
    };
    let raw: Vec<u8> = (0..16)
        .filter_map(|i| u8::from_str_radix(id.get(i * 2..i * 2 + 2)?, 16).ok())
        .collect();
    let trace_id = b64(raw);
    let batches: Vec<Value> = spans
        .iter()
        .map(|(res, attrs, name)| {
            let attrs: Vec<(String, String)> = attrs
                .iter()
                .map(|(k, v)| if b.corrupt && k == "kalypso.verify.id" { (k.clone(), "someone-else".into()) } else { (k.clone(), v.clone()) })
                .collect();
            json!({"resource": {"attributes": json_attrs(res)},
                   "scopeSpans": [{"scope": {"name": "kalypso"}, "spans": [{
                       "traceId": trace_id, "spanId": "AAAAAAAAAAE=", "name": name, "kind": "SPAN_KIND_SERVER",
                       "attributes": json_attrs(&attrs)}]}]})
        })
        .collect();
    Json(json!({"batches": batches})).into_response()
}

// ---------------------------------------------------------------- Pyroscope

/// A fake Pyroscope: OTLP `/v1development/profiles` and the Connect `SelectMergeStacktraces`.
pub async fn pyroscope(b: Behaviour) -> Fake {
    let state = store(b);
    let router = Router::new()
        .route("/v1development/profiles", post(pyroscope_push))
        .route(
            "/querier.v1.QuerierService/SelectMergeStacktraces",
            post(pyroscope_query),
        )
        .with_state(state.clone());
    Fake {
        addr: serve(router).await,
        state,
    }
}

async fn pyroscope_push(State(s): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = before_write(&s).await {
        return r;
    }
    let ct = header(&h, "Content-Type").unwrap_or("");
    if !matches!(ct, "application/x-protobuf" | "application/protobuf") {
        return text(415, &format!("Unsupported Content-Type: {ct}"));
    }
    let Ok(req) = ExportProfilesServiceRequest::decode(body.as_ref()) else {
        return text(400, "Failed to parse protobuf request");
    };
    let Some(d) = req.dictionary else {
        return text(400, "missing profile metadata dictionary");
    };
    if d.string_table.first().map(String::as_str) != Some("")
        || d.stack_table.is_empty()
        || d.function_table.is_empty()
    {
        return text(400, "dictionary tables must start with their zero value");
    }
    let s_at = |i: i32| d.string_table.get(i as usize).cloned();
    let mut st = s.lock().expect("lock");
    for rp in req.resource_profiles {
        let svc = rp
            .resource
            .map(|r| {
                r.attributes
                    .iter()
                    .filter_map(attr_string)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v)
            .unwrap_or_else(|| "unknown_service".into());
        for sp in rp.scope_profiles {
            for p in sp.profiles {
                let (Some(st_), Some(pt)) = (p.sample_type, p.period_type) else {
                    return text(400, "sample type is missing");
                };
                let kind = format!(
                    "{}:{}:{}:{}",
                    s_at(st_.type_strindex).unwrap_or_default(),
                    s_at(st_.unit_strindex).unwrap_or_default(),
                    s_at(pt.type_strindex).unwrap_or_default(),
                    s_at(pt.unit_strindex).unwrap_or_default()
                );
                let type_id = if kind == "samples:count:cpu:nanoseconds" {
                    "process_cpu:cpu:nanoseconds:cpu:nanoseconds".to_string()
                } else {
                    format!("custom:{kind}")
                };
                let entry = st
                    .profiles
                    .entry(svc.clone())
                    .or_insert_with(|| (type_id.clone(), Vec::new(), 0));
                for smp in p.samples {
                    let Some(value) = smp.values.first() else {
                        return text(400, "sample value is required");
                    };
                    let Some(stack) = d.stack_table.get(smp.stack_index as usize) else {
                        return text(400, "invalid stack index");
                    };
                    for li in &stack.location_indices {
                        let Some(loc) = d.location_table.get(*li as usize) else {
                            return text(400, "bad location");
                        };
                        for line in &loc.lines {
                            let Some(f) = d.function_table.get(line.function_index as usize) else {
                                return text(400, "bad function");
                            };
                            let name = s_at(f.name_strindex).unwrap_or_default();
                            if !entry.1.contains(&name) {
                                entry.1.push(name);
                            }
                        }
                    }
                    entry.2 += value * p.period;
                }
            }
        }
    }
    (
        StatusCode::OK,
        [("Content-Type", "application/x-protobuf")],
        Vec::<u8>::new(),
    )
        .into_response()
}

async fn pyroscope_query(State(s): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = before_read(&s) {
        return r;
    }
    if header(&h, "Content-Type") != Some("application/json") {
        return text(415, "connect: unsupported content type");
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code":"invalid_argument","message":"bad JSON"})),
        )
            .into_response();
    };
    let b = behaviour(&s);
    let selector = req["labelSelector"].as_str().unwrap_or("");
    let type_id = req["profileTypeID"].as_str().unwrap_or("");
    let (Some(_), Some(_)) = (req["start"].as_i64(), req["end"].as_i64()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code":"invalid_argument","message":"start/end"})),
        )
            .into_response();
    };
    let svc = parse_selector(&format!("x{selector}"))
        .and_then(|(_, m)| {
            m.into_iter()
                .find(|(k, _)| k == "service_name")
                .map(|(_, v)| v)
        })
        .unwrap_or_default();
    let st = s.lock().expect("lock");
    let found = if b.never_readable {
        None
    } else {
        st.profiles.get(&svc).filter(|(t, _, _)| t == type_id)
    };
    let (names, total) = match found {
        Some((_, names, total)) => {
            let names: Vec<String> = names
                .iter()
                .map(|n| {
                    if b.corrupt {
                        format!("{n}_other")
                    } else {
                        n.clone()
                    }
                })
                .collect();
            (names, *total)
        }
        None => (Vec::new(), 0),
    };
    let mut all = vec!["total".to_string()];
    all.extend(names);
    let levels: Vec<Value> = (0..all.len())
        .map(|i| json!({"values": ["0", total.to_string(), "0", i.to_string()]}))
        .collect();
    Json(json!({"flamegraph": {"names": all, "levels": levels, "total": total.to_string(), "maxSelf": total.to_string()}}))
        .into_response()
}

// ---------------------------------------------------------------- Grafana

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

// ---------------------------------------------------------------- MinIO

/// A MinIO user: access key, secret, buckets its policy allows.
#[derive(Debug, Clone)]
pub struct S3User {
    pub access: String,
    pub secret: String,
    pub buckets: Vec<String>,
}

#[derive(Clone)]
struct S3State {
    users: Vec<S3User>,
    buckets: Vec<String>,
}

/// The kalypso dev users (access key = backend, `<backend>-dev-secret-change-me`).
pub fn kalypso_users() -> Vec<S3User> {
    let owned: &[(&str, &[&str])] = &[
        (
            "mimir",
            &["mimir-blocks", "mimir-ruler", "mimir-alertmanager"],
        ),
        ("tempo", &["tempo-traces"]),
        ("loki", &["loki-chunks", "loki-ruler"]),
        ("pyroscope", &["pyroscope-data"]),
    ];
    owned
        .iter()
        .map(|(b, bs)| S3User {
            access: b.to_string(),
            secret: format!("{b}-dev-secret-change-me"),
            buckets: bs.iter().map(|s| s.to_string()).collect(),
        })
        .collect()
}

/// Every kalypso bucket.
pub fn kalypso_buckets() -> Vec<String> {
    kalypso_users()
        .into_iter()
        .flat_map(|u| u.buckets)
        .collect()
}

/// A fake MinIO S3 API that verifies SigV4 and enforces per-user bucket policies.
pub async fn minio(users: Vec<S3User>, buckets: Vec<String>) -> SocketAddr {
    let state = Arc::new(S3State { users, buckets });
    let router = Router::new()
        .route("/{bucket}", get(s3_list))
        .with_state(state);
    serve(router).await
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, [("Content-Type", "application/xml")], body).into_response()
}

async fn s3_list(
    State(s): State<Arc<S3State>>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    use kalypso::verify::sigv4::{sign, Credentials, SignRequest};
    let auth = header(&h, "Authorization").unwrap_or("");
    let Some(access) = auth
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').next())
    else {
        return s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied.");
    };
    let Some(user) = s.users.iter().find(|u| u.access == access) else {
        return s3_error(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The Access Key Id you provided does not exist in our records.",
        );
    };
    let amz_date = header(&h, "x-amz-date").unwrap_or("");
    let host = header(&h, "host").unwrap_or("");
    let query: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let path = format!("/{bucket}");
    let req = SignRequest {
        method: "GET",
        path: &path,
        query: &query,
        host,
        extra_headers: &[],
    };
    let creds = Credentials {
        access_key: user.access.clone(),
        secret_key: user.secret.clone(),
    };
    let expected = sign(&req, &creds, amz_date, "us-east-1", "s3");
    if expected.authorization != auth {
        return s3_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    if !s.buckets.contains(&bucket) {
        return s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        );
    }
    if !user.buckets.contains(&bucket) {
        return s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied.");
    }
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{bucket}</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>"
    );
    (StatusCode::OK, [("Content-Type", "application/xml")], body).into_response()
}

// ---------------------------------------------------------------- helpers

/// Standard base64 with padding (what Grafana's basic auth and Tempo's JSON ids use).
pub fn b64(data: impl AsRef<[u8]>) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let data = data.as_ref();
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A loopback port with nothing listening.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

/// The four data-signal fakes, all well-behaved unless told otherwise.
pub struct DataFakes {
    pub mimir: Fake,
    pub loki: Fake,
    pub tempo: Fake,
    pub pyroscope: Fake,
}

impl DataFakes {
    pub async fn start() -> DataFakes {
        DataFakes {
            mimir: mimir(Behaviour::default()).await,
            loki: loki(Behaviour::default()).await,
            tempo: tempo(Behaviour::default()).await,
            pyroscope: pyroscope(Behaviour::default()).await,
        }
    }

    /// Command-line flags pointing `verify`/`canary` at these fakes.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--metrics-write-url".into(),
            self.mimir.url("/api/v1/push"),
            "--metrics-query-url".into(),
            self.mimir.url("/prometheus"),
            "--logs-write-url".into(),
            self.loki.url("/loki/api/v1/push"),
            "--logs-query-url".into(),
            self.loki.url(""),
            "--traces-write-url".into(),
            self.tempo.url("/v1/traces"),
            "--traces-query-url".into(),
            self.tempo.url(""),
            "--profiles-write-url".into(),
            self.pyroscope.url(""),
            "--profiles-query-url".into(),
            self.pyroscope.url(""),
        ]
    }
}

/// Library options pointing verify at the data fakes, for `only` and a read deadline.
pub fn options(
    f: &DataFakes,
    only: &[kalypso::verify::Signal],
    timeout: Duration,
) -> kalypso::verify::VerifyOptions {
    let u = |s: String| reqwest::Url::parse(&s).expect("url");
    kalypso::verify::VerifyOptions {
        endpoints: kalypso::verify::endpoints::Endpoints {
            metrics_write: Some(u(f.mimir.url("/api/v1/push"))),
            metrics_query: Some(u(f.mimir.url("/prometheus"))),
            logs_write: Some(u(f.loki.url("/loki/api/v1/push"))),
            logs_query: Some(u(f.loki.url(""))),
            traces_write: Some(u(f.tempo.url("/v1/traces"))),
            traces_query: Some(u(f.tempo.url(""))),
            profiles_write: Some(u(f.pyroscope.url(""))),
            profiles_query: Some(u(f.pyroscope.url(""))),
            grafana: None,
            s3: None,
        },
        grafana_user: None,
        grafana_password: None,
        s3_credentials: Vec::new(),
        tenant: "kalypso".into(),
        only: only.to_vec(),
        timeout,
    }
}

/// The row named `check`, or a panic listing the rows.
pub fn row<'a>(
    report: &'a kalypso::verify::report::VerifyReport,
    check: &str,
) -> &'a kalypso::verify::probe::CheckResult {
    report
        .checks
        .iter()
        .find(|c| c.check == check)
        .unwrap_or_else(|| panic!("no row {check} in {:#?}", report.checks))
}
