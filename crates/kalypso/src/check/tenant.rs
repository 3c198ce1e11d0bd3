//! `wiring/tenant`: everyone who writes to or reads from a backend in another namespace uses
//! the same tenant (`X-Scope-OrgID`, or none). Writers: collector exporters (`exporters.<name>`
//! with `endpoint` and `headers`) and remote writes (`remote_write[]` with `url` and
//! `headers`); readers: Grafana datasources (`datasources[]` with `url`, and
//! `jsonData.httpHeaderNameN: X-Scope-OrgID` + `secureJsonData.httpHeaderValueN`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::context::Context;
use super::dns::extract;
use super::finding::{Finding, Severity};
use crate::manifest::walk::{self, get_ci};

/// Rule id.
pub(crate) const RULE: &str = "wiring/tenant";

/// The tenant header.
pub(crate) const TENANT_HEADER: &str = "X-Scope-OrgID";

/// Whether a use writes or reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Writer,
    Reader,
}

/// One writer or reader of a backend.
#[derive(Debug, Clone)]
pub(crate) struct TenantUse {
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
pub(crate) fn uses(ctx: &Context) -> Vec<TenantUse> {
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
    out
}

/// Checks that writers and readers of each backend agree on the tenant.
pub(crate) fn check(ctx: &Context) -> Vec<Finding> {
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
