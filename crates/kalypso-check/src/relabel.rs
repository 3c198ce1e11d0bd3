//! Prometheus relabelling (`relabel_configs`), evaluated on one target's labels, so that `check`
//! can tell which pods a `kubernetes_sd_configs` scrape job keeps and on which port.
//!
//! Semantics follow Prometheus' `model/relabel`: source labels joined by `separator` (`;`), the
//! regex anchored at both ends, `replacement` expanded with `$1`/`${name}`, an empty result
//! deleting the target label. `hashmod` depends on a hash of run-time values: a config that
//! uses it (or an action this module does not know) makes the outcome [`Outcome::Unknown`].
//! Public so that a test can hold it against a real Prometheus on the same inputs.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

/// A target's labels.
pub type Labels = BTreeMap<String, String>;

/// One step of `relabel_configs`.
#[derive(Debug, Clone)]
pub struct Step {
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
    target_label: String,
    replacement: String,
    action: String,
}

/// What the steps do to a target.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Scraped, with these labels (`__address__` among them).
    Kept(Labels),
    /// Dropped by a `keep`/`drop` step.
    Dropped,
    /// Not decidable offline (for example `hashmod` sharding).
    Unknown,
}

impl Step {
    /// Parses one relabel config; `Err` names the problem (a regex that does not compile).
    pub fn parse(v: &Value) -> Result<Step, String> {
        let text = |key: &str, default: &str| -> String {
            match &v[key] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => default.to_string(),
            }
        };
        let regex = text("regex", "(.*)");
        let anchored = Regex::new(&format!("^(?:{regex})$"))
            .map_err(|e| format!("regex {regex:?} does not compile: {e}"))?;
        Ok(Step {
            source_labels: v["source_labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            separator: text("separator", ";"),
            regex: anchored,
            target_label: text("target_label", ""),
            replacement: text("replacement", "$1"),
            action: text("action", "replace").to_ascii_lowercase(),
        })
    }

    fn expand(&self, caps: &regex::Captures, template: &str) -> String {
        let mut out = String::new();
        caps.expand(template, &mut out);
        out
    }
}

/// Runs `steps` on `labels`.
pub fn apply(steps: &[Step], mut labels: Labels) -> Outcome {
    for s in steps {
        let value = s
            .source_labels
            .iter()
            .map(|l| labels.get(l).map(String::as_str).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(&s.separator);
        match s.action.as_str() {
            "replace" => {
                if let Some(caps) = s.regex.captures(&value) {
                    let target = s.expand(&caps, &s.target_label);
                    let result = s.expand(&caps, &s.replacement);
                    if target.is_empty() {
                        continue;
                    }
                    if result.is_empty() {
                        labels.remove(&target);
                    } else {
                        labels.insert(target, result);
                    }
                }
            }
            "keep" => {
                if !s.regex.is_match(&value) {
                    return Outcome::Dropped;
                }
            }
            "drop" => {
                if s.regex.is_match(&value) {
                    return Outcome::Dropped;
                }
            }
            "keepequal" | "dropequal" => {
                let equal = labels.get(&s.target_label).map(String::as_str) == Some(&value);
                if equal == (s.action == "dropequal") {
                    return Outcome::Dropped;
                }
            }
            "lowercase" | "uppercase" => {
                let v = if s.action == "lowercase" {
                    value.to_lowercase()
                } else {
                    value.to_uppercase()
                };
                labels.insert(s.target_label.clone(), v);
            }
            "labelmap" => {
                let mapped: Vec<(String, String)> = labels
                    .iter()
                    .filter_map(|(k, v)| {
                        let caps = s.regex.captures(k)?;
                        Some((s.expand(&caps, &s.replacement), v.clone()))
                    })
                    .collect();
                labels.extend(mapped);
            }
            "labeldrop" => labels.retain(|k, _| !s.regex.is_match(k)),
            "labelkeep" => labels.retain(|k, _| s.regex.is_match(k)),
            _ => return Outcome::Unknown,
        }
    }
    Outcome::Kept(labels)
}

/// A label or annotation name as Kubernetes service discovery writes it in a meta label:
/// every character outside `[a-zA-Z0-9_]` becomes `_`.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(v: Value) -> Vec<Step> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|s| Step::parse(s).expect("step"))
            .collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keep_is_anchored_and_joins_source_labels() {
        let s = steps(serde_json::json!([{
            "source_labels": ["a", "b"], "regex": "true;.*|[^;]*;(http-metrics)", "action": "keep"
        }]));
        assert!(matches!(
            apply(&s, labels(&[("a", "true"), ("b", "grpc")])),
            Outcome::Kept(_)
        ));
        assert!(matches!(
            apply(&s, labels(&[("b", "http-metrics")])),
            Outcome::Kept(_)
        ));
        // Anchored: "http-metrics-x" does not match the whole alternative.
        assert_eq!(
            apply(&s, labels(&[("b", "http-metrics-x")])),
            Outcome::Dropped
        );
    }

    #[test]
    fn replace_expands_groups_and_an_empty_result_deletes() {
        let s = steps(serde_json::json!([
            {"source_labels": ["__address__", "port"], "regex": "([^:]+)(?::\\d+)?;(\\d+)",
             "replacement": "$1:$2", "target_label": "__address__"},
            {"source_labels": ["missing"], "target_label": "gone"}
        ]));
        let Outcome::Kept(out) = apply(
            &s,
            labels(&[("__address__", "pod:3100"), ("port", "9090"), ("gone", "x")]),
        ) else {
            panic!("kept")
        };
        assert_eq!(out["__address__"], "pod:9090");
        assert!(!out.contains_key("gone"));
    }

    #[test]
    fn labelmap_drop_and_unknown_actions() {
        let s = steps(serde_json::json!([
            {"regex": "__meta_kubernetes_pod_label_(.+)", "action": "labelmap"},
            {"source_labels": ["app"], "regex": "canary", "action": "drop"}
        ]));
        let Outcome::Kept(out) = apply(&s, labels(&[("__meta_kubernetes_pod_label_app", "loki")]))
        else {
            panic!("kept")
        };
        assert_eq!(out["app"], "loki");
        assert_eq!(
            apply(&s, labels(&[("__meta_kubernetes_pod_label_app", "canary")])),
            Outcome::Dropped
        );
        let hash = steps(serde_json::json!([{"action": "hashmod", "modulus": 2}]));
        assert_eq!(apply(&hash, Labels::new()), Outcome::Unknown);
    }

    #[test]
    fn a_regex_that_does_not_compile_is_named() {
        let err = Step::parse(&serde_json::json!({"regex": "(", "action": "keep"})).unwrap_err();
        assert!(err.contains("\"(\""), "{err}");
    }

    #[test]
    fn meta_label_names_are_sanitized() {
        assert_eq!(sanitize("prometheus.io/scrape"), "prometheus_io_scrape");
        assert_eq!(sanitize("app.kubernetes.io/name"), "app_kubernetes_io_name");
    }
}
