//! `kalypso verify` (not built yet).

use anyhow::Result;

/// Arguments of `kalypso verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {}

/// Runs `kalypso verify`; returns the process exit code.
pub fn run(_args: VerifyArgs) -> Result<i32> {
    Err(crate::error::usage("kalypso verify is not implemented yet"))
}
