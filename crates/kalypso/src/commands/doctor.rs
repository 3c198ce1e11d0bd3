//! `kalypso doctor`: preflight checks before an install.

use std::path::PathBuf;

use anyhow::Result;

use super::status::Output;
use std::io::IsTerminal;

use crate::deploy::doctor::{doctor, table, Severity};
use crate::deploy::{connect, runtime};
use crate::error::{EXIT_FAILED, EXIT_OK};
use crate::helm::Helm;

/// Arguments of `kalypso doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Also check the GitOps path: Argo CD installed with progressive syncs enabled.
    #[arg(long)]
    pub gitops: bool,
    /// Repository root, where a helm under .cache/bin is looked for (default: current directory).
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    pub output: Output,
}

/// Runs `kalypso doctor`; exit 1 when any finding is an error.
pub fn run(args: DoctorArgs) -> Result<i32> {
    let root = args.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    let helm = Helm::locate(&root).ok();
    runtime()?.block_on(async move {
        let cluster = connect().await?;
        let findings = doctor(&cluster, helm.as_ref(), args.gitops).await?;
        let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
        let warnings = findings.iter().filter(|f| f.severity == Severity::Warning).count();
        match args.output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"errors": errors, "warnings": warnings, "findings": findings}))?
            ),
            Output::Table => {
                println!("Cluster {}", cluster.url());
                let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                println!("{}", table(&findings, color));
                println!("{errors} error(s), {warnings} warning(s)");
            }
        }
        Ok(if errors > 0 { EXIT_FAILED } else { EXIT_OK })
    })
}
