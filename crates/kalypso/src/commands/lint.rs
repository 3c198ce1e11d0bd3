//! `kalypso lint`: `helm lint --strict` for every chart. A chart whose upstream archives are
//! absent is linted in a temporary copy with empty stand-ins (never in the tree), and the
//! output says so.

use std::path::PathBuf;

use anyhow::Result;

use crate::chart::ChartMeta;
use crate::error::{EXIT_FAILED, EXIT_OK};
use crate::helm::Helm;
use crate::render::dependency_present;
use crate::render::standin::copy_with_stand_ins;
use crate::stack::{Component, Stack};

/// Arguments of `kalypso lint`.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Repository root (holds argocd/applicationset.yaml and charts/).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Lint only these components (comma-separated; `mimir` means `kalypso-mimir`).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Kubernetes version to lint for (`helm lint --kube-version`).
    #[arg(long, value_name = "X.Y", default_value = "1.32.0")]
    pub kube_version: String,
}

/// The result of linting one chart.
struct ChartLint {
    name: String,
    stand_ins: Vec<String>,
    passed: bool,
    output: String,
}

/// Runs `kalypso lint`; returns the process exit code.
pub fn run(args: LintArgs) -> Result<i32> {
    let stack = Stack::load(&args.repo)?.select(&args.only)?;
    let helm = Helm::locate(&args.repo)?;
    let results: Vec<Result<ChartLint>> = std::thread::scope(|s| {
        let handles: Vec<_> = stack
            .components
            .iter()
            .map(|c| s.spawn(|| lint_chart(&stack, &helm, c, &args.kube_version)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a lint thread panicked")))
            })
            .collect()
    });
    let mut failed = 0;
    for r in results {
        let r = r?;
        let how = if r.stand_ins.is_empty() {
            "full".to_string()
        } else {
            format!("partial, stand-ins for {}", r.stand_ins.join(", "))
        };
        if r.passed {
            println!("ok    {} ({how})", r.name);
        } else {
            failed += 1;
            println!("FAIL  {} ({how})", r.name);
            for line in r.output.lines() {
                println!("      {line}");
            }
        }
    }
    println!(
        "helm lint --strict: {} passed, {failed} failed",
        stack.components.len() - failed
    );
    Ok(if failed == 0 { EXIT_OK } else { EXIT_FAILED })
}

fn lint_chart(stack: &Stack, helm: &Helm, c: &Component, kube_version: &str) -> Result<ChartLint> {
    let dir = stack.chart_dir(c);
    let meta = ChartMeta::load(&dir)?;
    let missing: Vec<_> = meta
        .dependencies
        .iter()
        .filter(|d| !dependency_present(&dir, d))
        .cloned()
        .collect();
    // Keeps the temporary copy alive until helm is done with it.
    let copy = if missing.is_empty() {
        None
    } else {
        Some(copy_with_stand_ins(&dir, &missing)?)
    };
    let target = match &copy {
        Some(tmp) => tmp
            .path()
            .join(dir.file_name().unwrap_or_else(|| "chart".as_ref())),
        None => dir.clone(),
    };
    let out = helm.output([
        "lint".as_ref(),
        "--strict".as_ref(),
        "--kube-version".as_ref(),
        kube_version.as_ref(),
        "--namespace".as_ref(),
        c.namespace.as_ref(),
        target.as_os_str(),
    ])?;
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(ChartLint {
        name: c.name.clone(),
        stand_ins: missing.iter().map(|d| d.name.clone()).collect(),
        passed: out.status.success(),
        output,
    })
}
