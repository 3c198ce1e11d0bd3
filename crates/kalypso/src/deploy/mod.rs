//! Installing the stack wave by wave with health gates: `up`, `down`, `status`, `doctor`, and
//! `diff`, what `up` would change.
//!
//! `plan` turns the component list into waves of releases; `releases` runs helm (the only
//! program kalypso shells out to); `up` installs and gates on [`crate::cluster::health`];
//! `progress` shows it live; `down`, `status` and `doctor` are the other commands' engines.

pub mod diff;
pub(crate) mod doctor;
pub(crate) mod down;
pub mod plan;
pub mod progress;
pub(crate) mod releases;
pub(crate) mod status;
pub mod up;

use anyhow::Result;

use crate::cluster::Cluster;

/// Connects to the cluster of the current kubeconfig context. Every way this can fail (no
/// kubeconfig, unreachable, credentials or RBAC refused) is an environment error: exit 2.
pub async fn connect() -> Result<Cluster> {
    Ok(Cluster::connect().await?)
}
