//! `kalypso status`: per component its release status and chart version (helm), its pods
//! (ready/total, restarts) and the objects of the release that are not healthy (the same
//! gates `kalypso up` waits on).

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Color, ContentArrangement, Table};
use futures::future::join_all;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde::Serialize;

use super::releases::{self, ListedRelease};
use crate::up::gated_objects;
use kalypso_cluster::health::{self, Health};

/// The kinds `status` lists as workloads.
const WORKLOAD_KINDS: &[&str] = &["Deployment", "StatefulSet", "DaemonSet"];
use kalypso_cluster::{Cluster, ClusterError};
use kalypso_model::stack::{Component, Stack};
use kalypso_render::helm::Helm;

/// One object of a release that is not healthy.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnhealthyObject {
    /// `Deployment mimir/mimir-distributed-ingester`.
    pub object: String,
    /// Why.
    pub reason: String,
}

/// One workload of a release (Deployment, StatefulSet, DaemonSet), rendered by the chart or
/// made by an operator from one of its custom resources.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WorkloadStatus {
    /// `Deployment otel-system/kalypso-collector`.
    pub object: String,
    /// Rolled out and available.
    pub healthy: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The custom resource an operator makes it from (`OpenTelemetryCollector otel-system/kalypso`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub made_from: Option<String>,
}

/// The health of one component.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    /// Release name.
    pub component: String,
    /// Its namespace.
    pub namespace: String,
    /// Its wave.
    pub wave: u32,
    /// helm's release status, or `not installed`.
    pub release_status: String,
    /// Chart version of the deployed revision.
    pub chart_version: Option<String>,
    /// Pods Ready (completed Job pods are not counted).
    pub pods_ready: usize,
    /// Pods in the namespace that should be running.
    pub pods_total: usize,
    /// Container restarts summed over those pods.
    pub restarts: i64,
    /// The release's workloads, operator-made ones included.
    pub workloads: Vec<WorkloadStatus>,
    /// Objects of the release that are not healthy.
    pub unhealthy: Vec<UnhealthyObject>,
    /// Everything above is fine.
    pub healthy: bool,
}

/// Reads the status of every component of `stack`.
pub async fn status(
    cluster: &Cluster,
    helm: &Helm,
    stack: &Stack,
) -> anyhow::Result<Vec<ComponentStatus>> {
    let listed = releases::list_all(helm).await?;
    let runs = stack
        .components
        .iter()
        .map(|c| one(cluster, helm, c, &listed));
    join_all(runs)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::from)
}

async fn one(
    cluster: &Cluster,
    helm: &Helm,
    c: &Component,
    listed: &[ListedRelease],
) -> Result<ComponentStatus, ClusterError> {
    let rel = listed
        .iter()
        .find(|r| r.name == c.name && r.namespace == c.namespace);
    let mut s = ComponentStatus {
        component: c.name.clone(),
        namespace: c.namespace.clone(),
        wave: c.wave,
        release_status: rel
            .map(|r| r.status.clone())
            .unwrap_or_else(|| "not installed".into()),
        chart_version: rel.map(|r| r.chart_version()).filter(|v| !v.is_empty()),
        pods_ready: 0,
        pods_total: 0,
        restarts: 0,
        workloads: Vec::new(),
        unhealthy: Vec::new(),
        healthy: false,
    };
    let pods = match Api::<Pod>::namespaced(cluster.client(), &c.namespace)
        .list(&ListParams::default())
        .await
    {
        Ok(l) => l.items,
        Err(e) => {
            let err = cluster.explain(&format!("listing pods in {}", c.namespace), e);
            if !err.is_not_found() {
                return Err(err);
            }
            Vec::new()
        }
    };
    for p in &pods {
        let st = p.status.as_ref();
        if st.and_then(|s| s.phase.as_deref()) == Some("Succeeded") {
            continue;
        }
        s.pods_total += 1;
        let ready = st
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if ready {
            s.pods_ready += 1;
        }
        s.restarts += st
            .and_then(|s| s.container_statuses.as_ref())
            .map(|cs| cs.iter().map(|c| i64::from(c.restart_count)).sum::<i64>())
            .unwrap_or(0);
    }
    if rel.is_some() {
        match releases::manifest(helm, &c.name, &c.namespace).await {
            Ok(text) => {
                for (o, made) in gated_objects(&text, &c.namespace).unwrap_or_default() {
                    let health = health::check(cluster, &o).await?;
                    if WORKLOAD_KINDS.contains(&o.kind.as_str()) {
                        s.workloads.push(WorkloadStatus {
                            object: o.to_string(),
                            healthy: health.is_ready(),
                            reason: match &health {
                                Health::Ready => None,
                                Health::Pending(r) | Health::Failed(r) => Some(r.clone()),
                            },
                            made_from: made.as_ref().map(|m| m.from.to_string()),
                        });
                    }
                    match health {
                        Health::Ready => {}
                        Health::Pending(r) | Health::Failed(r) => {
                            let reason = match &made {
                                Some(m) => format!("{r} ({} makes it from {})", m.operator, m.from),
                                None => r,
                            };
                            s.unhealthy.push(UnhealthyObject {
                                object: o.to_string(),
                                reason,
                            })
                        }
                    }
                }
            }
            Err(e) => s.unhealthy.push(UnhealthyObject {
                object: format!("release {}", c.name),
                reason: format!("{e:#}"),
            }),
        }
    }
    s.healthy =
        s.release_status == "deployed" && s.unhealthy.is_empty() && s.pods_ready == s.pods_total;
    Ok(s)
}

/// The status as a table.
pub fn table(rows: &[ComponentStatus], color: bool) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !color {
        t.force_no_tty();
    }
    t.set_header([
        "component",
        "namespace",
        "release",
        "chart",
        "workloads",
        "pods ready",
        "restarts",
        "not healthy",
    ]);
    for r in rows {
        let mut release = Cell::new(&r.release_status);
        if color {
            release = release.fg(if r.release_status == "deployed" {
                Color::Green
            } else {
                Color::Red
            });
        }
        let unhealthy = if r.unhealthy.is_empty() {
            if r.pods_ready < r.pods_total {
                "pods not ready".to_string()
            } else {
                "-".to_string()
            }
        } else {
            r.unhealthy
                .iter()
                .map(|u| format!("{}: {}", u.object, u.reason))
                .collect::<Vec<_>>()
                .join("\n")
        };
        t.add_row(vec![
            Cell::new(&r.component),
            Cell::new(&r.namespace),
            release,
            Cell::new(r.chart_version.as_deref().unwrap_or("-")),
            Cell::new(format!(
                "{}/{}",
                r.workloads.iter().filter(|w| w.healthy).count(),
                r.workloads.len()
            )),
            Cell::new(format!("{}/{}", r.pods_ready, r.pods_total)),
            Cell::new(r.restarts),
            Cell::new(unhealthy),
        ]);
    }
    t.to_string()
}
