//! `kalypso down` (not built yet).

use anyhow::Result;

/// Arguments of `kalypso down`.
#[derive(Debug, clap::Args)]
pub struct DownArgs {}

/// Runs `kalypso down`; returns the process exit code.
pub fn run(_args: DownArgs) -> Result<i32> {
    Err(crate::error::usage("kalypso down is not implemented yet"))
}
