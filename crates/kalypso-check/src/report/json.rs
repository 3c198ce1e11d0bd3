//! `--output json`: `{"findings": [...], "charts": [...], "summary": {counts}}`; each
//! finding's `file` is a repository path where the object came from one of the charts.

use serde_json::json;

use super::Report;

/// The JSON report, pretty-printed.
pub fn render(report: &Report) -> String {
    let findings: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).unwrap_or_default();
            if let Some(file) = &f.file {
                v["file"] = json!(super::repository_path(file));
            }
            v
        })
        .collect();
    let full = report.charts.iter().filter(|c| c.status == "full").count();
    let v = json!({
        "findings": findings,
        "charts": report.charts,
        "summary": {
            "errors": report.count(kalypso_model::outcome::Severity::Error),
            "warnings": report.count(kalypso_model::outcome::Severity::Warning),
            "info": report.count(kalypso_model::outcome::Severity::Info),
            "charts_full": full,
            "charts_partial": report.charts.len() - full,
            "text": report.summary(),
        },
    });
    serde_json::to_string_pretty(&v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
