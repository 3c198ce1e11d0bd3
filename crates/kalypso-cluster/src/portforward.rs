//! Port-forwarding to a Service through the Kubernetes API, like `kubectl port-forward svc/…`.
//!
//! The API server forwards to pods, not Services, so a forward first resolves the Service: its
//! port → targetPort (a number, or a name looked up in the pod's container ports) and a ready
//! pod behind its selector. Then a local `TcpListener` on 127.0.0.1 accepts connections and
//! pumps each one through its own `Api::<Pod>::portforward` stream.

use std::net::SocketAddr;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::{Cluster, ClusterError};
use kalypso_model::manifest::selector::Selector;

/// Why a Service could not be forwarded to.
#[derive(Debug, thiserror::Error)]
pub enum PortForwardError {
    /// The Service does not exist.
    #[error("Service {namespace}/{name} not found")]
    ServiceNotFound { namespace: String, name: String },
    /// The Service has no port with that number.
    #[error("Service {namespace}/{name} exposes no port {port} (it has: {available})")]
    PortNotExposed {
        namespace: String,
        name: String,
        port: u16,
        available: String,
    },
    /// The Service has no selector (it is backed by hand-made endpoints).
    #[error(
        "Service {namespace}/{name} has no pod selector; kalypso forwards only to selected pods"
    )]
    NoSelector { namespace: String, name: String },
    /// No pod behind the selector is Running and Ready.
    #[error("no ready pod behind Service {namespace}/{name} (selector {selector}); check `kalypso status`")]
    NoReadyPod {
        namespace: String,
        name: String,
        selector: String,
    },
    /// The targetPort is a name that no container of the chosen pod declares.
    #[error("pod {namespace}/{pod} declares no container port named {port_name} (targetPort of Service {service})")]
    NamedPortNotFound {
        namespace: String,
        pod: String,
        service: String,
        port_name: String,
    },
    /// Reading the Service or its pods failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The local listener could not be opened.
    #[error("cannot listen on 127.0.0.1 for the port-forward: {0}")]
    Listen(#[from] std::io::Error),
}

/// Where a Service port really lands: one ready pod and the container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodTarget {
    /// Namespace of the pod.
    pub namespace: String,
    /// Name of the chosen ready pod.
    pub pod: String,
    /// Container port the Service port maps to.
    pub port: u16,
}

/// A running port-forward: connect to [`PortForward::local_addr`]. Stops when dropped.
#[derive(Debug)]
pub struct PortForward {
    local: SocketAddr,
    target: PodTarget,
    service: String,
    accept: JoinHandle<()>,
}

impl PortForward {
    /// Resolves `namespace/service:port` to a ready pod and starts forwarding a local port to it.
    pub async fn to_service(
        cluster: &Cluster,
        namespace: &str,
        service: &str,
        port: u16,
    ) -> Result<PortForward, PortForwardError> {
        let target = resolve_service(cluster, namespace, service, port).await?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let local = listener.local_addr()?;
        let pods: Api<Pod> = Api::namespaced(cluster.client(), namespace);
        let accept = tokio::spawn(accept_loop(listener, pods, target.clone()));
        Ok(PortForward {
            local,
            target,
            service: format!("{namespace}/{service}:{port}"),
            accept,
        })
    }

    /// The local address that reaches the Service.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// `http://127.0.0.1:<local port>`.
    pub fn http_base(&self) -> String {
        format!("http://{}", self.local)
    }

    /// The pod and port the forward lands on.
    pub fn target(&self) -> &PodTarget {
        &self.target
    }

    /// `namespace/service:port`, for messages.
    pub fn service(&self) -> &str {
        &self.service
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, pods: Api<Pod>, target: PodTarget) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            continue;
        };
        let pods = pods.clone();
        let target = target.clone();
        tokio::spawn(async move {
            if let Err(e) = pump(conn, &pods, &target).await {
                tracing::debug!(
                    "port-forward to {}/{}:{}: {e}",
                    target.namespace,
                    target.pod,
                    target.port
                );
            }
        });
    }
}

/// Copies one local connection to the pod port and back until either side closes.
async fn pump(mut conn: TcpStream, pods: &Api<Pod>, target: &PodTarget) -> anyhow::Result<()> {
    let mut forwarder = pods.portforward(&target.pod, &[target.port]).await?;
    let mut upstream = forwarder.take_stream(target.port).ok_or_else(|| {
        anyhow::anyhow!("the API server opened no stream for port {}", target.port)
    })?;
    tokio::io::copy_bidirectional(&mut conn, &mut upstream).await?;
    drop(upstream);
    forwarder.join().await?;
    Ok(())
}

/// Finds the ready pod and container port behind `namespace/service:port`.
pub async fn resolve_service(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    port: u16,
) -> Result<PodTarget, PortForwardError> {
    let services: Api<Service> = Api::namespaced(cluster.client(), namespace);
    let what = format!("reading Service {namespace}/{name}");
    let svc = match services.get_opt(name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(PortForwardError::ServiceNotFound {
                namespace: namespace.into(),
                name: name.into(),
            })
        }
        Err(e) => return Err(cluster.explain(&what, e).into()),
    };
    let target_port =
        service_target_port(&svc, port).ok_or_else(|| PortForwardError::PortNotExposed {
            namespace: namespace.into(),
            name: name.into(),
            port,
            available: service_ports(&svc),
        })?;
    let selector = selector_string(&svc).ok_or_else(|| PortForwardError::NoSelector {
        namespace: namespace.into(),
        name: name.into(),
    })?;
    let pods: Api<Pod> = Api::namespaced(cluster.client(), namespace);
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| cluster.explain(&format!("listing pods of Service {namespace}/{name}"), e))?;
    let pod = pick_ready_pod(list.items).ok_or_else(|| PortForwardError::NoReadyPod {
        namespace: namespace.into(),
        name: name.into(),
        selector: selector.clone(),
    })?;
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let port = match target_port {
        IntOrString::Int(n) => u16::try_from(n).unwrap_or(port),
        IntOrString::String(port_name) => {
            named_container_port(&pod, &port_name).ok_or_else(|| {
                PortForwardError::NamedPortNotFound {
                    namespace: namespace.into(),
                    pod: pod_name.clone(),
                    service: name.into(),
                    port_name,
                }
            })?
        }
    };
    Ok(PodTarget {
        namespace: namespace.into(),
        pod: pod_name,
        port,
    })
}

/// The targetPort of the Service port numbered `port` (defaults to the port itself).
pub fn service_target_port(svc: &Service, port: u16) -> Option<IntOrString> {
    let spec = svc.spec.as_ref()?;
    let sp = spec
        .ports
        .as_ref()?
        .iter()
        .find(|p| p.port == i32::from(port))?;
    Some(sp.target_port.clone().unwrap_or(IntOrString::Int(sp.port)))
}

fn service_ports(svc: &Service) -> String {
    let ports: Vec<String> = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .map(|ps| ps.iter().map(|p| p.port.to_string()).collect())
        .unwrap_or_default();
    if ports.is_empty() {
        "none".into()
    } else {
        ports.join(", ")
    }
}

/// The Service selector as a label selector string (`a=b,c=d`, sorted), or None without one.
pub fn selector_string(svc: &Service) -> Option<String> {
    Selector::from_map(svc.spec.as_ref()?.selector.as_ref()?).text()
}

/// The first (by name) pod that is Running, Ready and not being deleted.
pub fn pick_ready_pod(mut pods: Vec<Pod>) -> Option<Pod> {
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    pods.into_iter().find(is_ready)
}

fn is_ready(pod: &Pod) -> bool {
    if pod.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    if status.phase.as_deref() != Some("Running") {
        return false;
    }
    status
        .conditions
        .as_ref()
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The container port named `name` in any container of the pod.
pub fn named_container_port(pod: &Pod, name: &str) -> Option<u16> {
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name))
        .and_then(|p| u16::try_from(p.container_port).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).expect("valid fixture")
    }

    fn tempo_query_frontend() -> Service {
        from_json(serde_json::json!({
            "metadata": {"name": "tempo-distributed-query-frontend", "namespace": "tempo"},
            "spec": {
                "selector": {"app.kubernetes.io/component": "query-frontend", "app.kubernetes.io/name": "tempo"},
                "ports": [
                    {"name": "http-metrics", "port": 3100, "targetPort": "http-metrics"},
                    {"name": "grpc", "port": 9095, "targetPort": 9095}
                ]
            }
        }))
    }

    fn pod(name: &str, ready: bool, deleting: bool) -> Pod {
        let mut meta = serde_json::json!({"name": name, "namespace": "tempo"});
        if deleting {
            meta["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
        }
        from_json(serde_json::json!({
            "metadata": meta,
            "spec": {"containers": [{"name": "q", "ports": [{"name": "http-metrics", "containerPort": 3200}]}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        }))
    }

    #[test]
    fn a_service_port_maps_to_its_named_target_port_on_the_pod() {
        let svc = tempo_query_frontend();
        assert_eq!(
            service_target_port(&svc, 3100),
            Some(IntOrString::String("http-metrics".into()))
        );
        assert_eq!(
            service_target_port(&svc, 9095),
            Some(IntOrString::Int(9095))
        );
        assert_eq!(service_target_port(&svc, 3200), None);
        assert_eq!(
            named_container_port(&pod("p", true, false), "http-metrics"),
            Some(3200)
        );
        assert_eq!(service_ports(&svc), "3100, 9095");
    }

    #[test]
    fn the_selector_becomes_a_sorted_label_selector() {
        assert_eq!(
            selector_string(&tempo_query_frontend()).as_deref(),
            Some("app.kubernetes.io/component=query-frontend,app.kubernetes.io/name=tempo")
        );
    }

    #[test]
    fn only_a_ready_pod_that_is_not_terminating_is_picked() {
        let pods = vec![
            pod("a", false, false),
            pod("b", true, true),
            pod("c", true, false),
        ];
        assert_eq!(
            pick_ready_pod(pods).and_then(|p| p.metadata.name),
            Some("c".into())
        );
        assert!(pick_ready_pod(vec![pod("a", false, false)]).is_none());
    }
}
