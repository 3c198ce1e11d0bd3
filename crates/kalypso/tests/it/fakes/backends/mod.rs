//! HTTP-level fakes of Mimir, Loki, Tempo, Pyroscope, Grafana and MinIO for the verify and
//! canary tests. Each decodes and validates the real wire format (snappy + protobuf, OTLP
//! protobuf, Loki push JSON, Connect JSON, SigV4), stores what it got, and answers reads with
//! bodies shaped like the real APIs' responses. A [`Behaviour`] makes one misbehave.

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

use super::serve;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};

mod grafana;
mod loki;
mod mimir;
mod minio;
mod pyroscope;
mod tempo;

pub use grafana::*;
pub use loki::*;
pub use mimir::*;
pub use minio::*;
pub use pyroscope::*;
pub use tempo::*;

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
        contract: kalypso::contract::Contract::load_or_embedded(None).expect("contract"),
        tenants: kalypso::contract::Tenants {
            metrics: "kalypso".into(),
            logs: "kalypso".into(),
        },
        only: only.to_vec(),
        timeout,
        kube: Default::default(),
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
