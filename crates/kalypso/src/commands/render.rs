//! `kalypso render` (not built yet).

use anyhow::Result;

/// Arguments of `kalypso render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {}

/// Runs `kalypso render`; returns the process exit code.
pub fn run(_args: RenderArgs) -> Result<i32> {
    Err(crate::error::usage("kalypso render is not implemented yet"))
}
