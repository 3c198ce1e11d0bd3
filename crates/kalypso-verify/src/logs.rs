//! Logs: one line pushed to Loki (push API JSON) or sent as OTLP (to Loki's `/otlp/v1/logs` or
//! the gateway collector's `/v1/logs`), read back with LogQL through `/loki/api/v1/query_range`.
//!
//! The write format follows the URL path: `…/loki/api/v1/push` is the push API, a path ending in
//! `/v1/logs` is OTLP/HTTP protobuf. Pushed lines carry the identity as a stream label; OTLP
//! lines carry it as a log attribute, which Loki stores as structured metadata, so the LogQL
//! differs: `{run_id="…"}` versus `{service_name="kalypso-verify"} | run_id="…"`.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use prost::Message;
use reqwest::Url;

use super::http::{display_url, join, Http};
use super::otlp::{kv, resource, scope, string_value};
use super::payload::{Origin, Payload};
use super::probe::Failure;

/// How a log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Loki push API, JSON body.
    LokiPush,
    /// OTLP/HTTP protobuf `ExportLogsServiceRequest`.
    Otlp,
}

impl LogFormat {
    /// Picks the format from the URL path.
    pub fn for_url(url: &Url) -> Result<LogFormat, String> {
        let path = url.path().trim_end_matches('/');
        if path.ends_with("/loki/api/v1/push") {
            Ok(LogFormat::LokiPush)
        } else if path.ends_with("/v1/logs") {
            Ok(LogFormat::Otlp)
        } else {
            Err(format!(
                "cannot tell the log write format from {}: use a Loki push URL \
                 (…/loki/api/v1/push) or an OTLP logs URL (…/otlp/v1/logs or …/v1/logs)",
                display_url(url)
            ))
        }
    }
}

/// Where logs are written and read.
#[derive(Debug, Clone)]
pub struct LogsPipeline {
    /// Push or OTLP URL.
    pub write_url: Url,
    /// Loki base URL (`/loki/api/v1/query_range` is appended).
    pub query_url: Url,
    /// Format of the write, from the URL.
    pub format: LogFormat,
    /// `X-Scope-OrgID` of writes and reads ("" sends none).
    pub tenant: String,
}

/// The Loki push API body: one stream, one line.
pub fn push_body(p: &Payload) -> serde_json::Value {
    let (key, value) = p.identity_label();
    serde_json::json!({
        "streams": [{
            "stream": {"service_name": p.service_name(), key: value},
            "values": [[p.unix_nanos().to_string(), p.log_line]]
        }]
    })
}

/// The OTLP logs request: one record, identity as attributes.
pub fn otlp_request(p: &Payload) -> ExportLogsServiceRequest {
    let (key, value) = p.identity_label();
    let mut attributes = vec![kv(key, value)];
    if let Origin::Canary { round, .. } = &p.origin {
        attributes.push(kv("round", &round.to_string()));
    }
    let record = LogRecord {
        time_unix_nano: p.unix_nanos(),
        observed_time_unix_nano: p.unix_nanos(),
        severity_number: 9,
        severity_text: "INFO".into(),
        body: Some(string_value(&p.log_line)),
        attributes,
        trace_id: p.trace_id.to_vec(),
        span_id: p.span_id.to_vec(),
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource(p.service_name())),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope()),
                log_records: vec![record],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The LogQL query that finds the line, for the given write format.
pub fn logql(p: &Payload, format: LogFormat) -> String {
    let (key, value) = p.identity_label();
    let mut q = match format {
        LogFormat::LokiPush => format!("{{{key}=\"{value}\"}}"),
        LogFormat::Otlp => format!(
            "{{service_name=\"{}\"}} | {key}=\"{value}\"",
            p.service_name()
        ),
    };
    if let Origin::Canary { round, .. } = &p.origin {
        q.push_str(&format!(" |= \"round={round} \""));
    }
    q
}

impl LogsPipeline {
    /// Builds the pipeline, picking the format from the write URL.
    pub fn new(write_url: Url, query_url: Url, tenant: &str) -> Result<LogsPipeline, String> {
        let format = LogFormat::for_url(&write_url)?;
        Ok(LogsPipeline {
            write_url,
            query_url,
            format,
            tenant: tenant.to_string(),
        })
    }

    /// Writes the payload's line.
    pub async fn write(&self, http: &Http, p: &Payload) -> Result<(), Failure> {
        let rb = match self.format {
            LogFormat::LokiPush => http
                .client()
                .post(self.write_url.clone())
                .header("Content-Type", "application/json")
                .body(push_body(p).to_string()),
            LogFormat::Otlp => http.otlp_post(&self.write_url, otlp_request(p).encode_to_vec()),
        };
        http.send(&self.write_url, http.with_tenant(rb, &self.tenant))
            .await
            .map(|_| ())
    }

    /// One LogQL range query around the write; Ok when the exact line is there.
    pub async fn read(&self, http: &Http, p: &Payload) -> Result<(), Failure> {
        let mut url = join(&self.query_url, "loki/api/v1/query_range");
        let start = p
            .unix_nanos()
            .saturating_sub(Duration::from_secs(300).as_nanos() as u64);
        let end = p.unix_nanos() + Duration::from_secs(300).as_nanos() as u64;
        url.query_pairs_mut()
            .append_pair("query", &logql(p, self.format))
            .append_pair("start", &start.to_string())
            .append_pair("end", &end.to_string())
            .append_pair("limit", "100")
            .append_pair("direction", "backward");
        let answer = http
            .send(
                &url,
                http.with_tenant(http.client().get(url.clone()), &self.tenant),
            )
            .await?;
        check_streams(&answer.json(&url)?, p, self.format, &url)
    }

    /// Targets for the report: (write, read).
    pub fn targets(&self) -> (String, String) {
        (display_url(&self.write_url), display_url(&self.query_url))
    }
}

/// Checks a Loki `query_range` answer holds the payload's exact line.
pub fn check_streams(
    json: &serde_json::Value,
    p: &Payload,
    format: LogFormat,
    url: &Url,
) -> Result<(), Failure> {
    if json["status"] != "success" {
        return Err(Failure::BadResponse {
            url: display_url(url),
            detail: format!("status {}", json["status"]),
        });
    }
    let streams = json["data"]["result"]
        .as_array()
        .ok_or_else(|| Failure::BadResponse {
            url: display_url(url),
            detail: "no data.result array".into(),
        })?;
    let lines: Vec<&str> = streams
        .iter()
        .filter_map(|s| s["values"].as_array())
        .flatten()
        .filter_map(|v| v[1].as_str())
        .collect();
    if lines.contains(&p.log_line.as_str()) {
        return Ok(());
    }
    match lines.first() {
        None => Err(Failure::missing(format!(
            "no line for {}",
            logql(p, format)
        ))),
        Some(first) => Err(Failure::mismatch(
            format!("line {:?}", p.log_line),
            format!("{first:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn the_format_follows_the_url_path() {
        let u = |s: &str| Url::parse(s).expect("url");
        assert_eq!(
            LogFormat::for_url(&u("http://l/loki/api/v1/push")),
            Ok(LogFormat::LokiPush)
        );
        assert_eq!(
            LogFormat::for_url(&u("http://l/otlp/v1/logs")),
            Ok(LogFormat::Otlp)
        );
        assert_eq!(
            LogFormat::for_url(&u("http://c:4318/v1/logs")),
            Ok(LogFormat::Otlp)
        );
        assert!(LogFormat::for_url(&u("http://l/push")).is_err());
    }

    #[test]
    fn the_push_body_is_one_stream_with_a_nanosecond_string_timestamp() {
        let p = Payload::for_run(
            "r1",
            UNIX_EPOCH + Duration::from_nanos(1_700_000_000_000_000_123),
        );
        let b = push_body(&p);
        assert_eq!(b["streams"][0]["stream"]["run_id"], "r1");
        assert_eq!(b["streams"][0]["values"][0][0], "1700000000000000123");
        assert_eq!(b["streams"][0]["values"][0][1], p.log_line.as_str());
        assert_eq!(logql(&p, LogFormat::LokiPush), "{run_id=\"r1\"}");
        assert_eq!(
            logql(&p, LogFormat::Otlp),
            "{service_name=\"kalypso-verify\"} | run_id=\"r1\""
        );
    }

    #[test]
    fn a_canary_query_filters_its_round() {
        let p = Payload::canary("i1", 3, UNIX_EPOCH);
        assert_eq!(
            logql(&p, LogFormat::LokiPush),
            "{canary_instance=\"i1\"} |= \"round=3 \""
        );
    }
}
