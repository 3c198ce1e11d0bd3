//! `ops/retention`: every backend forgets its data after a bounded time, and what the backends
//! keep fits the bundled object store's volume.
//!
//! Bounded, per backend, from the config it loads (and its per-tenant runtime file):
//! - Mimir: `limits.compactor_blocks_retention_period` > 0 (0, the default, keeps blocks
//!   forever); blocks are deleted `compactor.deletion_delay` after they are marked.
//! - Loki: `limits_config.retention_period` > 0 **and** `compactor.retention_enabled: true`
//!   **and** `compactor.delete_request_store` set: without either of the last two, Loki keeps
//!   everything whatever the period says (grafana/loki#5242); chunks go
//!   `compactor.retention_delete_delay` after they are marked.
//! - Tempo: `compactor.compaction.block_retention` > 0; blocks past it are marked compacted and
//!   deleted `compactor.compaction.compacted_block_retention` later.
//! - Pyroscope 2 (v2 storage, `-architecture.storage=v2`): `limits.retention_period` > 0
//!   (hidden in the reference; default 31 days, `RegisterFlags` in
//!   pkg/metastore/index/cleaner/retention/retention.go) applied by the metastore's index
//!   cleaner, which runs only when `metastore.index.cleanup_interval` > 0 and evaluates a
//!   partition `metastore.index.cleanup_grace_period` after it is due. With v1 storage:
//!   Mimir's keys and `compactor.deletion_delay`.
//!
//! A per-tenant runtime override of the period counts too (the longest one is what is kept;
//! an override of 0 keeps that tenant forever).
//!
//! The budget, for a bundled object store (a store the stack renders, found as `wiring/bucket`
//! finds it, whose data is a claim): every backend whose config addresses the store keeps
//! `perDay × (retention + deletion delay)` of its signal, `perDay` being the contract's
//! documented ingest per signal (`global.kalypso.retention.<signal>.perDay`). Their sum must
//! stay at or below 80% of the claim (the rest is headroom for compaction's temporary copies
//! and bursts). The finding names every figure.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::PersistentVolumeClaim;

use kalypso_model::contract::Retention;
use kalypso_model::manifest::workload::pod_spec;
use kalypso_model::manifest::Object;
use kube_quantity::ParsedQuantity;

use super::{at, duration, Setting};
use crate::config::{backend_configs, BackendConfig};
use crate::context::Context;
use crate::finding::{Finding, Severity};
use crate::storage::object_stores;

/// Rule id.
pub const RULE: &str = "ops/retention";

/// The share of the store's claim the kept data may fill.
pub const STORE_SHARE: f64 = 0.8;

/// Which signal each backend keeps (the contract's retention keys).
pub const SIGNALS: &[(&str, &str)] = &[
    ("mimir", "metrics"),
    ("loki", "logs"),
    ("tempo", "traces"),
    ("pyroscope", "profiles"),
];

/// Pyroscope 2's default `limits.retention_period` (31 days: `RegisterFlags` in
/// pkg/metastore/index/cleaner/retention/retention.go at v2.2.1; hidden from the reference).
const PYROSCOPE_DEFAULT_RETENTION: &str = "744h";

/// What one backend keeps, as rendered.
#[derive(Debug, Clone)]
struct Kept {
    backend: &'static str,
    namespace: String,
    retention: Setting,
    delay: Setting,
}

/// Runs the rule. `budget` is the contract's retention per signal (empty when the input is not
/// a stack: the budget is then not checked).
pub fn check(ctx: &Context, budget: &BTreeMap<String, Retention>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut kept: Vec<(Kept, &Object)> = Vec::new();
    let mut seen = BTreeSet::new();
    for cfg in backend_configs(ctx) {
        let ns = cfg.workload.namespace.clone().unwrap_or_default();
        // Components of one backend share their config: judge it once per namespace.
        if !seen.insert((ns.clone(), cfg.backend)) {
            continue;
        }
        match bounded(&cfg) {
            Ok(k) => kept.push((k, cfg.source)),
            Err((field, message)) => out.push(Finding::new(
                RULE,
                Severity::Error,
                cfg.source,
                format!("{}: {field}", cfg.field),
                message,
            )),
        }
    }
    if !budget.is_empty() {
        out.extend(fits_store(ctx, budget, &kept));
    }
    out
}

/// The backend's bounded retention and deletion delay, or (field, why it is not bounded).
fn bounded(cfg: &BackendConfig<'_>) -> Result<Kept, (String, String)> {
    let reference = cfg.reference().ok_or_else(|| {
        (
            "".to_string(),
            format!(
                "{} {} has no configuration reference in kalypso: its retention cannot be read",
                cfg.backend, cfg.version
            ),
        )
    })?;
    let shown = format!("{} {}", cfg.backend, cfg.version);
    let read = |path: &str, default: Option<&str>| {
        duration(cfg, &reference, &cfg.config, path, path, default)
            .map_err(|why| (path.to_string(), format!("{path}: {why}")))
    };
    let (period, delay, overrides) = match cfg.backend {
        "mimir" => (
            "limits.compactor_blocks_retention_period",
            read("compactor.deletion_delay", None)?,
            "compactor_blocks_retention_period",
        ),
        "loki" => {
            let enabled = at(&cfg.config, "compactor.retention_enabled");
            if !enabled.is_some_and(is_true) {
                return Err((
                    "compactor.retention_enabled".into(),
                    format!(
                        "compactor.retention_enabled is {}: {shown}'s compactor never applies limits_config.retention_period and keeps every log forever; set it to true",
                        enabled.map(|v| v.to_string()).unwrap_or_else(|| "not set (default false)".into())
                    ),
                ));
            }
            if at(&cfg.config, "compactor.delete_request_store")
                .and_then(|v| v.as_str())
                .is_none_or(str::is_empty)
            {
                return Err((
                    "compactor.delete_request_store".into(),
                    format!("compactor.delete_request_store is not set: {shown} refuses to apply retention without a store for delete requests (set it to the chunks' object store, e.g. s3)"),
                ));
            }
            (
                "limits_config.retention_period",
                read("compactor.retention_delete_delay", None)?,
                "retention_period",
            )
        }
        "tempo" => (
            "compactor.compaction.block_retention",
            read("compactor.compaction.compacted_block_retention", None)?,
            "",
        ),
        "pyroscope" if cfg.flag("architecture.storage").as_deref() == Some("v1") => (
            "limits.compactor_blocks_retention_period",
            read("compactor.deletion_delay", None)?,
            "compactor_blocks_retention_period",
        ),
        "pyroscope" => {
            let interval = read("metastore.index.cleanup_interval", None)?;
            if interval.nanos <= 0 {
                return Err((
                    interval.key.clone(),
                    format!("metastore.index.cleanup_interval is {}: {shown}'s metastore never runs its index cleaner, so limits.retention_period is never applied and profiles are kept forever", interval.hours()),
                ));
            }
            (
                "limits.retention_period",
                read("metastore.index.cleanup_grace_period", None)?,
                "retention_period",
            )
        }
        other => {
            return Err((
                String::new(),
                format!("kalypso does not know where {other} sets its retention"),
            ))
        }
    };
    let default = (cfg.backend == "pyroscope" && period == "limits.retention_period")
        .then_some(PYROSCOPE_DEFAULT_RETENTION);
    let mut retention = read(period, default)?;
    if retention.nanos <= 0 {
        let how = if retention.rendered {
            format!("{period} is {}", retention.hours())
        } else {
            format!("{period} is not set (default {})", retention.hours())
        };
        return Err((
            period.to_string(),
            format!("{how}: {shown} keeps its data forever; set a retention (the contract's global.kalypso.retention)"),
        ));
    }
    // Per-tenant overrides: the longest is kept; 0 keeps that tenant forever.
    if let (Some((_, field, runtime)), false) = (&cfg.runtime, overrides.is_empty()) {
        let tenants = runtime["overrides"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (tenant, limits) in tenants {
            if at(&limits, overrides).is_none() {
                continue;
            }
            let path = format!("overrides.{tenant}.{overrides}");
            let pattern = format!("runtime:overrides.*.{overrides}");
            let over = duration(cfg, &reference, runtime, &path, &pattern, None)
                .map_err(|why| (path.clone(), format!("{path} ({field}): {why}")))?;
            if over.nanos <= 0 {
                return Err((
                    path.clone(),
                    format!("the runtime override {path} ({field}) is {}: {shown} keeps tenant {tenant}'s data forever", over.hours()),
                ));
            }
            if over.nanos > retention.nanos {
                retention = over;
            }
        }
    }
    Ok(Kept {
        backend: cfg.backend,
        namespace: cfg.workload.namespace.clone().unwrap_or_default(),
        retention,
        delay,
    })
}

fn is_true(v: &serde_json::Value) -> bool {
    v.as_bool() == Some(true)
        || v.as_str()
            .is_some_and(|s| matches!(s, "true" | "True" | "TRUE" | "yes" | "on"))
}

/// A Kubernetes quantity in bytes.
fn bytes(quantity: &str) -> Option<f64> {
    ParsedQuantity::try_from(quantity).ok()?.to_bytes_f64()
}

/// Bytes as the quantities people write (`2.8Gi`, `708.3Mi`).
fn shown_bytes(b: f64) -> String {
    const UNITS: [(&str, f64); 4] = [
        ("Ti", 1_099_511_627_776.0),
        ("Gi", 1_073_741_824.0),
        ("Mi", 1_048_576.0),
        ("Ki", 1024.0),
    ];
    for (unit, size) in UNITS {
        if b >= size {
            let v = b / size;
            return if (v - v.round()).abs() < 0.05 {
                format!("{}{unit}", v.round())
            } else {
                format!("{v:.1}{unit}")
            };
        }
    }
    format!("{b}")
}

/// The claims a bundled store's servers keep their data on: (claim, its size text).
fn store_claims<'a>(ctx: &'a Context, namespace: &str) -> Vec<(&'a Object, String)> {
    let mut out: Vec<(&Object, String)> = Vec::new();
    for obj in &ctx.manifest.objects {
        if obj.namespace.as_deref() != Some(namespace) {
            continue;
        }
        let Some(pod) = pod_spec(obj) else { continue };
        if !pod.long_running {
            continue;
        }
        for v in pod.spec["volumes"].as_array().into_iter().flatten() {
            let Some(name) = v["persistentVolumeClaim"]["claimName"].as_str() else {
                continue;
            };
            let Some(claim) = ctx
                .manifest
                .get("PersistentVolumeClaim", Some(namespace), name)
            else {
                continue;
            };
            let size = claim
                .typed::<PersistentVolumeClaim>()
                .and_then(|c| c.spec.as_ref()?.resources.as_ref()?.requests.as_ref())
                .and_then(|r| r.get("storage"));
            if let Some(size) = size {
                out.push((claim, size.0.clone()));
            }
        }
        // A StatefulSet's own claims: the template stands for each replica's.
        for t in obj.body["spec"]["volumeClaimTemplates"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(size) = t["spec"]["resources"]["requests"]["storage"].as_str() {
                out.push((obj, size.to_string()));
            }
        }
    }
    out.sort_by_key(|a| a.0.reference());
    out.dedup_by(|a, b| a.0.reference() == b.0.reference());
    out
}

/// The budget on each bundled store's claims.
fn fits_store(
    ctx: &Context,
    budget: &BTreeMap<String, Retention>,
    kept: &[(Kept, &Object)],
) -> Vec<Finding> {
    let mut out = Vec::new();
    for store in object_stores(ctx) {
        // The backends whose config addresses this store.
        let users: Vec<&Kept> = kept
            .iter()
            .filter(|(_, source)| {
                ctx.dns.iter().any(|u| {
                    u.reference.namespace == store.namespace
                        && ctx.manifest.objects[u.object].reference() == source.reference()
                })
            })
            .map(|(k, _)| k)
            .collect();
        if users.is_empty() {
            continue;
        }
        for (claim, size) in store_claims(ctx, &store.namespace) {
            let field = if claim.kind == "PersistentVolumeClaim" {
                "spec.resources.requests.storage"
            } else {
                "spec.volumeClaimTemplates"
            };
            let Some(capacity) = bytes(&size) else {
                out.push(Finding::new(
                    RULE,
                    Severity::Error,
                    claim,
                    field,
                    format!("the store's claim size {size:?} is not a Kubernetes quantity"),
                ));
                continue;
            };
            let mut terms = Vec::new();
            let mut total = 0.0;
            let mut unstated = Vec::new();
            for k in &users {
                let signal = SIGNALS
                    .iter()
                    .find(|(b, _)| *b == k.backend)
                    .map(|(_, s)| *s)
                    .unwrap_or(k.backend);
                let Some(per_day) = budget.get(signal).map(|r| r.per_day.as_str()) else {
                    unstated.push(signal);
                    continue;
                };
                let Some(daily) = bytes(per_day) else {
                    out.push(Finding::new(
                        RULE,
                        Severity::Error,
                        claim,
                        field,
                        format!("the contract's retention.{signal}.perDay {per_day:?} is not a Kubernetes quantity"),
                    ));
                    continue;
                };
                let days = (k.retention.nanos + k.delay.nanos.max(0)) as f64 / 8.64e13;
                let size = daily * days;
                total += size;
                terms.push(format!(
                    "{signal} {per_day}/day × ({} {} {} + {} {} {}) = {}",
                    k.retention.hours(),
                    k.backend,
                    k.retention.key,
                    k.delay.hours(),
                    k.delay.key,
                    if k.delay.rendered {
                        "as rendered"
                    } else {
                        "by default"
                    },
                    shown_bytes(size)
                ));
            }
            let limit = capacity * STORE_SHARE;
            let figures = format!(
                "{}; total {} against {:.0}% of claim {} ({size}) = {}",
                terms.join("; "),
                shown_bytes(total),
                STORE_SHARE * 100.0,
                claim.name,
                shown_bytes(limit)
            );
            let missing = if unstated.is_empty() {
                String::new()
            } else {
                format!(
                    " (no ingest budget in the contract for {}: not counted)",
                    unstated.join(", ")
                )
            };
            let namespaces: BTreeSet<&str> = users.iter().map(|k| k.namespace.as_str()).collect();
            if total > limit {
                out.push(Finding::new(
                    RULE,
                    Severity::Error,
                    claim,
                    field,
                    format!(
                        "what the backends keep does not fit the object store: {figures}{missing}; shorten a retention, lower the stated ingest, or grow the claim (backends in {})",
                        namespaces.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            } else {
                out.push(Finding::new(
                    RULE,
                    Severity::Info,
                    claim,
                    field,
                    format!("the backends' kept data fits the object store: {figures}{missing}"),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_the_api_server_reads_them() {
        assert_eq!(bytes("5Gi"), Some(5.0 * 1_073_741_824.0));
        assert_eq!(bytes("500M"), Some(500e6));
        assert_eq!(bytes("lots"), None);
        assert_eq!(shown_bytes(1_073_741_824.0 * 2.75), "2.8Gi");
        assert_eq!(shown_bytes(100.0 * 1_048_576.0), "100Mi");
    }
}
