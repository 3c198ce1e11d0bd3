//! The objects a release owns, read from `helm get manifest`, and the objects operators make
//! from its custom resources.
//!
//! `helm get manifest` is the release's own record of what it applied, so it is more reliable
//! than a label query: upstream charts label their objects inconsistently, and objects in
//! other namespaces (webhook configurations, CRDs, leader-election Roles) carry no namespace
//! of the release. It is parsed with the same reader and scope table as `check`'s input.

use serde::Serialize;

use kalypso_model::manifest::workload::{collector_workload, OTEL_COLLECTOR_KIND};
use kalypso_model::manifest::{Manifest, ObjectRef, Source};

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

fn parse(text: &str, default_namespace: &str) -> Result<Manifest, String> {
    Manifest::from_sources(&[Source {
        component: "release".into(),
        origin: "helm get manifest".into(),
        default_namespace: default_namespace.into(),
        text: text.into(),
    }])
    .map_err(|e| e.to_string())
}

/// The objects of a manifest (as `helm get manifest` prints it). Namespaced objects without
/// `metadata.namespace` get `default_namespace` (the release's).
pub fn parse_manifest(text: &str, default_namespace: &str) -> Result<Vec<ObjectRef>, String> {
    Ok(parse(text, default_namespace)?
        .objects
        .iter()
        .map(|o| o.reference())
        .collect())
}

/// The objects operators make from the custom resources in a release's manifest: the
/// collector workloads of `OpenTelemetryCollector`s (see [`collector_workload`]).
pub fn operator_made(text: &str, default_namespace: &str) -> Result<Vec<MadeObject>, String> {
    let manifest = parse(text, default_namespace)?;
    Ok(manifest
        .of_kind(OTEL_COLLECTOR_KIND)
        .filter_map(|col| {
            let ns = col.namespace.as_deref()?;
            let (api, kind, name) = collector_workload(&col.name, &col.body["spec"])?;
            Some(MadeObject {
                object: ObjectRef::namespaced(api, kind, ns, &name),
                from: col.reference(),
                operator: "the OpenTelemetry Operator",
            })
        })
        .collect())
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
        assert_eq!(objs[0].api_version, "apps/v1");
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
