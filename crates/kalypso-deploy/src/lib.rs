//! Installing the stack wave by wave with health gates: `up`, `down`, `status`, `doctor`, and
//! `diff`, what `up` would change.
//!
//! `plan` turns the component list into waves of releases; `releases` runs helm (the only
//! program kalypso shells out to); `up` installs and gates on [`kalypso_cluster::health`];
//! `progress` shows it live; `down`, `status` and `doctor` are the other commands' engines.

pub mod diff;
pub mod doctor;
pub mod down;
pub mod plan;
pub mod progress;
pub mod releases;
pub mod status;
pub mod up;

use anyhow::Result;

use kalypso_cluster::{Cluster, KubeTarget};

/// Connects to the cluster of the current kubeconfig context. Every way this can fail (no
/// kubeconfig, unreachable, credentials or RBAC refused) is an environment error: exit 2.
pub async fn connect() -> Result<Cluster> {
    Ok(Cluster::connect().await?)
}

/// Connects as [`connect`], to `target`'s kubeconfig and context (`--kubeconfig`,
/// `--kube-context`) when given.
pub async fn connect_to(target: &KubeTarget) -> Result<Cluster> {
    Ok(Cluster::connect_to(target).await?)
}
