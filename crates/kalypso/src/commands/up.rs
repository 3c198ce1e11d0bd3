//! `kalypso up` (not built yet).

use anyhow::Result;

/// Arguments of `kalypso up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {}

/// Runs `kalypso up`; returns the process exit code.
pub fn run(_args: UpArgs) -> Result<i32> {
    Err(crate::error::usage("kalypso up is not implemented yet"))
}
