//! Typed access to objects of built-in kinds: an [`Object`](super::Object) of a kind that
//! k8s-openapi knows decodes once into that type (`Service`, `Deployment`, …), and rules read
//! the type rather than walk `serde_json::Value`. Custom resources stay untyped.
//!
//! An object that does not decode (a string where an integer is required, a map where a list
//! is) is not silently dropped: [`DecodeError`] names the field path, and check's
//! `schema/types` rule reports it.

use std::any::Any;
use std::sync::Arc;

use k8s_openapi::api::admissionregistration::v1 as admission;
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::batch::v1 as batch;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::networking::v1 as networking;
use k8s_openapi::api::policy::v1 as policy;
use k8s_openapi::api::rbac::v1 as rbac;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apiregistration;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why an object of a built-in kind does not decode into its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The field path (`spec.ports[0].port`), `.` for the object itself.
    pub path: String,
    /// What the decoder expected (`invalid type: string "http", expected i32`).
    pub message: String,
}

/// The decoded object (its k8s-openapi type behind `Any`), or why it does not decode.
pub(crate) type Decoded = Result<Arc<dyn Any + Send + Sync>, DecodeError>;

/// Decodes a body into `T`, naming the field path of the first mismatch.
pub(crate) fn decode<T: DeserializeOwned + Send + Sync + 'static>(body: &Value) -> Decoded {
    let first = match serde_path_to_error::deserialize::<_, T>(body) {
        Ok(t) => return Ok(Arc::new(t)),
        Err(e) => DecodeError {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        },
    };
    // The API server's Go decoder skips line breaks in base64 (`caBundle`); k8s-openapi's
    // ByteString does not, so a wrapped CA bundle is not a type error.
    let mut unwrapped = body.clone();
    if unwrap_ca_bundles(&mut unwrapped) {
        if let Ok(t) = serde_json::from_value::<T>(unwrapped) {
            return Ok(Arc::new(t));
        }
    }
    Err(first)
}

/// Removes `\r` and `\n` from every `caBundle` string; whether one had any.
fn unwrap_ca_bundles(v: &mut Value) -> bool {
    match v {
        Value::Object(map) => {
            let mut changed = false;
            for (k, child) in map.iter_mut() {
                match child {
                    Value::String(s) if k == "caBundle" && s.contains(['\r', '\n']) => {
                        s.retain(|c| c != '\r' && c != '\n');
                        changed = true;
                    }
                    _ => changed |= unwrap_ca_bundles(child),
                }
            }
            changed
        }
        Value::Array(items) => {
            let mut changed = false;
            for i in items {
                changed |= unwrap_ca_bundles(i);
            }
            changed
        }
        _ => false,
    }
}

/// A built-in kind: its apiVersion, kind and decoder.
pub(crate) struct TypedKind {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub decode: fn(&Value) -> Decoded,
}

macro_rules! kinds {
    ($($t:ty),* $(,)?) => {
        &[$(TypedKind {
            api_version: <$t as k8s_openapi::Resource>::API_VERSION,
            kind: <$t as k8s_openapi::Resource>::KIND,
            decode: decode::<$t>,
        }),*]
    };
}

/// The built-in kinds whose objects are decoded (and a decode failure reported): those the
/// rules read typed, and the other core kinds a chart commonly renders. Secret and ConfigMap
/// are left out: k8s-openapi's `ByteString` refuses the line breaks in base64 (`data`,
/// `binaryData`) that the API server's Go decoder skips, and the rules read their keys as text.
pub(crate) const TYPED_KINDS: &[TypedKind] = kinds![
    core::Pod,
    core::Service,
    core::ServiceAccount,
    core::PersistentVolumeClaim,
    core::Namespace,
    core::ReplicationController,
    apps::Deployment,
    apps::StatefulSet,
    apps::DaemonSet,
    apps::ReplicaSet,
    batch::Job,
    batch::CronJob,
    networking::NetworkPolicy,
    networking::Ingress,
    policy::PodDisruptionBudget,
    rbac::Role,
    rbac::RoleBinding,
    rbac::ClusterRole,
    rbac::ClusterRoleBinding,
    admission::MutatingWebhookConfiguration,
    admission::ValidatingWebhookConfiguration,
    apiextensions::CustomResourceDefinition,
    apiregistration::APIService,
];

/// The entry for an apiVersion and kind, if it is a typed kind.
pub(crate) fn typed_kind(api_version: &str, kind: &str) -> Option<&'static TypedKind> {
    TYPED_KINDS
        .iter()
        .find(|k| k.api_version == api_version && k.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_where_an_integer_is_required_names_the_field_path() {
        let body = serde_json::json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80}, {"name": "http", "port": "http"}]}});
        let err = decode::<core::Service>(&body).err();
        let err = err
            .as_ref()
            .map(|e| (e.path.as_str(), e.message.contains("expected i32")));
        assert_eq!(err, Some(("spec.ports[1].port", true)));
    }

    #[test]
    fn a_ca_bundle_wrapped_over_lines_decodes_as_the_api_server_reads_it() {
        let body = serde_json::json!({"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "w"},
            "webhooks": [{"name": "w.example.io", "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "clientConfig": {"caBundle": "YWJj\nZGVm\n", "service": {"name": "s", "namespace": "n"}}}]});
        let decoded = decode::<admission::ValidatingWebhookConfiguration>(&body).ok();
        let hook = decoded
            .as_ref()
            .and_then(|d| d.downcast_ref::<admission::ValidatingWebhookConfiguration>())
            .and_then(|c| c.webhooks.as_ref())
            .and_then(|w| w.first());
        let ca = hook.and_then(|h| h.client_config.ca_bundle.as_ref());
        assert_eq!(ca.map(|b| b.0.as_slice()), Some(&b"abcdef"[..]));
        let bad = serde_json::json!({"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "w"},
            "webhooks": [{"name": "w.example.io", "admissionReviewVersions": ["v1"],
                "sideEffects": "None", "clientConfig": {"caBundle": "not base64!"}}]});
        assert!(decode::<admission::ValidatingWebhookConfiguration>(&bad).is_err());
    }

    #[test]
    fn every_typed_kind_is_listed_once() {
        for (i, k) in TYPED_KINDS.iter().enumerate() {
            assert_eq!(
                typed_kind(k.api_version, k.kind).map(|f| f.kind),
                Some(k.kind)
            );
            assert!(
                TYPED_KINDS[..i]
                    .iter()
                    .all(|o| (o.api_version, o.kind) != (k.api_version, k.kind)),
                "{} {}",
                k.api_version,
                k.kind
            );
        }
    }
}
