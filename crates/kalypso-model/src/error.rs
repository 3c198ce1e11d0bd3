//! Process exit codes and usage errors (exit 2); the cluster crate adds the environment errors.

use std::fmt;

/// Exit code: everything passed.
pub const EXIT_OK: i32 = 0;
/// Exit code: the command ran, and what it checked failed (findings, unhealthy stack, failed probe).
pub const EXIT_FAILED: i32 = 1;
/// Exit code: usage or environment error (bad flag, missing file, broken YAML, helm missing,
/// cluster unreachable).
pub const EXIT_USAGE: i32 = 2;
/// Exit code after Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

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

/// Whether `e` (or anything it wraps) is a [`UsageError`].
pub fn is_usage(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<UsageError>().is_some())
}

/// An error and its causes on one line, without repeats (`connect: refused` rather than the
/// same text three times).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}
