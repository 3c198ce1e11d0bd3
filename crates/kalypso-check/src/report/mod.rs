//! Reports of `kalypso check`: human (grouped by severity and component), JSON, SARIF 2.1.0.

pub mod human;
pub mod json;
pub mod sarif;

use serde::Serialize;

use crate::{Finding, Severity};
use kalypso_render::ChartStatus;

/// How one chart was rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChartReport {
    pub name: String,
    /// `full` or `partial`.
    pub status: String,
    /// Dependencies replaced by empty stand-ins.
    pub stand_ins: Vec<String>,
    /// Not rendered this run: its inputs are unchanged since a verified render in the cache.
    pub cached: bool,
}

impl ChartReport {
    /// From a render status.
    pub fn new(name: &str, status: &ChartStatus) -> ChartReport {
        ChartReport {
            name: name.to_string(),
            status: match status {
                ChartStatus::Full => "full".into(),
                ChartStatus::Partial { .. } => "partial".into(),
            },
            stand_ins: status.stand_ins().to_vec(),
            cached: false,
        }
    }
}

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub charts: Vec<ChartReport>,
}

impl Report {
    /// Number of findings of a severity.
    pub fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }

    /// `N errors, N warnings, N info; charts: X full, Y partial`, starting with `PARTIAL:`
    /// when any chart was rendered with stand-ins (so a partial check never reads as clean).
    pub fn summary(&self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let full = self.charts.iter().filter(|c| c.status == "full").count();
        let partial = self.charts.len() - full;
        let cached = self.charts.iter().filter(|c| c.cached).count();
        format!(
            "{}{}, {}, {} info; charts: {full} full, {partial} partial{}",
            if partial > 0 {
                "PARTIAL (upstream charts absent, stand-ins rendered): "
            } else {
                ""
            },
            plural(self.count(Severity::Error), "error"),
            plural(self.count(Severity::Warning), "warning"),
            self.count(Severity::Info),
            if cached > 0 {
                format!(" ({cached} unchanged: cached render reused, --no-cache renders again)")
            } else {
                String::new()
            },
        )
    }

    /// Whether anything is at or above `fail_on`.
    pub fn fails(&self, fail_on: Severity) -> bool {
        kalypso_model::outcome::exit_code(self.findings.iter().map(|f| f.severity), fail_on) != 0
    }
}

/// Maps helm's `# Source:` path (`<chart>/templates/x.yaml`, `<chart>/charts/<dep>/…`) to a
/// repository path (`charts/<chart>/…`); other paths are kept.
pub fn repository_path(file: &str) -> String {
    if file.starts_with("kalypso-") && file.contains('/') {
        format!("charts/{file}")
    } else {
        file.to_string()
    }
}
