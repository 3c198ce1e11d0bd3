//! `kalypso down`: uninstall the stack in reverse wave order.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::Result;

use crate::args::{runtime, ClusterArgs, Context, Output, SelectArgs};
use crate::deploy::down::{down, DownOutcome};
use crate::deploy::{connect_to, releases};
use crate::error::{usage, EXIT_FAILED, EXIT_OK};
use crate::stack::Stack;

/// Arguments of `kalypso down`.
#[derive(Debug, clap::Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Also delete the PersistentVolumeClaims (data!) and the namespaces.
    #[arg(long)]
    pub purge: bool,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Time each release's `helm uninstall --wait` may take.
    #[arg(long, alias = "timeout", value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub release_timeout: Duration,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs `kalypso down`; returns the process exit code.
pub(crate) fn run(ctx: &Context, args: DownArgs) -> Result<i32> {
    let output = ctx.global.output.table_or_json("down")?;
    let root = ctx.repo()?;
    let stack = Stack::load(&root)?.select(&args.select.only)?;
    let order: Vec<String> = stack
        .waves()
        .iter()
        .rev()
        .flat_map(|w| w.components.iter().map(|c| c.name.clone()))
        .collect();
    let keep = if args.purge {
        "PersistentVolumeClaims AND namespaces will be DELETED (data is lost)"
    } else {
        "PersistentVolumeClaims and namespaces are kept"
    };
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(usage(
                "kalypso down uninstalls releases and needs confirmation: stdin is not a terminal, so pass --yes",
            ));
        }
        eprint!("Uninstall {} ({keep})? [y/N] ", order.join(", "));
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
            eprintln!("nothing uninstalled");
            return Ok(EXIT_FAILED);
        }
    }
    let helm = args.cluster.helm(&root)?;
    runtime()?.block_on(async move {
        releases::ensure_supported(&helm).await?;
        let cluster = connect_to(&args.cluster.target()).await?;
        let print = |o: &DownOutcome| {
            if output == Output::Json {
                return;
            }
            let mut line = format!("{}: {}", o.release, o.result);
            if !o.deleted_pvcs.is_empty() {
                line.push_str(&format!("; deleted PVCs {}", o.deleted_pvcs.join(", ")));
            }
            if !o.kept_pvcs.is_empty() {
                line.push_str(&format!("; kept PVCs {}", o.kept_pvcs.join(", ")));
            }
            if o.deleted_namespace {
                line.push_str(&format!("; deleted namespace {}", o.namespace));
            }
            if let Some(e) = &o.error {
                line.push_str(&format!(": {e}"));
            }
            println!("{line}");
        };
        let outcomes = down(&cluster, &helm, &stack, args.purge, args.release_timeout, &print).await;
        if output == Output::Json {
            let failed = outcomes.iter().any(|o| o.error.is_some());
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "ok": !failed,
                    "purge": args.purge,
                    "releases": outcomes,
                }))?
            );
        }
        if let Some(failed) = outcomes.iter().find(|o| o.error.is_some()) {
            eprintln!(
                "kalypso down stopped at {} (wave {}); releases of earlier waves were left installed.",
                failed.release, failed.wave
            );
            return Ok(EXIT_FAILED);
        }
        if output == Output::Json {
            return Ok(EXIT_OK);
        }
        if !args.purge {
            let kept: Vec<&str> = outcomes.iter().flat_map(|o| o.kept_pvcs.iter().map(String::as_str)).collect();
            if kept.is_empty() {
                println!("No PersistentVolumeClaims were left; namespaces are kept (use --purge to delete them).");
            } else {
                println!(
                    "Kept {} PersistentVolumeClaim(s) with their data: {}. Namespaces are kept too (use --purge to delete both).",
                    kept.len(),
                    kept.join(", ")
                );
            }
        }
        println!("CRDs that charts keep on uninstall (cert-manager's, Istio's) stay in the cluster.");
        Ok(EXIT_OK)
    })
}
