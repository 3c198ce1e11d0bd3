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
use super::storage::{StorageTarget, BACKEND_BUCKETS};
use super::traces::TracesPipeline;
use super::{Pipeline, Route, Signal, VerifyOptions};
use crate::cluster::portforward::{PortForward, PortForwardError};
use crate::cluster::Cluster;

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

/// A contract Service: namespace, name, port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceRef {
    /// Namespace.
    pub namespace: &'static str,
    /// Service name.
    pub name: &'static str,
    /// Service port.
    pub port: u16,
}

impl ServiceRef {
    /// `svc/<name>.<namespace>:<port>`, as shown in the report.
    pub fn shown(&self) -> String {
        format!("svc/{}.{}:{}", self.name, self.namespace, self.port)
    }
}

/// Mimir gateway (push `/api/v1/push`, query `/prometheus`).
pub const MIMIR: ServiceRef = ServiceRef {
    namespace: "mimir",
    name: "mimir-distributed-gateway",
    port: 80,
};
/// Loki gateway.
pub const LOKI: ServiceRef = ServiceRef {
    namespace: "loki",
    name: "loki-gateway",
    port: 80,
};
/// Tempo distributor, OTLP/HTTP.
pub const TEMPO_DISTRIBUTOR: ServiceRef = ServiceRef {
    namespace: "tempo",
    name: "tempo-distributed-distributor",
    port: 4318,
};
/// Tempo query-frontend, contract port 3100.
pub const TEMPO_QUERY: ServiceRef = ServiceRef {
    namespace: "tempo",
    name: "tempo-distributed-query-frontend",
    port: 3100,
};
/// Pyroscope.
pub const PYROSCOPE: ServiceRef = ServiceRef {
    namespace: "pyroscope",
    name: "pyroscope",
    port: 4040,
};
/// Grafana.
pub const GRAFANA: ServiceRef = ServiceRef {
    namespace: "grafana",
    name: "kalypso-grafana",
    port: 80,
};
/// MinIO S3 API.
pub const MINIO: ServiceRef = ServiceRef {
    namespace: "minio",
    name: "minio",
    port: 9000,
};
/// The gateway collector, OTLP/HTTP.
pub const COLLECTOR: ServiceRef = ServiceRef {
    namespace: "otel-system",
    name: "kalypso-collector",
    port: 4318,
};
/// The Secret holding Grafana's admin credentials (keys `admin-user`, `admin-password`).
pub const GRAFANA_SECRET: (&str, &str) = ("grafana", "kalypso-grafana");

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
}

impl Forwarder {
    fn new() -> Forwarder {
        Forwarder {
            cluster: Mutex::new(None),
            open: Mutex::new(BTreeMap::new()),
            forwards: Mutex::new(Vec::new()),
        }
    }

    async fn cluster(&self) -> Result<Cluster, String> {
        let mut slot = self.cluster.lock().await;
        if slot.is_none() {
            *slot = Some(Cluster::connect().await.map_err(|e| e.to_string()));
        }
        slot.clone().unwrap_or_else(|| Err("no cluster".into()))
    }

    /// A local base URL reaching `svc`, or why not (`Err((message, not_there))`).
    async fn base(&self, svc: ServiceRef) -> Result<Url, String> {
        if let Some(done) = self.open.lock().await.get(&svc) {
            return done.clone();
        }
        let result = match self.cluster().await {
            Err(e) => Err(e),
            Ok(cluster) => {
                match PortForward::to_service(&cluster, svc.namespace, svc.name, svc.port).await {
                    Ok(pf) => {
                        let url = Url::parse(&pf.http_base()).map_err(|e| e.to_string());
                        self.forwards.lock().await.push(pf);
                        url
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        self.open.lock().await.insert(svc, result.clone());
        result
    }

    /// Whether the Service exists with a ready pod (used for the optional collector).
    async fn available(&self, svc: ServiceRef) -> bool {
        let Ok(cluster) = self.cluster().await else {
            return false;
        };
        match crate::cluster::portforward::resolve_service(
            &cluster,
            svc.namespace,
            svc.name,
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
        svc: ServiceRef,
        path: &str,
        flag: &str,
    ) -> Result<Endpoint, Failure> {
        if let Some(url) = explicit {
            return Ok(Endpoint {
                url: url.clone(),
                shown: display_url(url),
            });
        }
        match self.base(svc).await {
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
    let fw = Forwarder::new();
    let e = &opts.endpoints;
    let wants = |s: Signal| opts.only.contains(&s);
    let mut resolved = Resolved::default();
    let needs_collector = (wants(Signal::Traces) && e.traces_write.is_none())
        || (wants(Signal::Logs) && e.logs_write.is_none());
    let collector = needs_collector && fw.available(COLLECTOR).await;

    if wants(Signal::Metrics) {
        let r = async {
            let w = fw
                .endpoint(
                    &e.metrics_write,
                    MIMIR,
                    "/api/v1/push",
                    "--metrics-write-url",
                )
                .await?;
            let q = fw
                .endpoint(
                    &e.metrics_query,
                    MIMIR,
                    "/prometheus",
                    "--metrics-query-url",
                )
                .await?;
            let pipeline = Pipeline::Metrics(MetricsPipeline {
                write_url: w.url,
                query_url: q.url,
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
                fw.endpoint(&e.logs_write, COLLECTOR, "/v1/logs", "--logs-write-url")
                    .await?
            } else {
                fw.endpoint(&e.logs_write, LOKI, "/loki/api/v1/push", "--logs-write-url")
                    .await?
            };
            let q = fw
                .endpoint(&e.logs_query, LOKI, "", "--logs-query-url")
                .await?;
            let pipeline = LogsPipeline::new(w.url, q.url).map_err(Failure::setup)?;
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
                    COLLECTOR,
                    "/v1/traces",
                    "--traces-write-url",
                )
                .await?
            } else {
                fw.endpoint(
                    &e.traces_write,
                    TEMPO_DISTRIBUTOR,
                    "/v1/traces",
                    "--traces-write-url",
                )
                .await?
            };
            let q = fw
                .endpoint(&e.traces_query, TEMPO_QUERY, "", "--traces-query-url")
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
                .endpoint(&e.profiles_write, PYROSCOPE, "", "--profiles-write-url")
                .await?;
            let q = fw
                .endpoint(&e.profiles_query, PYROSCOPE, "", "--profiles-query-url")
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
        .endpoint(&opts.endpoints.grafana, GRAFANA, "", "--grafana-url")
        .await?;
    let (user, password) = match (&opts.grafana_user, &opts.grafana_password) {
        (user, Some(pw)) => (user.clone().unwrap_or_else(|| "admin".into()), pw.clone()),
        (user, None) => {
            let secret = read_secret(fw, GRAFANA_SECRET.0, GRAFANA_SECRET.1).await.map_err(|e| {
                Failure::setup(format!(
                    "no Grafana password: pass --grafana-password (or KALYPSO_GRAFANA_PASSWORD), or let kalypso \
                     read Secret {}/{}: {e}",
                    GRAFANA_SECRET.0, GRAFANA_SECRET.1
                ))
            })?;
            let pw = secret.get("admin-password").cloned().ok_or_else(|| {
                Failure::setup(format!(
                    "Secret {}/{} has no key admin-password",
                    GRAFANA_SECRET.0, GRAFANA_SECRET.1
                ))
            })?;
            let user = user
                .clone()
                .or_else(|| secret.get("admin-user").cloned())
                .unwrap_or_else(|| "admin".into());
            (user, pw)
        }
    };
    Ok(GrafanaTarget {
        url: ep.url,
        user,
        password,
        shown: ep.shown,
    })
}

async fn storage_target(fw: &Forwarder, opts: &VerifyOptions) -> Result<StorageTarget, Failure> {
    let ep = fw
        .endpoint(&opts.endpoints.s3, MINIO, "", "--s3-url")
        .await?;
    let mut credentials: Vec<(String, Credentials)> = opts.s3_credentials.clone();
    let explicit_only = opts.endpoints.s3.is_some() && !credentials.is_empty();
    if !explicit_only {
        for (backend, _) in BACKEND_BUCKETS {
            if credentials.iter().any(|(b, _)| b == backend) {
                continue;
            }
            let name = format!("{backend}-s3-credentials");
            if let Ok(data) = read_secret(fw, backend, &name).await {
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
    let backends = if explicit_only {
        credentials.iter().map(|(b, _)| b.clone()).collect()
    } else {
        BACKEND_BUCKETS.iter().map(|(b, _)| b.to_string()).collect()
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
