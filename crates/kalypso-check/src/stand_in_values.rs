//! Wires read from the values a stand-in received: when an upstream chart is absent, its
//! configs are not rendered, but the values the umbrella chart passes to it still name its
//! buckets (and, for the object store, the buckets it creates). A value set through the
//! contract accessor (`{{ include "kalypso-common.get" (list . "components" …) }}`, which the
//! upstream chart would evaluate with `tpl`) is resolved against the contract in those values;
//! any other template stays unresolved and is reported as not verified.

use serde_json::Value;

use super::config::BUCKET_KEYS;
use super::context::{ChartInfo, Context};
use kalypso_model::manifest::walk::{self, join};

/// A bucket named in a stand-in's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuesBucket {
    /// The umbrella chart (component) and its namespace.
    pub chart: String,
    pub namespace: String,
    /// Values key as the umbrella chart's values.yaml spells it: `loki.loki.storage.bucketNames.chunks`.
    pub key: String,
    /// The name, or the template that could not be resolved.
    pub name: Result<String, String>,
}

/// Where an object store's chart takes the buckets it creates: MinIO's `buckets`, SeaweedFS's
/// `createBuckets` (all-in-one, S3 gateway, filer), each a list of `{name: …}`.
const STORE_BUCKET_LISTS: &[&str] = &[
    "buckets",
    "allInOne.s3.createBuckets",
    "s3.createBuckets",
    "filer.s3.createBuckets",
];

/// Buckets the object store would create, from a stand-in whose values carry one of
/// [`STORE_BUCKET_LISTS`] (only the first found, as the chart picks one): (namespace, names,
/// unresolved templates).
pub fn store_buckets(ctx: &Context) -> Vec<(String, Vec<ValuesBucket>)> {
    let mut out = Vec::new();
    for chart in ctx.charts {
        for s in &chart.stand_in_values {
            let found = STORE_BUCKET_LISTS.iter().find_map(|key| {
                let node = key.split('.').try_fold(&s.values, |v, k| v.get(k))?;
                node.as_array().map(|list| (*key, list))
            });
            let Some((list_key, list)) = found else {
                continue;
            };
            let names = list
                .iter()
                .enumerate()
                .filter_map(|(i, b)| {
                    let name = b.get("name")?.as_str()?;
                    Some(ValuesBucket {
                        chart: chart.name.clone(),
                        namespace: chart.namespace.clone(),
                        key: format!("{}.{list_key}[{i}].name", s.dependency),
                        name: resolve(name, &s.values),
                    })
                })
                .collect();
            out.push((chart.namespace.clone(), names));
        }
    }
    out
}

/// Buckets backends are configured with in stand-in values: a key of [`BUCKET_KEYS`] under an
/// S3 block, or a `bucketNames` map (Loki's chart). The contract under `global` is skipped.
pub fn backend_buckets(ctx: &Context, store_namespaces: &[String]) -> Vec<ValuesBucket> {
    let mut out = Vec::new();
    for chart in ctx
        .charts
        .iter()
        .filter(|c| !store_namespaces.contains(&c.namespace))
    {
        for s in &chart.stand_in_values {
            let Some(values) = s.values.as_object() else {
                continue;
            };
            for (top, v) in values.iter().filter(|(k, _)| k.as_str() != "global") {
                walk::maps(v, &join(&s.dependency, top), &mut |path, map| {
                    let s3ish = path.split('.').any(|seg| {
                        let seg = seg.to_ascii_lowercase();
                        seg == "s3" || seg.ends_with("_s3")
                    });
                    for key in BUCKET_KEYS {
                        let Some(v) = map.get(*key) else { continue };
                        let mut push = |key: String, name: &str| {
                            for one in name.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                                out.push(found(chart, key.clone(), one, &s.values));
                            }
                        };
                        match v {
                            Value::String(name) if s3ish => push(join(path, key), name),
                            Value::Object(named) if key.eq_ignore_ascii_case("bucketNames") => {
                                for (k, name) in named {
                                    if let Value::String(name) = name {
                                        push(join(&join(path, key), k), name);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                });
            }
        }
    }
    out
}

fn found(chart: &ChartInfo, key: String, name: &str, values: &Value) -> ValuesBucket {
    ValuesBucket {
        chart: chart.name.clone(),
        namespace: chart.namespace.clone(),
        key,
        name: resolve(name, values),
    }
}

/// A literal name as is; a contract accessor resolved from `global.kalypso`; else the template.
fn resolve(text: &str, values: &Value) -> Result<String, String> {
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    let inner = text
        .trim()
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        .map(|t| t.trim_matches(|c: char| c == '-' || c.is_whitespace()));
    let args = inner
        .and_then(|t| t.strip_prefix("include \"kalypso-common.get\""))
        .map(str::trim)
        .and_then(|t| t.strip_prefix("(list ."))
        .and_then(|t| t.strip_suffix(')'));
    let Some(args) = args else {
        return Err(text.to_string());
    };
    let mut node = &values["global"]["kalypso"];
    for word in args.split_whitespace() {
        let Some(key) = word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) else {
            return Err(text.to_string());
        };
        node = &node[key];
    }
    match node {
        Value::String(s) => Ok(s.clone()),
        _ => Err(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contract_accessors_resolve_and_other_templates_do_not() {
        let values = json!({"global": {"kalypso": {"components": {"kalypso-loki": {"storage": {"buckets": {"chunks": "loki-chunks"}}}}}}});
        assert_eq!(
            resolve(
                r#"{{ include "kalypso-common.get" (list . "components" "kalypso-loki" "storage" "buckets" "chunks") }}"#,
                &values
            ),
            Ok("loki-chunks".into())
        );
        assert_eq!(resolve("plain", &values), Ok("plain".into()));
        let missing = r#"{{ include "kalypso-common.get" (list . "components" "kalypso-loki" "storage" "buckets" "ruler") }}"#;
        assert_eq!(resolve(missing, &values), Err(missing.into()));
        assert_eq!(
            resolve("{{ .Values.bucket }}", &values),
            Err("{{ .Values.bucket }}".into())
        );
    }
}
