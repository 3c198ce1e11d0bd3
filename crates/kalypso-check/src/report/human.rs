//! The human report: findings grouped by severity (worst first), then by component; colour
//! only when asked (on a terminal); a summary line last.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Report;
use crate::{Finding, Severity};

fn paint(text: &str, code: &str, colour: bool) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn colour_code(s: Severity) -> &'static str {
    match s {
        Severity::Error => "1;31",
        Severity::Warning => "1;33",
        Severity::Info => "1;34",
        Severity::Ok => "1;32",
    }
}

/// The report as text.
pub fn render(report: &Report, colour: bool) -> String {
    let mut out = String::new();
    for sev in [Severity::Error, Severity::Warning, Severity::Info] {
        let of: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.severity == sev)
            .collect();
        if of.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "{}",
            paint(&format!("{sev} ({})", of.len()), colour_code(sev), colour)
        );
        let mut by_component: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
        for f in of {
            by_component
                .entry(f.component.as_str())
                .or_default()
                .push(f);
        }
        for (component, list) in by_component {
            let name = if component.is_empty() {
                "(input)"
            } else {
                component
            };
            let _ = writeln!(out, "  {}", paint(name, "1", colour));
            for f in list {
                let field = if f.field.is_empty() {
                    String::new()
                } else {
                    format!(" {}", f.field)
                };
                let _ = writeln!(
                    out,
                    "    {} {}{}",
                    paint(&f.rule, "36", colour),
                    f.object,
                    field
                );
                let _ = writeln!(out, "      {}", f.message);
            }
        }
    }
    if !report.charts.is_empty() {
        let charts: Vec<String> = report
            .charts
            .iter()
            .map(|c| {
                if c.stand_ins.is_empty() {
                    format!("{} {}", c.name, c.status)
                } else {
                    format!(
                        "{} {} (stand-ins: {})",
                        c.name,
                        c.status,
                        c.stand_ins.join(", ")
                    )
                }
            })
            .collect();
        let _ = writeln!(out, "charts: {}", charts.join("; "));
    }
    let summary = report.summary();
    let worst = report.findings.iter().map(|f| f.severity).max();
    let code = match worst {
        Some(Severity::Error) => colour_code(Severity::Error),
        Some(Severity::Warning) => colour_code(Severity::Warning),
        _ => "1;32",
    };
    let _ = writeln!(out, "{}", paint(&summary, code, colour));
    out
}
