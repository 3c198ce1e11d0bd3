//! Profiles: one CPU profile sent as OTLP profiles (proto v1.10, `v1development`) by
//! `POST <pyroscope>/v1development/profiles`, read back with Pyroscope's Connect API
//! `POST /querier.v1.QuerierService/SelectMergeStacktraces` (JSON), whose flame graph must name
//! the probe's leaf function.
//!
//! Pyroscope 2.2 turns a `samples/count` profile with a `cpu/nanoseconds` period into
//! `process_cpu:cpu:nanoseconds:cpu:nanoseconds` (grafana/pyroscope `pkg/ingester/otlp/convert.go`).

use std::time::Duration;

use opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceRequest;
use opentelemetry_proto::tonic::profiles::v1development::{
    Function, KeyValueAndUnit, Line, Link, Location, Mapping, Profile, ProfilesDictionary,
    ResourceProfiles, Sample, ScopeProfiles, Stack, ValueType,
};
use prost::Message;
use reqwest::Url;

use super::http::{display_url, join, Http};
use super::otlp::{resource, scope};
use super::payload::Payload;
use super::probe::Failure;

/// The profile type the probe's samples land under.
pub const PROFILE_TYPE: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
/// Sampling period: 10 ms.
pub const PERIOD_NANOS: i64 = 10_000_000;
/// Samples in the probe's only stack.
pub const SAMPLES: i64 = 5;
/// The root frame of the probe's stack.
pub const ROOT_FUNCTION: &str = "kalypso_probe_main";

/// Where profiles are written and read.
#[derive(Debug, Clone)]
pub struct ProfilesPipeline {
    /// Full OTLP profiles URL (`…/v1development/profiles`).
    pub write_url: Url,
    /// Pyroscope base URL.
    pub query_url: Url,
}

/// `…/v1development/profiles` on a Pyroscope base, unless the URL already ends with it.
pub fn write_url_for(base: &Url) -> Url {
    if base
        .path()
        .trim_end_matches('/')
        .ends_with("/v1development/profiles")
    {
        base.clone()
    } else {
        join(base, "v1development/profiles")
    }
}

/// The OTLP profiles request: a dictionary (index 0 of every table is the zero value, as the
/// spec requires) and one profile with one stack `ROOT_FUNCTION → <leaf>` sampled 5 times.
pub fn otlp_request(p: &Payload) -> ExportProfilesServiceRequest {
    let strings: Vec<String> = [
        "",
        "samples",
        "count",
        "cpu",
        "nanoseconds",
        ROOT_FUNCTION,
        &p.function_name,
        "kalypso.rs",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let function = |name: i32| Function {
        name_strindex: name,
        system_name_strindex: name,
        filename_strindex: 7,
        start_line: 1,
    };
    let location = |f: i32| Location {
        lines: vec![Line {
            function_index: f,
            line: 1,
            column: 0,
        }],
        ..Default::default()
    };
    let dictionary = ProfilesDictionary {
        mapping_table: vec![Mapping::default()],
        location_table: vec![Location::default(), location(2), location(1)],
        function_table: vec![Function::default(), function(5), function(6)],
        link_table: vec![Link::default()],
        string_table: strings,
        attribute_table: vec![KeyValueAndUnit::default()],
        // Leaf first, as in pprof.
        stack_table: vec![
            Stack::default(),
            Stack {
                location_indices: vec![1, 2],
            },
        ],
    };
    let profile = Profile {
        sample_type: Some(ValueType {
            type_strindex: 1,
            unit_strindex: 2,
        }),
        samples: vec![Sample {
            stack_index: 1,
            values: vec![SAMPLES],
            ..Default::default()
        }],
        time_unix_nano: p.unix_nanos(),
        duration_nano: Duration::from_secs(1).as_nanos() as u64,
        period_type: Some(ValueType {
            type_strindex: 3,
            unit_strindex: 4,
        }),
        period: PERIOD_NANOS,
        profile_id: p.trace_id.to_vec(),
        ..Default::default()
    };
    ExportProfilesServiceRequest {
        resource_profiles: vec![ResourceProfiles {
            resource: Some(resource(&p.profile_service())),
            scope_profiles: vec![ScopeProfiles {
                scope: Some(scope()),
                profiles: vec![profile],
                ..Default::default()
            }],
            ..Default::default()
        }],
        dictionary: Some(dictionary),
    }
}

/// The Connect JSON body of `SelectMergeStacktraces` for the probe's service (±5 minutes).
pub fn query_body(p: &Payload) -> serde_json::Value {
    let window = 300_000;
    serde_json::json!({
        "profileTypeID": PROFILE_TYPE,
        "labelSelector": format!("{{service_name=\"{}\"}}", p.profile_service()),
        "start": p.unix_millis() - window,
        "end": p.unix_millis() + window,
    })
}

impl ProfilesPipeline {
    /// Sends the payload's profile.
    pub async fn write(&self, http: &Http, p: &Payload) -> Result<(), Failure> {
        let rb = http.otlp_post(&self.write_url, otlp_request(p).encode_to_vec());
        http.send(&self.write_url, rb).await.map(|_| ())
    }

    /// One merged-stacktraces query; Ok when the flame graph names the probe's leaf function.
    pub async fn read(&self, http: &Http, p: &Payload) -> Result<(), Failure> {
        let url = join(
            &self.query_url,
            "querier.v1.QuerierService/SelectMergeStacktraces",
        );
        let rb = http
            .client()
            .post(url.clone())
            .header("Content-Type", "application/json")
            .header("Connect-Protocol-Version", "1")
            .body(query_body(p).to_string());
        let answer = http.send(&url, rb).await?;
        check_flamegraph(&answer.json(&url)?, p)
    }

    /// Targets for the report: (write, read).
    pub fn targets(&self) -> (String, String) {
        (display_url(&self.write_url), display_url(&self.query_url))
    }
}

/// Checks a `SelectMergeStacktracesResponse` (Connect JSON) names the payload's leaf function.
pub fn check_flamegraph(json: &serde_json::Value, p: &Payload) -> Result<(), Failure> {
    let names: Vec<&str> = json["flamegraph"]["names"]
        .as_array()
        .map(|a| a.iter().filter_map(|n| n.as_str()).collect())
        .unwrap_or_default();
    if names.contains(&p.function_name.as_str()) {
        return Ok(());
    }
    // int64 fields arrive as JSON strings in the Connect/protojson mapping.
    let total = match &json["flamegraph"]["total"] {
        serde_json::Value::String(s) => s.parse::<i64>().unwrap_or(0),
        v => v.as_i64().unwrap_or(0),
    };
    if total == 0 {
        return Err(Failure::missing(format!(
            "no {PROFILE_TYPE} samples for service_name={}",
            p.profile_service()
        )));
    }
    let shown: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| *n != "total")
        .take(5)
        .collect();
    Err(Failure::mismatch(
        format!("function {}", p.function_name),
        format!("functions {shown:?}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn the_profile_dictionary_starts_every_table_with_a_zero_value() {
        let p = Payload::for_run("r3", UNIX_EPOCH);
        let req = ExportProfilesServiceRequest::decode(otlp_request(&p).encode_to_vec().as_slice())
            .expect("decode");
        let d = req.dictionary.expect("dictionary");
        assert_eq!(d.string_table[0], "");
        assert_eq!(d.function_table[0], Function::default());
        assert_eq!(d.stack_table[0], Stack::default());
        let leaf = &d.location_table[d.stack_table[1].location_indices[0] as usize];
        let f = &d.function_table[leaf.lines[0].function_index as usize];
        assert_eq!(d.string_table[f.name_strindex as usize], p.function_name);
        let prof = &req.resource_profiles[0].scope_profiles[0].profiles[0];
        assert_eq!(prof.samples[0].values, [SAMPLES]);
    }

    #[test]
    fn the_base_url_gets_the_otlp_path() {
        let u = Url::parse("http://pyroscope:4040").expect("url");
        assert_eq!(
            write_url_for(&u).as_str(),
            "http://pyroscope:4040/v1development/profiles"
        );
        let full = Url::parse("http://p:4040/v1development/profiles").expect("url");
        assert_eq!(write_url_for(&full), full);
    }

    #[test]
    fn the_flamegraph_must_name_the_leaf() {
        let p = Payload::for_run("r3", UNIX_EPOCH);
        let ok = serde_json::json!({"flamegraph":{"names":["total", ROOT_FUNCTION, p.function_name],"total":"50000000"}});
        assert_eq!(check_flamegraph(&ok, &p), Ok(()));
        let empty = serde_json::json!({"flamegraph":{"names":["total"],"levels":[],"total":"0"}});
        assert!(matches!(
            check_flamegraph(&empty, &p),
            Err(Failure::Missing { .. })
        ));
        let other = serde_json::json!({"flamegraph":{"names":["total","main"],"total":"7"}});
        assert!(matches!(
            check_flamegraph(&other, &p),
            Err(Failure::Mismatch { .. })
        ));
    }
}
