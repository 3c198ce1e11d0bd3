//! Installing the stack wave by wave with health gates: `up`, `down`, `status`, `doctor`.
//!
//! `plan` turns the component list into waves of releases; `releases` runs helm (the only
//! program kalypso shells out to); `up` installs and gates on [`crate::cluster::health`];
//! `progress` shows it live; `down`, `status` and `doctor` are the other commands' engines.

pub mod doctor;
pub mod down;
pub mod plan;
pub mod progress;
pub mod releases;
pub mod status;
pub mod up;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cluster::{Cluster, ClusterError};
use crate::error::usage;
use crate::stack::APPLICATIONSET_PATH;

/// The repository root: `--repo` when given, else the nearest directory at or above the
/// current one that has `argocd/applicationset.yaml`.
pub fn repo_root(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| usage(format!("cannot read the current directory: {e}")))?;
    for dir in cwd.ancestors() {
        if dir.join(APPLICATIONSET_PATH).is_file() {
            return Ok(dir.to_path_buf());
        }
    }
    Err(usage(format!(
        "no {APPLICATIONSET_PATH} in {} or above: run inside the Kalypso repository or pass --repo DIR",
        cwd.display()
    )))
}

/// Connects to the cluster of the current kubeconfig context. A missing or broken kubeconfig
/// is a usage error (exit 2); an unreachable cluster or missing RBAC is a failure (exit 1).
pub async fn connect() -> Result<Cluster> {
    Cluster::connect().await.map_err(|e| match e {
        ClusterError::NoKubeconfig { .. } | ClusterError::BadKubeconfig { .. } => {
            usage(e.to_string())
        }
        other => anyhow::Error::new(other),
    })
}

/// A tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
