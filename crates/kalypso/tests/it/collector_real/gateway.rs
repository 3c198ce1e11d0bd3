//! The gateway collector, run with its rendered pipelines, fed what `kalypso verify` sends, and
//! watched delivering to stand-ins of the backends its exporters name.
//!
//! Each run gets a network namespace of its own (one thread `unshare`s one, with only `lo`),
//! inside the loopback-only namespace the tests already run in: the sinks, the collector and the
//! client all live there, so runs never see each other's ports. The collector runs in its pod's
//! filesystem ([`PodRoot`]), whose `/etc/hosts` resolves each backend Service's cluster name to
//! a loopback address of its own (127.0.0.2, 127.0.0.3, …); a stand-in listens there on the
//! Service's ports from the contract, serving the routes the real backend serves.
//!
//! One change to the rendered config, made here and nowhere else: listeners on `0.0.0.0:<port>`
//! listen on `127.0.0.1:<port>`, the pod's own address in this namespace. In a pod, the
//! wildcard covers only the pod's addresses; in one namespace it would also cover 127.0.0.2,
//! where Tempo's distributor stand-in listens on the same port 4317.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use kalypso::contract::{Contract, Tenants};
use kalypso::verify::endpoints::Endpoints;
use kalypso::verify::payload::{Payload, TRACE_TAG};
use kalypso::verify::probe::Status;
use kalypso::verify::VerifyOptions;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use serde_json::Value;

use super::otelcol::{Binaries, PodRoot, RenderedCollector};
use super::sink::{Export, Request, Route, Signal, Sink};

/// A backend Service the gateway exports to: the routes the real backend serves on each of its
/// contract ports, and the tenant it must be sent.
pub struct Backend {
    component: &'static str,
    role: &'static str,
    /// (contract port name, or `None` for its only port; routes served there).
    listeners: &'static [(Option<&'static str>, &'static [Route])],
    tenant: fn(&Tenants) -> Option<&str>,
}

/// What each backend serves over OTLP: Tempo's distributor OTLP gRPC on `otlpGrpc` and
/// `/v1/traces` on `otlpHttp`; Mimir's and Loki's gateways `/otlp/v1/metrics` and
/// `/otlp/v1/logs`, with the contract's tenants; Pyroscope OTLP gRPC and
/// `/v1development/profiles` on its one port (single-tenant, as Tempo).
const BACKENDS: [Backend; 4] = [
    Backend {
        component: "kalypso-tempo",
        role: "distributor",
        listeners: &[
            (Some("otlpGrpc"), &[Route::Grpc(Signal::Traces)]),
            (
                Some("otlpHttp"),
                &[Route::Http(Signal::Traces, "/v1/traces")],
            ),
        ],
        tenant: |_| None,
    },
    Backend {
        component: "kalypso-mimir",
        role: "gateway",
        listeners: &[(None, &[Route::Http(Signal::Metrics, "/otlp/v1/metrics")])],
        tenant: |t| Some(&t.metrics),
    },
    Backend {
        component: "kalypso-loki",
        role: "gateway",
        listeners: &[(None, &[Route::Http(Signal::Logs, "/otlp/v1/logs")])],
        tenant: |t| Some(&t.logs),
    },
    Backend {
        component: "kalypso-pyroscope",
        role: "server",
        listeners: &[(
            None,
            &[
                Route::Grpc(Signal::Profiles),
                Route::Http(Signal::Profiles, "/v1development/profiles"),
            ],
        )],
        tenant: |_| None,
    },
];

/// An exporter of one of the gateway's pipelines and the Service its endpoint names.
pub struct Exporter {
    pub name: String,
    pub signals: BTreeSet<Signal>,
    pub host: String,
    pub port: u16,
    pub backend: &'static Backend,
    /// The tenant the contract says this backend gets.
    pub tenant: Option<String>,
}

impl Exporter {
    /// The contract component of the backend it sends to.
    pub fn backend_component(&self) -> &'static str {
        self.backend.component
    }

    fn shown(&self) -> String {
        format!(
            "{} ({}.{}, {}:{})",
            self.name, self.backend.component, self.backend.role, self.host, self.port
        )
    }
}

/// The exporters of the gateway's pipelines, each resolved to a contract Service.
pub fn exporters(config: &Value, contract: &Contract) -> Vec<Exporter> {
    let mut signals: BTreeMap<String, BTreeSet<Signal>> = BTreeMap::new();
    for (pipeline, p) in config["service"]["pipelines"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let signal = Signal::of_pipeline(pipeline)
            .unwrap_or_else(|| panic!("pipeline {pipeline}: not a signal this test sends"));
        for e in p["exporters"].as_array().into_iter().flatten() {
            let name = e.as_str().expect("exporter name").to_string();
            signals.entry(name).or_default().insert(signal);
        }
    }
    signals
        .into_iter()
        .map(|(name, signals)| {
            let cfg = &config["exporters"][&name];
            let endpoint = cfg["endpoint"]
                .as_str()
                .unwrap_or_else(|| panic!("exporter {name} has no endpoint"));
            let (host, port) = match name.split('/').next().unwrap_or_default() {
                "otlp_grpc" | "otlp" => {
                    let bare = endpoint.rsplit_once("://").map_or(endpoint, |(_, b)| b);
                    let (h, p) = bare
                        .rsplit_once(':')
                        .unwrap_or_else(|| panic!("{name}: endpoint {endpoint} has no port"));
                    (h.to_string(), p.parse().expect("port"))
                }
                "otlp_http" | "otlphttp" => {
                    let url = reqwest::Url::parse(endpoint)
                        .unwrap_or_else(|e| panic!("{name}: endpoint {endpoint}: {e}"));
                    (
                        url.host_str().unwrap_or_default().to_string(),
                        url.port_or_known_default().unwrap_or_default(),
                    )
                }
                other => panic!("exporter {name}: this test knows OTLP exporters, not {other}"),
            };
            let backend = backend_of(&host, contract).unwrap_or_else(|| {
                panic!("exporter {name}: {host} is no backend Service this test has a stand-in for")
            });
            Exporter {
                tenant: (backend.tenant)(&contract.tenants).map(String::from),
                name,
                signals,
                host,
                port,
                backend,
            }
        })
        .collect()
}

/// The backend whose contract Service has the cluster name `host`.
fn backend_of(host: &str, contract: &Contract) -> Option<&'static Backend> {
    BACKENDS.iter().find(|b| {
        contract.components.get(b.component).is_some_and(|c| {
            c.endpoints
                .get(b.role)
                .is_some_and(|e| format!("{}.{}.svc.cluster.local", e.service, c.namespace) == host)
        })
    })
}

/// What a run sent and what the stand-ins received.
pub struct Delivery {
    /// The verify run id the payload derives from.
    pub run_id: String,
    /// Problems sending to the gateway (none when every write was accepted).
    pub sent: Vec<String>,
    pub exporters: Vec<Exporter>,
    /// Backend component → what its stand-ins received.
    pub received: BTreeMap<&'static str, Vec<Request>>,
    /// The collector's own log.
    pub log: String,
}

impl Delivery {
    /// Everything that did not arrive as the contract says: every exporter must deliver each
    /// signal of its pipelines, carrying this run's payload, on a route its backend serves,
    /// with the contract's tenant where the backend has one.
    pub fn problems(&self) -> Vec<String> {
        let payload = Payload::for_run(&self.run_id, SystemTime::now());
        let mut out = self.sent.clone();
        for e in &self.exporters {
            let got = self
                .received
                .get(e.backend.component)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for &signal in &e.signals {
                let exports: Vec<&Request> = got
                    .iter()
                    .filter(|r| r.export.as_ref().map(Export::signal) == Some(signal))
                    .collect();
                if exports.is_empty() {
                    let seen: Vec<String> = got
                        .iter()
                        .map(|r| {
                            let over = if r.grpc { "gRPC" } else { "HTTP" };
                            format!("{over} {} → {}", r.path, r.answer)
                        })
                        .collect();
                    out.push(format!(
                        "{}: no {signal:?} export arrived (requests: {seen:?})",
                        e.shown()
                    ));
                    continue;
                }
                if !exports
                    .iter()
                    .any(|r| r.export.as_ref().is_some_and(|x| carries(x, &payload)))
                {
                    out.push(format!(
                        "{}: no {signal:?} export carries the payload",
                        e.shown()
                    ));
                }
                for r in &exports {
                    if r.tenant() != e.tenant.as_deref() {
                        out.push(format!(
                            "{}: {signal:?} export with X-Scope-OrgID {:?}, the contract's tenant is {:?}",
                            e.shown(),
                            r.tenant(),
                            e.tenant
                        ));
                    }
                }
            }
        }
        out
    }
}

/// Whether an export holds what the payload's writer sent: the span with its trace id and tag,
/// the metric point, the log line, the profile's leaf function.
fn carries(export: &Export, p: &Payload) -> bool {
    let string_attr = |attrs: &[KeyValue], key: &str, want: &str| {
        attrs.iter().any(|kv| {
            kv.key == key
                && matches!(&kv.value, Some(AnyValue { value: Some(any_value::Value::StringValue(s)) }) if s == want)
        })
    };
    match export {
        Export::Traces(t) => t.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).any(|s| {
            s.trace_id == p.trace_id && string_attr(&s.attributes, TRACE_TAG, &p.id)
        }),
        Export::Metrics(m) => {
            let (key, value) = p.identity_label();
            m.resource_metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics).any(|m| {
                m.name == p.metric_name()
                    && matches!(&m.data, Some(metric::Data::Gauge(g)) if g.data_points.iter().any(|d| {
                        d.value == Some(number_data_point::Value::AsDouble(p.metric_value))
                            && string_attr(&d.attributes, key, value)
                    }))
            })
        }
        Export::Logs(l) => l.resource_logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records).any(|r| {
            matches!(&r.body, Some(AnyValue { value: Some(any_value::Value::StringValue(s)) }) if *s == p.log_line)
        }),
        Export::Profiles(x) => x
            .dictionary
            .as_ref()
            .is_some_and(|d| d.string_table.contains(&p.function_name)),
    }
}

/// Runs `gateway` with `config` (its rendered config, or a mutation of it) in a network
/// namespace of its own, sends every signal of its pipelines, and collects what arrived.
pub fn deliver(
    bins: &Binaries,
    gateway: &RenderedCollector,
    config: &Value,
    contract: &Contract,
) -> Delivery {
    let (bins, gateway, config, contract) = (
        bins.clone(),
        gateway.clone(),
        config.clone(),
        contract.clone(),
    );
    let run = std::thread::spawn(move || {
        private_network();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(run(&bins, &gateway, config, contract))
    });
    run.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Moves this thread (and what it starts) into a new network namespace with only `lo`, up.
fn private_network() {
    // SAFETY: unshare(2) with CLONE_NEWNET only changes the calling thread's namespace.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "unshare(CLONE_NEWNET): {}",
        std::io::Error::last_os_error()
    );
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("ip runs");
    assert!(up.success(), "ip link set lo up failed");
}

/// The rendered config with `0.0.0.0:<port>` listeners of receivers and extensions on
/// `127.0.0.1:<port>` (see the module docs).
fn on_pod_address(config: &Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    match v {
                        Value::String(s) if k == "endpoint" && s.starts_with("0.0.0.0:") => {
                            *s = s.replacen("0.0.0.0:", "127.0.0.1:", 1);
                        }
                        _ => walk(v),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut copy = config.clone();
    walk(&mut copy["receivers"]);
    walk(&mut copy["extensions"]);
    copy
}

/// The port of a `<host>:<port>` listener at `path` in the config.
fn listener_port(config: &Value, path: &[&str]) -> u16 {
    let at = path.iter().fold(config, |v, k| &v[*k]);
    at.as_str()
        .and_then(|s| s.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("the gateway has no listener at {path:?}"))
}

async fn run(
    bins: &Binaries,
    gateway: &RenderedCollector,
    config: Value,
    contract: Contract,
) -> Delivery {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporters = exporters(&config, &contract);
    // Each backend host its own loopback address; a stand-in on each of its contract ports.
    let mut hosts: BTreeMap<&str, Ipv4Addr> = BTreeMap::new();
    let mut sinks: BTreeMap<&'static str, Vec<Sink>> = BTreeMap::new();
    for e in &exporters {
        if hosts.contains_key(e.host.as_str()) {
            continue;
        }
        let ip = Ipv4Addr::new(127, 0, 0, 2 + hosts.len() as u8);
        hosts.insert(&e.host, ip);
        for (port_name, routes) in e.backend.listeners {
            let port = contract
                .address(e.backend.component, e.backend.role, *port_name)
                .expect("contract port")
                .port;
            let sink = Sink::start(SocketAddr::from((ip, port)), routes)
                .await
                .unwrap_or_else(|err| panic!("stand-in of {} on {ip}:{port}: {err}", e.host));
            sinks.entry(e.backend.component).or_default().push(sink);
        }
    }

    let config = on_pod_address(&config);
    let mut hosts_text = String::from("127.0.0.1 localhost\n");
    for (host, ip) in &hosts {
        hosts_text.push_str(&format!("{ip} {host}\n"));
    }
    let pod = PodRoot::new(bins, gateway, &config, Some(&hosts_text));
    let log_file = tempfile::NamedTempFile::new().expect("log file");
    let mut collector = start(pod.command(gateway, ""), log_file.path());
    let log = || std::fs::read_to_string(log_file.path()).unwrap_or_default();

    let health = listener_port(&config, &["extensions", "health_check", "endpoint"]);
    wait_ready(&mut collector, health, &log).await;
    let grpc = listener_port(
        &config,
        &["receivers", "otlp", "protocols", "grpc", "endpoint"],
    );
    let http = listener_port(
        &config,
        &["receivers", "otlp", "protocols", "http", "endpoint"],
    );
    let signals: BTreeSet<Signal> = exporters.iter().flat_map(|e| e.signals.clone()).collect();
    let (run_id, sent) = send(&signals, grpc, http, &contract).await;

    // Wait until every backend got something (or 30 s): what it got is judged afterwards.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && !sinks
            .values()
            .all(|s| s.iter().any(|sink| !sink.received().is_empty()))
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop(&mut collector);
    Delivery {
        run_id,
        sent,
        exporters,
        received: sinks
            .into_iter()
            .map(|(c, s)| (c, s.iter().flat_map(Sink::received).collect()))
            .collect(),
        log: log(),
    }
}

/// Starts the collector, its output to `log`.
fn start(mut cmd: Command, log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    // SAFETY: prctl(PR_SET_PDEATHSIG) in the child before exec touches no memory; the kernel
    // kills the collector if the thread that started it ends without stopping it.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn().expect("unshare runs")
}

/// Waits for the health check to answer 200; panics with the log if the collector exits or
/// does not get there in 60 s.
async fn wait_ready(collector: &mut Child, port: u16, log: &dyn Fn() -> String) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = collector.try_wait() {
            panic!("the collector exited ({status}):\n{}", log());
        }
        let answer = client.get(format!("http://127.0.0.1:{port}/")).send().await;
        if answer.is_ok_and(|a| a.status().is_success()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the collector was not ready in 60 s:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn stop(collector: &mut Child) {
    // SAFETY: kill(2) on our own child, not reaped yet.
    unsafe {
        libc::kill(collector.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = collector.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = collector.kill();
    let _ = collector.wait();
}

/// Sends what `kalypso verify` sends through the gateway (its trace, log line and profile, by
/// OTLP/HTTP, with verify's own code), and its metric as an application would: an OTLP gauge over
/// gRPC (verify itself remote-writes metrics straight to Mimir). Returns the run id and the
/// problems.
async fn send(
    signals: &BTreeSet<Signal>,
    grpc_port: u16,
    http_port: u16,
    contract: &Contract,
) -> (String, Vec<String>) {
    let url = |path: &str| {
        reqwest::Url::parse(&format!("http://127.0.0.1:{http_port}{path}")).expect("url")
    };
    // Reads go nowhere (port 9, nothing listens): only the writes matter here.
    let nowhere = reqwest::Url::parse("http://127.0.0.1:9/").expect("url");
    let only: Vec<kalypso::verify::Signal> = signals
        .iter()
        .filter_map(|s| match s {
            Signal::Traces => Some(kalypso::verify::Signal::Traces),
            Signal::Logs => Some(kalypso::verify::Signal::Logs),
            Signal::Profiles => Some(kalypso::verify::Signal::Profiles),
            Signal::Metrics => None,
        })
        .collect();
    let opts = VerifyOptions {
        endpoints: Endpoints {
            traces_write: Some(url("/v1/traces")),
            traces_query: Some(nowhere.clone()),
            logs_write: Some(url("/v1/logs")),
            logs_query: Some(nowhere.clone()),
            profiles_write: Some(url("/")),
            profiles_query: Some(nowhere),
            ..Default::default()
        },
        grafana_user: None,
        grafana_password: None,
        s3_credentials: Vec::new(),
        contract: contract.clone(),
        tenants: contract.tenants.clone(),
        only: only.clone(),
        timeout: Duration::from_secs(2),
        kube: Default::default(),
    };
    let report = kalypso::verify::run(&opts).await;
    let mut problems: Vec<String> = only
        .iter()
        .filter_map(|s| {
            let check = format!("{s}/write");
            let row = report.checks.iter().find(|c| c.check == check)?;
            (row.status != Status::Pass)
                .then(|| format!("{check} to the gateway: {:?}", row.reason))
        })
        .collect();
    if signals.contains(&Signal::Metrics) {
        let payload = Payload::for_run(&report.run_id, SystemTime::now());
        if let Err(e) = send_metric_grpc(&payload, grpc_port).await {
            problems.push(format!("metrics to the gateway over gRPC: {e}"));
        }
    }
    (report.run_id, problems)
}

/// The payload's metric as an OTLP gauge point, with the payload's identity label as attribute.
fn metric_request(p: &Payload) -> ExportMetricsServiceRequest {
    let attr = |key: &str, value: &str| KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    };
    let (key, value) = p.identity_label();
    let point = NumberDataPoint {
        attributes: vec![attr(key, value)],
        time_unix_nano: p.unix_nanos(),
        value: Some(number_data_point::Value::AsDouble(p.metric_value)),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![attr("service.name", p.service_name())],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: p.metric_name().into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![point],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// One unary gRPC call `MetricsService/Export` over HTTP/2 without TLS.
async fn send_metric_grpc(p: &Payload, port: u16) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let message = metric_request(p).encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(&message);
    let answer = client
        .post(format!(
            "http://127.0.0.1:{port}{}",
            Signal::Metrics.grpc_path()
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = answer
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    if !answer.status().is_success() || status.as_deref().is_some_and(|s| s != "0") {
        return Err(format!("HTTP {}, grpc-status {status:?}", answer.status()));
    }
    // A response message: the 5-byte frame header at least.
    let bytes = answer.bytes().await.map_err(|e| e.to_string())?;
    if bytes.len() < 5 {
        return Err(format!("no response message ({} bytes)", bytes.len()));
    }
    Ok(())
}
