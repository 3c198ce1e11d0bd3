//! The objects a release owns, read from `helm get manifest` (kind, namespace, name).
//!
//! `helm get manifest` is the release's own record of what it applied, so it is more reliable
//! than a label query: upstream charts label their objects inconsistently, and objects in
//! other namespaces (webhook configurations, CRDs, leader-election Roles) carry no namespace
//! of the release.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::manifest::workload::{collector_workload, OTEL_COLLECTOR_KIND};

/// One object of a release: enough to fetch it from the API server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// `apps/v1`, `v1`, `apiextensions.k8s.io/v1`, …
    pub api_version: String,
    /// `Deployment`, `CustomResourceDefinition`, …
    pub kind: String,
    /// `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectRef {
    /// A namespaced object.
    pub fn namespaced(api_version: &str, kind: &str, namespace: &str, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    /// A cluster-scoped object.
    pub fn cluster(api_version: &str, kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: None,
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Kinds that live outside any namespace (the ones umbrella charts of this kind render).
const CLUSTER_SCOPED: &[&str] = &[
    "APIService",
    "ClusterIssuer",
    "ClusterRole",
    "ClusterRoleBinding",
    "CSIDriver",
    "CustomResourceDefinition",
    "IngressClass",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PriorityClass",
    "RuntimeClass",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// True for kinds that have no namespace.
pub fn is_cluster_scoped(kind: &str) -> bool {
    CLUSTER_SCOPED.contains(&kind)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<HeadMeta>,
    #[serde(default)]
    spec: serde_json::Value,
}

/// An object an operator creates from a custom resource of the release (not in the manifest,
/// not owned by helm, but part of what the release runs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MadeObject {
    /// What the operator makes.
    pub object: ObjectRef,
    /// The custom resource it is made from.
    pub from: ObjectRef,
    /// Which operator makes it.
    pub operator: &'static str,
}

#[derive(Deserialize)]
struct HeadMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

/// Parses a multi-document manifest (as `helm get manifest` prints it) into object references.
/// Namespaced objects without `metadata.namespace` get `default_namespace` (the release's).
/// Documents without kind or name are skipped.
pub fn parse_manifest(text: &str, default_namespace: &str) -> Result<Vec<ObjectRef>, String> {
    Ok(parse(text, default_namespace)?.0)
}

/// The objects operators make from the custom resources in a release's manifest: the
/// collector workloads of `OpenTelemetryCollector`s (see
/// [`crate::manifest::workload::collector_workload`]).
pub fn operator_made(text: &str, default_namespace: &str) -> Result<Vec<MadeObject>, String> {
    Ok(parse(text, default_namespace)?.1)
}

fn parse(text: &str, default_namespace: &str) -> Result<(Vec<ObjectRef>, Vec<MadeObject>), String> {
    let docs: Vec<Head> = serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut made = Vec::new();
    for d in docs {
        let (Some(kind), Some(name)) = (d.kind, d.metadata.as_ref().and_then(|m| m.name.clone()))
        else {
            continue;
        };
        let namespace = if is_cluster_scoped(&kind) {
            None
        } else {
            Some(
                d.metadata
                    .and_then(|m| m.namespace)
                    .unwrap_or_else(|| default_namespace.to_string()),
            )
        };
        let obj = ObjectRef {
            api_version: d.api_version.unwrap_or_default(),
            kind,
            namespace,
            name,
        };
        if obj.kind == OTEL_COLLECTOR_KIND {
            if let (Some(ns), Some((api, kind, name))) =
                (&obj.namespace, collector_workload(&obj.name, &d.spec))
            {
                made.push(MadeObject {
                    object: ObjectRef::namespaced(api, kind, ns, &name),
                    from: obj.clone(),
                    operator: "the OpenTelemetry Operator",
                });
            }
        }
        out.push(obj);
    }
    Ok((out, made))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_yields_its_objects_with_the_release_namespace_filled_in() {
        let text = "---\n# Source: x/templates/a.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: certificates.cert-manager.io\n---\n# only a comment\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: le\n  namespace: kube-system\n";
        let objs = parse_manifest(text, "otel-system").unwrap();
        assert_eq!(objs.len(), 3);
        assert_eq!(objs[0].to_string(), "Deployment otel-system/web");
        assert_eq!(objs[1].namespace, None);
        assert_eq!(objs[2].to_string(), "Role kube-system/le");
    }

    #[test]
    fn collectors_yield_the_workload_the_operator_makes_by_mode() {
        let text = "apiVersion: opentelemetry.io/v1beta1\nkind: OpenTelemetryCollector\nmetadata:\n  name: gw\nspec:\n  config: {}\n---\napiVersion: opentelemetry.io/v1beta1\nkind: OpenTelemetryCollector\nmetadata:\n  name: agent\nspec:\n  mode: daemonset\n---\napiVersion: opentelemetry.io/v1beta1\nkind: OpenTelemetryCollector\nmetadata:\n  name: side\nspec:\n  mode: sidecar\n";
        let made: Vec<String> = operator_made(text, "otel-system")
            .unwrap()
            .iter()
            .map(|m| format!("{} from {}", m.object, m.from))
            .collect();
        assert_eq!(
            made,
            [
                "Deployment otel-system/gw-collector from OpenTelemetryCollector otel-system/gw",
                "DaemonSet otel-system/agent-collector from OpenTelemetryCollector otel-system/agent"
            ]
        );
    }
}
