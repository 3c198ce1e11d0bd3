//! Where each signal is written and read: an explicit URL when given, else a port-forward
//! through the Kubernetes API to the contract Service (README's address table).
//!
//! Routing follows the stack: traces and logs go through the gateway collector
//! (`kalypso-collector.otel-system:4318`) when it has a ready pod, and straight to Tempo / Loki
//! otherwise; metrics use remote write straight to Mimir (the collector has no remote-write
//! receiver); profiles go straight to Pyroscope.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use reqwest::Url;
use tokio::sync::Mutex;

use super::grafana::GrafanaTarget;
use super::http::{display_url, join};
use super::logs::LogsPipeline;
use super::metrics::MetricsPipeline;
use super::probe::Failure;
use super::profiles::{write_url_for, ProfilesPipeline};
use super::sigv4::Credentials;
use super::storage::StorageTarget;
use super::traces::TracesPipeline;
use super::{Pipeline, Route, Signal, VerifyOptions};
use kalypso_cluster::portforward::{PortForward, PortForwardError};
use kalypso_cluster::{Cluster, KubeTarget};
use kalypso_model::contract::{Contract, ServiceAddress};

/// Explicit endpoints from the command line; `None` means "port-forward to the contract Service".
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// Full remote-write URL.
    pub metrics_write: Option<Url>,
    /// Prometheus API base.
    pub metrics_query: Option<Url>,
    /// Loki push or OTLP logs URL.
    pub logs_write: Option<Url>,
    /// Loki base.
    pub logs_query: Option<Url>,
    /// OTLP/HTTP traces URL.
    pub traces_write: Option<Url>,
    /// Tempo base.
    pub traces_query: Option<Url>,
    /// Pyroscope base (or full OTLP profiles URL).
    pub profiles_write: Option<Url>,
    /// Pyroscope base.
    pub profiles_query: Option<Url>,
    /// Grafana base.
    pub grafana: Option<Url>,
    /// S3 endpoint.
    pub s3: Option<Url>,
}

/// The components and Service roles of the contract that verify talks to.
pub mod roles {
    pub const MIMIR: (&str, &str) = ("kalypso-mimir", "gateway");
    pub const LOKI: (&str, &str) = ("kalypso-loki", "gateway");
    pub const TEMPO_DISTRIBUTOR: (&str, &str) = ("kalypso-tempo", "distributor");
    pub const TEMPO_QUERY: (&str, &str) = ("kalypso-tempo", "queryFrontend");
    pub const PYROSCOPE: (&str, &str) = ("kalypso-pyroscope", "server");
    pub const GRAFANA: (&str, &str) = ("kalypso-grafana", "ui");
    pub const MINIO: (&str, &str) = ("kalypso-minio", "s3");
    pub const COLLECTOR: (&str, &str) = ("kalypso-otel", "collector");
    /// The named port of a multi-port Service that OTLP/HTTP uses.
    pub const OTLP_HTTP: &str = "otlpHttp";
}

/// The contract Service of `role`, or a setup failure naming what is missing.
fn service(
    contract: &Contract,
    (component, role): (&str, &str),
    port: Option<&str>,
) -> Result<ServiceAddress, Failure> {
    contract
        .address(component, role, port)
        .map_err(|e| Failure::setup(e.to_string()))
}

/// An endpoint: the URL to talk to and what to call it in the report.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Where requests go (a local port when forwarded).
    pub url: Url,
    /// How the report names it.
    pub shown: String,
}

/// Everything resolved for one run. Holds the port-forwards open while it lives.
#[derive(Debug, Default)]
pub struct Resolved {
    routes: BTreeMap<Signal, Result<Route, Failure>>,
    /// Grafana target, when asked for.
    pub grafana: Option<Result<GrafanaTarget, Failure>>,
    /// Storage target, when asked for.
    pub storage: Option<Result<StorageTarget, Failure>>,
    forwards: Vec<PortForward>,
}

impl Resolved {
    /// The route of a data signal.
    pub fn route(&self, signal: Signal) -> Result<&Route, Failure> {
        match self.routes.get(&signal) {
            Some(Ok(r)) => Ok(r),
            Some(Err(f)) => Err(f.clone()),
            None => Err(Failure::setup(format!("{signal} was not resolved"))),
        }
    }

    /// How many port-forwards are open.
    pub fn forward_count(&self) -> usize {
        self.forwards.len()
    }
}

/// Connects to the cluster at most once, and forwards each Service at most once.
struct Forwarder {
    cluster: Mutex<Option<Result<Cluster, String>>>,
    open: Mutex<BTreeMap<ServiceRef, Result<Url, String>>>,
    forwards: Mutex<Vec<PortForward>>,
    kube: KubeTarget,
}

type ServiceRef = ServiceAddress;

impl Forwarder {
    fn new(kube: KubeTarget) -> Forwarder {
        Forwarder {
            kube,
            cluster: Mutex::new(None),
            open: Mutex::new(BTreeMap::new()),
            forwards: Mutex::new(Vec::new()),
        }
    }

    async fn cluster(&self) -> Result<Cluster, String> {
        let mut slot = self.cluster.lock().await;
        if slot.is_none() {
            *slot = Some(
                Cluster::connect_to(&self.kube)
                    .await
                    .map_err(|e| e.to_string()),
            );
        }
        slot.clone().unwrap_or_else(|| Err("no cluster".into()))
    }

    /// A local base URL reaching `svc`, or why not (`Err((message, not_there))`).
    async fn base(&self, svc: &ServiceRef) -> Result<Url, String> {
        if let Some(done) = self.open.lock().await.get(svc) {
            return done.clone();
        }
        let result = match self.cluster().await {
            Err(e) => Err(e),
            Ok(cluster) => {
                match PortForward::to_service(&cluster, &svc.namespace, &svc.name, svc.port).await {
                    Ok(pf) => {
                        let url = Url::parse(&pf.http_base()).map_err(|e| e.to_string());
                        self.forwards.lock().await.push(pf);
                        url
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        self.open.lock().await.insert(svc.clone(), result.clone());
        result
    }

    /// Whether the Service exists with a ready pod (used for the optional collector).
    async fn available(&self, svc: &ServiceRef) -> bool {
        let Ok(cluster) = self.cluster().await else {
            return false;
        };
        match kalypso_cluster::portforward::resolve_service(
            &cluster,
            &svc.namespace,
            &svc.name,
            svc.port,
        )
        .await
        {
            Ok(_) => true,
            Err(PortForwardError::ServiceNotFound { .. } | PortForwardError::NoReadyPod { .. }) => {
                false
            }
            Err(_) => false,
        }
    }

    /// The explicit URL, else a forward to `svc` with `path` appended.
    async fn endpoint(
        &self,
        explicit: &Option<Url>,
        svc: Result<ServiceRef, Failure>,
        path: &str,
        flag: &str,
    ) -> Result<Endpoint, Failure> {
        if let Some(url) = explicit {
            return Ok(Endpoint {
                url: url.clone(),
                shown: display_url(url),
            });
        }
        let svc = svc?;
        match self.base(&svc).await {
            Ok(base) => {
                let url = if path.is_empty() {
                    base
                } else {
                    join(&base, path)
                };
                Ok(Endpoint {
                    url,
                    shown: format!("{}{path} (port-forward)", svc.shown()),
                })
            }
            Err(e) => Err(Failure::setup(format!(
                "no {flag} given and cannot port-forward to {}: {e}",
                svc.shown()
            ))),
        }
    }
}

/// Resolves every endpoint the asked-for signals need. Problems become failures of the signal
/// concerned; nothing here fails the whole run.
pub async fn resolve(opts: &VerifyOptions) -> Resolved {
    let fw = Forwarder::new(opts.kube.clone());
    let e = &opts.endpoints;
    let wants = |s: Signal| opts.only.contains(&s);
    let mut resolved = Resolved::default();
    let needs_collector = (wants(Signal::Traces) && e.traces_write.is_none())
        || (wants(Signal::Logs) && e.logs_write.is_none());
    let c = &opts.contract;
    let collector = match service(c, roles::COLLECTOR, Some(roles::OTLP_HTTP)) {
        Ok(svc) => needs_collector && fw.available(&svc).await,
        Err(_) => false,
    };

    if wants(Signal::Metrics) {
        let r = async {
            let w = fw
                .endpoint(
                    &e.metrics_write,
                    service(c, roles::MIMIR, None),
                    "/api/v1/push",
                    "--metrics-write-url",
                )
                .await?;
            let q = fw
                .endpoint(
                    &e.metrics_query,
                    service(c, roles::MIMIR, None),
                    "/prometheus",
                    "--metrics-query-url",
                )
                .await?;
            let pipeline = Pipeline::Metrics(MetricsPipeline {
                write_url: w.url,
                query_url: q.url,
                tenant: opts.tenants.metrics.clone(),
            });
            Ok(Route {
                pipeline,
                write_shown: w.shown,
                read_shown: q.shown,
            })
        };
        resolved.routes.insert(Signal::Metrics, r.await);
    }
    if wants(Signal::Logs) {
        let r = async {
            let w = if collector {
                fw.endpoint(
                    &e.logs_write,
                    service(c, roles::COLLECTOR, Some(roles::OTLP_HTTP)),
                    "/v1/logs",
                    "--logs-write-url",
                )
                .await?
            } else {
                fw.endpoint(
                    &e.logs_write,
                    service(c, roles::LOKI, None),
                    "/loki/api/v1/push",
                    "--logs-write-url",
                )
                .await?
            };
            let q = fw
                .endpoint(
                    &e.logs_query,
                    service(c, roles::LOKI, None),
                    "",
                    "--logs-query-url",
                )
                .await?;
            let pipeline =
                LogsPipeline::new(w.url, q.url, &opts.tenants.logs).map_err(Failure::setup)?;
            Ok(Route {
                pipeline: Pipeline::Logs(pipeline),
                write_shown: w.shown,
                read_shown: q.shown,
            })
        };
        resolved.routes.insert(Signal::Logs, r.await);
    }
    if wants(Signal::Traces) {
        let r = async {
            let w = if collector {
                fw.endpoint(
                    &e.traces_write,
                    service(c, roles::COLLECTOR, Some(roles::OTLP_HTTP)),
                    "/v1/traces",
                    "--traces-write-url",
                )
                .await?
            } else {
                fw.endpoint(
                    &e.traces_write,
                    service(c, roles::TEMPO_DISTRIBUTOR, Some(roles::OTLP_HTTP)),
                    "/v1/traces",
                    "--traces-write-url",
                )
                .await?
            };
            let q = fw
                .endpoint(
                    &e.traces_query,
                    service(c, roles::TEMPO_QUERY, None),
                    "",
                    "--traces-query-url",
                )
                .await?;
            let pipeline = Pipeline::Traces(TracesPipeline {
                write_url: w.url,
                query_url: q.url,
            });
            Ok(Route {
                pipeline,
                write_shown: w.shown,
                read_shown: q.shown,
            })
        };
        resolved.routes.insert(Signal::Traces, r.await);
    }
    if wants(Signal::Profiles) {
        let r = async {
            let w = fw
                .endpoint(
                    &e.profiles_write,
                    service(c, roles::PYROSCOPE, None),
                    "",
                    "--profiles-write-url",
                )
                .await?;
            let q = fw
                .endpoint(
                    &e.profiles_query,
                    service(c, roles::PYROSCOPE, None),
                    "",
                    "--profiles-query-url",
                )
                .await?;
            let write_url = write_url_for(&w.url);
            let shown = format!(
                "{}/v1development/profiles",
                w.shown
                    .trim_end_matches('/')
                    .replace("/v1development/profiles", "")
            );
            let pipeline = Pipeline::Profiles(ProfilesPipeline {
                write_url,
                query_url: q.url,
            });
            Ok(Route {
                pipeline,
                write_shown: shown,
                read_shown: q.shown,
            })
        };
        resolved.routes.insert(Signal::Profiles, r.await);
    }
    if wants(Signal::Grafana) {
        resolved.grafana = Some(grafana_target(&fw, opts).await);
    }
    if wants(Signal::Storage) {
        resolved.storage = Some(storage_target(&fw, opts).await);
    }
    resolved.forwards = std::mem::take(&mut *fw.forwards.lock().await);
    resolved
}

async fn grafana_target(fw: &Forwarder, opts: &VerifyOptions) -> Result<GrafanaTarget, Failure> {
    let ep = fw
        .endpoint(
            &opts.endpoints.grafana,
            service(&opts.contract, roles::GRAFANA, None),
            "",
            "--grafana-url",
        )
        .await?;
    let (user, password) = match (&opts.grafana_user, &opts.grafana_password) {
        (user, Some(pw)) => (user.clone().unwrap_or_else(|| "admin".into()), pw.clone()),
        (user, None) => {
            let grafana = opts
                .contract
                .component(roles::GRAFANA.0)
                .map_err(|e| Failure::setup(e.to_string()))?;
            let (ns, name) = (
                grafana.namespace.as_str(),
                grafana.admin_secret.as_deref().unwrap_or_default(),
            );
            let secret = read_secret(fw, ns, name).await.map_err(|e| {
                Failure::setup(format!(
                    "no Grafana password: pass --grafana-password (or KALYPSO_GRAFANA_PASSWORD), or let kalypso \
                     read Secret {ns}/{name}: {e}"
                ))
            })?;
            let pw = secret.get("admin-password").cloned().ok_or_else(|| {
                Failure::setup(format!("Secret {ns}/{name} has no key admin-password"))
            })?;
            let user = user
                .clone()
                .or_else(|| secret.get("admin-user").cloned())
                .unwrap_or_else(|| "admin".into());
            (user, pw)
        }
    };
    let uids = opts
        .contract
        .component(roles::GRAFANA.0)
        .map(|g| g.datasources.clone())
        .unwrap_or_default();
    Ok(GrafanaTarget {
        url: ep.url,
        user,
        password,
        shown: ep.shown,
        uids,
    })
}

async fn storage_target(fw: &Forwarder, opts: &VerifyOptions) -> Result<StorageTarget, Failure> {
    let ep = fw
        .endpoint(
            &opts.endpoints.s3,
            service(&opts.contract, roles::MINIO, None),
            "",
            "--s3-url",
        )
        .await?;
    let mut credentials: Vec<(String, Credentials)> = opts.s3_credentials.clone();
    let explicit_only = opts.endpoints.s3.is_some() && !credentials.is_empty();
    let backends = StorageTarget::backends(&opts.contract);
    if !explicit_only {
        for b in &backends {
            if credentials.iter().any(|(name, _)| *name == b.name) {
                continue;
            }
            let backend = &b.name;
            if let Ok(data) = read_secret(fw, &b.namespace, &b.secret).await {
                if let (Some(a), Some(s)) = (
                    data.get("S3_ACCESS_KEY_ID"),
                    data.get("S3_SECRET_ACCESS_KEY"),
                ) {
                    credentials.push((
                        backend.to_string(),
                        Credentials {
                            access_key: a.clone(),
                            secret_key: s.clone(),
                        },
                    ));
                }
            }
        }
    }
    if let Some((unknown, _)) = credentials
        .iter()
        .find(|(name, _)| !backends.iter().any(|b| b.name == *name))
    {
        let known: Vec<&str> = backends.iter().map(|b| b.name.as_str()).collect();
        return Err(Failure::setup(format!(
            "--s3-credentials names backend {unknown:?}, which has no storage in the contract (backends: {})",
            known.join(", ")
        )));
    }
    let backends = if explicit_only {
        backends
            .into_iter()
            .filter(|b| credentials.iter().any(|(name, _)| *name == b.name))
            .collect()
    } else {
        backends
    };
    Ok(StorageTarget {
        url: ep.url,
        credentials,
        backends,
        shown: ep.shown,
    })
}

/// The string values of a Secret.
async fn read_secret(
    fw: &Forwarder,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, String>, String> {
    let cluster = fw.cluster().await?;
    let api: Api<Secret> = Api::namespaced(cluster.client(), namespace);
    let secret = api.get(name).await.map_err(|e| {
        cluster
            .explain(&format!("reading Secret {namespace}/{name}"), e)
            .to_string()
    })?;
    Ok(secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                String::from_utf8_lossy(&v.0)
                    .trim_end_matches('\n')
                    .to_string(),
            )
        })
        .collect())
}
