//! Process exit codes and the error type that carries one.

use std::fmt;

/// Exit code: everything passed.
pub const EXIT_OK: i32 = 0;
/// Exit code: the command ran, and what it checked failed (findings, unhealthy stack, failed probe).
pub const EXIT_FAILED: i32 = 1;
/// Exit code: usage or input error (bad flag, missing file, broken YAML, helm missing).
pub const EXIT_USAGE: i32 = 2;

/// An error that the user caused (bad input, missing tool); reported without a backtrace, exit 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for returning a [`UsageError`] wrapped in `anyhow`.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}
