//! `kalypso verify`: write a trace, a metric sample, a log line and a profile through the stack,
//! read each back, check Grafana and MinIO, print one row per check; exit 0 only if all passed.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Result;
use reqwest::Url;

use crate::verify::endpoints::Endpoints;
use crate::verify::logs::LogFormat;
use crate::verify::sigv4::Credentials;
use crate::verify::storage::parse_credentials;
use crate::verify::{self, Signal, VerifyOptions};

/// Endpoint flags shared by `verify` and `canary`. A missing URL is reached by port-forwarding
/// to the stack's contract Service through the Kubernetes API.
#[derive(Debug, Clone, clap::Args)]
pub struct EndpointArgs {
    /// Full Prometheus remote-write URL (Mimir: http://…/api/v1/push; Prometheus: …/api/v1/write).
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub metrics_write_url: Option<Url>,
    /// Prometheus API base for PromQL (Mimir's ends in /prometheus).
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub metrics_query_url: Option<Url>,
    /// Loki push URL (…/loki/api/v1/push) or OTLP logs URL (…/otlp/v1/logs, collector …/v1/logs).
    #[arg(long, value_name = "URL", value_parser = parse_logs_write_url)]
    pub logs_write_url: Option<Url>,
    /// Loki base URL for LogQL.
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub logs_query_url: Option<Url>,
    /// OTLP/HTTP traces URL (…:4318/v1/traces, collector or Tempo distributor).
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub traces_write_url: Option<Url>,
    /// Tempo base URL (query-frontend).
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub traces_query_url: Option<Url>,
    /// Pyroscope base URL for OTLP profiles (POST /v1development/profiles is appended).
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub profiles_write_url: Option<Url>,
    /// Pyroscope base URL for queries.
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub profiles_query_url: Option<Url>,
    /// Grafana base URL (verify only; the canary accepts and ignores it).
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub grafana_url: Option<Url>,
    /// Grafana admin user [default: the Secret's admin-user, else admin].
    #[arg(long, value_name = "USER")]
    pub grafana_user: Option<String>,
    /// Grafana admin password [default: read from Secret grafana/kalypso-grafana].
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "KALYPSO_GRAFANA_PASSWORD",
        hide_env_values = true
    )]
    pub grafana_password: Option<String>,
    /// Tenant sent as X-Scope-OrgID to Mimir and Loki ("" sends none).
    #[arg(long, default_value = "kalypso")]
    pub tenant: String,
    /// Read deadline per signal: how long written data may take to become readable.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

impl EndpointArgs {
    /// The explicit endpoints.
    pub fn endpoints(&self, s3: Option<Url>) -> Endpoints {
        Endpoints {
            metrics_write: self.metrics_write_url.clone(),
            metrics_query: self.metrics_query_url.clone(),
            logs_write: self.logs_write_url.clone(),
            logs_query: self.logs_query_url.clone(),
            traces_write: self.traces_write_url.clone(),
            traces_query: self.traces_query_url.clone(),
            profiles_write: self.profiles_write_url.clone(),
            profiles_query: self.profiles_query_url.clone(),
            grafana: self.grafana_url.clone(),
            s3,
        }
    }
}

/// Output format of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A table, one row per check.
    Table,
    /// JSON: run_id, passed, checks[].
    Json,
}

/// Arguments of `kalypso verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    /// MinIO S3 endpoint [default: port-forward to svc/minio.minio:9000].
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub s3_url: Option<Url>,
    /// A backend's MinIO keys, `backend=access:secret` (repeatable) [default: each backend's
    /// Secret <backend>-s3-credentials]. With --s3-url, only the backends given are checked.
    #[arg(long, value_name = "BACKEND=ACCESS:SECRET", value_parser = parse_s3_credentials)]
    pub s3_credentials: Vec<(String, Credentials)>,
    /// Check only these (comma-separated): metrics, logs, traces, profiles, grafana, storage.
    #[arg(long, value_delimiter = ',', value_parser = parse_signal)]
    pub only: Vec<Signal>,
    /// Report format.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

/// Parses an http(s) URL.
pub fn parse_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        _ => Err(format!(
            "{s:?}: expected an http:// or https:// URL with a host"
        )),
    }
}

fn parse_logs_write_url(s: &str) -> Result<Url, String> {
    let url = parse_url(s)?;
    LogFormat::for_url(&url)?;
    Ok(url)
}

fn parse_signal(s: &str) -> Result<Signal, String> {
    s.parse()
}

fn parse_s3_credentials(s: &str) -> Result<(String, Credentials), String> {
    parse_credentials(s)
}

/// A multi-threaded runtime for the async commands.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
}

/// Runs `kalypso verify`; returns the process exit code.
pub fn run(args: VerifyArgs) -> Result<i32> {
    let only = if args.only.is_empty() {
        Signal::ALL.to_vec()
    } else {
        args.only.clone()
    };
    let opts = VerifyOptions {
        endpoints: args.endpoints.endpoints(args.s3_url.clone()),
        grafana_user: args.endpoints.grafana_user.clone(),
        grafana_password: args.endpoints.grafana_password.clone(),
        s3_credentials: args.s3_credentials.clone(),
        tenant: args.endpoints.tenant.clone(),
        only,
        timeout: args.endpoints.timeout,
    };
    let report = runtime()?.block_on(verify::run(&opts));
    match args.output {
        OutputFormat::Json => println!("{}", report.to_json()),
        OutputFormat::Table => print!("{}", report.to_table(std::io::stdout().is_terminal())),
    }
    Ok(report.exit_code())
}
