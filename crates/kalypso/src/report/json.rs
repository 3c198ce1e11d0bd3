//! `--output json`: `{"findings": [...], "charts": [...], "summary": "..."}`.

use serde_json::json;

use super::Report;

/// The JSON report, pretty-printed.
pub fn render(report: &Report) -> String {
    let v = json!({
        "findings": report.findings,
        "charts": report.charts,
        "summary": report.summary(),
    });
    serde_json::to_string_pretty(&v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
