//! `kalypso status`: per component its release status and chart version (helm), its pods
//! (ready/total, restarts) and the objects of the release that are not healthy (the same
//! gates `kalypso up` waits on); then the self-monitoring alerts that are firing, as Mimir's
//! ruler has them for the contract's metrics tenant (through a port-forward to the contract's
//! Mimir gateway, as `verify` reaches it, or an explicit Prometheus API URL).

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Color, ContentArrangement, Table};
use futures::future::join_all;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde::Serialize;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;

use super::releases::{self, ListedRelease};
use crate::cluster::health::{self, Health};
use crate::cluster::portforward::PortForward;
use crate::contract::Contract;
use crate::deploy::up::gated_objects;
use crate::verify::http::{join, Http, TENANT_HEADER};

/// The kinds `status` lists as workloads.
const WORKLOAD_KINDS: &[&str] = &["Deployment", "StatefulSet", "DaemonSet"];
use crate::cluster::{Cluster, ClusterError};
use crate::helm::Helm;
use crate::stack::{Component, Stack};

/// One object of a release that is not healthy.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct UnhealthyObject {
    /// `Deployment mimir/mimir-distributed-ingester`.
    pub object: String,
    /// Why.
    pub reason: String,
}

/// One workload of a release (Deployment, StatefulSet, DaemonSet), rendered by the chart or
/// made by an operator from one of its custom resources.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct WorkloadStatus {
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
pub(crate) struct ComponentStatus {
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
pub(crate) async fn status(
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
pub(crate) fn table(rows: &[ComponentStatus], color: bool) -> String {
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

/// How long the alerts query may take (port-forward and request): status never waits on it.
const ALERTS_TIMEOUT: Duration = Duration::from_secs(15);

/// A self-monitoring alert that is firing.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct FiringAlert {
    /// `alertname`.
    pub name: String,
    /// The rule's `severity` label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Every label of the alert.
    pub labels: BTreeMap<String, String>,
    /// Its summary or message annotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// When it became active (RFC 3339, as Mimir says).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_since: Option<String>,
}

impl FiringAlert {
    fn critical(&self) -> bool {
        self.severity.as_deref() == Some("critical")
    }

    /// `cluster/namespace`, else `job`, else "-".
    fn place(&self) -> String {
        match (self.labels.get("cluster"), self.labels.get("namespace")) {
            (Some(c), Some(n)) => format!("{c}/{n}"),
            (None, Some(n)) => n.clone(),
            _ => self
                .labels
                .get("job")
                .cloned()
                .unwrap_or_else(|| "-".into()),
        }
    }
}

/// The self-monitoring alerts, or why they were not read.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AlertsStatus {
    /// Mimir answered.
    pub checked: bool,
    /// Where they were read (`svc/mimir-distributed-gateway.mimir:80`, or the URL given).
    pub source: String,
    /// The tenant asked for.
    pub tenant: String,
    /// Firing alerts, critical first.
    pub firing: Vec<FiringAlert>,
    /// Why they were not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl AlertsStatus {
    /// Whether a critical alert is firing (status then reports the stack unhealthy).
    pub(crate) fn critical(&self) -> bool {
        self.firing.iter().any(FiringAlert::critical)
    }
}

/// The firing alerts of Mimir's ruler for the contract's metrics tenant: from `query_url` (a
/// Prometheus API base, Mimir's ends in /prometheus) when given, else through a port-forward
/// to the contract's Mimir gateway. Never fails: what went wrong is the `reason`.
pub(crate) async fn alerts(
    cluster: &Cluster,
    contract: &Contract,
    query_url: Option<&Url>,
) -> AlertsStatus {
    let tenant = contract.tenants.metrics.clone();
    let mut out = AlertsStatus {
        checked: false,
        source: String::new(),
        tenant: tenant.clone(),
        firing: Vec::new(),
        reason: None,
    };
    let read = async {
        let mut _forward = None;
        let base = match query_url {
            Some(u) => {
                out.source = u.to_string();
                u.clone()
            }
            None => {
                let svc = contract
                    .address("kalypso-mimir", "gateway", None)
                    .map_err(|e| e.to_string())?;
                out.source = svc.shown();
                let pf = PortForward::to_service(cluster, &svc.namespace, &svc.name, svc.port)
                    .await
                    .map_err(|e| e.to_string())?;
                let base = Url::parse(&format!("{}/prometheus", pf.http_base()))
                    .map_err(|e| e.to_string())?;
                _forward = Some(pf);
                base
            }
        };
        let http = Http::new(ALERTS_TIMEOUT).map_err(|e| e.to_string())?;
        let url = join(&base, "/api/v1/alerts");
        let rb = http
            .client()
            .get(url.clone())
            .header(TENANT_HEADER, &tenant);
        let answer = http.send(&url, rb).await.map_err(|e| e.to_string())?;
        let body = answer.json(&url).map_err(|e| e.to_string())?;
        firing(&body).ok_or_else(|| format!("{url}: not a Prometheus alerts answer"))
    };
    match tokio::time::timeout(ALERTS_TIMEOUT, read).await {
        Ok(Ok(firing)) => {
            out.checked = true;
            out.firing = firing;
        }
        Ok(Err(reason)) => out.reason = Some(reason),
        Err(_) => out.reason = Some(format!("no answer within {}s", ALERTS_TIMEOUT.as_secs())),
    }
    out
}

/// The firing alerts of a `/api/v1/alerts` answer, critical first.
fn firing(body: &serde_json::Value) -> Option<Vec<FiringAlert>> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let mut out: Vec<FiringAlert> = body["data"]["alerts"]
        .as_array()?
        .iter()
        .filter(|a| a["state"] == "firing")
        .map(|a| {
            let labels: BTreeMap<String, String> = a["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect();
            FiringAlert {
                name: labels.get("alertname").cloned().unwrap_or_default(),
                severity: labels.get("severity").cloned(),
                summary: text(&a["annotations"]["summary"])
                    .or_else(|| text(&a["annotations"]["message"]))
                    .or_else(|| text(&a["annotations"]["description"]))
                    .map(|s| s.trim().to_string()),
                active_since: text(&a["activeAt"]),
                labels,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.critical()
            .cmp(&a.critical())
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.labels.cmp(&b.labels))
    });
    Some(out)
}

/// The alerts as lines under the status table.
pub(crate) fn alerts_text(a: &AlertsStatus) -> String {
    let head = format!("self-monitoring alerts (Mimir ruler, tenant {}", a.tenant);
    if !a.checked {
        return format!(
            "{head}): not checked ({})",
            a.reason.as_deref().unwrap_or("unknown reason")
        );
    }
    if a.firing.is_empty() {
        return format!("{head}, {}): none firing", a.source);
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .force_no_tty()
        .set_header(["severity", "alert", "where", "since", "summary"]);
    for f in &a.firing {
        t.add_row(vec![
            f.severity.clone().unwrap_or_else(|| "-".into()),
            f.name.clone(),
            f.place(),
            f.active_since.clone().unwrap_or_else(|| "-".into()),
            f.summary.clone().unwrap_or_default(),
        ]);
    }
    format!("{head}, {}): {} firing\n{t}", a.source, a.firing.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firing_alerts_are_read_critical_first_and_pending_ones_left_out() {
        let body = serde_json::json!({"status": "success", "data": {"alerts": [
            {"labels": {"alertname": "MimirRequestLatency", "severity": "warning", "cluster": "kalypso", "namespace": "mimir"},
             "annotations": {"message": "slow"}, "state": "firing", "activeAt": "2026-01-01T00:00:00Z"},
            {"labels": {"alertname": "LokiRequestErrors", "severity": "critical"}, "annotations": {}, "state": "pending"},
            {"labels": {"alertname": "MimirIngesterUnhealthy", "severity": "critical", "cluster": "kalypso", "namespace": "mimir"},
             "annotations": {"message": "1 unhealthy"}, "state": "firing"}
        ]}});
        let f = firing(&body).expect("alerts");
        let names: Vec<&str> = f.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["MimirIngesterUnhealthy", "MimirRequestLatency"]);
        assert_eq!(f[0].place(), "kalypso/mimir");
        assert_eq!(f[1].summary.as_deref(), Some("slow"));
        assert!(firing(&serde_json::json!({"status": "error"})).is_none());
    }
}
