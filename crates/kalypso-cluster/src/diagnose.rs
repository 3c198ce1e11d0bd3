//! What to show when an object is not healthy: its recent Events, the Events of its failing
//! pod, and the tail of the failing container's log.

use std::fmt;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, LogParams};
use serde::Serialize;

use super::Cluster;
use kalypso_model::manifest::selector::Selector;
use kalypso_model::manifest::ObjectRef;

/// How many Events and log lines a diagnosis keeps.
pub const EVENT_LIMIT: usize = 10;
/// Lines of container log shown.
pub const LOG_TAIL_LINES: i64 = 30;

/// One Event, as a line.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EventLine {
    /// `Normal` or `Warning`.
    pub type_: String,
    /// `BackOff`, `FailedScheduling`, …
    pub reason: String,
    /// The object it is about, `Pod/x`.
    pub object: String,
    /// The message.
    pub message: String,
    /// How many times it happened.
    pub count: i32,
}

impl fmt::Display for EventLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}: {}",
            self.type_, self.reason, self.object, self.message
        )?;
        if self.count > 1 {
            write!(f, " (x{})", self.count)?;
        }
        Ok(())
    }
}

/// Everything kalypso found out about one unhealthy object.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// The object that is not healthy.
    pub object: ObjectRef,
    /// Why (from the health gate).
    pub reason: String,
    /// Recent Events of the object and its failing pod, oldest first.
    pub events: Vec<EventLine>,
    /// The pod picked as failing, if any.
    pub pod: Option<String>,
    /// Its failing container (none when the pod itself cannot start: unschedulable).
    pub container: Option<String>,
    /// Why it is failing (`unschedulable: …`, `CrashLoopBackOff`, `ImagePullBackOff`, exit code …).
    pub container_state: Option<String>,
    /// The tail of that container's log (previous instance when it restarted).
    pub log_tail: Option<String>,
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  unhealthy: {}: {}", self.object, self.reason)?;
        match (&self.pod, &self.container) {
            (Some(p), Some(c)) => {
                write!(f, "  failing container: {c} in pod {p}")?;
                if let Some(s) = &self.container_state {
                    write!(f, " ({s})")?;
                }
                writeln!(f)?;
            }
            (Some(p), None) => {
                write!(f, "  failing pod: {p}")?;
                if let Some(s) = &self.container_state {
                    write!(f, " ({s})")?;
                }
                writeln!(f)?;
            }
            _ => {}
        }
        if self.events.is_empty() {
            writeln!(f, "  recent events: none")?;
        } else {
            writeln!(f, "  recent events:")?;
            for e in &self.events {
                writeln!(f, "    {e}")?;
            }
        }
        if let Some(log) = &self.log_tail {
            writeln!(
                f,
                "  log tail ({}):",
                self.container.as_deref().unwrap_or("container")
            )?;
            for line in log.lines() {
                writeln!(f, "    | {line}")?;
            }
        }
        Ok(())
    }
}

/// Gathers Events, the failing pod and its log tail for `obj`. Best effort: anything that
/// cannot be read is left out rather than hiding the original failure.
pub async fn diagnose(cluster: &Cluster, obj: &ObjectRef, reason: &str) -> Diagnosis {
    let mut d = Diagnosis {
        object: obj.clone(),
        reason: reason.to_string(),
        events: Vec::new(),
        pod: None,
        container: None,
        container_state: None,
        log_tail: None,
    };
    let Some(ns) = obj.namespace.clone() else {
        d.events = events_for(cluster, "default", &obj.kind, &obj.name).await;
        return d;
    };
    let mut events = events_for(cluster, &ns, &obj.kind, &obj.name).await;
    if let Some(selector) = pod_selector(cluster, obj, &ns).await {
        if obj.kind == "Deployment" {
            // A pod the API refuses (PodSecurity, quota) is reported on the ReplicaSet.
            if let Some(rs) = newest_replica_set(cluster, &ns, &selector).await {
                events.extend(events_for(cluster, &ns, "ReplicaSet", &rs).await);
            }
        }
        let pods = Api::<Pod>::namespaced(cluster.client(), &ns)
            .list(&ListParams::default().labels(&selector))
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        if let Some(p) = failing_pod(&pods) {
            events.extend(events_for(cluster, &ns, "Pod", &p.pod).await);
            for claim in &p.unbound_claims {
                events.extend(events_for(cluster, &ns, "PersistentVolumeClaim", claim).await);
            }
            if let Some(c) = &p.container {
                d.log_tail = log_tail(cluster, &ns, &p.pod, c, p.previous_log).await;
            }
            d.pod = Some(p.pod);
            d.container = p.container;
            d.container_state = Some(p.state);
        }
    }
    let skip = events.len().saturating_sub(EVENT_LIMIT);
    d.events = events.into_iter().skip(skip).collect();
    d
}

async fn events_for(cluster: &Cluster, ns: &str, kind: &str, name: &str) -> Vec<EventLine> {
    let lp = ListParams::default().fields(&format!(
        "involvedObject.kind={kind},involvedObject.name={name}"
    ));
    let Ok(list) = Api::<Event>::namespaced(cluster.client(), ns)
        .list(&lp)
        .await
    else {
        return Vec::new();
    };
    let mut items = list.items;
    // Oldest first, by the most precise time the Event carries.
    items.sort_by_key(|e| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
            .or_else(|| e.first_timestamp.as_ref().map(|t| t.0.to_string()))
            .unwrap_or_default()
    });
    let skip = items.len().saturating_sub(EVENT_LIMIT);
    items
        .into_iter()
        .skip(skip)
        .map(|e| EventLine {
            type_: e.type_.unwrap_or_default(),
            reason: e.reason.unwrap_or_default(),
            object: format!("{}/{}", kind, name),
            message: e.message.unwrap_or_default().trim().to_string(),
            count: e.count.unwrap_or(1),
        })
        .collect()
}

/// The label selector of a workload's pods, as `k=v,k=v` (a Job's pods carry `job-name`).
async fn pod_selector(cluster: &Cluster, obj: &ObjectRef, ns: &str) -> Option<String> {
    let (group, version, plural) = match obj.kind.as_str() {
        "Deployment" => ("apps", "v1", "deployments"),
        "StatefulSet" => ("apps", "v1", "statefulsets"),
        "DaemonSet" => ("apps", "v1", "daemonsets"),
        "Job" => ("batch", "v1", "jobs"),
        _ => return None,
    };
    let res = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, &obj.kind),
        plural,
    );
    let o = Api::<DynamicObject>::namespaced_with(cluster.client(), ns, &res)
        .get(&obj.name)
        .await
        .ok()?;
    let selector = Selector::from_object(&o.data["spec"]["selector"]);
    if selector.is_empty() && obj.kind == "Job" {
        return Some(format!("job-name={}", obj.name));
    }
    selector.text()
}

/// The pod (and container) most worth showing for an unhealthy workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodProblem {
    /// The pod.
    pub pod: String,
    /// Its failing container; none when the pod cannot start at all (unschedulable).
    pub container: Option<String>,
    /// What is wrong, one line.
    pub state: String,
    /// Read the previous container instance's log (it restarted).
    pub previous_log: bool,
    /// PersistentVolumeClaims the pod mounts (shown with their events when it cannot be placed).
    pub unbound_claims: Vec<String>,
}

/// Picks what to show, worst first: a pod the scheduler cannot place (with the scheduler's
/// reason), a container waiting with a reason (CrashLoopBackOff, ImagePullBackOff, …), one
/// that terminated with an error, one that is not ready.
pub fn failing_pod(pods: &[Pod]) -> Option<PodProblem> {
    let mut best: Option<(u8, PodProblem)> = None;
    let mut consider = |rank: u8, p: PodProblem| {
        if best.as_ref().is_none_or(|(r, _)| rank > *r) {
            best = Some((rank, p));
        }
    };
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let Some(st) = pod.status.as_ref() else {
            continue;
        };
        let unscheduled = st
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False");
        if let Some(c) = unscheduled {
            let claims = pod
                .spec
                .iter()
                .flat_map(|s| s.volumes.iter().flatten())
                .filter_map(|v| v.persistent_volume_claim.as_ref())
                .map(|c| c.claim_name.clone())
                .collect();
            consider(
                4,
                PodProblem {
                    pod: name.clone(),
                    container: None,
                    state: format!(
                        "unschedulable: {}",
                        c.message
                            .clone()
                            .or_else(|| c.reason.clone())
                            .unwrap_or_default()
                    ),
                    previous_log: false,
                    unbound_claims: claims,
                },
            );
            continue;
        }
        let all = st
            .init_container_statuses
            .iter()
            .flatten()
            .chain(st.container_statuses.iter().flatten());
        for cs in all {
            let restarted = cs.restart_count > 0;
            let state = cs.state.as_ref();
            let (rank, text) = if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
                let reason = w.reason.clone().unwrap_or_else(|| "Waiting".into());
                if reason == "PodInitializing" || reason == "ContainerCreating" {
                    (1, reason)
                } else {
                    (
                        3,
                        format!(
                            "{reason}{}",
                            w.message
                                .as_ref()
                                .map(|m| format!(": {m}"))
                                .unwrap_or_default()
                        ),
                    )
                }
            } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
                if t.exit_code != 0 {
                    (2, format!("terminated with exit code {}", t.exit_code))
                } else {
                    continue;
                }
            } else if !cs.ready {
                (1, "running, not ready".into())
            } else {
                continue;
            };
            let text = if restarted {
                format!("{text}, restarted {} times", cs.restart_count)
            } else {
                text
            };
            consider(
                rank,
                PodProblem {
                    pod: name.clone(),
                    container: Some(cs.name.clone()),
                    state: text,
                    previous_log: restarted,
                    unbound_claims: Vec::new(),
                },
            );
        }
    }
    best.map(|(_, p)| p)
}

/// The newest ReplicaSet of a Deployment (by its pod selector): the highest
/// `deployment.kubernetes.io/revision`, since creation times have one-second resolution and
/// a rollout right after another ties with it.
async fn newest_replica_set(cluster: &Cluster, ns: &str, selector: &str) -> Option<String> {
    let list = Api::<ReplicaSet>::namespaced(cluster.client(), ns)
        .list(&ListParams::default().labels(selector))
        .await
        .ok()?;
    list.items
        .into_iter()
        .max_by_key(|rs| {
            let revision = rs
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("deployment.kubernetes.io/revision"))
                .and_then(|r| r.parse::<u64>().ok())
                .unwrap_or(0);
            (
                revision,
                rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
            )
        })
        .and_then(|rs| rs.metadata.name)
}

async fn log_tail(
    cluster: &Cluster,
    ns: &str,
    pod: &str,
    container: &str,
    previous: bool,
) -> Option<String> {
    let api = Api::<Pod>::namespaced(cluster.client(), ns);
    let params = |previous| LogParams {
        container: Some(container.to_string()),
        tail_lines: Some(LOG_TAIL_LINES),
        previous,
        ..LogParams::default()
    };
    if previous {
        if let Ok(text) = api.logs(pod, &params(true)).await {
            if !text.trim().is_empty() {
                return Some(text);
            }
        }
    }
    api.logs(pod, &params(false))
        .await
        .ok()
        .filter(|t| !t.trim().is_empty())
}
