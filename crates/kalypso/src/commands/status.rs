//! `kalypso status`: the health of every release.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;

use crate::deploy::status::{status, table};
use crate::deploy::{connect, releases, repo_root, runtime};
use crate::error::{EXIT_FAILED, EXIT_OK};
use crate::helm::Helm;
use crate::stack::Stack;

/// Output format of `status` and `doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// A human table.
    Table,
    /// JSON on stdout.
    Json,
}

/// Arguments of `kalypso status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Repository root (default: the nearest directory with argocd/applicationset.yaml).
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// Only these components, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub only: Vec<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    pub output: Output,
}

/// Runs `kalypso status`; exit 1 when anything is unhealthy.
pub fn run(args: StatusArgs) -> Result<i32> {
    let root = repo_root(args.repo.as_deref())?;
    let stack = Stack::load(&root)?.select(&args.only)?;
    let helm = Helm::locate(&root)?;
    runtime()?.block_on(async move {
        releases::ensure_supported(&helm).await?;
        let cluster = connect().await?;
        let rows = status(&cluster, &helm, &stack).await?;
        let healthy = rows.iter().all(|r| r.healthy);
        match args.output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"healthy": healthy, "components": rows})
                )?
            ),
            Output::Table => {
                println!("{}", table(&rows, std::io::stdout().is_terminal()));
                let bad = rows.iter().filter(|r| !r.healthy).count();
                if bad == 0 {
                    println!("all {} component(s) healthy", rows.len());
                } else {
                    println!("{bad} of {} component(s) not healthy", rows.len());
                }
            }
        }
        Ok(if healthy { EXIT_OK } else { EXIT_FAILED })
    })
}
