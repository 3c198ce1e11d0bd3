//! `wiring/secret` and `wiring/configmap`: every Secret and ConfigMap a workload mounts,
//! loads into its environment or pulls images with exists in its namespace (with the key used),
//! unless the reference is `optional: true`, the policy declares the object external, or the
//! stack writes the Secret at install time ([`writers`]).

mod writers;

use serde_json::Value;

use super::context::Context;
use super::finding::{Finding, Severity};
use kalypso_model::manifest::walk::{index, join};
use kalypso_model::manifest::{workload, Object};

/// Rule id for Secrets.
pub const SECRET_RULE: &str = "wiring/secret";
/// Rule id for ConfigMaps.
pub const CONFIGMAP_RULE: &str = "wiring/configmap";

/// One reference from a workload to a Secret or ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUse {
    /// `Secret` or `ConfigMap`.
    pub kind: &'static str,
    pub name: String,
    /// Keys used (empty when the whole object is used).
    pub keys: Vec<String>,
    pub optional: bool,
    pub field: String,
}

fn optional(v: &Value) -> bool {
    v["optional"].as_bool() == Some(true)
}

fn item_keys(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["key"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Every Secret/ConfigMap use of a workload.
pub fn uses(obj: &Object) -> Vec<ObjectUse> {
    let mut out = Vec::new();
    let Some(pod) = workload::pod_spec(obj) else {
        return out;
    };
    let mut push =
        |kind: &'static str, v: &Value, name_key: &str, keys: Vec<String>, field: String| {
            if let Some(name) = v[name_key].as_str() {
                out.push(ObjectUse {
                    kind,
                    name: name.to_string(),
                    keys,
                    optional: optional(v),
                    field: join(&field, name_key),
                });
            }
        };
    if let Some(vols) = pod.spec["volumes"].as_array() {
        for (i, vol) in vols.iter().enumerate() {
            let base = index(&join(&pod.path, "volumes"), i);
            push(
                "Secret",
                &vol["secret"],
                "secretName",
                item_keys(&vol["secret"]),
                join(&base, "secret"),
            );
            push(
                "ConfigMap",
                &vol["configMap"],
                "name",
                item_keys(&vol["configMap"]),
                join(&base, "configMap"),
            );
            if let Some(sources) = vol["projected"]["sources"].as_array() {
                for (j, s) in sources.iter().enumerate() {
                    let sb = index(&join(&base, "projected.sources"), j);
                    push(
                        "Secret",
                        &s["secret"],
                        "name",
                        item_keys(&s["secret"]),
                        join(&sb, "secret"),
                    );
                    push(
                        "ConfigMap",
                        &s["configMap"],
                        "name",
                        item_keys(&s["configMap"]),
                        join(&sb, "configMap"),
                    );
                }
            }
        }
    }
    if let Some(pulls) = pod.spec["imagePullSecrets"].as_array() {
        for (i, p) in pulls.iter().enumerate() {
            push(
                "Secret",
                p,
                "name",
                vec![],
                index(&join(&pod.path, "imagePullSecrets"), i),
            );
        }
    }
    for c in workload::containers(&pod) {
        if let Some(env) = c.body["env"].as_array() {
            for (i, e) in env.iter().enumerate() {
                let base = join(&index(&join(&c.path, "env"), i), "valueFrom");
                for (kind, key) in [("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")] {
                    let r = &e["valueFrom"][key];
                    let keys = r["key"]
                        .as_str()
                        .map(|k| vec![k.to_string()])
                        .unwrap_or_default();
                    push(kind, r, "name", keys, join(&base, key));
                }
            }
        }
        if let Some(from) = c.body["envFrom"].as_array() {
            for (i, e) in from.iter().enumerate() {
                let base = index(&join(&c.path, "envFrom"), i);
                push(
                    "Secret",
                    &e["secretRef"],
                    "name",
                    vec![],
                    join(&base, "secretRef"),
                );
                push(
                    "ConfigMap",
                    &e["configMapRef"],
                    "name",
                    vec![],
                    join(&base, "configMapRef"),
                );
            }
        }
    }
    out
}

/// Keys an object carries (`data`, `stringData`, `binaryData`).
fn keys_of(obj: &Object) -> Vec<&str> {
    ["data", "stringData", "binaryData"]
        .iter()
        .filter_map(|f| obj.body[*f].as_object())
        .flat_map(|m| m.keys().map(String::as_str))
        .collect()
}

/// Checks every workload's Secret and ConfigMap uses.
pub fn check(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    let written = writers::secret_writes(ctx.manifest);
    for obj in &ctx.manifest.objects {
        let Some(ns) = obj.namespace.as_deref() else {
            continue;
        };
        for u in uses(obj) {
            let rule = if u.kind == "Secret" {
                SECRET_RULE
            } else {
                CONFIGMAP_RULE
            };
            if u.optional || ctx.policy.external(u.kind, ns, &u.name).is_some() {
                continue;
            }
            let writes = |name: Option<&str>| {
                written
                    .iter()
                    .find(|w| u.kind == "Secret" && w.namespace == ns && w.name.as_deref() == name)
            };
            if writes(Some(&u.name)).is_some() {
                continue;
            }
            match ctx.manifest.get(u.kind, Some(ns), &u.name) {
                Some(target) => {
                    let have = keys_of(target);
                    for k in &u.keys {
                        if !have.contains(&k.as_str()) {
                            out.push(Finding::new(
                                rule,
                                Severity::Error,
                                obj,
                                &u.field,
                                format!(
                                    "{} {ns}/{} has no key {k:?} (keys: {})",
                                    u.kind,
                                    u.name,
                                    if have.is_empty() {
                                        "none".to_string()
                                    } else {
                                        have.join(", ")
                                    }
                                ),
                            ));
                        }
                    }
                }
                None => {
                    let (severity, why) = match (writes(None), ctx.partial_reason(ns)) {
                        (Some(w), _) => (
                            Severity::Info,
                            format!(
                                " in the render (not verified: {} may create it at install; {})",
                                w.writer, w.how
                            ),
                        ),
                        (None, Some(why)) => (Severity::Info, format!(" (not verified: {why})")),
                        (None, None) => (
                            Severity::Error,
                            "; render it, mark the reference optional, or declare it in kalypso-policy.yaml `external:`"
                                .to_string(),
                        ),
                    };
                    out.push(Finding::new(
                        rule,
                        severity,
                        obj,
                        &u.field,
                        format!("{} {ns}/{} does not exist{why}", u.kind, u.name),
                    ));
                }
            }
        }
    }
    out
}
