//! Proving the stack works by sending each signal through it and reading it back: one module
//! per signal (`metrics`, `logs`, `traces`, `profiles`, `grafana`, `storage`), used by
//! `kalypso verify` (once, exit code) and `kalypso canary` (on an interval, Prometheus metrics).
//!
//! Flow: [`endpoints`] resolves where each signal is written and read (explicit URLs, or
//! port-forwards to the contract Services) → [`round_trip`] writes a [`payload::Payload`] and
//! polls the read until it matches or the deadline passes → [`report`] prints one row per check.

pub mod alerts;
pub mod canary;
pub mod endpoints;
pub mod grafana;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod otlp;
pub mod payload;
pub mod probe;
pub mod profiles;
pub mod report;
pub mod sigv4;
pub mod storage;
pub mod traces;

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::Serialize;

use self::endpoints::{Endpoints, Resolved};
use self::http::Http;
use self::payload::Payload;
use self::probe::{poll_until, CheckResult, Failure};
use self::report::VerifyReport;
use self::sigv4::Credentials;
use kalypso_model::contract::{Contract, Tenants};

/// What verify can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// Prometheus remote write → Mimir, PromQL.
    Metrics,
    /// Loki push or OTLP → Loki, LogQL.
    Logs,
    /// OTLP → collector or Tempo, trace by id.
    Traces,
    /// OTLP profiles → Pyroscope, merged stack traces.
    Profiles,
    /// Grafana login, datasources, links.
    Grafana,
    /// MinIO buckets and per-backend access.
    Storage,
}

impl Signal {
    /// Every signal, in report order.
    pub const ALL: [Signal; 6] = [
        Signal::Metrics,
        Signal::Logs,
        Signal::Traces,
        Signal::Profiles,
        Signal::Grafana,
        Signal::Storage,
    ];
    /// The signals written and read back (what the canary runs).
    pub const DATA: [Signal; 4] = [
        Signal::Metrics,
        Signal::Logs,
        Signal::Traces,
        Signal::Profiles,
    ];

    /// The lower-case name used on the command line and in metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
            Signal::Traces => "traces",
            Signal::Profiles => "profiles",
            Signal::Grafana => "grafana",
            Signal::Storage => "storage",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Signal {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Signal::ALL.into_iter().find(|sig| sig.name() == s.trim()).ok_or_else(|| {
            format!("unknown signal {s:?} (expected one of: metrics, logs, traces, profiles, grafana, storage)")
        })
    }
}

/// A write-and-read-back pipeline of one data signal.
#[derive(Debug, Clone)]
pub enum Pipeline {
    /// Remote write + PromQL.
    Metrics(metrics::MetricsPipeline),
    /// Loki push / OTLP + LogQL.
    Logs(logs::LogsPipeline),
    /// OTLP + Tempo trace by id.
    Traces(traces::TracesPipeline),
    /// OTLP profiles + Pyroscope query.
    Profiles(profiles::ProfilesPipeline),
}

impl Pipeline {
    /// The signal it carries.
    pub fn signal(&self) -> Signal {
        match self {
            Pipeline::Metrics(_) => Signal::Metrics,
            Pipeline::Logs(_) => Signal::Logs,
            Pipeline::Traces(_) => Signal::Traces,
            Pipeline::Profiles(_) => Signal::Profiles,
        }
    }

    /// Writes the payload once.
    pub async fn write(&self, http: &Http, p: &Payload) -> Result<(), Failure> {
        match self {
            Pipeline::Metrics(m) => m.write(http, p).await,
            Pipeline::Logs(l) => l.write(http, p).await,
            Pipeline::Traces(t) => t.write(http, p).await,
            Pipeline::Profiles(x) => x.write(http, p).await,
        }
    }

    /// Reads the payload back once.
    pub async fn read(&self, http: &Http, p: &Payload) -> Result<(), Failure> {
        match self {
            Pipeline::Metrics(m) => m.read(http, p).await,
            Pipeline::Logs(l) => l.read(http, p).await,
            Pipeline::Traces(t) => t.read(http, p).await,
            Pipeline::Profiles(x) => x.read(http, p).await,
        }
    }
}

/// A pipeline and how to show its two ends in the report.
#[derive(Debug, Clone)]
pub struct Route {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// Where it writes (URL, or Service when port-forwarded).
    pub write_shown: String,
    /// Where it reads.
    pub read_shown: String,
}

/// How a write and its read-back went.
#[derive(Debug, Clone)]
pub struct RoundTrip {
    /// The write: Ok(request latency).
    pub write: Result<Duration, Failure>,
    /// The read: Ok(write-to-readable latency).
    pub read: Result<Duration, Failure>,
}

/// Writes `payload`, then polls the read until it matches or `timeout` passes.
pub async fn round_trip(
    pipeline: &Pipeline,
    http: &Http,
    payload: &Payload,
    timeout: Duration,
) -> RoundTrip {
    let started = Instant::now();
    if let Err(f) = pipeline.write(http, payload).await {
        let read = Err(Failure::Skipped {
            reason: "the write failed".into(),
        });
        return RoundTrip {
            write: Err(f),
            read,
        };
    }
    let write = Ok(started.elapsed());
    let read_from = Instant::now();
    let read = poll_until(read_from, read_from + timeout, || {
        pipeline.read(http, payload)
    })
    .await
    .map(|_| started.elapsed());
    let signal = pipeline.signal();
    match &read {
        Ok(d) => tracing::info!(
            "{signal}: readable {} ms after the write started",
            d.as_millis()
        ),
        Err(f) => tracing::info!("{signal}: not read back: {f}"),
    }
    RoundTrip { write, read }
}

impl RoundTrip {
    /// The two report rows: `<signal>/write` and `<signal>/read`.
    pub fn rows(&self, signal: Signal, route: Option<&Route>) -> [CheckResult; 2] {
        let (w, r) = route
            .map(|r| (r.write_shown.as_str(), r.read_shown.as_str()))
            .unwrap_or(("", ""));
        [
            CheckResult::from_result(signal, format!("{signal}/write"), w, &self.write),
            CheckResult::from_result(signal, format!("{signal}/read"), r, &self.read),
        ]
    }
}

/// Everything `kalypso verify` needs, independent of the command line.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Explicit endpoints; whatever is missing is port-forwarded.
    pub endpoints: Endpoints,
    /// Grafana admin user (default: from the Secret, else `admin`).
    pub grafana_user: Option<String>,
    /// Grafana admin password (default: from the Secret).
    pub grafana_password: Option<String>,
    /// S3 credentials per backend (default: from each backend's Secret).
    pub s3_credentials: Vec<(String, Credentials)>,
    /// The stack contract: which Services to port-forward to, tenants, buckets, Secrets.
    pub contract: Contract,
    /// Tenants for Mimir and Loki (`X-Scope-OrgID`); empty sends no header.
    pub tenants: Tenants,
    /// Signals to check.
    pub only: Vec<Signal>,
    /// Read deadline per signal.
    pub timeout: Duration,
    /// Which cluster port-forwards go through (`--kubeconfig`, `--kube-context`).
    pub kube: kalypso_cluster::KubeTarget,
}

/// The per-request timeout: the deadline, but at most 30 s.
pub fn request_timeout(timeout: Duration) -> Duration {
    timeout
        .min(Duration::from_secs(30))
        .max(Duration::from_millis(100))
}

/// Runs every asked-for check once and returns the report. Never panics on bad endpoints:
/// every problem becomes a failed row.
pub async fn run(opts: &VerifyOptions) -> VerifyReport {
    let payload = Payload::verify();
    let http = match Http::new(request_timeout(opts.timeout)) {
        Ok(h) => h,
        Err(f) => {
            let rows = opts
                .only
                .iter()
                .map(|s| CheckResult::fail(*s, s.name(), "", &f))
                .collect();
            return VerifyReport::new(payload.id.clone(), rows);
        }
    };
    let resolved = endpoints::resolve(opts).await;
    let rows = run_resolved(&resolved, &http, &payload, opts).await;
    VerifyReport::new(payload.id.clone(), rows)
}

async fn run_resolved(
    resolved: &Resolved,
    http: &Http,
    payload: &Payload,
    opts: &VerifyOptions,
) -> Vec<CheckResult> {
    let data = futures::future::join_all(
        Signal::DATA
            .into_iter()
            .filter(|s| opts.only.contains(s))
            .map(|signal| async move {
                match resolved.route(signal) {
                    Ok(route) => round_trip(&route.pipeline, http, payload, opts.timeout)
                        .await
                        .rows(signal, Some(route))
                        .to_vec(),
                    Err(f) => vec![
                        CheckResult::fail(signal, format!("{signal}/write"), "", &f),
                        CheckResult::fail(
                            signal,
                            format!("{signal}/read"),
                            "",
                            &Failure::Skipped {
                                reason: "no endpoint".into(),
                            },
                        ),
                    ],
                }
            }),
    );
    let grafana = async {
        if !opts.only.contains(&Signal::Grafana) {
            return Vec::new();
        }
        match &resolved.grafana {
            Some(Ok(target)) => grafana::run(http, target).await,
            Some(Err(f)) => vec![CheckResult::fail(Signal::Grafana, "grafana/login", "", f)],
            None => Vec::new(),
        }
    };
    let storage = async {
        if !opts.only.contains(&Signal::Storage) {
            return Vec::new();
        }
        match &resolved.storage {
            Some(Ok(target)) => storage::run(http, target).await,
            Some(Err(f)) => vec![CheckResult::fail(Signal::Storage, "storage", "", f)],
            None => Vec::new(),
        }
    };
    let (data, grafana, storage) = tokio::join!(data, grafana, storage);
    let mut rows: Vec<CheckResult> = data.into_iter().flatten().collect();
    rows.extend(grafana);
    rows.extend(storage);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_from_their_names() {
        assert_eq!("traces".parse::<Signal>(), Ok(Signal::Traces));
        assert!("spans".parse::<Signal>().is_err());
        assert_eq!(Signal::Storage.to_string(), "storage");
    }
}
