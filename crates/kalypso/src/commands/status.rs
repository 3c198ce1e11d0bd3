//! `kalypso status` (not built yet).

use anyhow::Result;

/// Arguments of `kalypso status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

/// Runs `kalypso status`; returns the process exit code.
pub fn run(_args: StatusArgs) -> Result<i32> {
    Err(crate::error::usage("kalypso status is not implemented yet"))
}
