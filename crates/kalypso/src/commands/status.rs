//! `kalypso status`: the health of every release.

use anyhow::Result;

use crate::cli::{runtime, Context, Output, SelectArgs};
use crate::deploy::status::{status, table};
use crate::deploy::{connect, releases};
use crate::error::{EXIT_FAILED, EXIT_OK};
use crate::helm::Helm;
use crate::stack::Stack;

/// Arguments of `kalypso status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    pub output: Output,
}

/// Runs `kalypso status`; exit 1 when anything is unhealthy.
pub(crate) fn run(ctx: &Context, args: StatusArgs) -> Result<i32> {
    let root = ctx.repo()?;
    let stack = Stack::load(&root)?.select(&args.select.only)?;
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
                println!("{}", table(&rows, ctx.global.color.stdout()));
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
