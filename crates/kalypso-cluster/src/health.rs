//! Is an object healthy? The gates `kalypso up` waits on between waves, and what
//! `kalypso status` reports:
//!
//! - CustomResourceDefinition: condition `Established` is `True`.
//! - Validating/MutatingWebhookConfiguration: every Service a webhook calls has a ready
//!   endpoint (EndpointSlices), and, when cert-manager injects the CA, `caBundle` is set.
//! - Deployment / StatefulSet / DaemonSet: rolled out, as `kubectl rollout status` decides it
//!   (observed generation, updated and available/ready replicas, revision).
//! - Job: condition `Complete`; `Failed` fails at once.
//!
//! Other kinds have no readiness of their own and count as healthy.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde::Serialize;

use super::{Cluster, ClusterError};
use kalypso_model::manifest::ObjectRef;

/// The health of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "lowercase")]
pub enum Health {
    /// Ready for what comes next.
    Ready,
    /// Not ready yet; the reason says what is missing.
    Pending(String),
    /// Will not become ready without a change (failed Job, exceeded progress deadline).
    Failed(String),
}

impl Health {
    /// True for [`Health::Ready`].
    pub fn is_ready(&self) -> bool {
        matches!(self, Health::Ready)
    }
}

/// Annotations with which cert-manager's cainjector fills in a webhook's `caBundle`.
const CA_INJECT_ANNOTATIONS: &[&str] = &[
    "cert-manager.io/inject-ca-from",
    "cert-manager.io/inject-ca-from-secret",
    "cert-manager.io/inject-apiserver-ca",
];

/// True for the kinds [`check`] has a readiness rule for.
pub fn is_gated(kind: &str) -> bool {
    matches!(
        kind,
        "CustomResourceDefinition"
            | "ValidatingWebhookConfiguration"
            | "MutatingWebhookConfiguration"
            | "Deployment"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
    )
}

/// Reads `obj` from the cluster and decides its health. An object that does not exist
/// (yet) is pending.
pub async fn check(cluster: &Cluster, obj: &ObjectRef) -> Result<Health, ClusterError> {
    let client = cluster.client();
    let ns = obj.namespace.as_deref().unwrap_or("default");
    let what = format!("reading {obj}");
    let res = match obj.kind.as_str() {
        "CustomResourceDefinition" => Api::<CustomResourceDefinition>::all(client)
            .get(&obj.name)
            .await
            .map(|o| crd_health(&o)),
        "Deployment" => Api::<Deployment>::namespaced(client, ns)
            .get(&obj.name)
            .await
            .map(|o| deployment_health(&o)),
        "StatefulSet" => Api::<StatefulSet>::namespaced(client, ns)
            .get(&obj.name)
            .await
            .map(|o| statefulset_health(&o)),
        "DaemonSet" => Api::<DaemonSet>::namespaced(client, ns)
            .get(&obj.name)
            .await
            .map(|o| daemonset_health(&o)),
        "Job" => Api::<Job>::namespaced(client, ns)
            .get(&obj.name)
            .await
            .map(|o| job_health(&o)),
        // Both kinds have the same shape: read them as JSON, one code path.
        "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => {
            let plural = format!("{}s", obj.kind.to_ascii_lowercase());
            let res = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", &obj.kind),
                &plural,
            );
            match Api::<DynamicObject>::all_with(client, &res)
                .get(&obj.name)
                .await
            {
                Ok(o) => {
                    let hooks = webhooks(&o.data);
                    return webhook_health(cluster, o.metadata.annotations.as_ref(), hooks).await;
                }
                Err(e) => Err(e),
            }
        }
        _ => return Ok(Health::Ready),
    };
    match res {
        Ok(h) => Ok(h),
        Err(e) => {
            let err = cluster.explain(&what, e);
            if err.is_not_found() {
                Ok(Health::Pending("not created yet".into()))
            } else {
                Err(err)
            }
        }
    }
}

/// One webhook of a configuration: its name, the Service it calls, whether it has a CA.
struct Webhook {
    name: String,
    service: Option<(String, String)>,
    has_ca: bool,
}

fn webhooks(data: &serde_json::Value) -> Vec<Webhook> {
    data["webhooks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            let cc = &w["clientConfig"];
            Webhook {
                name: w["name"].as_str().unwrap_or_default().to_string(),
                service: cc["service"]["name"].as_str().map(|n| {
                    (
                        cc["service"]["namespace"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        n.to_string(),
                    )
                }),
                has_ca: cc["caBundle"].as_str().is_some_and(|b| !b.is_empty()),
            }
        })
        .collect()
}

async fn webhook_health(
    cluster: &Cluster,
    annotations: Option<&std::collections::BTreeMap<String, String>>,
    hooks: Vec<Webhook>,
) -> Result<Health, ClusterError> {
    let injected =
        annotations.is_some_and(|a| CA_INJECT_ANNOTATIONS.iter().any(|k| a.contains_key(*k)));
    let mut services = BTreeSet::new();
    for h in &hooks {
        if injected && !h.has_ca {
            return Ok(Health::Pending(format!(
                "webhook {} has no caBundle yet (cert-manager's cainjector has not injected it)",
                h.name
            )));
        }
        if let Some((ns, svc)) = &h.service {
            services.insert((ns.clone(), svc.clone(), h.name.clone()));
        }
    }
    for (ns, svc, hook) in services {
        let slices = Api::<EndpointSlice>::namespaced(cluster.client(), &ns)
            .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={svc}")))
            .await
            .map_err(|e| {
                cluster.explain(&format!("listing EndpointSlices of Service {ns}/{svc}"), e)
            })?;
        if ready_endpoints(&slices.items) == 0 {
            return Ok(Health::Pending(format!(
                "Service {ns}/{svc} behind webhook {hook} has no ready endpoints"
            )));
        }
    }
    Ok(Health::Ready)
}

/// Number of ready endpoints across slices (`conditions.ready` unset counts as ready, as the
/// EndpointSlice API defines it).
pub fn ready_endpoints(slices: &[EndpointSlice]) -> usize {
    slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .count()
}

/// `Established=True`; `NamesAccepted=False` is a failure.
pub fn crd_health(crd: &CustomResourceDefinition) -> Health {
    let conds = crd.status.as_ref().and_then(|s| s.conditions.as_ref());
    let find = |t: &str| conds.and_then(|c| c.iter().find(|c| c.type_ == t));
    if let Some(c) = find("NamesAccepted") {
        if c.status == "False" {
            return Health::Failed(format!(
                "names not accepted: {}",
                c.message.clone().unwrap_or_default()
            ));
        }
    }
    match find("Established") {
        Some(c) if c.status == "True" => Health::Ready,
        _ => Health::Pending("not Established yet".into()),
    }
}

fn generation_observed(generation: Option<i64>, observed: Option<i64>) -> Option<Health> {
    let g = generation.unwrap_or(0);
    let o = observed.unwrap_or(0);
    (o < g).then(|| Health::Pending(format!("generation {g} not observed yet (observed {o})")))
}

/// Rolled out the way `kubectl rollout status deployment` decides it.
pub fn deployment_health(d: &Deployment) -> Health {
    let st = d.status.clone().unwrap_or_default();
    if let Some(p) = generation_observed(d.metadata.generation, st.observed_generation) {
        return p;
    }
    if let Some(c) = st
        .conditions
        .as_ref()
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Progressing"))
    {
        if c.reason.as_deref() == Some("ProgressDeadlineExceeded") {
            return Health::Failed("rollout exceeded its progress deadline".into());
        }
    }
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let updated = st.updated_replicas.unwrap_or(0);
    let total = st.replicas.unwrap_or(0);
    let available = st.available_replicas.unwrap_or(0);
    if updated < want {
        return Health::Pending(format!("{updated}/{want} replicas updated"));
    }
    if total > updated {
        return Health::Pending(format!(
            "{} old replicas pending termination",
            total - updated
        ));
    }
    if available < updated {
        return Health::Pending(format!("{available}/{want} replicas available"));
    }
    Health::Ready
}

/// Rolled out the way `kubectl rollout status statefulset` decides it.
pub fn statefulset_health(s: &StatefulSet) -> Health {
    let st = s.status.clone().unwrap_or_default();
    if let Some(p) = generation_observed(s.metadata.generation, st.observed_generation) {
        return p;
    }
    let spec = s.spec.as_ref();
    let want = spec.and_then(|s| s.replicas).unwrap_or(1);
    let ready = st.ready_replicas.unwrap_or(0);
    if ready < want {
        return Health::Pending(format!("{ready}/{want} replicas ready"));
    }
    let strategy = spec.and_then(|s| s.update_strategy.as_ref());
    if strategy.and_then(|u| u.type_.as_deref()) == Some("OnDelete") {
        return Health::Ready;
    }
    let partition = strategy
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0);
    let updated = st.updated_replicas.unwrap_or(0);
    if partition > 0 {
        if updated < want - partition {
            return Health::Pending(format!("{updated}/{} replicas updated", want - partition));
        }
        return Health::Ready;
    }
    if st.update_revision.is_some() && st.update_revision != st.current_revision {
        return Health::Pending(format!("{updated}/{want} replicas at the new revision"));
    }
    Health::Ready
}

/// Rolled out the way `kubectl rollout status daemonset` decides it.
pub fn daemonset_health(d: &DaemonSet) -> Health {
    let st = d.status.clone().unwrap_or_default();
    if let Some(p) = generation_observed(d.metadata.generation, st.observed_generation) {
        return p;
    }
    let strategy = d.spec.as_ref().and_then(|s| s.update_strategy.as_ref());
    if strategy.and_then(|u| u.type_.as_deref()) == Some("OnDelete") {
        return Health::Ready;
    }
    let desired = st.desired_number_scheduled;
    let updated = st.updated_number_scheduled.unwrap_or(0);
    let available = st.number_available.unwrap_or(0);
    if updated < desired {
        return Health::Pending(format!("{updated}/{desired} pods updated"));
    }
    if available < desired {
        return Health::Pending(format!("{available}/{desired} pods available"));
    }
    Health::Ready
}

/// `Complete=True` is ready; `Failed=True` is a failure.
pub fn job_health(j: &Job) -> Health {
    let st = j.status.clone().unwrap_or_default();
    let conds = st.conditions.unwrap_or_default();
    for c in &conds {
        if c.status != "True" {
            continue;
        }
        match c.type_.as_str() {
            "Complete" => return Health::Ready,
            "Failed" => {
                return Health::Failed(format!(
                    "job failed: {}{}",
                    c.reason.clone().unwrap_or_default(),
                    c.message
                        .as_ref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ))
            }
            _ => {}
        }
    }
    Health::Pending(format!(
        "not complete (active {}, succeeded {}, failed {})",
        st.active.unwrap_or(0),
        st.succeeded.unwrap_or(0),
        st.failed.unwrap_or(0)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_deployment_is_rolled_out_only_when_new_replicas_are_available() {
        let mut d: Deployment = from_json(serde_json::json!({
            "metadata": {"name": "w", "generation": 2},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
        }));
        assert!(matches!(deployment_health(&d), Health::Pending(r) if r.contains("generation 2")));
        d.status.as_mut().unwrap().observed_generation = Some(2);
        d.status.as_mut().unwrap().available_replicas = Some(1);
        assert_eq!(
            deployment_health(&d),
            Health::Pending("1/2 replicas available".into())
        );
        d.status.as_mut().unwrap().available_replicas = Some(2);
        assert_eq!(deployment_health(&d), Health::Ready);
    }

    #[test]
    fn a_failed_job_fails_at_once() {
        let j: Job = from_json(serde_json::json!({
            "metadata": {"name": "j"},
            "status": {"failed": 3, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}
        }));
        assert!(matches!(job_health(&j), Health::Failed(r) if r.contains("BackoffLimitExceeded")));
    }

    #[test]
    fn an_endpoint_without_a_ready_condition_counts_as_ready() {
        let s: EndpointSlice = from_json(serde_json::json!({
            "metadata": {"name": "s"}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"], "conditions": {"ready": false}}]
        }));
        assert_eq!(ready_endpoints(&[s]), 1);
    }
}
