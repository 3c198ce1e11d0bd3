//! Kubernetes label selectors, one matcher for every reader: the object form
//! (`matchLabels` + `matchExpressions`, as NetworkPolicies and workloads write it), a Service's
//! plain map, and the text form (`a=b,c!=d,e,!f`, as the API's `labelSelector` parameter and
//! Prometheus' Kubernetes service discovery take it).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

/// Labels of an object.
pub type Labels = BTreeMap<String, String>;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` (`matchLabels`, `=`, `==`).
    Equals(String, String),
    /// `key!=value`: the label is absent or has another value.
    NotEquals(String, String),
    /// `In`: present with one of the values.
    In(String, Vec<String>),
    /// `NotIn`: absent, or present with none of the values.
    NotIn(String, Vec<String>),
    /// `Exists` (`key`).
    Exists(String),
    /// `DoesNotExist` (`!key`).
    DoesNotExist(String),
    /// An operator Kubernetes does not know: matches nothing.
    Unknown(String),
}

impl Requirement {
    /// One `matchExpressions` entry: `key`, `operator` and `values`.
    fn of_expression(key: String, operator: &str, values: Vec<String>) -> Requirement {
        match operator {
            "In" => Requirement::In(key, values),
            "NotIn" => Requirement::NotIn(key, values),
            "Exists" => Requirement::Exists(key),
            "DoesNotExist" => Requirement::DoesNotExist(key),
            other => Requirement::Unknown(other.to_string()),
        }
    }

    fn matches(&self, labels: &Labels) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|h| vs.contains(h)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|h| !vs.contains(h)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
            Requirement::Unknown(_) => false,
        }
    }

    /// The text form of the requirement (`None` for an unknown operator).
    fn text(&self) -> Option<String> {
        Some(match self {
            Requirement::Equals(k, v) => format!("{k}={v}"),
            Requirement::NotEquals(k, v) => format!("{k}!={v}"),
            Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
            Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
            Requirement::Exists(k) => k.clone(),
            Requirement::DoesNotExist(k) => format!("!{k}"),
            Requirement::Unknown(_) => return None,
        })
    }
}

/// A label selector: every requirement must hold. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

impl Selector {
    /// The object form: `matchLabels` and `matchExpressions` (a missing field is empty).
    pub fn from_object(v: &Value) -> Selector {
        let mut requirements: Vec<Requirement> = v["matchLabels"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some(Requirement::Equals(k.clone(), v.as_str()?.to_string())))
            .collect();
        for e in v["matchExpressions"].as_array().into_iter().flatten() {
            let Some(key) = e["key"].as_str().map(str::to_string) else {
                continue;
            };
            let values: Vec<String> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let op = e["operator"].as_str().unwrap_or_default();
            requirements.push(Requirement::of_expression(key, op, values));
        }
        Selector { requirements }
    }

    /// The typed object form (a NetworkPolicy's or workload's `LabelSelector`).
    pub fn from_label_selector(s: &LabelSelector) -> Selector {
        let mut requirements: Vec<Requirement> = s
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| Requirement::Equals(k.clone(), v.clone()))
            .collect();
        // A missing key decodes as empty: such an expression is left out, as in `from_object`.
        for e in s
            .match_expressions
            .iter()
            .flatten()
            .filter(|e| !e.key.is_empty())
        {
            let key = e.key.clone();
            let values = e.values.clone().unwrap_or_default();
            requirements.push(Requirement::of_expression(key, &e.operator, values));
        }
        Selector { requirements }
    }

    /// A plain map (a Service's `spec.selector`): each key equals its value.
    pub fn from_map<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> Selector {
        Selector {
            requirements: map
                .into_iter()
                .map(|(k, v)| Requirement::Equals(k.clone(), v.clone()))
                .collect(),
        }
    }

    /// The text form: comma-separated `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`,
    /// `a notin (x,y)`. `None` when a part does not parse.
    pub fn parse(text: &str) -> Option<Selector> {
        let mut requirements = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            // A part ends at the first comma outside parentheses.
            let mut depth = 0;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    c == ',' && depth == 0
                })
                .map_or(rest.len(), |(i, _)| i);
            let part = rest[..end].trim();
            rest = rest.get(end + 1..).unwrap_or("").trim_start();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Some(Selector { requirements })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the selector is empty (selects everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The text form, sorted (`None` when empty or with an unknown operator).
    pub fn text(&self) -> Option<String> {
        let mut parts: Vec<String> = self
            .requirements
            .iter()
            .map(Requirement::text)
            .collect::<Option<_>>()?;
        if parts.is_empty() {
            return None;
        }
        parts.sort();
        Some(parts.join(","))
    }
}

fn parse_requirement(part: &str) -> Option<Requirement> {
    let set = |key: &str, list: &str| -> Option<(String, Vec<String>)> {
        let inner = list.trim().strip_prefix('(')?.strip_suffix(')')?;
        let values = inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        Some((key.trim().to_string(), values))
    };
    if let Some((k, list)) = part.split_once(" notin ") {
        let (k, vs) = set(k, list)?;
        return Some(Requirement::NotIn(k, vs));
    }
    if let Some((k, list)) = part.split_once(" in ") {
        let (k, vs) = set(k, list)?;
        return Some(Requirement::In(k, vs));
    }
    if part.contains(['(', ')', ' ']) {
        return None;
    }
    Some(if let Some((k, v)) = part.split_once("!=") {
        Requirement::NotEquals(k.into(), v.into())
    } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
        Requirement::Equals(k.into(), v.into())
    } else if let Some(k) = part.strip_prefix('!') {
        Requirement::DoesNotExist(k.into())
    } else {
        Requirement::Exists(part.into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_object_form_matches_labels_and_expressions() {
        let s = Selector::from_object(&serde_json::json!({
            "matchLabels": {"app": "loki"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]
        }));
        assert!(s.matches(&l(&[("app", "loki"), ("tier", "a")])));
        assert!(!s.matches(&l(&[("app", "loki"), ("tier", "c")])));
        assert!(!s.matches(&l(&[("app", "loki"), ("tier", "a"), ("canary", "x")])));
        assert!(Selector::default().matches(&l(&[])));
        let odd = Selector::from_object(&serde_json::json!({
            "matchExpressions": [{"key": "a", "operator": "Sometimes"}]
        }));
        assert!(!odd.matches(&l(&[("a", "1")])));
    }

    #[test]
    fn the_typed_object_form_reads_as_the_untyped_one() {
        let v = serde_json::json!({
            "matchLabels": {"app": "loki"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                 {"key": "canary", "operator": "DoesNotExist"},
                                 {"key": "odd", "operator": "Sometimes"}]
        });
        let typed: LabelSelector = serde_json::from_value(v.clone()).expect("decodes");
        let s = Selector::from_label_selector(&typed);
        assert_eq!(s, Selector::from_object(&v));
        assert_eq!(s.requirements.len(), 4);
    }

    #[test]
    fn the_text_form_parses_and_prints_back() {
        let s = Selector::parse("app=loki, tier in (a,b),!canary,zone!=x,ready").expect("parses");
        assert!(s.matches(&l(&[("app", "loki"), ("tier", "b"), ("ready", "")])));
        assert!(!s.matches(&l(&[("app", "loki"), ("tier", "b")])));
        assert!(!s.matches(&l(&[
            ("app", "loki"),
            ("tier", "b"),
            ("ready", ""),
            ("zone", "x")
        ])));
        assert_eq!(
            s.text().as_deref(),
            Some("!canary,app=loki,ready,tier in (a,b),zone!=x")
        );
        assert_eq!(Selector::parse(" ").expect("empty").text(), None);
        assert!(Selector::parse("app in a,b").is_none());
        let back = Selector::parse("x notin (1,2),y==z").expect("parses");
        assert_eq!(back.text().as_deref(), Some("x notin (1,2),y=z"));
    }
}
