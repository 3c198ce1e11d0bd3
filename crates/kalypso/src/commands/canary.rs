//! `kalypso canary`: the verify probes on an interval, Prometheus metrics on `/metrics`,
//! `/healthz`; stops cleanly on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;

use super::verify::EndpointArgs;
use crate::args::{runtime, Context};
use crate::contract::Contract;
use crate::error::{usage, EXIT_OK};
use crate::verify::canary::{self, CanaryOptions};
use crate::verify::endpoints;
use crate::verify::http::Http;
use crate::verify::{request_timeout, Signal, VerifyOptions};

/// Arguments of `kalypso canary`.
#[derive(Debug, clap::Args)]
pub struct CanaryArgs {
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    /// Only these signals, comma-separated: metrics, logs, traces, profiles (verify also:
    /// grafana, storage).
    #[arg(long, value_delimiter = ',', value_parser = parse_data_signal, value_name = "SIGNALS")]
    pub signals: Vec<Signal>,
    /// Time between rounds.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Address of /metrics and /healthz.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:9464")]
    pub listen: SocketAddr,
    /// Instance id, the `canary_instance` label [default: $HOSTNAME (the pod name), else random].
    #[arg(long, env = "KALYPSO_CANARY_INSTANCE")]
    pub instance: Option<String>,
}

fn parse_data_signal(s: &str) -> Result<Signal, String> {
    let signal: Signal = s.parse()?;
    if Signal::DATA.contains(&signal) {
        Ok(signal)
    } else {
        Err(format!("the canary probes metrics, logs, traces and profiles; {signal} is checked by `kalypso verify`"))
    }
}

/// A label-safe instance id: `$HOSTNAME`, else random.
fn default_instance() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("canary-{:08x}", rand::random::<u32>()))
}

/// Runs `kalypso canary` until SIGTERM or Ctrl-C; returns the process exit code.
pub(crate) fn run(ctx: &Context, args: CanaryArgs) -> Result<i32> {
    ctx.global.output.table_or_json("canary")?;
    if args.endpoints.read_timeout.is_zero() || args.interval.is_zero() {
        return Err(usage(
            "--interval and --read-timeout must be greater than zero",
        ));
    }
    let instance = args.instance.clone().unwrap_or_else(default_instance);
    if instance.is_empty() || instance.contains(['"', '\\', '\n']) {
        return Err(usage(format!(
            "--instance {instance:?}: must be non-empty without quotes or backslashes"
        )));
    }
    let signals = if args.signals.is_empty() {
        Signal::DATA.to_vec()
    } else {
        args.signals.clone()
    };
    let contract = Contract::load_or_embedded(ctx.repo_if_any().as_deref())?;
    let verify_opts = VerifyOptions {
        endpoints: args.endpoints.endpoints(None),
        grafana_user: None,
        grafana_password: None,
        s3_credentials: Vec::new(),
        tenants: args.endpoints.tenants(&contract),
        contract,
        only: signals.clone(),
        timeout: args.endpoints.read_timeout,
        kube: args.endpoints.cluster.target(),
    };
    let opts = CanaryOptions {
        instance,
        interval: args.interval,
        timeout: args.endpoints.read_timeout,
        listen: args.listen,
        signals,
    };
    runtime()?.block_on(async move {
        let http = Http::new(request_timeout(opts.timeout)).map_err(|f| anyhow::anyhow!("{f}"))?;
        let resolved = endpoints::resolve(&verify_opts).await;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!("kalypso canary: stopping");
            let _ = stop_tx.send(true);
        });
        canary::run(opts, resolved, http, stop_rx).await
    })?;
    Ok(EXIT_OK)
}

/// Resolves on SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
