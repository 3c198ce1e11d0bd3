//! `kalypso down`: uninstall in reverse wave order (releases of one wave in parallel). Keeps
//! PersistentVolumeClaims and namespaces unless purging, then deletes both.

use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use kube::api::{Api, DeleteParams, ListParams};
use serde::Serialize;

use super::releases;
use crate::cluster::Cluster;
use crate::helm::Helm;
use crate::stack::{Component, Stack};

/// What happened to one component.
#[derive(Debug, Clone, Serialize)]
pub struct DownOutcome {
    /// Release name.
    pub release: String,
    /// Its namespace.
    pub namespace: String,
    /// Its wave.
    pub wave: u32,
    /// `uninstalled`, `not installed`, or `failed`.
    pub result: String,
    /// PVCs deleted (purge).
    pub deleted_pvcs: Vec<String>,
    /// Whether the namespace was deleted (purge).
    pub deleted_namespace: bool,
    /// helm's or the API's error, when failed.
    pub error: Option<String>,
}

/// Uninstalls `stack`'s components, last wave first. Stops at the first wave with a failure,
/// so nothing an earlier wave provides (CRDs, webhooks, storage) goes while a later release
/// that needs it is still there. `on_done` is called as each release finishes.
pub async fn down(
    cluster: &Cluster,
    helm: &Helm,
    stack: &Stack,
    purge: bool,
    timeout: Duration,
    on_done: &(dyn Fn(&DownOutcome) + Sync),
) -> Vec<DownOutcome> {
    let mut all = Vec::new();
    for wave in stack.waves().into_iter().rev() {
        let runs = wave.components.iter().map(|c| async move {
            let o = down_one(cluster, helm, c, purge, timeout).await;
            on_done(&o);
            o
        });
        let outs = join_all(runs).await;
        let failed = outs.iter().any(|o| o.error.is_some());
        all.extend(outs);
        if failed {
            break;
        }
    }
    all
}

async fn down_one(
    cluster: &Cluster,
    helm: &Helm,
    c: &Component,
    purge: bool,
    timeout: Duration,
) -> DownOutcome {
    let mut o = DownOutcome {
        release: c.name.clone(),
        namespace: c.namespace.clone(),
        wave: c.wave,
        result: String::new(),
        deleted_pvcs: Vec::new(),
        deleted_namespace: false,
        error: None,
    };
    match releases::release_state(helm, &c.name, &c.namespace).await {
        Ok(None) => o.result = "not installed".into(),
        Ok(Some(_)) => match releases::uninstall(helm, &c.name, &c.namespace, timeout).await {
            Ok(run) if run.success() => o.result = "uninstalled".into(),
            Ok(run) => {
                o.result = "failed".into();
                o.error = Some(if run.timed_out {
                    format!(
                        "helm uninstall did not finish within {}",
                        humantime::format_duration(timeout)
                    )
                } else {
                    format!("helm uninstall failed: {}", run.stderr_tail(5))
                });
                return o;
            }
            Err(e) => {
                o.result = "failed".into();
                o.error = Some(format!("{e:#}"));
                return o;
            }
        },
        Err(e) => {
            o.result = "failed".into();
            o.error = Some(format!("{e:#}"));
            return o;
        }
    }
    if purge {
        if let Err(e) = purge_namespace(cluster, &c.namespace, &mut o).await {
            o.result = "failed".into();
            o.error = Some(e);
        }
    }
    o
}

async fn purge_namespace(cluster: &Cluster, ns: &str, o: &mut DownOutcome) -> Result<(), String> {
    let pvcs = Api::<PersistentVolumeClaim>::namespaced(cluster.client(), ns);
    let list = match pvcs.list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) => {
            let err = cluster.explain(&format!("listing PersistentVolumeClaims in {ns}"), e);
            if err.is_not_found() {
                return Ok(());
            }
            return Err(err.to_string());
        }
    };
    for pvc in list {
        let name = pvc.metadata.name.unwrap_or_default();
        match pvcs.delete(&name, &DeleteParams::default()).await {
            Ok(_) => o.deleted_pvcs.push(name),
            Err(e) => {
                let err =
                    cluster.explain(&format!("deleting PersistentVolumeClaim {ns}/{name}"), e);
                if !err.is_not_found() {
                    return Err(err.to_string());
                }
            }
        }
    }
    match Api::<Namespace>::all(cluster.client())
        .delete(ns, &DeleteParams::default())
        .await
    {
        Ok(_) => o.deleted_namespace = true,
        Err(e) => {
            let err = cluster.explain(&format!("deleting namespace {ns}"), e);
            if !err.is_not_found() {
                return Err(err.to_string());
            }
        }
    }
    Ok(())
}
