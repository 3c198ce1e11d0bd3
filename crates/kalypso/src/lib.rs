//! kalypso: render, check, install and verify the Kalypso observability stack as one system.
//!
//! This crate is the command line (`cli`, one module per subcommand in `commands`) on top of
//! the layers, each its own crate: `kalypso_model` (contract, stack, charts, releases,
//! manifests, findings) → `kalypso_render` (helm) → `kalypso_check` (rules, reports);
//! `kalypso_cluster` → `kalypso_deploy` (up, down, status, doctor, diff) and `kalypso_verify`
//! (probes, canary). The layers are re-exported under their old paths for the integration
//! tests and benchmarks.
#![warn(unreachable_pub)]

pub mod args;
pub mod cli;
pub mod commands;

pub use kalypso_check as check;
pub use kalypso_check::report;
pub use kalypso_cluster as cluster;
pub use kalypso_deploy as deploy;
pub use kalypso_model::{chart, contract, error, manifest, outcome, release, stack};
pub use kalypso_render as render;
pub use kalypso_render::helm;
pub use kalypso_verify as verify;
