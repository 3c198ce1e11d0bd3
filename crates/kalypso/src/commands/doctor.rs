//! `kalypso doctor` (not built yet).

use anyhow::Result;

/// Arguments of `kalypso doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {}

/// Runs `kalypso doctor`; returns the process exit code.
pub fn run(_args: DoctorArgs) -> Result<i32> {
    Err(crate::error::usage("kalypso doctor is not implemented yet"))
}
