//! `kalypso doctor`: preflight checks before an install.

use anyhow::Result;

use crate::args::{runtime, ClusterArgs, Context, Output};
use crate::deploy::connect_to;
use crate::deploy::doctor::{doctor, table, Severity};
use crate::outcome::exit_code;
use crate::stack::Stack;

/// Arguments of `kalypso doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Also check the GitOps path: Argo CD installed with progressive syncs enabled.
    #[arg(long)]
    pub gitops: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs `kalypso doctor`; exit 1 when any finding is an error.
pub(crate) fn run(ctx: &Context, args: DoctorArgs) -> Result<i32> {
    let root = ctx.repo_if_any();
    let output = ctx.global.output.table_or_json("doctor")?;
    let helm = args
        .cluster
        .helm(root.as_deref().unwrap_or_else(|| ".".as_ref()))
        .ok();
    let stack = match &root {
        Some(r) => Some(Stack::load(r)?),
        None => None,
    };
    runtime()?.block_on(async move {
        let cluster = connect_to(&args.cluster.target()).await?;
        let findings = doctor(&cluster, helm.as_ref(), stack.as_ref(), args.gitops).await?;
        let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
        let warnings = findings.iter().filter(|f| f.severity == Severity::Warning).count();
        match output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"errors": errors, "warnings": warnings, "findings": findings}))?
            ),
            Output::Table | Output::Sarif => {
                println!("Cluster {}", cluster.url());
                println!("{}", table(&findings, ctx.global.color.stdout()));
                println!("{errors} error(s), {warnings} warning(s)");
            }
        }
        Ok(exit_code(findings.iter().map(|f| f.severity), Severity::Error))
    })
}
