//! Secrets that exist without being rendered because something in the stack writes them at
//! install time, read from what that something is and runs:
//!
//! - a cert-manager `Certificate` writes `spec.secretName`;
//! - `kube-webhook-certgen create --secret-name=X [--namespace=N]` (the admission-webhook Jobs
//!   of kube-prometheus-stack, ingress-nginx and many operators) writes `X`, with `$(VAR)`
//!   expanded from the container's environment as the kubelet does;
//! - a controller that may create Secrets and is given a Secret's name by a `*secret*` flag
//!   (`--cert-secret-name=X`, KEDA's certificate rotation) writes `X`;
//! - the Secrets operators write for custom resources (`data/operators.yaml`: CloudNativePG's
//!   `<cluster>-app`, ECK's `<name>-es-elastic-user`, …);
//! - any other Job (or run-once Pod, not kube-webhook-certgen) whose ServiceAccount RBAC lets it `create` Secrets in its
//!   namespace writes the Secrets its Roles name in `resourceNames` (argo-cd's
//!   `redis-secret-init` hook and `argocd-redis`), or, when they name none, may write any.

use std::collections::BTreeMap;

use serde_json::Value;

use kalypso_model::manifest::workload::{self, environment, expand};
use kalypso_model::manifest::{Manifest, Object, ObjectRef};

/// A Secret written at install time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretWrite {
    pub namespace: String,
    /// The Secret written; `None` when the writer may create any Secret in the namespace.
    pub name: Option<String>,
    pub writer: ObjectRef,
    /// How the writer is known to write it, for messages.
    pub how: String,
}

/// Every Secret the stack writes at install time.
pub fn secret_writes(manifest: &Manifest) -> Vec<SecretWrite> {
    let mut out = Vec::new();
    for cert in manifest.of_kind("Certificate") {
        if let (Some(ns), Some(name)) = (&cert.namespace, cert.body["spec"]["secretName"].as_str())
        {
            out.push(SecretWrite {
                namespace: ns.clone(),
                name: Some(name.to_string()),
                writer: cert.reference(),
                how: "cert-manager writes spec.secretName".into(),
            });
        }
    }
    for (namespace, name, cr) in crate::services::operator_secrets(manifest) {
        out.push(SecretWrite {
            namespace,
            name: Some(name),
            how: format!("the operator of {} {} writes it", cr.kind, cr.name),
            writer: cr,
        });
    }
    let rbac = Rbac::new(manifest);
    for obj in &manifest.objects {
        let Some(pod) = workload::pod_spec(obj) else {
            continue;
        };
        let Some(ns) = obj.namespace.as_deref() else {
            continue;
        };
        for c in workload::containers(&pod) {
            if let Some((namespace, name)) = certgen_create(c.body, ns) {
                out.push(SecretWrite {
                    namespace,
                    name: Some(name),
                    writer: obj.reference(),
                    how: format!("container {} runs kube-webhook-certgen create", c.name),
                });
            }
        }
        let account = pod.spec["serviceAccountName"]
            .as_str()
            .or(pod.spec["serviceAccount"].as_str())
            .unwrap_or("default");
        if pod.long_running && !pod.operator_managed {
            // A controller that may create Secrets and is told a Secret's name by a flag
            // (`--cert-secret-name=X`) writes that Secret itself (its certificate rotation).
            if rbac.secret_create(ns, account).is_some() {
                for c in workload::containers(&pod) {
                    for name in secret_flags(c.body, ns) {
                        out.push(SecretWrite {
                            namespace: ns.to_string(),
                            name: Some(name.clone()),
                            writer: obj.reference(),
                            how: format!(
                                "container {} may create Secrets and is given {name} by a *secret* flag",
                                c.name
                            ),
                        });
                    }
                }
            }
        }
        // kube-webhook-certgen writes the one Secret its `create` names (above), whatever
        // else its Role would allow.
        if pod.long_running
            || pod.operator_managed
            || workload::containers(&pod)
                .iter()
                .all(|c| runs_certgen(c.body))
        {
            continue;
        }
        if let Some(grant) = rbac.secret_create(ns, account) {
            let how = format!(
                "its ServiceAccount {account} may create Secrets ({})",
                grant.role
            );
            if grant.names.is_empty() {
                out.push(SecretWrite {
                    namespace: ns.to_string(),
                    name: None,
                    writer: obj.reference(),
                    how: how.clone(),
                });
            }
            for name in grant.names {
                out.push(SecretWrite {
                    namespace: ns.to_string(),
                    name: Some(name),
                    writer: obj.reference(),
                    how: how.clone(),
                });
            }
        }
    }
    out
}

/// Secret names given to a container by flags whose name mentions a secret
/// (`--cert-secret-name=X`, `--secret-name X`), `$(VAR)` expanded.
fn secret_flags(container: &Value, namespace: &str) -> Vec<String> {
    let env = environment(container, namespace);
    let args: Vec<String> = ["command", "args"]
        .iter()
        .flat_map(|k| container[*k].as_array().into_iter().flatten())
        .filter_map(|a| a.as_str().map(|a| expand(a, &env)))
        .collect();
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let Some(flag) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (
                flag,
                args.get(i + 1).filter(|v| !v.starts_with('-')).cloned(),
            ),
        };
        if name.to_ascii_lowercase().contains("secret") && !name.contains("namespace") {
            if let Some(v) = value.filter(|v| !v.is_empty() && !v.contains('/')) {
                out.push(v);
            }
        }
    }
    out
}

/// Whether a container runs kube-webhook-certgen (its image's program name).
fn runs_certgen(container: &Value) -> bool {
    let image = container["image"].as_str().unwrap_or("");
    let repository = image.split(['@']).next().unwrap_or("");
    let last = repository.rsplit('/').next().unwrap_or("");
    last.split(':').next().unwrap_or("") == "kube-webhook-certgen"
}

/// The (namespace, Secret) a `kube-webhook-certgen create` container writes.
fn certgen_create(container: &Value, namespace: &str) -> Option<(String, String)> {
    let image = container["image"].as_str().unwrap_or("");
    let repository = image.split(['@']).next().unwrap_or("");
    let last = repository.rsplit('/').next().unwrap_or("");
    let program = last.split(':').next().unwrap_or("");
    let env = environment(container, namespace);
    let argv: Vec<String> = ["command", "args"]
        .iter()
        .flat_map(|k| container[*k].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .map(|a| expand(a, &env))
        .collect();
    let runs_certgen = program == "kube-webhook-certgen"
        || argv
            .first()
            .is_some_and(|a| a.rsplit('/').next() == Some("kube-webhook-certgen"));
    if !runs_certgen {
        return None;
    }
    let mut flags: BTreeMap<&str, &str> = BTreeMap::new();
    let mut positional = Vec::new();
    let mut words = argv
        .iter()
        .skip_while(|a| a.ends_with("kube-webhook-certgen"));
    while let Some(word) = words.next() {
        match word.strip_prefix("--") {
            Some(flag) => match flag.split_once('=') {
                Some((k, v)) => {
                    flags.insert(k, v);
                }
                None => {
                    if let Some(v) = words.next() {
                        flags.insert(flag, v);
                    }
                }
            },
            None => positional.push(word.as_str()),
        }
    }
    if positional.first() != Some(&"create") {
        return None;
    }
    let secret = flags.get("secret-name")?;
    let ns = flags.get("namespace").copied().unwrap_or(namespace);
    Some((ns.to_string(), secret.to_string()))
}

/// What RBAC lets a ServiceAccount do with Secrets in a namespace.
struct SecretGrant {
    /// The Role (or ClusterRole) that allows `create`, for messages.
    role: String,
    /// Secrets its Roles name in `resourceNames`.
    names: Vec<String>,
}

/// Roles and the bindings that give them to ServiceAccounts.
struct Rbac<'a> {
    manifest: &'a Manifest,
    bindings: Vec<&'a Object>,
}

fn lists(v: &Value, item: &str) -> bool {
    v.as_array()
        .into_iter()
        .flatten()
        .any(|x| x.as_str() == Some(item) || x.as_str() == Some("*"))
}

impl<'a> Rbac<'a> {
    fn new(manifest: &'a Manifest) -> Rbac<'a> {
        let bindings = manifest
            .objects
            .iter()
            .filter(|o| o.kind == "RoleBinding" || o.kind == "ClusterRoleBinding")
            .collect();
        Rbac { manifest, bindings }
    }

    /// Whether `account` in `namespace` may create Secrets there, and which Secrets its Roles
    /// name.
    fn secret_create(&self, namespace: &str, account: &str) -> Option<SecretGrant> {
        let mut create_role = None;
        let mut names = Vec::new();
        for b in &self.bindings {
            let binding_ns = b.namespace.as_deref();
            let bound = b.body["subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| {
                    s["kind"].as_str() == Some("ServiceAccount")
                        && s["name"].as_str() == Some(account)
                        && s["namespace"].as_str().or(binding_ns) == Some(namespace)
                });
            // A RoleBinding grants in its own namespace only.
            if !bound || (b.kind == "RoleBinding" && binding_ns != Some(namespace)) {
                continue;
            }
            let role_kind = b.body["roleRef"]["kind"].as_str().unwrap_or("");
            let role_name = b.body["roleRef"]["name"].as_str().unwrap_or("");
            let role = match role_kind {
                "Role" => self.manifest.get("Role", binding_ns, role_name),
                "ClusterRole" => self.manifest.get("ClusterRole", None, role_name),
                _ => None,
            };
            let Some(role) = role else { continue };
            for rule in role.body["rules"].as_array().into_iter().flatten() {
                if !lists(&rule["apiGroups"], "") || !lists(&rule["resources"], "secrets") {
                    continue;
                }
                names.extend(
                    rule["resourceNames"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string),
                );
                if lists(&rule["verbs"], "create") {
                    create_role.get_or_insert_with(|| format!("{role_kind} {role_name}"));
                }
            }
        }
        names.sort();
        names.dedup();
        create_role.map(|role| SecretGrant { role, names })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn certgen_create_writes_its_secret_name_and_patch_writes_nothing() {
        let create = json!({
            "image": "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.9@sha256:0a",
            "args": ["create", "--namespace=$(POD_NAMESPACE)", "--secret-name", "hook-tls"],
            "env": [{"name": "POD_NAMESPACE",
                     "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]
        });
        assert_eq!(
            certgen_create(&create, "ingress"),
            Some(("ingress".to_string(), "hook-tls".to_string()))
        );
        let patch = json!({
            "image": "ghcr.io/jkroepke/kube-webhook-certgen:1.8.7",
            "args": ["patch", "--secret-name=hook-tls"]
        });
        assert_eq!(certgen_create(&patch, "ingress"), None);
        let other = json!({"image": "busybox:1.36", "args": ["create", "--secret-name=x"]});
        assert_eq!(certgen_create(&other, "ingress"), None);
    }
}
