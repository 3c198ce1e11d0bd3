//! The self-monitoring alerts that are firing, as Mimir's ruler has them for the contract's
//! metrics tenant (through a port-forward to the contract's Mimir gateway, as `verify` reaches
//! it, or an explicit Prometheus API URL); `kalypso status` lists them under its table.

use std::collections::BTreeMap;
use std::time::Duration;

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use reqwest::Url;
use serde::Serialize;

use crate::http::{display_url, join, Http, TENANT_HEADER};
use kalypso_cluster::portforward::PortForward;
use kalypso_cluster::Cluster;
use kalypso_model::contract::Contract;

/// How long the alerts query may take (port-forward and request): status never waits on it.
const ALERTS_TIMEOUT: Duration = Duration::from_secs(15);

/// A self-monitoring alert that is firing.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FiringAlert {
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
pub struct AlertsStatus {
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
    pub fn critical(&self) -> bool {
        self.firing.iter().any(FiringAlert::critical)
    }
}

/// The firing alerts of Mimir's ruler for the contract's metrics tenant: from `query_url` (a
/// Prometheus API base, Mimir's ends in /prometheus) when given, else through a port-forward
/// to the contract's Mimir gateway. Never fails: what went wrong is the `reason`.
pub async fn alerts(
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
        firing(&body)
            .ok_or_else(|| format!("{}: not a Prometheus alerts answer", display_url(&url)))
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
pub fn alerts_text(a: &AlertsStatus) -> String {
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
