//! Traces: one span sent as OTLP/HTTP protobuf (`POST …/v1/traces`, to the gateway collector or
//! Tempo's distributor), read back from Tempo with `GET <base>/api/traces/<hex id>`.
//!
//! Tempo answers OTLP JSON (`{"batches": […]}` from `/api/traces`, `{"trace": {"resourceSpans":
//! […]}}` from `/api/v2/traces`); the check looks for the span attribute `kalypso.verify.id`
//! with this payload's id and the resource's `service.name`, wherever the shape puts them.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, ResourceSpans, ScopeSpans, Span};
use prost::Message;
use reqwest::Url;

use super::http::{display_url, join, Http};
use super::otlp::{json_attribute_values, kv, resource, scope};
use super::payload::{Origin, Payload, TRACE_TAG};
use super::probe::Failure;

/// Where traces are written and read.
#[derive(Debug, Clone)]
pub struct TracesPipeline {
    /// Full OTLP/HTTP traces URL (`…:4318/v1/traces`).
    pub write_url: Url,
    /// Tempo query base (query-frontend).
    pub query_url: Url,
}

/// The OTLP request: one server span of 5 ms tagged with the payload id.
pub fn otlp_request(p: &Payload) -> ExportTraceServiceRequest {
    let mut attributes = vec![kv(TRACE_TAG, &p.id)];
    if let Origin::Canary { instance, round } = &p.origin {
        attributes.push(kv("kalypso.canary.instance", instance));
        attributes.push(kv("kalypso.canary.round", &round.to_string()));
    }
    let span = Span {
        trace_id: p.trace_id.to_vec(),
        span_id: p.span_id.to_vec(),
        name: "kalypso probe".into(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: p.unix_nanos(),
        end_time_unix_nano: p.unix_nanos() + 5_000_000,
        attributes,
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource(p.service_name())),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

impl TracesPipeline {
    /// Sends the payload's span.
    pub async fn write(&self, http: &Http, p: &Payload) -> Result<(), Failure> {
        let rb = http.otlp_post(&self.write_url, otlp_request(p).encode_to_vec());
        http.send(&self.write_url, rb).await.map(|_| ())
    }

    /// One trace-by-id lookup; Ok when the span with the tag and service is there.
    pub async fn read(&self, http: &Http, p: &Payload) -> Result<(), Failure> {
        let url = join(&self.query_url, &format!("api/traces/{}", p.trace_id_hex()));
        let rb = http
            .client()
            .get(url.clone())
            .header("Accept", "application/json");
        let answer = match http.send(&url, rb).await {
            Ok(a) => a,
            Err(f @ Failure::Http { status: 404, .. }) => {
                return Err(self.not_found(http, p, f).await);
            }
            Err(f) => return Err(f),
        };
        check_trace(&answer.json(&url)?, p)
    }

    /// Tempo answers 404 both for a trace it has not ingested yet (poll on) and for a path it
    /// does not serve (a wrong base URL: fail now). Its not-found answers name the trace ("trace
    /// not found", "Unable to find <id>"); otherwise `GET <base>/api/echo`, which every Tempo
    /// query-frontend serves, tells whether the base is Tempo's API at all.
    async fn not_found(&self, http: &Http, p: &Payload, f: Failure) -> Failure {
        if let Failure::Http { body, .. } = &f {
            let body = body.to_lowercase();
            if body.contains("trace not found") || body.contains(&p.trace_id_hex()) {
                return Failure::NotYet(Box::new(f));
            }
        }
        let echo = join(&self.query_url, "api/echo");
        match http.send(&echo, http.client().get(echo.clone())).await {
            Ok(_) => Failure::NotYet(Box::new(f)),
            Err(_) => f,
        }
    }

    /// Targets for the report: (write, read).
    pub fn targets(&self) -> (String, String) {
        (display_url(&self.write_url), display_url(&self.query_url))
    }
}

/// Checks a Tempo trace-by-id answer holds the payload's tag and service name.
pub fn check_trace(doc: &serde_json::Value, p: &Payload) -> Result<(), Failure> {
    let tags = json_attribute_values(doc, TRACE_TAG);
    let services = json_attribute_values(doc, "service.name");
    if tags.is_empty() && services.is_empty() {
        return Err(Failure::missing(format!(
            "trace {} has no spans yet",
            p.trace_id_hex()
        )));
    }
    if !tags.iter().any(|t| t == &p.id) {
        return Err(Failure::mismatch(
            format!("span attribute {TRACE_TAG}={}", p.id),
            format!("{tags:?}"),
        ));
    }
    if !services.iter().any(|s| s == p.service_name()) {
        return Err(Failure::mismatch(
            format!("service.name={}", p.service_name()),
            format!("{services:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn the_span_carries_the_trace_id_and_tag() {
        let p = Payload::for_run("r2", UNIX_EPOCH);
        let req = ExportTraceServiceRequest::decode(otlp_request(&p).encode_to_vec().as_slice())
            .expect("decode");
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id, p.trace_id.to_vec());
        assert_eq!(span.attributes[0].key, TRACE_TAG);
    }

    #[test]
    fn a_trace_without_the_tag_is_a_mismatch() {
        let p = Payload::for_run("r2", UNIX_EPOCH);
        let doc = serde_json::json!({"batches":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"kalypso-verify"}}]},
            "scopeSpans":[{"spans":[{"attributes":[{"key":"kalypso.verify.id","value":{"stringValue":"other"}}]}]}]}]});
        assert!(matches!(
            check_trace(&doc, &p),
            Err(Failure::Mismatch { .. })
        ));
        let ok = serde_json::json!({"trace":{"resourceSpans":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"kalypso-verify"}}]},
            "scopeSpans":[{"spans":[{"attributes":[{"key":"kalypso.verify.id","value":{"stringValue":"r2"}}]}]}]}]}});
        assert_eq!(check_trace(&ok, &p), Ok(()));
    }
}
