//! The stack contract (`contract.yaml` at the repository root): every wire between the charts
//! (namespaces, Services and ports, tenants, buckets, S3 users and their Secrets, Grafana's
//! datasource UIDs). The charts read the same file as a values file (under `global.kalypso`),
//! so nothing in kalypso restates a wire.
//!
//! Outside a repository (the canary image) the copy embedded at build time is used.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::Deserialize;

use crate::error::usage;
use crate::stack::Stack;

/// Where the contract lives, relative to the repository root.
pub const CONTRACT_PATH: &str = "contract.yaml";

/// The contract this binary was built with, for runs outside a repository.
const EMBEDDED: &str = include_str!("../../../contract.yaml");

/// The whole contract.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// `X-Scope-OrgID` of each multi-tenant signal.
    pub tenants: Tenants,
    /// The `cluster` label of the node agent's scrapes and of the self-monitoring rules and
    /// dashboards.
    #[serde(default)]
    pub cluster: Option<String>,
    /// How long each signal is kept and the daily ingest it is sized for, by signal
    /// (`metrics`, `logs`, `traces`, `profiles`).
    #[serde(default)]
    pub retention: BTreeMap<String, Retention>,
    /// Per component (keys are the ApplicationSet's component names).
    pub components: BTreeMap<String, ComponentContract>,
}

/// The tenants writers and readers send.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tenants {
    /// Mimir.
    pub metrics: String,
    /// Loki.
    pub logs: String,
}

/// One component's wires: its namespace, the Services it offers (by role), its object storage,
/// and anything else others refer to.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ComponentContract {
    /// Namespace the component is installed into.
    pub namespace: String,
    /// Its object storage, for backends.
    #[serde(default)]
    pub storage: Option<Storage>,
    /// Grafana's admin Secret.
    #[serde(default, rename = "adminSecret")]
    pub admin_secret: Option<String>,
    /// Grafana's datasource UIDs by signal.
    #[serde(default)]
    pub datasources: BTreeMap<String, String>,
    /// Every other key: a Service endpoint by role (`gateway`, `distributor`, …).
    #[serde(flatten)]
    pub endpoints: BTreeMap<String, Endpoint>,
}

/// One signal's retention: how long it is kept (`168h`) and the compressed bytes written to the
/// object store per day (`100Mi`, Kubernetes quantity syntax).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub keep: String,
    #[serde(rename = "perDay")]
    pub per_day: String,
}

/// A Service endpoint: one port, or named ports.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// Service name.
    pub service: String,
    /// The port, when it has one.
    #[serde(default)]
    pub port: Option<u16>,
    /// Named ports, when it has several.
    #[serde(default)]
    pub ports: BTreeMap<String, u16>,
}

/// A backend's object storage.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// Its MinIO user (the S3 access key).
    pub user: String,
    /// The Secret in the backend's namespace with `S3_ACCESS_KEY_ID` and `S3_SECRET_ACCESS_KEY`.
    pub secret: String,
    /// Bucket by role.
    pub buckets: BTreeMap<String, String>,
}

/// A Service to reach: where it is and on which port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceAddress {
    /// Namespace.
    pub namespace: String,
    /// Service name.
    pub name: String,
    /// Service port.
    pub port: u16,
}

impl ServiceAddress {
    /// `<name>.<namespace>.svc.cluster.local:<port>`.
    pub fn fqdn(&self) -> String {
        format!(
            "{}.{}.svc.cluster.local:{}",
            self.name, self.namespace, self.port
        )
    }

    /// `svc/<name>.<namespace>:<port>`, as reports show it.
    pub fn shown(&self) -> String {
        format!("svc/{}.{}:{}", self.name, self.namespace, self.port)
    }
}

#[derive(Deserialize)]
struct File {
    global: Global,
}
#[derive(Deserialize)]
struct Global {
    kalypso: Contract,
}

impl Contract {
    /// Reads `<root>/contract.yaml`.
    pub fn load(root: &Path) -> Result<Contract> {
        let file = root.join(CONTRACT_PATH);
        let text = std::fs::read_to_string(&file).map_err(|e| {
            usage(format!(
                "cannot read the stack contract {}: {e}",
                file.display()
            ))
        })?;
        Self::parse(&text).map_err(|e| usage(format!("{}: {e}", file.display())))
    }

    /// The repository's contract when `root` has one, else the one built into kalypso.
    pub fn load_or_embedded(root: Option<&Path>) -> Result<Contract> {
        match root {
            Some(r) if r.join(CONTRACT_PATH).is_file() => Self::load(r),
            _ => {
                tracing::debug!(
                    "no {CONTRACT_PATH} here: using the contract kalypso was built with"
                );
                Self::parse(EMBEDDED).map_err(|e| usage(format!("embedded contract: {e}")))
            }
        }
    }

    /// Parses the contract text (`global.kalypso`).
    pub fn parse(text: &str) -> Result<Contract, String> {
        let f: File = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        Ok(f.global.kalypso)
    }

    /// A component's entry; an unknown name is an error naming the file.
    pub fn component(&self, name: &str) -> Result<&ComponentContract> {
        self.components.get(name).ok_or_else(|| {
            usage(format!(
                "{CONTRACT_PATH} has no component {name:?} (components: {})",
                self.components
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// The Service `role` of `component` on its single port, or its named port `port`.
    pub fn address(
        &self,
        component: &str,
        role: &str,
        port: Option<&str>,
    ) -> Result<ServiceAddress> {
        let c = self.component(component)?;
        let e = c.endpoints.get(role).ok_or_else(|| {
            usage(format!(
                "{CONTRACT_PATH}: component {component} has no endpoint {role:?}"
            ))
        })?;
        let number = match port {
            Some(p) => e.ports.get(p).copied(),
            None => e.port,
        }
        .ok_or_else(|| {
            usage(format!(
                "{CONTRACT_PATH}: {component}.{role} has no port{}",
                port.map(|p| format!(" {p:?}")).unwrap_or_default()
            ))
        })?;
        Ok(ServiceAddress {
            namespace: c.namespace.clone(),
            name: e.service.clone(),
            port: number,
        })
    }

    /// Backends with object storage: (component, namespace, storage), in name order.
    pub fn storage(&self) -> impl Iterator<Item = (&str, &str, &Storage)> {
        self.components.iter().filter_map(|(name, c)| {
            c.storage
                .as_ref()
                .map(|s| (name.as_str(), c.namespace.as_str(), s))
        })
    }

    /// Compares with the component list: the same components in the same namespaces. Returns
    /// one message per difference.
    pub fn differences(&self, stack: &Stack) -> Vec<String> {
        let mut out = Vec::new();
        for c in &stack.components {
            match self.components.get(&c.name) {
                None => out.push(format!(
                    "component {} is in the ApplicationSet but not in {CONTRACT_PATH}",
                    c.name
                )),
                Some(k) if k.namespace != c.namespace => out.push(format!(
                    "component {} is in namespace {} in the ApplicationSet but {} in {CONTRACT_PATH}",
                    c.name, c.namespace, k.namespace
                )),
                Some(_) => {}
            }
        }
        for name in self.components.keys() {
            if stack.component(name).is_none() {
                out.push(format!(
                    "component {name} is in {CONTRACT_PATH} but not in the ApplicationSet"
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_contract_parses_and_names_every_wire_kind() {
        let c = Contract::parse(EMBEDDED).unwrap();
        assert!(!c.tenants.metrics.is_empty());
        assert!(c.storage().count() >= 4, "backends with storage");
        for (_, _, s) in c.storage() {
            assert!(!s.buckets.is_empty() && !s.secret.is_empty() && !s.user.is_empty());
        }
    }

    #[test]
    fn addresses_come_from_the_component_and_role() {
        let c = Contract::parse(
            "global:\n  kalypso:\n    tenants: {metrics: t, logs: t}\n    components:\n      x:\n        namespace: ns\n        api: {service: svc, ports: {grpc: 9, http: 10}}\n        ui: {service: web, port: 80}\n",
        )
        .unwrap();
        assert_eq!(
            c.address("x", "ui", None).unwrap().fqdn(),
            "web.ns.svc.cluster.local:80"
        );
        assert_eq!(c.address("x", "api", Some("http")).unwrap().port, 10);
        let err = c.address("x", "nope", None).unwrap_err().to_string();
        assert!(err.contains("no endpoint \"nope\""), "{err}");
        let err = c.address("y", "ui", None).unwrap_err().to_string();
        assert!(err.contains("no component \"y\""), "{err}");
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let err = Contract::parse(
            "global:\n  kalypso:\n    tenants: {metrics: t, logs: t, traces: t}\n    components: {}\n",
        )
        .unwrap_err();
        assert!(err.contains("traces"), "{err}");
    }
}
