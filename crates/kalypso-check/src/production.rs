//! What a production render must not contain, checked with `--profile production`:
//!
//! - `production/credentials`: a development default credential (`…change-me`, MinIO's
//!   `minioadmin`) in a Secret, a ConfigMap or an environment literal (error);
//! - `production/existing-secret`: a credential Secret rendered from chart values (an S3
//!   secret key, Grafana's admin password, MinIO's root or user secrets) instead of one the
//!   operator manages and names with `existingSecret` (error);
//! - `production/replicas`: a stateful backend (a StatefulSet) with fewer than two replicas
//!   (error).
//!
//! And on every render, `policy/waivers`: each entry of `kalypso-waivers.yaml` (checkov checks
//! waived, with the reason) names an object the stack renders and gives a reason.

use std::path::Path;

use anyhow::Result;
use serde::Deserialize;

use super::context::Context;
use super::finding::{Finding, Severity};
use kalypso_model::error::usage;
use kalypso_model::manifest::decode_base64;
use kalypso_model::manifest::workload::{containers, pod_spec};

/// Rule ids.
pub const CREDENTIALS: &str = "production/credentials";
pub const EXISTING_SECRET: &str = "production/existing-secret";
pub const REPLICAS: &str = "production/replicas";
pub const WAIVERS: &str = "policy/waivers";

/// The waiver file at the repository root.
pub const WAIVERS_FILE: &str = "kalypso-waivers.yaml";

/// Keys of a Secret that hold a credential kalypso's charts render.
const CREDENTIAL_KEYS: &[&str] = &[
    "S3_SECRET_ACCESS_KEY",
    "admin-password",
    "secretKey",
    "rootPassword",
];

/// Whether a value is a development default credential.
fn dev_default(v: &str) -> bool {
    v.contains("change-me") || v == "minioadmin"
}

/// Checks a production render.
pub fn check(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for obj in &ctx.manifest.objects {
        match obj.kind.as_str() {
            "Secret" | "ConfigMap" => {
                let decoded: Vec<(String, String)> = ["stringData", "data"]
                    .iter()
                    .flat_map(|k| {
                        obj.body[*k]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(move |(key, v)| (*k, key, v))
                    })
                    .filter_map(|(section, key, v)| {
                        let s = v.as_str()?;
                        let text = if section == "data" && obj.kind == "Secret" {
                            decode_base64(s)?
                        } else {
                            s.to_string()
                        };
                        Some((key.clone(), text))
                    })
                    .collect();
                for (key, text) in &decoded {
                    if dev_default(text.trim())
                        || text.lines().any(|l| {
                            l.split_whitespace()
                                .any(|w| dev_default(w.trim_matches(|c| c == '"' || c == '\'')))
                        })
                    {
                        out.push(Finding::new(
                            CREDENTIALS,
                            Severity::Error,
                            obj,
                            format!("data.{key}"),
                            "holds a development default credential: set your own, or point existingSecret at a Secret you manage",
                        ));
                    }
                }
                if obj.kind == "Secret" {
                    if let Some((key, _)) = decoded
                        .iter()
                        .find(|(k, _)| CREDENTIAL_KEYS.contains(&k.as_str()))
                    {
                        out.push(Finding::new(
                            EXISTING_SECRET,
                            Severity::Error,
                            obj,
                            format!("data.{key}"),
                            "a credential Secret rendered from chart values: in production the credential comes from a Secret you manage (existingSecret), not from values",
                        ));
                    }
                }
            }
            "StatefulSet" => {
                let replicas = obj.body["spec"]["replicas"].as_i64().unwrap_or(1);
                if replicas < 2 {
                    out.push(Finding::new(
                        REPLICAS,
                        Severity::Error,
                        obj,
                        "spec.replicas",
                        format!("{replicas} replica: a stateful backend needs at least two in production"),
                    ));
                }
            }
            _ => {}
        }
        if let Some(pod) = pod_spec(obj) {
            for c in containers(&pod) {
                for (i, e) in c.body["env"].as_array().into_iter().flatten().enumerate() {
                    if e["value"].as_str().is_some_and(dev_default) {
                        out.push(Finding::new(
                            CREDENTIALS,
                            Severity::Error,
                            obj,
                            format!("{}.env[{i}].value", c.path),
                            format!(
                                "environment variable {} holds a development default credential",
                                e["name"].as_str().unwrap_or("?")
                            ),
                        ));
                    }
                }
            }
        }
    }
    out
}

/// One waived checkov check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    /// `CKV_K8S_…` or `CKV2_K8S_…`.
    pub check: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub reason: String,
    /// The render the object exists in, when only one has it: `default` (no `--profile`) or a
    /// profile name. In any other render its absence is expected, not stale.
    #[serde(default)]
    pub profile: Option<String>,
}

/// Reads `<repo>/kalypso-waivers.yaml` (none when absent).
pub fn load_waivers(repo: &Path) -> Result<Vec<Waiver>> {
    let file = repo.join(WAIVERS_FILE);
    if !file.is_file() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&file)
        .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
    kalypso_model::manifest::yaml::from_str(&text).map_err(|e| {
        usage(format!(
            "{}: line {}: {}",
            file.display(),
            e.line,
            e.message
        ))
    })
}

/// `policy/waivers`: every waiver has a reason, a checkov check id, and names an object the
/// stack renders (one that is gone is stale: remove it).
pub fn check_waivers(ctx: &Context, waivers: &[Waiver], profile: Option<&str>) -> Vec<Finding> {
    let rendered = profile.unwrap_or("default");
    let mut out = Vec::new();
    for (i, w) in waivers.iter().enumerate() {
        let at = kalypso_model::manifest::ObjectRef {
            api_version: String::new(),
            kind: "Waiver".into(),
            namespace: None,
            name: format!("{WAIVERS_FILE}[{i}]"),
        };
        let say = |severity, message: String| {
            Finding::general(WAIVERS, severity, "policy", at.clone(), message)
        };
        if w.reason.trim().is_empty() {
            out.push(say(
                Severity::Error,
                format!(
                    "waiver of {} for {} {}/{} has no reason",
                    w.check, w.kind, w.namespace, w.name
                ),
            ));
        }
        if !(w.check.starts_with("CKV_K8S_") || w.check.starts_with("CKV2_K8S_")) {
            out.push(say(
                Severity::Error,
                format!(
                    "{:?} is not a checkov Kubernetes check id (CKV_K8S_… or CKV2_K8S_…)",
                    w.check
                ),
            ));
        }
        let exists = ctx.manifest.objects.iter().any(|o| {
            o.kind == w.kind
                && o.name == w.name
                && o.namespace.as_deref().unwrap_or("") == w.namespace
        });
        // A cluster-scoped object may come from any chart: only a full render of every chart
        // shows that it is gone.
        let checked_in_full = if w.namespace.is_empty() {
            ctx.charts.iter().all(|c| c.status.stand_ins().is_empty())
        } else {
            ctx.chart_in_namespace(&w.namespace)
                .is_none_or(|c| c.status.stand_ins().is_empty())
        };
        let this_render = w.profile.as_deref().is_none_or(|p| p == rendered);
        if !exists && checked_in_full && this_render {
            out.push(say(
                Severity::Warning,
                format!(
                    "waiver of {} names {} {}/{}, which the stack does not render: remove it",
                    w.check, w.kind, w.namespace, w.name
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_defaults_are_recognised() {
        assert!(dev_default("mimir-dev-secret-change-me"));
        assert!(dev_default("minioadmin"));
        assert!(!dev_default("s3cr3t-from-vault"));
    }
}
