//! Metrics: one sample by Prometheus remote write 1.0, read back by PromQL.
//!
//! Write: protobuf `prometheus.WriteRequest`, snappy *block* compressed, with the headers the
//! remote-write spec requires and `X-Scope-OrgID` for Mimir. Read: an instant query
//! `GET <base>/api/v1/query?query=<name>{<label>="<id>"}&time=<sample time>` whose value must
//! equal the value written.

use prost::Message;
use reqwest::Url;

use super::http::{display_url, join, Http};
use super::payload::Payload;
use super::probe::Failure;

/// Hand-written `prompb` messages (prometheus/prometheus `prompb/remote.proto`, `types.proto`).
pub mod prompb {
    /// `prometheus.WriteRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        /// Field 1: the series.
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    /// `prometheus.TimeSeries`: labels sorted by name, then samples.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// Field 1: labels, `__name__` included.
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        /// Field 2: samples.
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    /// `prometheus.Label`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        /// Field 1.
        #[prost(string, tag = "1")]
        pub name: String,
        /// Field 2.
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `prometheus.Sample`: a value at a millisecond timestamp.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// Field 1.
        #[prost(double, tag = "1")]
        pub value: f64,
        /// Field 2: milliseconds since the epoch.
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

/// Where metrics are written and read.
#[derive(Debug, Clone)]
pub struct MetricsPipeline {
    /// Full remote-write URL (Mimir `…/api/v1/push`, Prometheus `…/api/v1/write`).
    pub write_url: Url,
    /// Prometheus API base (Mimir's ends in `/prometheus`).
    pub query_url: Url,
    /// `X-Scope-OrgID` of writes and reads ("" sends none).
    pub tenant: String,
}

/// The labels of the probe series, sorted by name as remote write requires.
pub fn series_labels(p: &Payload) -> Vec<prompb::Label> {
    let (key, value) = p.identity_label();
    let mut labels = vec![
        prompb::Label {
            name: "__name__".into(),
            value: p.metric_name().into(),
        },
        prompb::Label {
            name: "job".into(),
            value: p.service_name().into(),
        },
        prompb::Label {
            name: key.into(),
            value: value.into(),
        },
    ];
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    labels
}

/// The snappy-block-compressed protobuf body of the write.
pub fn encode_write(p: &Payload) -> Result<Vec<u8>, Failure> {
    let req = prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: series_labels(p),
            samples: vec![prompb::Sample {
                value: p.metric_value,
                timestamp: p.unix_millis(),
            }],
        }],
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .map_err(|e| Failure::setup(format!("snappy compression failed: {e}")))
}

/// The PromQL selector that finds the probe series.
pub fn selector(p: &Payload) -> String {
    let (key, value) = p.identity_label();
    format!("{}{{{key}=\"{value}\"}}", p.metric_name())
}

impl MetricsPipeline {
    /// Remote-writes the payload's sample.
    pub async fn write(&self, http: &Http, p: &Payload) -> Result<(), Failure> {
        let body = encode_write(p)?;
        let rb = http
            .client()
            .post(self.write_url.clone())
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body);
        http.send(&self.write_url, http.with_tenant(rb, &self.tenant))
            .await
            .map(|_| ())
    }

    /// One instant query at the sample's time; Ok when the value written is there.
    pub async fn read(&self, http: &Http, p: &Payload) -> Result<(), Failure> {
        let mut url = join(&self.query_url, "api/v1/query");
        let at = p.unix_millis() as f64 / 1000.0;
        url.query_pairs_mut()
            .append_pair("query", &selector(p))
            .append_pair("time", &format!("{at:.3}"));
        let answer = http
            .send(
                &url,
                http.with_tenant(http.client().get(url.clone()), &self.tenant),
            )
            .await?;
        let json = answer.json(&url)?;
        check_vector(&json, p, &url)
    }

    /// Targets for the report: (write, read).
    pub fn targets(&self) -> (String, String) {
        (display_url(&self.write_url), display_url(&self.query_url))
    }
}

/// Checks a Prometheus `/api/v1/query` answer holds the payload's value.
pub fn check_vector(json: &serde_json::Value, p: &Payload, url: &Url) -> Result<(), Failure> {
    if json["status"] != "success" {
        return Err(Failure::BadResponse {
            url: display_url(url),
            detail: format!("status {} ({})", json["status"], json["error"]),
        });
    }
    let result = json["data"]["result"]
        .as_array()
        .ok_or_else(|| Failure::BadResponse {
            url: display_url(url),
            detail: "no data.result array".into(),
        })?;
    let Some(first) = result.first() else {
        let tenant = " (tenant as sent in X-Scope-OrgID)";
        return Err(Failure::missing(format!(
            "no series {}{tenant}",
            selector(p)
        )));
    };
    let got = first["value"][1].as_str().unwrap_or("");
    match got.parse::<f64>() {
        Ok(v) if (v - p.metric_value).abs() < 1e-9 => Ok(()),
        _ => Err(Failure::mismatch(
            format!("{} = {}", selector(p), p.metric_value),
            if got.is_empty() {
                first["value"].to_string()
            } else {
                got.to_string()
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_write_is_a_snappy_block_of_a_sorted_write_request() {
        let p = Payload::for_run("abc", UNIX_EPOCH + Duration::from_millis(1_700_000_000_123));
        let body = encode_write(&p).expect("encode");
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&body)
            .expect("snappy block");
        let req = prompb::WriteRequest::decode(raw.as_slice()).expect("protobuf");
        let ts = &req.timeseries[0];
        let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "job", "run_id"]);
        assert_eq!(ts.labels[2].value, "abc");
        assert_eq!(ts.samples[0].timestamp, 1_700_000_000_123);
        assert_eq!(ts.samples[0].value, p.metric_value);
        assert_eq!(selector(&p), "kalypso_verify_probe{run_id=\"abc\"}");
    }

    #[test]
    fn a_query_answer_is_checked_for_the_value() {
        let p = Payload::for_run("abc", UNIX_EPOCH);
        let url = Url::parse("http://m/prometheus/api/v1/query").expect("url");
        let ok = serde_json::json!({"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"kalypso_verify_probe"},"value":[1.0, p.metric_value.to_string()]}]}});
        assert_eq!(check_vector(&ok, &p, &url), Ok(()));
        let empty =
            serde_json::json!({"status":"success","data":{"resultType":"vector","result":[]}});
        assert!(matches!(
            check_vector(&empty, &p, &url),
            Err(Failure::Missing { .. })
        ));
        let wrong =
            serde_json::json!({"status":"success","data":{"result":[{"value":[1.0,"42"]}]}});
        assert!(matches!(
            check_vector(&wrong, &p, &url),
            Err(Failure::Mismatch { .. })
        ));
    }
}
