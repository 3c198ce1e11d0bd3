//! Small builders for OTLP messages shared by the trace, log and profile probes, and a
//! reader for OTLP JSON attributes (`{"key": …, "value": {"stringValue": …}}`) as Tempo returns them.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// A string attribute.
pub fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(string_value(value)),
        ..Default::default()
    }
}

/// An `AnyValue` holding a string.
pub fn string_value(value: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(value.to_string())),
    }
}

/// A resource with `service.name`.
pub fn resource(service_name: &str) -> Resource {
    Resource {
        attributes: vec![kv("service.name", service_name)],
        ..Default::default()
    }
}

/// The instrumentation scope kalypso reports as.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "kalypso".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

/// Every string value of an attribute named `key` anywhere in an OTLP JSON document.
pub fn json_attribute_values(doc: &serde_json::Value, key: &str) -> Vec<String> {
    let mut found = Vec::new();
    collect(doc, key, &mut found);
    found
}

fn collect(v: &serde_json::Value, key: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            if map.get("key").and_then(|k| k.as_str()) == Some(key) {
                if let Some(s) = map
                    .get("value")
                    .and_then(|v| v.get("stringValue"))
                    .and_then(|s| s.as_str())
                {
                    out.push(s.to_string());
                }
            }
            for child in map.values() {
                collect(child, key, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect(i, key, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_found_at_any_depth() {
        let doc = serde_json::json!({"batches":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"kalypso-verify"}}]},
            "scopeSpans":[{"spans":[{"attributes":[{"key":"kalypso.verify.id","value":{"stringValue":"abc"}}]}]}]}]});
        assert_eq!(
            json_attribute_values(&doc, "service.name"),
            ["kalypso-verify"]
        );
        assert_eq!(json_attribute_values(&doc, "kalypso.verify.id"), ["abc"]);
        assert!(json_attribute_values(&doc, "other").is_empty());
    }
}
