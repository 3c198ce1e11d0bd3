//! `kalypso down`: uninstall in reverse wave order (releases of one wave in parallel). Keeps
//! PersistentVolumeClaims and namespaces unless purging, then deletes both.

use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use kube::api::{Api, DeleteParams, ListParams};
use serde::Serialize;

use super::releases;
use kalypso_cluster::Cluster;
use kalypso_model::stack::{Component, Stack};
use kalypso_render::helm::Helm;

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
    /// PVCs left in the namespace after the uninstall (without purge), `namespace/name`.
    pub kept_pvcs: Vec<String>,
    /// Whether the namespace was deleted (purge).
    pub deleted_namespace: bool,
    /// helm's or the API's error, when failed.
    pub error: Option<String>,
    /// How long this release took (uninstall, claims and namespace), in milliseconds.
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub elapsed: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
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
            let started = std::time::Instant::now();
            let mut o = down_one(cluster, helm, c, purge, timeout).await;
            o.elapsed = started.elapsed();
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
        kept_pvcs: Vec::new(),
        deleted_namespace: false,
        error: None,
        elapsed: Duration::ZERO,
    };
    match releases::release_state(helm, &c.name, &c.namespace).await {
        Ok(None) => o.result = "not installed".into(),
        Ok(Some(_)) if !purge && !unkept_claims(helm, c, &mut o).await => return o,
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
    let result = if purge {
        purge_namespace(cluster, &c.namespace, &mut o).await
    } else {
        claims_in(cluster, &c.namespace).await.map(|names| {
            o.kept_pvcs = names
                .into_iter()
                .map(|n| format!("{}/{n}", c.namespace))
                .collect();
        })
    };
    if let Err(e) = result {
        o.result = "failed".into();
        o.error = Some(e);
    }
    o
}

/// The annotation with which helm leaves an object in place on uninstall.
pub const HELM_KEEP: (&str, &str) = ("helm.sh/resource-policy", "keep");

/// Checks that uninstalling the release deletes no PersistentVolumeClaim: helm deletes every
/// object of the release that lacks `helm.sh/resource-policy: keep`. Returns false (with the
/// outcome filled in) when one would go, so `down` without `--purge` never loses data.
async fn unkept_claims(helm: &Helm, c: &Component, o: &mut DownOutcome) -> bool {
    let manifest = match releases::manifest(helm, &c.name, &c.namespace).await {
        Ok(m) => m,
        Err(e) => {
            o.result = "failed".into();
            o.error = Some(format!("{e:#}"));
            return false;
        }
    };
    let unkept: Vec<String> = claims_helm_would_delete(&manifest, &c.namespace);
    if unkept.is_empty() {
        return true;
    }
    o.result = "failed".into();
    o.error = Some(format!(
        "not uninstalled: helm would delete PersistentVolumeClaim {} (the release owns it \
         without `{}: {}`), and with it the data. Upgrade the release with a chart that keeps \
         it (kalypso up), or run `kalypso down --purge` to delete the data on purpose",
        unkept.join(", "),
        HELM_KEEP.0,
        HELM_KEEP.1
    ));
    false
}

/// The PersistentVolumeClaims of a release manifest that `helm uninstall` deletes.
pub fn claims_helm_would_delete(manifest: &str, namespace: &str) -> Vec<String> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(manifest).unwrap_or_default();
    docs.iter()
        .filter(|d| d["kind"] == "PersistentVolumeClaim")
        .filter(|d| d["metadata"]["annotations"][HELM_KEEP.0].as_str() != Some(HELM_KEEP.1))
        .map(|d| {
            format!(
                "{}/{}",
                d["metadata"]["namespace"].as_str().unwrap_or(namespace),
                d["metadata"]["name"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

async fn claims_in(cluster: &Cluster, ns: &str) -> Result<Vec<String>, String> {
    match Api::<PersistentVolumeClaim>::namespaced(cluster.client(), ns)
        .list(&ListParams::default())
        .await
    {
        Ok(l) => Ok(l
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter_map(|p| p.metadata.name)
            .collect()),
        Err(e) => {
            let err = cluster.explain(&format!("listing PersistentVolumeClaims in {ns}"), e);
            if err.is_not_found() {
                Ok(Vec::new())
            } else {
                Err(err.to_string())
            }
        }
    }
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
