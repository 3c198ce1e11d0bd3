//! How a result came out, shared by `check` findings, `doctor` findings and `verify` rows, and
//! how a set of results becomes the exit code.

use serde::{Deserialize, Serialize};

use crate::error::{EXIT_FAILED, EXIT_OK};

/// How a result came out. Ordered: `Ok < Info < Warning < Error`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Checked and fine.
    #[value(skip)]
    Ok,
    /// Worth knowing; nothing to fix (or not verified).
    Info,
    /// Works, with a limitation.
    Warning,
    /// Broken: the install will fail or the stack will not work.
    Error,
}

impl Severity {
    /// `ok`, `info`, `warning` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Exit 1 when any result is at or above `fail_on`, else 0.
pub fn exit_code(results: impl IntoIterator<Item = Severity>, fail_on: Severity) -> i32 {
    if results.into_iter().any(|s| s >= fail_on) {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_at_or_above_the_threshold_fail() {
        use Severity::*;
        assert_eq!(exit_code([Ok, Info, Warning], Error), 0);
        assert_eq!(exit_code([Ok, Warning], Warning), 1);
        assert_eq!(exit_code([], Error), 0);
    }
}
