//! Rendering the stack with `helm template`, every chart as its release in its namespace,
//! charts in parallel.
//!
//! Values, in the order helm merges them (see [`kalypso_model::release`]): the chart's `values.yaml`,
//! the stack contract, the profile overlay `charts/<chart>/profiles/<NAME>.yaml` when
//! `--profile NAME` is given and the chart has one, each `--values` file, each `--set`.
//!
//! Upstream dependencies: the archive `charts/<chart>/charts/<dep>-<version>.tgz` (or an
//! unpacked `charts/<dep>/`) when present; else `helm dependency build` when `fetch_deps` is
//! set; else an empty stand-in chart, and the chart is reported as rendered in part.
//!
//! With 2 passes (the determinism rule) every chart is rendered twice in whole, as helm renders
//! it, unless the render cache already holds a verified render of identical inputs.

#![warn(unreachable_pub)]

pub mod cache;
pub mod chart_dir;
pub mod helm;
pub mod standin;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use crate::helm::Helm;
use kalypso_model::chart::Dependency;
use kalypso_model::error::usage;
use kalypso_model::manifest::yaml;
use kalypso_model::release::{ReleaseSpec, ValuesChoice};
use kalypso_model::stack::{Component, Stack};

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// The user's profile, values files and `--set` strings.
    pub values: ValuesChoice,
    /// Run `helm dependency build` for charts whose archives are missing (needs network).
    pub fetch_deps: bool,
    /// Kubernetes version to render for (`helm template --kube-version`), e.g. `1.32`.
    pub kube_version: Option<String>,
    /// How many times to render each chart (2 for the determinism check).
    pub passes: usize,
    /// Where renders are kept for the next run (first pass of each chart).
    pub cache: Option<cache::RenderCache>,
    /// With 2 passes: a chart whose cached render has the same inputs is not rendered when
    /// that render was verified, else rendered once and compared with it.
    pub reuse_cache: bool,
}

/// Whether a chart rendered with all of its upstream dependencies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "status")]
pub enum ChartStatus {
    /// Every enabled dependency was rendered for real.
    Full,
    /// Some dependencies were empty stand-ins.
    Partial { stand_ins: Vec<String> },
}

impl ChartStatus {
    /// Names of the stand-in dependencies (empty when full).
    pub fn stand_ins(&self) -> &[String] {
        match self {
            ChartStatus::Full => &[],
            ChartStatus::Partial { stand_ins } => stand_ins,
        }
    }

    /// `full`, or `partial (stand-ins: a, b)`.
    pub fn describe(&self) -> String {
        match self {
            ChartStatus::Full => "full".into(),
            ChartStatus::Partial { stand_ins } => {
                format!("partial (stand-ins: {})", stand_ins.join(", "))
            }
        }
    }
}

/// One chart's render: its status and the helm output of each pass.
#[derive(Debug, Clone)]
pub struct ChartRender {
    pub component: Component,
    pub status: ChartStatus,
    /// helm's stdout, one entry per pass.
    pub outputs: Vec<String>,
    /// The second output is the cached render of identical inputs from an earlier run.
    pub second_from_cache: bool,
    /// Not rendered: both outputs are the cached render of identical inputs, which an
    /// earlier run rendered twice with the same result.
    pub reused: bool,
    /// What each stand-in would have passed to its upstream chart (taken out of `outputs`).
    pub stand_in_values: Vec<standin::StandInValues>,
}

/// What rendering one chart gave: the first render, and the second one with 2 passes.
struct Rendered {
    first: String,
    second: Option<String>,
}

/// A chart prepared for `helm template`.
struct Job {
    component: Component,
    status: ChartStatus,
    args: Vec<String>,
    /// The chart helm renders (a copy, when dependencies were filled in, lives as long as this).
    _chart: chart_dir::HelmChart,
    /// Bytes of chart and archives: a proxy for how long helm takes.
    weight: u64,
    /// Render cache key (when caching).
    key: Option<String>,
    /// The cached render for `key`, and whether it was verified.
    cached: Option<(String, bool)>,
}

/// Renders every component of `stack` (`opts.passes` times each, at least once), in parallel.
/// Results are in component list order.
pub fn render_stack(stack: &Stack, helm: &Helm, opts: &RenderOptions) -> Result<Vec<ChartRender>> {
    let specs = ReleaseSpec::all(stack, &opts.values, opts.kube_version.as_deref())?;
    let jobs: Vec<Job> = specs
        .into_iter()
        .map(|spec| prepare(spec, helm, opts))
        .collect::<Result<_>>()?;
    let passes = opts.passes.max(1);
    let mut jobs = jobs;
    if passes == 2 && opts.reuse_cache {
        if let Some(cache) = &opts.cache {
            for job in &mut jobs {
                job.cached = job
                    .key
                    .as_ref()
                    .and_then(|k| cache.get(&job.component.name, k));
            }
        }
    }
    let jobs = jobs;
    // Largest charts first (longest-processing-time-first keeps every core busy to the end);
    // a chart's second pass follows its first, which it needs.
    let mut order: Vec<usize> = (0..jobs.len())
        .filter(|&j| !matches!(jobs[j].cached, Some((_, true))))
        .collect();
    order.sort_by_key(|&j| std::cmp::Reverse(jobs[j].weight));
    let parallel = workers(order.len()) > 1;
    let results = render_each(&order, jobs.len(), |j| {
        let job = &jobs[j];
        let first = run_template(helm, job, &job.args, parallel, false)?;
        let second = if passes < 2 || job.cached.is_some() {
            None
        } else {
            Some(run_template(helm, job, &job.args, parallel, true)?)
        };
        Ok(Rendered { first, second })
    })?;
    Ok(jobs
        .into_iter()
        .zip(results)
        .map(|(job, rendered)| {
            let mut outputs: Vec<String> = match rendered {
                Some(r) => std::iter::once(r.first).chain(r.second).collect(),
                None => Vec::new(),
            };
            let (mut second_from_cache, mut reused) = (false, false);
            match job.cached {
                Some((cached, true)) => {
                    reused = true;
                    outputs = vec![cached.clone(), cached];
                }
                Some((cached, false)) => {
                    second_from_cache = true;
                    outputs.push(cached);
                }
                None => {}
            }
            // Verified: this run saw two renders of these inputs, and they were identical.
            if let (Some(cache), Some(key), Some(first), false) =
                (&opts.cache, &job.key, outputs.first(), reused)
            {
                let verified = outputs.len() == 2 && outputs[0] == outputs[1];
                cache.put(&job.component.name, key, first, verified);
            }
            let mut stand_in_values = Vec::new();
            for (i, out) in outputs.iter_mut().enumerate() {
                let (kept, values) = standin::split_stand_in_values(out);
                *out = kept;
                if i == 0 {
                    stand_in_values = values;
                }
            }
            ChartRender {
                component: job.component,
                status: job.status,
                outputs,
                second_from_cache,
                reused,
                stand_in_values,
            }
        })
        .collect())
}

/// Renders the charts `order` names on one thread per core; results by chart. The error
/// returned is that of the first chart in list order, the same on every run whichever thread
/// finished first.
fn render_each(
    order: &[usize],
    charts: usize,
    render: impl Fn(usize) -> Result<Rendered> + Sync,
) -> Result<Vec<Option<Rendered>>> {
    let results: Mutex<Vec<Option<Rendered>>> = Mutex::new((0..charts).map(|_| None).collect());
    let errors: Mutex<Vec<(usize, anyhow::Error)>> = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..workers(order.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&j) = order.get(i) else { break };
                match render(j) {
                    Ok(out) => lock(&results)[j] = Some(out),
                    Err(e) => lock(&errors).push((j, e)),
                }
            });
        }
    });
    let mut errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
    errors.sort_by_key(|(at, _)| *at);
    if let Some((_, e)) = errors.into_iter().next() {
        return Err(e);
    }
    Ok(results.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// Threads for `tasks` renders: one per core.
fn workers(tasks: usize) -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(tasks)
        .max(1)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn prepare(spec: ReleaseSpec, helm: &Helm, opts: &RenderOptions) -> Result<Job> {
    let dir = spec.chart_dir.clone();
    if opts.fetch_deps {
        for dep in spec.missing_upstream() {
            fetch(helm, &dir, &dep)?;
        }
    }
    let (chart, missing_upstream) = chart_dir::HelmChart::with_stand_ins(&spec)?;
    // A dependency switched off by its condition renders nothing either way.
    let enabled = |d: &Dependency| -> bool {
        match &d.condition {
            Some(cond) => condition_value(&dir, &spec.values_files, cond) != Some(false),
            None => true,
        }
    };
    let stand_ins: Vec<String> = missing_upstream
        .iter()
        .filter(|d| enabled(d))
        .map(|d| d.values_key().to_string())
        .collect();
    let status = if stand_ins.is_empty() {
        ChartStatus::Full
    } else {
        ChartStatus::Partial { stand_ins }
    };
    let c = &spec.component;
    let mut args = vec![
        "template".to_string(),
        c.name.clone(),
        chart.path().to_string_lossy().to_string(),
        "--namespace".into(),
        c.namespace.clone(),
        "--include-crds".into(),
        // Argo CD ignores test hooks and `helm upgrade` does not run them: render what deploys.
        "--skip-tests".into(),
    ];
    if let Some(kv) = &spec.kube_version {
        args.push("--kube-version".into());
        args.push(kv.clone());
    }
    args.extend(spec.values_args());
    let key = match &opts.cache {
        Some(_) => {
            let mut extra = vec![helm.identity()];
            extra.extend(status.stand_ins().iter().cloned());
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            Some(spec.fingerprint(&extra)?)
        }
        None => None,
    };
    Ok(Job {
        component: c.clone(),
        status,
        args,
        _chart: chart,
        weight: dir_size(&dir),
        key,
        cached: None,
    })
}

/// Downloads one upstream dependency into `chart_dir/charts/` with `helm pull` (which needs no
/// `helm repo add`, so its error is the real one: DNS, TLS, a missing version).
fn fetch(helm: &Helm, chart_dir: &Path, dep: &Dependency) -> Result<()> {
    let dest = chart_dir.join("charts");
    std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
    let version = dep.version.trim_start_matches('=');
    let mut args: Vec<String> = vec!["pull".into()];
    if dep.repository.starts_with("oci://") {
        args.push(format!(
            "{}/{}",
            dep.repository.trim_end_matches('/'),
            dep.name
        ));
    } else {
        args.extend([dep.name.clone(), "--repo".into(), dep.repository.clone()]);
    }
    args.extend([
        "--version".into(),
        version.into(),
        "--destination".into(),
        dest.to_string_lossy().into_owned(),
    ]);
    tracing::info!("helm {}", args.join(" "));
    let out = helm.output(&args)?;
    if !out.status.success() {
        return Err(usage(format!(
            "--fetch-deps: cannot download {} {} from {} for {}:\n{}",
            dep.name,
            version,
            dep.repository,
            chart_dir.display(),
            excerpt(&String::from_utf8_lossy(&out.stderr))
        )));
    }
    Ok(())
}

/// The boolean a dependency condition (`a.b.enabled`, or several comma-separated) has in the
/// chart's values and the given values files (last wins); `None` when not set to a boolean.
fn condition_value(dir: &Path, files: &[PathBuf], condition: &str) -> Option<bool> {
    let mut docs: Vec<Value> = Vec::new();
    for f in std::iter::once(dir.join("values.yaml")).chain(files.iter().cloned()) {
        if let Ok(text) = std::fs::read_to_string(&f) {
            if let Some(v) = yaml::value(&text) {
                docs.push(v);
            }
        }
    }
    // helm uses the first condition path that resolves.
    for path in condition.split(',').map(str::trim) {
        let mut found = None;
        for doc in &docs {
            let mut cur = doc;
            let mut ok = true;
            for part in path.split('.') {
                match cur.get(part) {
                    Some(v) => cur = v,
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                if let Some(b) = cur.as_bool() {
                    found = Some(b);
                }
            }
        }
        if found.is_some() {
            return found;
        }
    }
    None
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_size(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Whether this helm knows `--skip-schema-validation` (3.16+): unknown until a render tried.
static SKIP_SCHEMA_FLAG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

fn run_template(
    helm: &Helm,
    job: &Job,
    args: &[String],
    parallel: bool,
    repeat: bool,
) -> Result<String> {
    // A repeat render only has to reproduce the output: pass 1 already validated the values
    // against values.schema.json, which costs helm noticeable time on large charts.
    if repeat && SKIP_SCHEMA_FLAG.load(Ordering::SeqCst) {
        let mut with_skip = args.to_vec();
        with_skip.push("--skip-schema-validation".into());
        match run_helm(helm, job, &with_skip, parallel) {
            Err(e) if format!("{e:#}").contains("unknown flag: --skip-schema-validation") => {
                SKIP_SCHEMA_FLAG.store(false, Ordering::SeqCst);
            }
            other => return other,
        }
    }
    run_helm(helm, job, args, parallel)
}

fn run_helm(helm: &Helm, job: &Job, args: &[String], parallel: bool) -> Result<String> {
    let mut cmd = helm.command(args);
    // helm template is a short-lived, allocation-heavy process: collecting garbage less often
    // cuts its CPU time by about a third (memory stays in the low hundreds of MB), and with
    // one helm per core, one Go thread each avoids them fighting over the cores.
    if std::env::var_os("GOGC").is_none() {
        cmd.env("GOGC", "400");
    }
    if parallel && std::env::var_os("GOMAXPROCS").is_none() {
        cmd.env("GOMAXPROCS", "1");
    }
    let started = std::time::Instant::now();
    let out = cmd.output().with_context(|| {
        format!(
            "running {} to render {}",
            helm.binary.display(),
            job.component.name
        )
    })?;
    tracing::info!(
        "{}: helm template {:.2}s",
        job.component.name,
        started.elapsed().as_secs_f64()
    );
    if !out.status.success() {
        return Err(usage(format!(
            "helm template failed for {} ({}):\n{}",
            job.component.name,
            job.component.path,
            excerpt(&String::from_utf8_lossy(&out.stderr))
        )));
    }
    String::from_utf8(out.stdout).map_err(|_| {
        usage(format!(
            "helm template {}: output is not UTF-8",
            job.component.name
        ))
    })
}

/// The first lines of helm's stderr, indented; helm's hint to rerun with `--debug` (a flag
/// kalypso does not have) is left out.
pub fn excerpt(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.contains("Use --debug flag"))
        .collect();
    let mut out: Vec<String> = lines.iter().take(15).map(|l| format!("  {l}")).collect();
    if lines.len() > 15 {
        out.push(format!("  … ({} more lines)", lines.len() - 15));
    }
    if out.is_empty() {
        out.push("  (helm printed nothing on stderr)".into());
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependency_switched_off_in_values_is_not_a_stand_in() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("values.yaml"),
            "minio:\n  enabled: false\nx: {enabled: true}\n",
        )
        .unwrap();
        assert_eq!(
            condition_value(dir.path(), &[], "minio.enabled"),
            Some(false)
        );
        assert_eq!(condition_value(dir.path(), &[], "x.enabled"), Some(true));
        assert_eq!(condition_value(dir.path(), &[], "y.enabled"), None);
    }
}
