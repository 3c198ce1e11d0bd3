//! Which kinds are cluster-scoped: the built-in Kubernetes list plus the scope every rendered
//! CustomResourceDefinition declares.

use std::collections::HashMap;

use serde_json::Value;

/// Built-in cluster-scoped kinds (group, kind), as `kubectl api-resources --namespaced=false`
/// lists them on a plain cluster.
pub const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "ResourceSlice"),
];

/// Groups served by Kubernetes itself: objects of these groups are not custom resources.
pub const BUILTIN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// The group part of an apiVersion (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    match api_version.rsplit_once('/') {
        Some((g, _)) => g,
        None => "",
    }
}

/// Whether objects of this group are served by Kubernetes itself.
pub fn is_builtin_group(group: &str) -> bool {
    BUILTIN_GROUPS.contains(&group)
}

/// Scope knowledge: built-ins plus CRDs seen in the input.
#[derive(Debug, Default, Clone)]
pub struct Scopes {
    crd_cluster_scoped: HashMap<(String, String), bool>,
}

impl Scopes {
    /// Learns the scope a CRD body declares.
    pub fn learn_crd(&mut self, crd: &Value) {
        let spec = &crd["spec"];
        let (Some(group), Some(kind)) = (spec["group"].as_str(), spec["names"]["kind"].as_str())
        else {
            return;
        };
        let cluster = spec["scope"].as_str() == Some("Cluster");
        self.crd_cluster_scoped
            .insert((group.to_string(), kind.to_string()), cluster);
    }

    /// Whether `group`/`kind` is cluster-scoped (unknown kinds are taken as namespaced).
    pub fn is_cluster_scoped(&self, group: &str, kind: &str) -> bool {
        if CLUSTER_SCOPED
            .iter()
            .any(|(g, k)| *g == group && *k == kind)
        {
            return true;
        }
        self.crd_cluster_scoped
            .get(&(group.to_string(), kind.to_string()))
            .copied()
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_scope_is_learned() {
        let mut s = Scopes::default();
        let crd = serde_json::json!({"spec": {"group": "cert-manager.io", "scope": "Cluster",
            "names": {"kind": "ClusterIssuer"}}});
        s.learn_crd(&crd);
        assert!(s.is_cluster_scoped("cert-manager.io", "ClusterIssuer"));
        assert!(!s.is_cluster_scoped("cert-manager.io", "Issuer"));
        assert!(s.is_cluster_scoped("rbac.authorization.k8s.io", "ClusterRole"));
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("v1"), "");
    }
}
