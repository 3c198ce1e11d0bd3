//! Talking to a Kubernetes cluster: a client from the kubeconfig, errors that say what to do,
//! the objects a release owns, their health, and what to show when one is not healthy.
//!
//! Every cluster read goes through kube-rs; nothing here shells out to kubectl.

pub mod diagnose;
pub mod health;
pub mod objects;
pub mod portforward;

use k8s_openapi::apimachinery::pkg::version::Info;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

use kalypso_model::error::chain;

/// Why kalypso could not use the cluster; each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Neither `$KUBECONFIG` nor `~/.kube/config` exists and this is not a pod.
    #[error(
        "no kubeconfig found ({detail}): point KUBECONFIG at one, or create ~/.kube/config \
         (for a local cluster: `kind create cluster`)"
    )]
    NoKubeconfig { detail: String },
    /// A kubeconfig exists but cannot be used (broken YAML, no current context, …).
    #[error("the kubeconfig cannot be used: {detail}; check it with `kubectl config view`")]
    BadKubeconfig { detail: String },
    /// The API server did not answer (refused, DNS, TLS, timeout).
    #[error(
        "cannot reach the Kubernetes API at {url}: {detail}. Is the cluster running and \
         is the current kubeconfig context the right one?"
    )]
    Unreachable { url: String, detail: String },
    /// The API server rejected the credentials.
    #[error(
        "the Kubernetes API at {url} rejected the credentials (401 Unauthorized) while {what}: \
         refresh them (log in again, or regenerate the kubeconfig)"
    )]
    Unauthorized { url: String, what: String },
    /// RBAC refused a request.
    #[error(
        "missing RBAC permission: {what} was refused (403 Forbidden: {message}). kalypso needs \
         cluster-admin-like rights: it installs CRDs, webhooks and namespaces"
    )]
    Forbidden { what: String, message: String },
    /// Any other answer of the API server.
    #[error("{what}: the Kubernetes API answered {code} {reason}: {message}")]
    Api {
        what: String,
        code: u16,
        reason: String,
        message: String,
    },
    /// Anything else the client reported.
    #[error("{what}: {detail}")]
    Other { what: String, detail: String },
}

impl ClusterError {
    /// True when the object asked for does not exist (HTTP 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClusterError::Api { code: 404, .. })
    }
}

/// A connected cluster: a kube-rs client and the address it talks to (for messages).
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    url: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("url", &self.url).finish()
    }
}

/// Which cluster to talk to: `--kubeconfig` and `--kube-context`, both optional (the defaults
/// are `$KUBECONFIG`, else `~/.kube/config`, and its current context). Helm gets the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeTarget {
    /// A kubeconfig file instead of `$KUBECONFIG` / `~/.kube/config`.
    pub kubeconfig: Option<std::path::PathBuf>,
    /// A context of the kubeconfig instead of its current one.
    pub context: Option<String>,
}

impl KubeTarget {
    /// The same choice as helm flags (`--kubeconfig F`, `--kube-context C`).
    pub fn helm_args(&self) -> Vec<std::ffi::OsString> {
        let mut args = Vec::new();
        if let Some(k) = &self.kubeconfig {
            args.push("--kubeconfig".into());
            args.push(k.clone().into_os_string());
        }
        if let Some(c) = &self.context {
            args.push("--kube-context".into());
            args.push(c.into());
        }
        args
    }
}

impl Cluster {
    /// Connects with the user's kubeconfig (`$KUBECONFIG`, else `~/.kube/config`), else the
    /// in-cluster service account, and checks that the API server answers (`GET /version`).
    pub async fn connect() -> Result<Cluster, ClusterError> {
        Cluster::connect_to(&KubeTarget::default()).await
    }

    /// Connects as [`Cluster::connect`], to `target`'s kubeconfig and context when given (no
    /// in-cluster fallback then: an explicit choice that fails is an error).
    pub async fn connect_to(target: &KubeTarget) -> Result<Cluster, ClusterError> {
        // kube's rustls client needs a process-wide crypto provider; a second install is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let options = KubeConfigOptions {
            context: target.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &target.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
                Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(kubeconfig_error)?
            }
            None => match Config::from_kubeconfig(&options).await {
                Ok(c) => c,
                Err(kerr) if target.context.is_some() => return Err(kubeconfig_error(kerr)),
                Err(kerr) => match Config::incluster() {
                    Ok(c) => c,
                    Err(_) => return Err(kubeconfig_error(kerr)),
                },
            },
        };
        let url = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(|e| ClusterError::BadKubeconfig {
            detail: e.to_string(),
        })?;
        let cluster = Cluster { client, url };
        cluster.version().await?;
        Ok(cluster)
    }

    /// Wraps an existing client (tests, embedding).
    pub fn from_client(client: Client, url: impl Into<String>) -> Cluster {
        Cluster {
            client,
            url: url.into(),
        }
    }

    /// The kube-rs client.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The API server address, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The API server's version (`GET /version`).
    pub async fn version(&self) -> Result<Info, ClusterError> {
        self.client
            .apiserver_version()
            .await
            .map_err(|e| self.explain("reading the server version", e))
    }

    /// Turns a kube-rs error into a [`ClusterError`] naming what kalypso was doing.
    pub fn explain(&self, what: &str, err: kube::Error) -> ClusterError {
        explain(&self.url, what, err)
    }
}

/// Turns a kube-rs error into a [`ClusterError`]; `what` says what kalypso was doing.
pub fn explain(url: &str, what: &str, err: kube::Error) -> ClusterError {
    match err {
        kube::Error::Api(status) => match status.code {
            401 => ClusterError::Unauthorized {
                url: url.to_string(),
                what: what.to_string(),
            },
            403 => ClusterError::Forbidden {
                what: what.to_string(),
                message: status.message,
            },
            code => ClusterError::Api {
                what: what.to_string(),
                code,
                reason: status.reason,
                message: status.message,
            },
        },
        kube::Error::HyperError(e) => ClusterError::Unreachable {
            url: url.to_string(),
            detail: chain(&e),
        },
        kube::Error::Service(e) => ClusterError::Unreachable {
            url: url.to_string(),
            detail: chain(e.as_ref()),
        },
        kube::Error::Auth(e) => ClusterError::BadKubeconfig { detail: chain(&e) },
        other => ClusterError::Other {
            what: what.to_string(),
            detail: chain(&other),
        },
    }
}

fn kubeconfig_error(err: KubeconfigError) -> ClusterError {
    match &err {
        KubeconfigError::FindPath => ClusterError::NoKubeconfig {
            detail: "KUBECONFIG is not set and there is no home directory".into(),
        },
        KubeconfigError::ReadConfig(io, path) if io.kind() == std::io::ErrorKind::NotFound => {
            ClusterError::NoKubeconfig {
                detail: format!("{} does not exist", path.display()),
            }
        }
        _ => ClusterError::BadKubeconfig {
            detail: chain(&err),
        },
    }
}

/// Whether `e` is about the environment rather than what was checked: the cluster could not be
/// reached or used (no kubeconfig, unreachable, credentials refused, RBAC). Exit 2.
pub fn is_environment(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<ClusterError>(),
            Some(
                ClusterError::NoKubeconfig { .. }
                    | ClusterError::BadKubeconfig { .. }
                    | ClusterError::Unreachable { .. }
                    | ClusterError::Unauthorized { .. }
                    | ClusterError::Forbidden { .. }
            )
        )
    })
}
