//! A recording OTLP sink that stands in for one backend Service: it serves the OTLP routes that
//! backend serves (gRPC, and HTTP with protobuf bodies, gzip-compressed or not), decodes every
//! export, records it with its headers, and answers as an OTLP server does: an empty export
//! response, or 404 / gRPC UNIMPLEMENTED for a route the backend does not serve.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::{BodyExt as _, Full};
use prost::Message;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

/// An OTLP signal, named as collector pipelines are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
    Profiles,
}

impl Signal {
    /// The pipeline type (`traces` of `traces/foo`), if it is a signal.
    pub fn of_pipeline(pipeline: &str) -> Option<Signal> {
        match pipeline.split('/').next()? {
            "traces" => Some(Signal::Traces),
            "metrics" => Some(Signal::Metrics),
            "logs" => Some(Signal::Logs),
            "profiles" => Some(Signal::Profiles),
            _ => None,
        }
    }

    /// The gRPC method of the OTLP export service.
    pub fn grpc_path(self) -> &'static str {
        match self {
            Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            Signal::Profiles => {
                "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"
            }
        }
    }
}

/// One OTLP route a backend serves: gRPC (the signal's export method) or an HTTP path.
#[derive(Debug, Clone, Copy)]
pub enum Route {
    Grpc(Signal),
    Http(Signal, &'static str),
}

/// A decoded export.
#[derive(Debug, Clone)]
pub enum Export {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
    Profiles(ExportProfilesServiceRequest),
}

impl Export {
    pub fn signal(&self) -> Signal {
        match self {
            Export::Traces(_) => Signal::Traces,
            Export::Metrics(_) => Signal::Metrics,
            Export::Logs(_) => Signal::Logs,
            Export::Profiles(_) => Signal::Profiles,
        }
    }

    fn decode(signal: Signal, bytes: &[u8]) -> Result<Export, prost::DecodeError> {
        Ok(match signal {
            Signal::Traces => Export::Traces(ExportTraceServiceRequest::decode(bytes)?),
            Signal::Metrics => Export::Metrics(ExportMetricsServiceRequest::decode(bytes)?),
            Signal::Logs => Export::Logs(ExportLogsServiceRequest::decode(bytes)?),
            Signal::Profiles => Export::Profiles(ExportProfilesServiceRequest::decode(bytes)?),
        })
    }
}

/// One request the sink got.
#[derive(Debug, Clone)]
pub struct Request {
    /// The path, as sent.
    pub path: String,
    /// Whether it came over gRPC.
    pub grpc: bool,
    /// Headers (names in lower case).
    pub headers: BTreeMap<String, String>,
    /// The export, when the route is one the backend serves and the body decoded.
    pub export: Option<Export>,
    /// What the sink answered: "ok", or why it refused.
    pub answer: String,
}

impl Request {
    /// `X-Scope-OrgID`, if sent.
    pub fn tenant(&self) -> Option<&str> {
        self.headers.get("x-scope-orgid").map(String::as_str)
    }
}

/// A running sink; it stops with the runtime it was started on.
pub struct Sink {
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Sink {
    /// Listens on `addr` (HTTP/1.1 and HTTP/2 without TLS, as gRPC clients use it) and serves
    /// `routes`.
    pub async fn start(addr: SocketAddr, routes: &'static [Route]) -> std::io::Result<Sink> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let router = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let recorded = recorded.clone();
            async move { handle(routes, &recorded, uri, headers, body) }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Sink { requests })
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Request> {
        self.requests.lock().expect("sink lock").clone()
    }
}

fn handle(
    routes: &[Route],
    recorded: &Mutex<Vec<Request>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let grpc = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/grpc"));
    let path = uri.path().to_string();
    let signal = routes.iter().find_map(|r| match *r {
        Route::Grpc(s) if grpc && path == s.grpc_path() => Some(s),
        Route::Http(s, p) if !grpc && path == p => Some(s),
        _ => None,
    });
    let decoded = match signal {
        None => Err("no such route".to_string()),
        Some(s) => if grpc {
            grpc_message(&headers, &body)
        } else {
            http_message(&headers, &body)
        }
        .and_then(|bytes| Export::decode(s, &bytes).map_err(|e| format!("bad protobuf: {e}"))),
    };
    let answer = match &decoded {
        Ok(_) => "ok".to_string(),
        Err(why) => why.clone(),
    };
    recorded.lock().expect("sink lock").push(Request {
        path,
        grpc,
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        export: decoded.as_ref().ok().cloned(),
        answer: answer.clone(),
    });
    match (grpc, decoded.is_ok(), signal.is_some()) {
        (true, true, _) => grpc_ok(),
        // 12 UNIMPLEMENTED for an unknown method, 3 INVALID_ARGUMENT for a bad body.
        (true, false, known) => grpc_error(if known { 3 } else { 12 }, &answer),
        (false, true, _) => (
            StatusCode::OK,
            [("content-type", "application/x-protobuf")],
            Vec::<u8>::new(),
        )
            .into_response(),
        (false, false, true) => (StatusCode::BAD_REQUEST, answer).into_response(),
        (false, false, false) => (StatusCode::NOT_FOUND, answer).into_response(),
    }
}

/// The message of a unary gRPC request: one length-prefixed frame, gzip when flagged.
fn grpc_message(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, String> {
    if body.len() < 5 {
        return Err("gRPC body shorter than its frame header".into());
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let message = body
        .get(5..5 + len)
        .ok_or("gRPC frame longer than the body")?;
    if body[0] == 0 {
        return Ok(message.to_vec());
    }
    match headers.get("grpc-encoding").and_then(|v| v.to_str().ok()) {
        Some("gzip") => gunzip(message),
        other => Err(format!("compressed gRPC message with encoding {other:?}")),
    }
}

/// The body of an OTLP/HTTP request: protobuf, gzip when `Content-Encoding` says so.
fn http_message(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("content-type") != Some("application/x-protobuf") {
        return Err(format!(
            "content type {:?} (want application/x-protobuf)",
            header("content-type")
        ));
    }
    match header("content-encoding") {
        None | Some("identity") => Ok(body.to_vec()),
        Some("gzip") => gunzip(body),
        Some(other) => Err(format!("content encoding {other:?}")),
    }
}

fn gunzip(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .map_err(|e| format!("bad gzip: {e}"))?;
    Ok(out)
}

/// An empty export response (every OTLP `Export*ServiceResponse` without a partial success
/// encodes to no bytes), status OK in the trailers.
fn grpc_ok() -> Response {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let body = Full::new(Bytes::from_static(&[0, 0, 0, 0, 0]))
        .with_trailers(async move { Some(Ok(trailers)) });
    ([("content-type", "application/grpc")], Body::new(body)).into_response()
}

/// A trailers-only gRPC error.
fn grpc_error(code: u8, message: &str) -> Response {
    (
        [
            ("content-type", "application/grpc".to_string()),
            ("grpc-status", code.to_string()),
            (
                "grpc-message",
                message.replace(|c: char| !c.is_ascii_graphic(), "_"),
            ),
        ],
        Body::empty(),
    )
        .into_response()
}
