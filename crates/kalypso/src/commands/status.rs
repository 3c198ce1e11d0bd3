//! `kalypso status`: the health of every release.

use anyhow::Result;

use reqwest::Url;

use crate::args::{runtime, ClusterArgs, Context, Output, SelectArgs};
use crate::contract::Contract;
use crate::deploy::status::{status, table};
use crate::deploy::{connect_to, releases};
use crate::error::{EXIT_FAILED, EXIT_OK};
use crate::stack::Stack;
use crate::verify::alerts::{alerts, alerts_text};

/// Arguments of `kalypso status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Prometheus API base (Mimir's ends in /prometheus) to read the self-monitoring alerts
    /// from [default: a port-forward to the contract's Mimir gateway].
    #[arg(long, value_name = "URL", value_parser = crate::commands::verify::parse_url)]
    pub metrics_query_url: Option<Url>,
}

/// Runs `kalypso status`; exit 1 when anything is unhealthy or a critical self-monitoring
/// alert is firing.
pub(crate) fn run(ctx: &Context, args: StatusArgs) -> Result<i32> {
    let root = ctx.repo()?;
    let stack = Stack::load(&root)?.select(&args.select.only)?;
    let output = ctx.global.output.table_or_json("status")?;
    let helm = args.cluster.helm(&root)?;
    let contract = Contract::load(&root).ok();
    runtime()?.block_on(async move {
        releases::ensure_supported(&helm).await?;
        let cluster = connect_to(&args.cluster.target()).await?;
        let rows = status(&cluster, &helm, &stack).await?;
        // Mimir's ruler holds the alerts: read them when kalypso-mimir is installed.
        let mimir_installed = rows
            .iter()
            .any(|r| r.component == "kalypso-mimir" && r.release_status != "not installed");
        let alerts = match &contract {
            Some(c) if mimir_installed || args.metrics_query_url.is_some() => {
                Some(alerts(&cluster, c, args.metrics_query_url.as_ref()).await)
            }
            _ => None,
        };
        let critical = alerts.as_ref().is_some_and(|a| a.critical());
        let healthy = rows.iter().all(|r| r.healthy) && !critical;
        match output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"healthy": healthy, "components": rows, "alerts": alerts})
                )?
            ),
            Output::Table | Output::Sarif => {
                println!("{}", table(&rows, ctx.global.color.stdout()));
                if let Some(a) = &alerts {
                    println!("{}", alerts_text(a));
                }
                let bad = rows.iter().filter(|r| !r.healthy).count();
                if bad == 0 {
                    println!("all {} component(s) healthy", rows.len());
                } else {
                    println!("{bad} of {} component(s) not healthy", rows.len());
                }
                if critical {
                    println!("a critical self-monitoring alert is firing");
                }
            }
        }
        Ok(if healthy { EXIT_OK } else { EXIT_FAILED })
    })
}
