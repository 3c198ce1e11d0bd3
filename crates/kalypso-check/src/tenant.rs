//! `wiring/tenant`: everyone who writes to or reads from a backend in another namespace uses
//! the same tenant (`X-Scope-OrgID`, or none). Writers: collector exporters (`exporters.<name>`
//! with `endpoint` and `headers`) and remote writes (`remote_write[]` with `url` and
//! `headers`); readers: Grafana datasources (`datasources[]` with `url`, and
//! `jsonData.httpHeaderNameN: X-Scope-OrgID` + `secureJsonData.httpHeaderValueN`).
//! Grafana Alloy writers too: the `endpoint` blocks of `loki.write`, `prometheus.remote_write`
//! and `pyroscope.write` (`url`, `tenant_id`, `headers`) and the `client` block of the
//! `otelcol.exporter.otlp`/`otlphttp` components (`endpoint`, `headers`), with tenants read
//! from literals or from the Secret a `remote.kubernetes.secret` component names.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::context::{AlloyConfig, Context};
use super::dns::alloy::{Block, Expr};
use super::dns::extract;
use super::finding::{Finding, Severity};
use kalypso_model::manifest::walk::{self, get_ci};

/// Rule id.
pub const RULE: &str = "wiring/tenant";

/// The tenant header.
pub const TENANT_HEADER: &str = "X-Scope-OrgID";

/// Whether a use writes or reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Writer,
    Reader,
}

/// One writer or reader of a backend.
#[derive(Debug, Clone)]
pub struct TenantUse {
    pub object: usize,
    pub field: String,
    pub role: Role,
    /// Backend namespace and Service.
    pub namespace: String,
    pub service: String,
    /// `None`: no tenant header.
    pub tenant: Option<String>,
}

fn describe(t: &Option<String>) -> String {
    match t {
        Some(t) => format!("tenant {t:?}"),
        None => format!("no {TENANT_HEADER} (the backend's default tenant)"),
    }
}

fn datasource_tenant(map: &Map<String, Value>) -> Option<String> {
    let json = map.get("jsonData")?.as_object()?;
    for (k, v) in json {
        if let Some(n) = k.strip_prefix("httpHeaderName") {
            if v.as_str()
                .is_some_and(|h| h.eq_ignore_ascii_case(TENANT_HEADER))
            {
                return map
                    .get("secureJsonData")
                    .and_then(|s| s.get(format!("httpHeaderValue{n}")))
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
        }
    }
    None
}

/// Every writer and reader the input configures.
pub fn uses(ctx: &Context) -> Vec<TenantUse> {
    let mut out = Vec::new();
    for cfg in &ctx.configs {
        let obj = &ctx.manifest.objects[cfg.object];
        let own_ns = obj.namespace.clone().unwrap_or_default();
        walk::maps(&cfg.value, "", &mut |path, map| {
            let segs: Vec<&str> = path.split('.').collect();
            let parent = segs
                .len()
                .checked_sub(2)
                .and_then(|i| segs.get(i))
                .copied()
                .unwrap_or("");
            let last = segs.last().copied().unwrap_or("");
            let (role, addr_key) = if parent == "exporters" && map.contains_key("endpoint") {
                (Role::Writer, "endpoint")
            } else if last.starts_with("remote_write[") && map.contains_key("url") {
                (Role::Writer, "url")
            } else if last.starts_with("datasources[") && map.contains_key("url") {
                (Role::Reader, "url")
            } else {
                return;
            };
            let Some(addr) = map.get(addr_key).and_then(Value::as_str) else {
                return;
            };
            let Some(r) = extract::find(addr, &ctx.namespaces).into_iter().next() else {
                return;
            };
            if r.namespace == own_ns {
                return;
            }
            let tenant = match role {
                Role::Reader => datasource_tenant(map),
                Role::Writer => map
                    .get("headers")
                    .and_then(Value::as_object)
                    .and_then(|h| get_ci(h, TENANT_HEADER))
                    .and_then(Value::as_str)
                    .map(str::to_string),
            };
            if tenant
                .as_deref()
                .is_some_and(|t| t.contains("${") || t.contains("{{"))
            {
                return;
            }
            out.push(TenantUse {
                object: cfg.object,
                field: cfg.at(&walk::join(path, addr_key)),
                role,
                namespace: r.namespace,
                service: r.service,
                tenant,
            });
        });
    }
    for cfg in &ctx.alloy {
        out.extend(alloy_writers(ctx, cfg));
    }
    out
}

/// An Alloy tenant value: `Ok(None)` for none, `Err(())` when it cannot be known offline.
fn alloy_tenant(ctx: &Context, cfg: &AlloyConfig, e: Option<&Expr>) -> Result<Option<String>, ()> {
    match e {
        None => Ok(None),
        Some(Expr::Str(s)) if s.is_empty() => Ok(None),
        Some(Expr::Str(s)) => Ok(Some(s.clone())),
        Some(Expr::SecretRef { label, key }) => {
            let source = cfg
                .root
                .all()
                .into_iter()
                .find(|b| b.kind == "remote.kubernetes.secret" && b.label.as_deref() == Some(label))
                .ok_or(())?;
            let (name, ns) = (
                source.str_attr("name").ok_or(())?,
                source.str_attr("namespace"),
            );
            let obj = &ctx.manifest.objects[cfg.object];
            let ns = ns.or(obj.namespace.as_deref()).ok_or(())?;
            let secret = ctx.manifest.get("Secret", Some(ns), name).ok_or(())?;
            let value = super::storage::secret_value(secret, key).ok_or(())?;
            Ok((!value.is_empty()).then_some(value))
        }
        Some(_) => Err(()),
    }
}

/// The writers an Alloy configuration sets up, with their tenants.
fn alloy_writers(ctx: &Context, cfg: &AlloyConfig) -> Vec<TenantUse> {
    let obj = &ctx.manifest.objects[cfg.object];
    let own_ns = obj.namespace.clone().unwrap_or_default();
    let mut out = Vec::new();
    for component in cfg.root.all() {
        let (inner, addr_key, tenant_key) = match component.kind.as_str() {
            "loki.write" | "pyroscope.write" => ("endpoint", "url", Some("tenant_id")),
            "prometheus.remote_write" => ("endpoint", "url", None),
            "otelcol.exporter.otlp" | "otelcol.exporter.otlphttp" => ("client", "endpoint", None),
            _ => continue,
        };
        for b in component.blocks.iter().filter(|b| b.kind == inner) {
            let Some(addr) = b.str_attr(addr_key) else {
                continue;
            };
            let Some(r) = extract::find(addr, &ctx.namespaces).into_iter().next() else {
                continue;
            };
            // An auth extension may set the header: not known here.
            if r.namespace == own_ns || b.attr("auth").is_some() {
                continue;
            }
            let header = match b.attr("headers") {
                Some(Expr::Object(h)) => h
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(TENANT_HEADER))
                    .map(|(_, v)| v),
                Some(_) => continue,
                None => None,
            };
            let tenant = match (tenant_key.and_then(|k| b.attr(k)), header) {
                (Some(t), _) | (None, Some(t)) => alloy_tenant(ctx, cfg, Some(t)),
                (None, None) => Ok(None),
            };
            let Ok(tenant) = tenant else { continue };
            out.push(TenantUse {
                object: cfg.object,
                field: alloy_field(cfg, component, b, addr_key),
                role: Role::Writer,
                namespace: r.namespace,
                service: r.service,
                tenant,
            });
        }
    }
    out
}

/// `data.config.alloy: loki.write "default" endpoint.url (line 12)`.
fn alloy_field(cfg: &AlloyConfig, component: &Block, block: &Block, key: &str) -> String {
    let label = component
        .label
        .as_deref()
        .map(|l| format!(" {l:?}"))
        .unwrap_or_default();
    format!(
        "{}: {}{label} {}.{key} (line {})",
        cfg.field, component.kind, block.kind, block.line
    )
}

/// Checks that writers and readers of each backend agree on the tenant.
pub fn check(ctx: &Context) -> Vec<Finding> {
    let mut by_backend: BTreeMap<String, Vec<TenantUse>> = BTreeMap::new();
    for u in uses(ctx) {
        by_backend.entry(u.namespace.clone()).or_default().push(u);
    }
    let mut out = Vec::new();
    for (backend, list) in by_backend {
        // The readers' tenant is what users see; without readers, the writers' majority.
        let pool: Vec<&TenantUse> = if list.iter().any(|u| u.role == Role::Reader) {
            list.iter().filter(|u| u.role == Role::Reader).collect()
        } else {
            list.iter().collect()
        };
        let mut counts: BTreeMap<&Option<String>, usize> = BTreeMap::new();
        for u in &pool {
            *counts.entry(&u.tenant).or_default() += 1;
        }
        let Some((expected, _)) = counts.iter().max_by_key(|(_, n)| **n) else {
            continue;
        };
        let expected = (*expected).clone();
        let witness = pool
            .iter()
            .find(|u| u.tenant == expected)
            .map(|u| {
                let o = &ctx.manifest.objects[u.object];
                format!(
                    "{} {} ({})",
                    o.reference(),
                    u.field,
                    if u.role == Role::Reader {
                        "reader"
                    } else {
                        "writer"
                    }
                )
            })
            .unwrap_or_default();
        for u in &list {
            if u.tenant == expected {
                continue;
            }
            let obj = &ctx.manifest.objects[u.object];
            out.push(Finding::new(
                RULE,
                Severity::Error,
                obj,
                &u.field,
                format!(
                    "{} {}/{} with {}, but {witness} uses {}",
                    if u.role == Role::Reader {
                        "reads from"
                    } else {
                        "writes to"
                    },
                    backend,
                    u.service,
                    describe(&u.tenant),
                    describe(&expected)
                ),
            ));
        }
    }
    out
}
