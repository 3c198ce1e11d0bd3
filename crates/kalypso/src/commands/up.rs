//! `kalypso up`: install or upgrade the stack, each release as soon as the releases it needs
//! at startup are healthy (`check`'s ordering knowledge over the render), gating each on health;
//! wave by wave when those dependencies cannot be known (docs/up-order.md).

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::args::{runtime, ClusterArgs, Context, Output, SelectArgs, ValuesArgs};
use crate::check::{self, ChartInfo, Policy};
use crate::deploy::diff::{delete_for_recreate, preflight, ObjectKey};
use crate::deploy::plan::Plan;
use crate::deploy::up::{up, Action, UpOptions, UpReport};
use crate::deploy::{connect_to, progress, releases};
use crate::error::usage;
use crate::error::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK};
use crate::helm::Helm;
use crate::manifest::Manifest;
use crate::render::{render_stack, RenderOptions};
use crate::stack::Stack;

/// Arguments of `kalypso up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub values: ValuesArgs,
    /// Time each wave may take, install and health gates included (e.g. 10m, 90s).
    #[arg(long, alias = "timeout", value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub wave_timeout: Duration,
    /// Print the plan (waves, namespaces, chart and upstream versions, values files); needs no cluster.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete and recreate this object when the upgrade changes a field that cannot change in
    /// place (`kalypso diff` lists them); KIND/NAMESPACE/NAME, repeatable. Claims are kept.
    #[arg(long, value_name = "KIND/NAMESPACE/NAME", value_parser = ObjectKey::parse)]
    pub recreate: Vec<ObjectKey>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `up -o json`: per release what was done, how long it took and how it ended.
fn report_json(report: &UpReport, waves: usize) -> serde_json::Value {
    let releases: Vec<serde_json::Value> = report
        .outcomes
        .iter()
        .map(|o| {
            let outcome = match &o.failure {
                None => "healthy",
                Some(f) if f.stage == crate::deploy::up::FailureStage::Stopped => "stopped",
                Some(_) => "failed",
            };
            serde_json::json!({
                "release": o.release,
                "wave": o.wave,
                "action": o.action,
                "outcome": outcome,
                "duration_ms": o.elapsed.as_millis() as u64,
                "failure": o.failure,
            })
        })
        .collect();
    serde_json::json!({
        "healthy": report.failures().is_empty(),
        "waves": waves,
        "failed_wave": report.failed_wave,
        "releases": releases,
    })
}

/// `up --dry-run -o json`: the plan, wave by wave.
fn plan_json(plan: &Plan) -> serde_json::Value {
    let waves: Vec<serde_json::Value> = plan
        .waves
        .iter()
        .map(|w| {
            let releases: Vec<serde_json::Value> = w
                .releases
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "release": r.name,
                        "namespace": r.namespace,
                        "chart": r.chart_path,
                        "version": r.chart.version,
                        "values": r.spec.values_files,
                        "set": r.spec.set,
                    })
                })
                .collect();
            serde_json::json!({"wave": w.number, "releases": releases})
        })
        .collect();
    serde_json::json!({"profile": plan.profile, "waves": waves})
}

/// Resolves on Ctrl-C or SIGTERM, naming the signal.
async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return "Ctrl-C",
                _ = term.recv() => return "SIGTERM",
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}

/// Runs `kalypso up`; returns the process exit code.
pub(crate) fn run(ctx: &Context, args: UpArgs) -> Result<i32> {
    let output = ctx.global.output.table_or_json("up")?;
    let root = ctx.repo()?;
    let stack = Stack::load(&root)?.select(&args.select.only)?;
    let plan = Plan::build(&stack, &args.values.choice())?;
    // Startup dependencies from the render; the waves when they cannot be known.
    let plan = match startup_needs(&root, &stack, &args.values) {
        Ok(needs) => plan.with_needs(&needs)?,
        Err(why) => {
            eprintln!("following the waves: the startup dependencies are not known ({why:#})");
            plan
        }
    };
    if args.dry_run {
        match output {
            Output::Json => println!("{}", serde_json::to_string_pretty(&plan_json(&plan))?),
            _ => print!("{}", plan.render_text(&root)),
        }
        return Ok(EXIT_OK);
    }
    plan.require_dependencies()?;
    let helm = args.cluster.helm(&root)?;
    runtime()?.block_on(async move {
        releases::ensure_supported(&helm).await?;
        let cluster = connect_to(&args.cluster.target()).await?;
        // Immutable-field changes are refused before anything is applied.
        for object in preflight(&cluster, &helm, &plan, &args.recreate).await? {
            eprintln!("recreating {object} (--recreate): deleting it; the upgrade creates it again");
            delete_for_recreate(&cluster, &object).await?;
        }
        let opts = UpOptions { wave_timeout: args.wave_timeout, ..UpOptions::default() };
        let display = progress::for_stderr(ctx.progress());
        let report = tokio::select! {
            report = up(&cluster, &helm, &plan, &opts, display.as_ref()) => report,
            signal = interrupted() => {
                display.finish();
                eprintln!(
                    "\nkalypso up interrupted ({signal}): running helm commands were asked to stop \
                     (SIGTERM, so helm marks their releases failed rather than pending). \
                     Run `kalypso up` again to continue: releases already at the wanted chart \
                     and values are left alone."
                );
                return Ok(EXIT_INTERRUPTED);
            }
        };
        if output == Output::Json {
            println!("{}", serde_json::to_string_pretty(&report_json(&report, plan.waves.len()))?);
        }
        let failures = report.failures();
        if failures.is_empty() {
            if output == Output::Json {
                return Ok(EXIT_OK);
            }
            let unchanged = report.outcomes.iter().filter(|o| o.action == Some(Action::Unchanged)).count();
            if plan.by_needs {
                println!(
                    "{} release(s) healthy, each started once what it needs was; {unchanged} already up to date.",
                    report.outcomes.len()
                );
            } else {
                println!(
                    "{} release(s) healthy in {} wave(s); {unchanged} already up to date.",
                    report.outcomes.len(),
                    plan.waves.len()
                );
            }
            return Ok(EXIT_OK);
        }
        if plan.by_needs {
            eprintln!("\nkalypso up stopped; releases that had not started were not started.");
        } else {
            eprintln!(
                "\nkalypso up stopped in wave {}; later waves were not started.",
                report.failed_wave.unwrap_or_default()
            );
        }
        for f in failures {
            eprint!("\n{f}");
        }
        eprintln!("\nFix the cause and run `kalypso up` again: releases already at the wanted chart and values are left alone.");
        Ok(EXIT_FAILED)
    })
}

/// The startup dependencies of the selected releases, `(release, needed release, what)`, as
/// `check`'s ordering rules read them in the render: CRDs of their custom resources and the
/// addresses they need to start. Fails when the stack does not render in full (a stand-in
/// chart hides its CRDs and addresses), so that `up` keeps the waves.
fn startup_needs(
    root: &Path,
    stack: &Stack,
    values: &ValuesArgs,
) -> anyhow::Result<Vec<(String, String, String)>> {
    let helm = Helm::locate(root)?;
    let opts = RenderOptions {
        values: values.choice(),
        fetch_deps: false,
        kube_version: None,
        passes: 1,
        cache: None,
        reuse_cache: false,
    };
    let renders = render_stack(stack, &helm, &opts)?;
    if let Some(partial) = renders
        .iter()
        .find(|r| !matches!(r.status, crate::render::ChartStatus::Full))
    {
        return Err(usage(format!(
            "{} renders with stand-ins for absent upstream charts",
            partial.component.name
        )));
    }
    let sources = super::check::render_sources(&renders);
    let manifest = Manifest::from_sources(&sources).map_err(|e| usage(e.to_string()))?;
    let charts: Vec<ChartInfo> = renders.iter().map(ChartInfo::from).collect();
    let policy = Policy::load(Some(root), None)?;
    let ctx = check::Context::new(&manifest, &charts, &policy);
    Ok(check::ordering::startup_dependencies(&ctx)
        .into_iter()
        .map(|d| (d.from, d.to, d.what))
        .collect())
}
