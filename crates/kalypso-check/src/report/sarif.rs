//! `--output sarif`: SARIF 2.1.0 for code-scanning UIs. Each finding is a result at the
//! template (or file) that rendered the object, with the object as a logical location.

use serde_json::{json, Value};

use super::Report;
use crate::{Severity, RULES};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info | Severity::Ok => "note",
    }
}

/// The SARIF log, pretty-printed.
pub fn render(report: &Report) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|(id, text)| json!({"id": id, "name": id, "shortDescription": {"text": text}}))
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut logical = json!({
                "fullyQualifiedName": f.object.to_string(),
                "name": f.object.name,
                "kind": "object",
            });
            if !f.field.is_empty() {
                logical["decoratedName"] = json!(format!("{} {}", f.object, f.field));
            }
            let mut location = json!({"logicalLocations": [logical]});
            if let Some(file) = &f.file {
                location["physicalLocation"] =
                    json!({"artifactLocation": {"uri": super::repository_path(file)}});
            }
            json!({
                "ruleId": f.rule,
                "ruleIndex": RULES.iter().position(|(id, _)| *id == f.rule).unwrap_or(0),
                "level": level(f.severity),
                "message": {"text": if f.field.is_empty() {
                    format!("{}: {}", f.object, f.message)
                } else {
                    format!("{} {}: {}", f.object, f.field, f.message)
                }},
                "locations": [location],
                "properties": {"component": f.component, "field": f.field},
            })
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kalypso",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_default()
}
