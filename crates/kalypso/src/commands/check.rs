//! `kalypso check` (not built yet).

use anyhow::Result;

/// Arguments of `kalypso check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {}

/// Runs `kalypso check`; returns the process exit code.
pub fn run(_args: CheckArgs) -> Result<i32> {
    Err(crate::error::usage("kalypso check is not implemented yet"))
}
