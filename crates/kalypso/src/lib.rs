//! kalypso: render, check, install and verify the Kalypso observability stack as one system.
//!
//! Data flows one way: `stack` (the component list) → `render` (helm) → `manifest`
//! (parsed objects) → `check` (rules) → `report`; `deploy` and `verify` sit on top of
//! `cluster` (kube client, port-forward).
//!
//! The public surface is what the binary, the integration tests and the benchmarks use; the
//! rest is `pub(crate)` (checked by the `unreachable_pub` lint).
#![warn(unreachable_pub)]

pub mod chart;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod contract;
pub mod deploy;
pub mod error;
pub mod helm;
pub mod manifest;
pub mod outcome;
pub mod release;
pub mod render;
pub mod report;
pub mod stack;
pub mod verify;
