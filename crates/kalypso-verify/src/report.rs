//! The verify report: a table (one row per check) or JSON, and the exit code.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, Color, ContentArrangement, Table};
use serde::Serialize;

use super::probe::{CheckResult, Status};
use kalypso_model::error::{EXIT_FAILED, EXIT_OK};
use kalypso_model::outcome::{exit_code, Severity};

/// What `kalypso verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The run id every payload is tagged with.
    pub run_id: String,
    /// True when every check passed.
    pub passed: bool,
    /// One entry per check.
    pub checks: Vec<CheckResult>,
}

impl VerifyReport {
    /// A report over these rows.
    pub fn new(run_id: String, checks: Vec<CheckResult>) -> VerifyReport {
        let passed = !checks.is_empty()
            && exit_code(checks.iter().map(|c| c.status.severity()), Severity::Error) == EXIT_OK;
        VerifyReport {
            run_id,
            passed,
            checks,
        }
    }

    /// 0 when everything asked for passed, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.passed {
            EXIT_OK
        } else {
            EXIT_FAILED
        }
    }

    /// The rows that did not pass.
    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| !c.passed())
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The table plus a summary line; colours only when `color`.
    pub fn to_table(&self, color: bool) -> String {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic);
        table.set_header(["check", "result", "latency", "target", "reason"]);
        if !color {
            table.force_no_tty();
        }
        for c in &self.checks {
            let (text, colour) = match c.status {
                Status::Pass => ("pass", Color::Green),
                Status::Fail => ("FAIL", Color::Red),
                Status::Skip => ("skip", Color::Yellow),
            };
            let mut result = Cell::new(text);
            if color {
                result = result.fg(colour);
            }
            let latency = c
                .latency
                .map(|d| format!("{} ms", d.as_millis()))
                .unwrap_or_else(|| "-".into());
            table.add_row(vec![
                Cell::new(&c.check),
                result,
                Cell::new(latency),
                Cell::new(&c.target),
                Cell::new(c.reason.as_deref().unwrap_or("")),
            ]);
        }
        let failed = self.failures().count();
        let summary = if self.passed {
            format!(
                "verify {}: all {} checks passed",
                self.run_id,
                self.checks.len()
            )
        } else {
            format!(
                "verify {}: {failed} of {} checks did not pass",
                self.run_id,
                self.checks.len()
            )
        };
        let note = if self.checks.iter().any(|c| c.check.ends_with("/read")) {
            "latency: of a read, from the start of the write until the data was readable; \
             otherwise, of the request\n"
        } else {
            ""
        };
        format!("{table}\n{note}{summary}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Failure;
    use crate::Signal;
    use std::time::Duration;

    #[test]
    fn one_failed_row_fails_the_run_and_is_named() {
        let rows = vec![
            CheckResult::pass(
                Signal::Metrics,
                "metrics/read",
                "http://m",
                Duration::from_millis(1200),
            ),
            CheckResult::fail(
                Signal::Logs,
                "logs/write",
                "http://l",
                &Failure::Http {
                    url: "http://l/loki/api/v1/push".into(),
                    status: 429,
                    body: "Ingestion rate limit exceeded".into(),
                },
            ),
        ];
        let r = VerifyReport::new("abc".into(), rows);
        assert_eq!(r.exit_code(), 1);
        let t = r.to_table(false);
        assert!(t.contains("1200 ms"), "{t}");
        assert!(t.contains("HTTP 429 Too Many Requests"), "{t}");
        assert!(t.contains("1 of 2 checks did not pass"), "{t}");
        let j: serde_json::Value = serde_json::from_str(&r.to_json()).expect("json");
        assert_eq!(j["checks"][1]["status"], "fail");
        assert_eq!(j["checks"][0]["latency_ms"], 1200);
    }

    #[test]
    fn an_empty_run_does_not_pass() {
        assert_eq!(VerifyReport::new("x".into(), vec![]).exit_code(), 1);
    }
}
