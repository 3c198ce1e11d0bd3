//! `kalypso canary` (not built yet).

use anyhow::Result;

/// Arguments of `kalypso canary`.
#[derive(Debug, clap::Args)]
pub struct CanaryArgs {}

/// Runs `kalypso canary`; returns the process exit code.
pub fn run(_args: CanaryArgs) -> Result<i32> {
    Err(crate::error::usage("kalypso canary is not implemented yet"))
}
