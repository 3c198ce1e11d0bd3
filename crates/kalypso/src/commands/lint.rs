//! `kalypso lint`: `helm lint --strict` for every chart. A chart whose upstream archives are
//! absent is linted in a temporary copy with empty stand-ins (never in the tree), and the
//! output says so.

use anyhow::Result;

use crate::args::{Context, Output, StackArgs};
use crate::error::{EXIT_FAILED, EXIT_OK};
use crate::helm::Helm;
use crate::release::ReleaseSpec;
use crate::render::chart_dir::HelmChart;
use crate::stack::Stack;

/// Arguments of `kalypso lint`.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub stack: StackArgs,
}

/// The result of linting one chart.
#[derive(serde::Serialize)]
struct ChartLint {
    #[serde(rename = "chart")]
    name: String,
    stand_ins: Vec<String>,
    passed: bool,
    output: String,
}

/// Runs `kalypso lint`; returns the process exit code.
pub(crate) fn run(ctx: &Context, args: LintArgs) -> Result<i32> {
    let output = ctx.global.output.table_or_json("lint")?;
    let root = ctx.repo()?;
    let stack = Stack::load(&root)?.select(&args.stack.select.only)?;
    let helm = Helm::locate(&root)?;
    let specs = ReleaseSpec::all(
        &stack,
        &args.stack.values.choice(),
        Some(&args.stack.kube.kube_version),
    )?;
    let results: Vec<Result<ChartLint>> = std::thread::scope(|s| {
        let handles: Vec<_> = specs
            .iter()
            .map(|spec| s.spawn(|| lint_chart(&helm, spec)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a lint thread panicked")))
            })
            .collect()
    });
    let results = results.into_iter().collect::<Result<Vec<ChartLint>>>()?;
    let failed = results.iter().filter(|r| !r.passed).count();
    if output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "passed": specs.len() - failed,
                "failed": failed,
                "charts": results,
            }))?
        );
        return Ok(if failed == 0 { EXIT_OK } else { EXIT_FAILED });
    }
    for r in results {
        let how = if r.stand_ins.is_empty() {
            "full".to_string()
        } else {
            format!("partial, stand-ins for {}", r.stand_ins.join(", "))
        };
        if r.passed {
            println!("ok    {} ({how})", r.name);
        } else {
            println!("FAIL  {} ({how})", r.name);
            for line in r.output.lines() {
                println!("      {line}");
            }
        }
    }
    println!(
        "helm lint --strict: {} passed, {failed} failed",
        specs.len() - failed
    );
    Ok(if failed == 0 { EXIT_OK } else { EXIT_FAILED })
}

fn lint_chart(helm: &Helm, spec: &ReleaseSpec) -> Result<ChartLint> {
    // Absent upstream charts are linted as stand-ins, in a temporary copy (never in the tree).
    let (chart, stand_ins) = HelmChart::with_stand_ins(spec)?;
    let mut args: Vec<String> = vec![
        "lint".into(),
        "--strict".into(),
        "--namespace".into(),
        spec.component.namespace.clone(),
    ];
    if let Some(kv) = &spec.kube_version {
        args.push("--kube-version".into());
        args.push(kv.clone());
    }
    args.extend(spec.values_args());
    args.push(chart.path().to_string_lossy().into_owned());
    let out = helm.output(&args)?;
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(ChartLint {
        name: spec.component.name.clone(),
        stand_ins: stand_ins.into_iter().map(|d| d.name).collect(),
        passed: out.status.success(),
        output,
    })
}
