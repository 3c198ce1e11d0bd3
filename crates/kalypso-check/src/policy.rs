//! The check policy: objects supplied from outside the rendered stack, and the privilege
//! allow-list, each entry with a reason. Kalypso's defaults are data ([`DEFAULT_POLICY`], the
//! one place to change them); a repository may add entries in `kalypso-policy.yaml` at its
//! root (or `--policy FILE`), in the same format:
//!
//! ```yaml
//! external:                      # exists in the cluster, not in the render
//!   - kind: Secret               # Secret | ConfigMap | Service
//!     namespace: grafana         # "*" = every namespace
//!     name: my-admin-secret      # a trailing "*" matches a prefix
//!     reason: created by the operator before install
//! privileged:                    # may use host access
//!   - kind: DaemonSet
//!     namespace: pyroscope
//!     name: otel-ebpf-profiler*
//!     allow: [privileged, hostPID, "hostPath:/proc", "capability:BPF", "seccomp:Unconfined"]
//!     reason: eBPF needs the host's kernel and processes
//! accepted:                      # known limitations: reported as info, with the reason
//!   - rule: hygiene/probes
//!     kind: Deployment
//!     namespace: minio
//!     name: minio
//!     reason: the minio chart 5.4.0 has no probe settings
//! severity:                      # per-rule severity: error | warning | info | off
//!   hygiene/probes: info         # a rule id (see `kalypso check -o sarif` or the README)
//!   hygiene/*: warning           # or a whole family
//! ```
//!
//! An unknown rule id or level in `severity:` is an error naming the file and the key.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::Deserialize;

use kalypso_model::error::usage;
use kalypso_model::finding::{Finding, Severity};
use kalypso_model::manifest::yaml;

/// Kalypso's built-in policy, as data.
pub const DEFAULT_POLICY: &str = r#"
external:
  - kind: ConfigMap
    namespace: "*"
    name: kube-root-ca.crt
    reason: Kubernetes publishes it in every namespace
  - kind: ConfigMap
    namespace: "*"
    name: istio-ca-root-cert
    reason: istiod publishes the mesh CA in every namespace
privileged:
  - kind: DaemonSet
    namespace: pyroscope
    name: "*ebpf-profiler*"
    allow: [privileged, hostPID, "hostPath:/sys", "hostPath:/proc", "hostPath:/lib/modules", "hostPath:/usr/src",
            "seccomp:Unconfined", "capability:BPF", "capability:PERFMON", "capability:SYS_ADMIN",
            "capability:SYS_PTRACE", "capability:DAC_READ_SEARCH", "capability:CHECKPOINT_RESTORE",
            "capability:SYSLOG", "capability:IPC_LOCK", "capability:SYS_RESOURCE"]
    reason: the OpenTelemetry eBPF profiler loads eBPF programs and reads every process on the node
  - kind: OpenTelemetryCollector
    namespace: otel-system
    name: "*"
    allow: ["hostPath:/var/log", "hostPath:/var/lib/docker/containers", "hostPath:/proc", "hostPath:/sys", "hostPath:/"]
    reason: the node agent collector tails container logs and reads host metrics (read-only)
  - kind: DaemonSet
    namespace: otel-system
    name: "*"
    allow: ["hostPath:/var/log", "hostPath:/var/lib/docker/containers", "hostPath:/proc", "hostPath:/sys", "hostPath:/"]
    reason: the node agent collector tails container logs and reads host metrics (read-only)
"#;

/// An object that exists without being rendered.
#[derive(Debug, Clone, Deserialize)]
pub struct ExternalObject {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub reason: String,
}

/// A workload allowed some host access.
#[derive(Debug, Clone, Deserialize)]
pub struct PrivilegeGrant {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `privileged`, `hostPID`, `hostNetwork`, `hostIPC`, `hostPath:<prefix>`,
    /// `capability:<NAME>` (an added Linux capability), `seccomp:Unconfined`.
    pub allow: Vec<String>,
    pub reason: String,
}

/// A finding accepted as a known limitation (an upstream chart without probes, …): it is
/// still reported, as `info`, with the reason.
#[derive(Debug, Clone, Deserialize)]
pub struct AcceptedFinding {
    /// Rule id, e.g. `hygiene/probes`.
    pub rule: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// Narrows the acceptance to findings whose field matches (`*` patterns as for names),
    /// e.g. `data.tempo.yaml: compactor.compaction.max_compaction_objects`; all when absent.
    #[serde(default)]
    pub field: Option<String>,
    pub reason: String,
}

/// External objects, privilege grants and accepted findings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub external: Vec<ExternalObject>,
    #[serde(default)]
    pub privileged: Vec<PrivilegeGrant>,
    #[serde(default)]
    pub accepted: Vec<AcceptedFinding>,
    /// Per-rule severity overrides: rule id (or `family/*`) → level.
    #[serde(default)]
    pub severity: BTreeMap<String, String>,
}

/// The level a `severity:` override sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Set(Severity),
    /// The rule's findings are dropped.
    Off,
}

impl Level {
    fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "error" => Level::Set(Severity::Error),
            "warning" => Level::Set(Severity::Warning),
            "info" => Level::Set(Severity::Info),
            "off" => Level::Off,
            _ => return None,
        })
    }
}

/// `*` matches everything; `abc*` a prefix; `*abc*` a substring; else equality.
fn matches(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(rest), _) if rest.ends_with('*') => value.contains(rest.trim_end_matches('*')),
        (Some(suffix), _) => value.ends_with(suffix),
        (None, Some(prefix)) => value.starts_with(prefix),
        (None, None) => pattern == value,
    }
}

impl Policy {
    /// Parses a policy document.
    pub fn parse(text: &str, origin: &str) -> Result<Policy> {
        let policy = yaml::from_str::<Policy>(text).map_err(|e| {
            usage(format!(
                "{origin}:{}: not a valid kalypso policy: {}",
                e.line, e.message
            ))
        })?;
        for (rule, level) in &policy.severity {
            if Level::parse(level).is_none() {
                return Err(usage(format!(
                    "{origin}: severity.{rule}: unknown level {level:?} (use error, warning, info or off)"
                )));
            }
            let known = match rule.strip_suffix("/*") {
                Some(family) => crate::RULES
                    .iter()
                    .any(|(id, _)| id.starts_with(&format!("{family}/"))),
                None => crate::RULES.iter().any(|(id, _)| id == rule),
            };
            if !known {
                return Err(usage(format!(
                    "{origin}: severity.{rule}: unknown rule id {rule:?} (rule ids: {})",
                    crate::RULES
                        .iter()
                        .map(|(id, _)| *id)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(policy)
    }

    /// The severity override for `rule`, if any: an exact id wins over its `family/*`.
    pub fn level(&self, rule: &str) -> Option<Level> {
        let level = self.severity.get(rule).or_else(|| {
            let family = rule.split('/').next()?;
            self.severity.get(&format!("{family}/*"))
        })?;
        Level::parse(level)
    }

    /// Applies the `severity:` overrides: sets the level, drops the findings of rules `off`.
    pub fn apply_severity(&self, findings: &mut Vec<Finding>) {
        if self.severity.is_empty() {
            return;
        }
        findings.retain_mut(|f| match self.level(&f.rule) {
            Some(Level::Off) => false,
            Some(Level::Set(s)) => {
                f.severity = s;
                true
            }
            None => true,
        });
    }

    /// The built-in policy plus `<repo>/kalypso-policy.yaml` (when present) or `explicit`.
    pub fn load(repo: Option<&Path>, explicit: Option<&Path>) -> Result<Policy> {
        let mut policy = Policy::parse(DEFAULT_POLICY, "built-in policy")?;
        let file = match (explicit, repo) {
            (Some(f), _) => Some(f.to_path_buf()),
            (None, Some(r)) => Some(r.join("kalypso-policy.yaml")).filter(|f| f.is_file()),
            (None, None) => None,
        };
        if let Some(f) = file {
            let text = std::fs::read_to_string(&f)
                .map_err(|e| usage(format!("cannot read policy {}: {e}", f.display())))?;
            let extra = Policy::parse(&text, &f.display().to_string())?;
            policy.external.extend(extra.external);
            policy.privileged.extend(extra.privileged);
            policy.accepted.extend(extra.accepted);
            policy.severity.extend(extra.severity);
        }
        Ok(policy)
    }

    /// The reason `kind` `namespace/name` exists without being rendered, if declared.
    pub fn external(&self, kind: &str, namespace: &str, name: &str) -> Option<&ExternalObject> {
        self.external
            .iter()
            .find(|e| e.kind == kind && matches(&e.namespace, namespace) && matches(&e.name, name))
    }

    /// Why a finding of `rule` on `kind` `namespace/name`, at `field`, is accepted, if it is.
    pub fn accepted(
        &self,
        rule: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        field: &str,
    ) -> Option<&AcceptedFinding> {
        self.accepted.iter().find(|a| {
            a.rule == rule
                && a.kind == kind
                && matches(&a.namespace, namespace)
                && matches(&a.name, name)
                && a.field.as_deref().is_none_or(|p| matches(p, field))
        })
    }

    /// The grant allowing `what` (e.g. `privileged`, `hostPath:/proc`) to this workload.
    pub fn grant(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        what: &str,
    ) -> Option<&PrivilegeGrant> {
        self.privileged.iter().find(|g| {
            g.kind == kind
                && matches(&g.namespace, namespace)
                && matches(&g.name, name)
                && g.allow.iter().any(|a| allows(a, what))
        })
    }
}

fn allows(grant: &str, what: &str) -> bool {
    match (
        grant.strip_prefix("hostPath:"),
        what.strip_prefix("hostPath:"),
    ) {
        (Some(prefix), Some(path)) => {
            let prefix = prefix.trim_end_matches('/');
            prefix.is_empty() && path == "/"
                || path == prefix
                || (!prefix.is_empty() && path.starts_with(&format!("{prefix}/")))
        }
        _ => grant == what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_policy_parses_and_grants_the_ebpf_profiler() {
        let p = Policy::load(None, None).unwrap();
        assert!(p
            .grant(
                "DaemonSet",
                "pyroscope",
                "kalypso-pyroscope-ebpf-profiler",
                "hostPath:/sys/kernel/tracing"
            )
            .is_some());
        assert!(p
            .grant("DaemonSet", "pyroscope", "other", "privileged")
            .is_none());
        assert!(p
            .grant(
                "DaemonSet",
                "pyroscope",
                "otel-ebpf-profiler",
                "hostPath:/etc"
            )
            .is_none());
        assert!(p
            .external("ConfigMap", "mimir", "kube-root-ca.crt")
            .is_some());
    }

    #[test]
    fn a_root_host_path_grant_allows_only_the_root() {
        assert!(allows("hostPath:/", "hostPath:/"));
        assert!(!allows("hostPath:/", "hostPath:/etc"));
        assert!(allows("hostPath:/var/log", "hostPath:/var/log/pods"));
        assert!(!allows("hostPath:/var/log", "hostPath:/var/logs"));
    }

    #[test]
    fn severity_overrides_set_levels_and_switch_rules_off() {
        let p = Policy::parse(
            "severity:\n  hygiene/*: warning\n  hygiene/probes: off\n  wiring/dns: info\n",
            "kalypso-policy.yaml",
        )
        .unwrap();
        assert_eq!(
            p.level("hygiene/requests"),
            Some(Level::Set(Severity::Warning))
        );
        assert_eq!(p.level("hygiene/probes"), Some(Level::Off));
        assert_eq!(p.level("wiring/secret"), None);
    }

    #[test]
    fn an_unknown_rule_or_level_in_severity_names_the_file_and_key() {
        let err = Policy::parse("severity:\n  hygiene/request: info\n", "my-policy.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("my-policy.yaml"), "{err}");
        assert!(err.contains("severity.hygiene/request"), "{err}");
        let err = Policy::parse("severity:\n  hygiene/probes: loud\n", "my-policy.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("my-policy.yaml"), "{err}");
        assert!(err.contains("severity.hygiene/probes"), "{err}");
        assert!(err.contains("loud"), "{err}");
    }

    #[test]
    fn an_unknown_key_in_a_policy_file_is_an_error_naming_the_file() {
        let err = Policy::parse("externals: []\n", "kalypso-policy.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("kalypso-policy.yaml"), "{err}");
    }
}
