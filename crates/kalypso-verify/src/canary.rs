//! `kalypso canary`: the verify round trips on an interval, with Prometheus metrics per signal.
//!
//! Round numbers are `floor(unix time / interval)`, as tempo-vulture seeds by the rounded
//! timestamp: with the instance id they rebuild every payload (see [`Payload::canary`]), and a
//! restarted pod does not rewrite an earlier round. Each round runs in its own task, so a slow
//! read never delays the next write.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::endpoints::Resolved;
use super::http::Http;
use super::payload::Payload;
use super::probe::Failure;
use super::{round_trip, Signal};

/// The `signal` label of every canary metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignalLabel {
    /// metrics, logs, traces or profiles.
    pub signal: String,
}

impl SignalLabel {
    fn of(signal: Signal) -> SignalLabel {
        SignalLabel {
            signal: signal.name().to_string(),
        }
    }
}

/// The canary's metrics, registered in one registry.
pub struct CanaryMetrics {
    registry: Registry,
    /// `kalypso_canary_writes_total{signal}`: writes attempted.
    pub writes: Family<SignalLabel, Counter>,
    /// `kalypso_canary_write_failures_total{signal}`: writes that failed.
    pub write_failures: Family<SignalLabel, Counter>,
    /// `kalypso_canary_reads_total{signal}`: read-back checks completed (found or missing).
    pub reads: Family<SignalLabel, Counter>,
    /// `kalypso_canary_missing_total{signal}`: read-back checks that did not find the data by the deadline.
    pub missing: Family<SignalLabel, Counter>,
    /// `kalypso_canary_e2e_latency_seconds{signal}`: write start to readable.
    pub latency: Family<SignalLabel, Histogram>,
}

impl std::fmt::Debug for CanaryMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CanaryMetrics").finish_non_exhaustive()
    }
}

fn latency_histogram() -> Histogram {
    // 0.25 s … 128 s.
    Histogram::new(exponential_buckets(0.25, 2.0, 10))
}

impl CanaryMetrics {
    /// Registers the five metric families, with a zero series per signal.
    pub fn new(signals: &[Signal]) -> CanaryMetrics {
        let mut registry = Registry::default();
        let writes = Family::<SignalLabel, Counter>::default();
        let write_failures = Family::<SignalLabel, Counter>::default();
        let reads = Family::<SignalLabel, Counter>::default();
        let missing = Family::<SignalLabel, Counter>::default();
        let latency = Family::<SignalLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "kalypso_canary_writes",
            "Writes attempted, per signal",
            writes.clone(),
        );
        registry.register(
            "kalypso_canary_write_failures",
            "Writes that failed, per signal",
            write_failures.clone(),
        );
        registry.register(
            "kalypso_canary_reads",
            "Read-back checks completed (found or missing), per signal",
            reads.clone(),
        );
        registry.register(
            "kalypso_canary_missing",
            "Written data not readable (or not matching) by the deadline, per signal",
            missing.clone(),
        );
        registry.register(
            "kalypso_canary_e2e_latency_seconds",
            "Time from the start of a write until the data was readable, per signal",
            latency.clone(),
        );
        for s in signals {
            let l = SignalLabel::of(*s);
            let _ = writes.get_or_create(&l);
            let _ = write_failures.get_or_create(&l);
            let _ = reads.get_or_create(&l);
            let _ = missing.get_or_create(&l);
            let _ = latency.get_or_create(&l);
        }
        CanaryMetrics {
            registry,
            writes,
            write_failures,
            reads,
            missing,
            latency,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!("encoding metrics failed: {e}");
        }
        out
    }

    fn record(
        &self,
        signal: Signal,
        write: &Result<Duration, Failure>,
        read: &Result<Duration, Failure>,
    ) {
        let l = SignalLabel::of(signal);
        self.writes.get_or_create(&l).inc();
        if write.is_err() {
            self.write_failures.get_or_create(&l).inc();
            return;
        }
        self.reads.get_or_create(&l).inc();
        match read {
            Ok(latency) => self
                .latency
                .get_or_create(&l)
                .observe(latency.as_secs_f64()),
            Err(_) => {
                self.missing.get_or_create(&l).inc();
            }
        }
    }
}

/// How the canary runs.
#[derive(Debug, Clone)]
pub struct CanaryOptions {
    /// Unique per canary (the `canary_instance` label); the pod name in a cluster.
    pub instance: String,
    /// Time between rounds.
    pub interval: Duration,
    /// Read deadline of each round.
    pub timeout: Duration,
    /// Address of `/metrics` and `/healthz`.
    pub listen: SocketAddr,
    /// Signals to probe (data signals only).
    pub signals: Vec<Signal>,
}

/// The round number at `at`: whole intervals since the epoch.
pub fn round_at(at: SystemTime, interval: Duration) -> u64 {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    (secs / interval.as_millis().max(1)) as u64
}

/// Runs until `shutdown` turns true: serves metrics and runs a round every interval.
/// Writes "listening on <addr>" to stderr once the server is up.
pub async fn run(
    opts: CanaryOptions,
    resolved: Resolved,
    http: Http,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let metrics = Arc::new(CanaryMetrics::new(&opts.signals));
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", opts.listen))?;
    let local = listener.local_addr()?;
    eprintln!(
        "kalypso canary: instance {} listening on {local}",
        opts.instance
    );
    let app = router(metrics.clone());
    let mut server_stop = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|stop| *stop).await;
            })
            .await
    });

    for signal in &opts.signals {
        if let Err(f) = resolved.route(*signal) {
            eprintln!("kalypso canary: {signal}: {f}");
        }
    }
    let resolved = Arc::new(resolved);
    let mut ticker = tokio::time::interval(opts.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut rounds = JoinSet::new();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
        let now = SystemTime::now();
        let round = round_at(now, opts.interval);
        for signal in opts.signals.iter().copied() {
            let resolved = resolved.clone();
            let metrics = metrics.clone();
            let http = http.clone();
            let payload = Payload::canary(&opts.instance, round, now);
            let timeout = opts.timeout;
            rounds.spawn(async move {
                let (write, read) = match resolved.route(signal) {
                    Ok(route) => {
                        let rt = round_trip(&route.pipeline, &http, &payload, timeout).await;
                        (rt.write, rt.read)
                    }
                    Err(f) => (
                        Err(f),
                        Err(Failure::Skipped {
                            reason: "no endpoint".into(),
                        }),
                    ),
                };
                metrics.record(signal, &write, &read);
                match (&write, &read) {
                    (Err(f), _) => {
                        eprintln!("kalypso canary: {signal} round {round}: write failed: {f}")
                    }
                    (Ok(_), Err(f)) => {
                        eprintln!("kalypso canary: {signal} round {round}: read failed: {f}")
                    }
                    _ => {}
                }
            });
        }
        // Reap finished rounds so the set does not grow.
        while rounds.try_join_next().is_some() {}
    }
    rounds.shutdown().await;
    match server.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(anyhow::anyhow!("metrics server failed: {e}")),
        Err(e) => Err(anyhow::anyhow!("metrics server task failed: {e}")),
    }
}

/// `/metrics` (OpenMetrics text) and `/healthz`.
pub fn router(metrics: Arc<CanaryMetrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.encode(),
                    )
                        .into_response()
                }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_the_documented_ones() {
        let m = CanaryMetrics::new(&Signal::DATA);
        m.record(
            Signal::Logs,
            &Ok(Duration::from_millis(5)),
            &Ok(Duration::from_secs(2)),
        );
        m.record(
            Signal::Traces,
            &Err(Failure::missing("x")),
            &Err(Failure::missing("x")),
        );
        m.record(
            Signal::Metrics,
            &Ok(Duration::ZERO),
            &Err(Failure::missing("x")),
        );
        let text = m.encode();
        for line in [
            "kalypso_canary_writes_total{signal=\"logs\"} 1",
            "kalypso_canary_write_failures_total{signal=\"traces\"} 1",
            "kalypso_canary_reads_total{signal=\"metrics\"} 1",
            "kalypso_canary_missing_total{signal=\"metrics\"} 1",
            "kalypso_canary_e2e_latency_seconds_count{signal=\"logs\"} 1",
            "kalypso_canary_missing_total{signal=\"profiles\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }

    #[test]
    fn rounds_are_whole_intervals_since_the_epoch() {
        let at = UNIX_EPOCH + Duration::from_secs(95);
        assert_eq!(round_at(at, Duration::from_secs(30)), 3);
    }
}
