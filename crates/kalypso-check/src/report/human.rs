//! The human report: findings grouped by severity (worst first), then by component; colour
//! only when asked (on a terminal); a summary line last. [`render_sections`] leads with
//! wiring: one heading each for wiring, configuration and policy findings.

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

/// The section a finding belongs to in a report that leads with wiring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// `wiring/*`: whether the pieces reach each other.
    Wiring,
    /// Config, ordering, schema, determinism, self-monitoring.
    Correctness,
    /// Requests, limits, probes, images, privileges, pod security, production rules.
    Policy,
}

impl Section {
    /// The section of a rule id.
    pub fn of(rule: &str) -> Section {
        let family = rule.split('/').next().unwrap_or(rule);
        match family {
            "wiring" => Section::Wiring,
            "hygiene" | "security" | "production" | "policy" => Section::Policy,
            _ => Section::Correctness,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Section::Wiring => "Wiring (services, ports, secrets, config maps, network policies)",
            Section::Correctness => "Configuration, ordering and schema",
            Section::Policy => {
                "Policy (requests, limits, probes, images, privileges, pod security)"
            }
        }
    }
}

/// The report as text, findings grouped by severity then component.
pub fn render(report: &Report, colour: bool) -> String {
    let mut out = String::new();
    let all: Vec<&Finding> = report.findings.iter().collect();
    by_severity(&mut out, &all, colour, "");
    footer(&mut out, report, colour);
    out
}

/// The report as text, led by wiring: one heading per [`Section`] (wiring, then
/// configuration, then policy), each grouped by severity then component, so that policy
/// findings never bury a wiring result (`kalypso check -m`).
pub fn render_sections(report: &Report, colour: bool) -> String {
    let mut out = String::new();
    for section in [Section::Wiring, Section::Correctness, Section::Policy] {
        let of: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| Section::of(&f.rule) == section)
            .collect();
        let count = |s: Severity| of.iter().filter(|f| f.severity == s).count();
        let _ = writeln!(
            out,
            "{}",
            paint(
                &format!(
                    "== {}: {} errors, {} warnings, {} info",
                    section.title(),
                    count(Severity::Error),
                    count(Severity::Warning),
                    count(Severity::Info)
                ),
                "1",
                colour
            )
        );
        by_severity(&mut out, &of, colour, "  ");
    }
    footer(&mut out, report, colour);
    out
}

fn by_severity(out: &mut String, findings: &[&Finding], colour: bool, indent: &str) {
    for sev in [Severity::Error, Severity::Warning, Severity::Info] {
        let of: Vec<&Finding> = findings
            .iter()
            .copied()
            .filter(|f| f.severity == sev)
            .collect();
        if of.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "{indent}{}",
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
            let _ = writeln!(out, "{indent}  {}", paint(name, "1", colour));
            for f in list {
                let field = if f.field.is_empty() {
                    String::new()
                } else {
                    format!(" {}", f.field)
                };
                let _ = writeln!(
                    out,
                    "{indent}    {} {}{}",
                    paint(&f.rule, "36", colour),
                    f.object,
                    field
                );
                let _ = writeln!(out, "{indent}      {}", f.message);
            }
        }
    }
}

fn footer(out: &mut String, report: &Report, colour: bool) {
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
}
