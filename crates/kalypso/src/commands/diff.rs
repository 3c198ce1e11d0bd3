//! `kalypso diff`: what `kalypso up` would change, computed by the API server.

use anyhow::Result;

use crate::args::{runtime, ClusterArgs, Context, Output, SelectArgs, ValuesArgs};
use crate::deploy::diff::{diff_release, table};
use crate::deploy::plan::Plan;
use crate::deploy::{connect_to, releases};
use crate::error::{EXIT_FAILED, EXIT_OK};
use crate::stack::Stack;

/// Arguments of `kalypso diff` (the stack arguments of `kalypso up`).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 nothing would change; 1 something would change (or an \
immutable field would, which `kalypso up` refuses without --recreate); 2 usage or environment \
error (bad flag, missing file, helm missing, cluster unreachable)."
)]
pub struct DiffArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub values: ValuesArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs `kalypso diff`: exit 0 when nothing would change, 1 when something would.
pub(crate) fn run(ctx: &Context, args: DiffArgs) -> Result<i32> {
    let root = ctx.repo()?;
    let stack = Stack::load(&root)?.select(&args.select.only)?;
    let plan = Plan::build(&stack, &args.values.choice())?;
    plan.require_dependencies()?;
    let output = ctx.global.output.table_or_json("diff")?;
    let helm = args.cluster.helm(&root)?;
    runtime()?.block_on(async move {
        releases::ensure_supported(&helm).await?;
        let cluster = connect_to(&args.cluster.target()).await?;
        let mut diffs = Vec::new();
        for r in plan.releases() {
            diffs.push(diff_release(&cluster, &helm, r).await?);
        }
        let changes = diffs.iter().any(|d| d.changes());
        let immutable = diffs.iter().flat_map(|d| d.immutable()).count();
        match output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "changes": changes,
                    "immutable": immutable,
                    "releases": diffs,
                }))?
            ),
            Output::Table | Output::Sarif => {
                print!("{}", table(&diffs));
                if immutable > 0 {
                    println!("{immutable} immutable change(s): `kalypso up` refuses them without --recreate");
                }
            }
        }
        Ok(if changes { EXIT_FAILED } else { EXIT_OK })
    })
}
