//! `kalypso verify`: write a trace, a metric sample, a log line and a profile through the stack,
//! read each back, check Grafana and MinIO, print one row per check; exit 0 only if all passed.

use std::time::Duration;

use anyhow::Result;
use reqwest::Url;

use crate::args::{runtime, ClusterArgs, Context, Output};
use crate::contract::{Contract, Tenants};
use crate::verify::endpoints::{roles, Endpoints};
use crate::verify::http::display_url;
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
    /// Grafana admin password [default: read from Grafana's admin Secret].
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "KALYPSO_GRAFANA_PASSWORD",
        hide_env_values = true
    )]
    pub grafana_password: Option<String>,
    /// Tenant sent as X-Scope-OrgID to Mimir and Loki ("" sends none) [default: the
    /// contract's tenants].
    #[arg(long)]
    pub tenant: Option<String>,
    /// Read deadline per signal: how long written data may take to become readable (each
    /// single request gives up after at most 30s of it).
    #[arg(long, alias = "timeout", value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub read_timeout: Duration,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

impl EndpointArgs {
    /// The tenants to send: `--tenant` for both signals, else the contract's.
    pub fn tenants(&self, contract: &Contract) -> Tenants {
        match &self.tenant {
            Some(t) => Tenants {
                metrics: t.clone(),
                logs: t.clone(),
            },
            None => contract.tenants.clone(),
        }
    }

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

/// Arguments of `kalypso verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    /// MinIO S3 endpoint [default: port-forward to svc/minio.minio:9000].
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub s3_url: Option<Url>,
    /// A backend's MinIO keys, `backend=access:secret` (repeatable) [default: each backend's
    /// credentials Secret, as the contract names it]. With --s3-url, only the backends given
    /// are checked.
    #[arg(long, value_name = "BACKEND=ACCESS:SECRET", value_parser = parse_s3_credentials)]
    pub s3_credentials: Vec<(String, Credentials)>,
    /// Only these signals, comma-separated: metrics, logs, traces, profiles (verify also:
    /// grafana, storage).
    #[arg(long, value_delimiter = ',', value_parser = parse_signal, value_name = "SIGNALS")]
    pub signals: Vec<Signal>,
}

/// Sets the help and defaults that come from the stack contract: where each missing URL is
/// port-forwarded to, the tenant, the Grafana Secret.
pub(crate) fn with_contract_defaults(cmd: clap::Command, contract: &Contract) -> clap::Command {
    let shown = |role: (&str, &str), port: Option<&str>| {
        contract
            .address(role.0, role.1, port)
            .map(|a| a.shown())
            .unwrap_or_else(|_| "the contract Service".into())
    };
    let forward = [
        ("metrics_write_url", shown(roles::MIMIR, None)),
        ("metrics_query_url", shown(roles::MIMIR, None)),
        ("logs_write_url", shown(roles::LOKI, None)),
        ("logs_query_url", shown(roles::LOKI, None)),
        (
            "traces_write_url",
            shown(roles::TEMPO_DISTRIBUTOR, Some(roles::OTLP_HTTP)),
        ),
        ("traces_query_url", shown(roles::TEMPO_QUERY, None)),
        ("profiles_write_url", shown(roles::PYROSCOPE, None)),
        ("profiles_query_url", shown(roles::PYROSCOPE, None)),
        ("grafana_url", shown(roles::GRAFANA, None)),
        ("s3_url", shown(roles::MINIO, None)),
    ];
    let tenant = if contract.tenants.metrics == contract.tenants.logs {
        contract.tenants.metrics.clone()
    } else {
        format!(
            "{} for metrics, {} for logs",
            contract.tenants.metrics, contract.tenants.logs
        )
    };
    let patch = |mut sc: clap::Command| {
        for (id, svc) in &forward {
            let has = sc.get_arguments().any(|a| a.get_id() == *id);
            if has {
                sc = sc.mut_arg(*id, |a| {
                    let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                    a.help(format!("{help} [default: port-forward to {svc}]"))
                });
            }
        }
        if let Ok(g) = contract.component(roles::GRAFANA.0) {
            let secret = format!(
                "{}/{}",
                g.namespace,
                g.admin_secret.as_deref().unwrap_or_default()
            );
            sc = sc.mut_arg("grafana_password", |a| {
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                a.help(help.replace("Grafana's admin Secret", &format!("Secret {secret}")))
            });
        }
        sc.mut_arg("tenant", |a| {
            a.help(format!(
                "Tenant sent as X-Scope-OrgID to Mimir and Loki (\"\" sends none) [default: {tenant}, from the contract]"
            ))
        })
    };
    cmd.mut_subcommand("verify", patch)
        .mut_subcommand("canary", patch)
}

/// Parses an http(s) URL.
pub(crate) fn parse_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        _ => Err(format!(
            "{:?}: expected an http:// or https:// URL with a host",
            display_url(&url)
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

/// Runs `kalypso verify`; returns the process exit code.
pub(crate) fn run(ctx: &Context, args: VerifyArgs) -> Result<i32> {
    let output = ctx.global.output.table_or_json("verify")?;
    let only = if args.signals.is_empty() {
        Signal::ALL.to_vec()
    } else {
        args.signals.clone()
    };
    let contract = Contract::load_or_embedded(ctx.repo_if_any().as_deref())?;
    let opts = VerifyOptions {
        endpoints: args.endpoints.endpoints(args.s3_url.clone()),
        grafana_user: args.endpoints.grafana_user.clone(),
        grafana_password: args.endpoints.grafana_password.clone(),
        s3_credentials: args.s3_credentials.clone(),
        tenants: args.endpoints.tenants(&contract),
        contract,
        only,
        timeout: args.endpoints.read_timeout,
        kube: args.endpoints.cluster.target(),
    };
    let report = runtime()?.block_on(verify::run(&opts));
    match output {
        Output::Json => println!("{}", report.to_json()),
        Output::Table | Output::Sarif => print!("{}", report.to_table(ctx.global.color.stdout())),
    }
    Ok(report.exit_code())
}
