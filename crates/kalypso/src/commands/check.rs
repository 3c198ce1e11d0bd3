//! `kalypso check`: render the stack (or read manifests) and run every rule.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::render::{IndexEntry, INDEX_FILE};
use crate::args::{Context, Output, StackArgs};
use crate::check::{self, ChartInfo, CheckOptions, Policy, SchemaOptions, Severity};
use crate::error::{usage, EXIT_FAILED, EXIT_OK};
use crate::helm::Helm;
use crate::manifest::{Manifest, Source};
use crate::render::cache::RenderCache;
use crate::render::{render_stack, ChartRender, RenderOptions};
use crate::report::{self, ChartReport, Report};
use crate::stack::Stack;

/// Arguments of `kalypso check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Check rendered manifests instead of rendering the repository: a file, a directory
    /// (every .yaml/.yml/.json in it; a `kalypso render --out` directory keeps each
    /// release's namespace), or `-` for stdin. Repeatable.
    #[arg(short = 'm', long = "manifests", value_name = "FILE|DIR|-")]
    pub manifests: Vec<PathBuf>,
    /// With --manifests: the namespace of objects that have none, as `kubectl -n` (and
    /// `helm template -n`) would apply them.
    #[arg(short = 'n', long, value_name = "NAMESPACE", default_value = "default")]
    pub namespace: String,
    /// Run `helm dependency build` for missing upstream archives (needs network).
    #[arg(long)]
    pub fetch_deps: bool,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value = "error")]
    pub fail_on: Severity,
    /// Exit 1 when any chart was rendered with stand-ins for absent upstream charts.
    #[arg(long)]
    pub require_full: bool,
    /// Kubernetes JSON schemas: a `kubernetes-json-schema` directory of kubernetes-validate,
    /// or one `vX.Y.Z-local-strict` directory [default: $KALYPSO_SCHEMA_DIR, else found
    /// through python3].
    #[arg(long, value_name = "DIR")]
    pub schema_dir: Option<PathBuf>,
    /// Policy file (external objects, privilege allow-list) [default: <repo>/kalypso-policy.yaml].
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Render every chart twice instead of comparing with the cached render of identical
    /// inputs from an earlier run (`.cache/kalypso/renders`).
    #[arg(long)]
    pub no_cache: bool,
}

/// Renders (or reads) the input and runs every rule; prints nothing.
pub fn evaluate(ctx: &Context, args: &CheckArgs) -> Result<Report> {
    let started = std::time::Instant::now();
    let lap = |what: &str| {
        tracing::info!("{what} done at {:.2}s", started.elapsed().as_secs_f64());
    };
    let repo = if args.manifests.is_empty() {
        Some(ctx.repo()?)
    } else {
        ctx.repo_if_any()
    };
    let mut contract_findings = Vec::new();
    let mut pod_security = None;
    let (sources, renders, charts) = if args.manifests.is_empty() {
        let root = repo.clone().unwrap_or_default();
        let stack = Stack::load(&root)?.select(&args.stack.select.only)?;
        let helm = Helm::locate(&root)?;
        let opts = RenderOptions {
            passes: 2,
            cache: RenderCache::open(&root),
            reuse_cache: !args.no_cache,
            ..args.stack.render_options(args.fetch_deps)
        };
        contract_findings = contract_vs_stack(&root)?;
        pod_security = Some(
            Stack::load(&root)?
                .components
                .iter()
                .filter_map(|c| Some((c.namespace.clone(), c.pod_security.clone()?)))
                .collect(),
        );
        let renders = render_stack(&stack, &helm, &opts)?;
        let mut sources = render_sources(&renders);
        sources.extend(gitops_sources(&root)?);
        let charts = renders.iter().map(ChartInfo::from).collect();
        (sources, renders, charts)
    } else {
        let (sources, charts) = manifest_sources(&args.manifests, &args.namespace)?;
        (sources, Vec::new(), charts)
    };
    lap("render");
    let manifest = Manifest::from_sources(&sources).map_err(|e| usage(e.to_string()))?;
    let policy = Policy::load(repo.as_deref(), args.policy.as_deref())?;
    lap("parse");
    // The contract's ingest budget, when a stack is rendered (ops/retention).
    let retention = match &repo {
        Some(r) if args.manifests.is_empty() => {
            crate::contract::Contract::load_or_embedded(Some(r))?.retention
        }
        _ => Default::default(),
    };
    let opts = CheckOptions {
        retention,
        schema: SchemaOptions {
            kube_version: args.stack.kube.kube_version.clone(),
            schema_dir: args.schema_dir.clone(),
            repo: repo.clone(),
        },
        skip_schema: false,
        pod_security,
        production: args.stack.values.profile.as_deref() == Some("production"),
        profile: args.stack.values.profile.clone(),
        // Waivers name objects of the whole stack: checked when the whole stack is rendered.
        waivers: match &repo {
            Some(r) if args.manifests.is_empty() && args.stack.select.only.is_empty() => {
                check::production::load_waivers(r)?
            }
            _ => Vec::new(),
        },
    };
    let mut findings = contract_findings;
    findings.extend(check::run_on(&manifest, &charts, &policy, &renders, &opts));
    lap("rules");
    Ok(Report {
        findings,
        charts: charts
            .iter()
            .map(|c| ChartReport {
                cached: renders
                    .iter()
                    .any(|r| r.component.name == c.name && r.reused),
                ..ChartReport::new(&c.name, &c.status)
            })
            .collect(),
    })
}

/// Runs `kalypso check`; returns the process exit code.
pub fn run(ctx: &Context, args: CheckArgs) -> Result<i32> {
    let report = evaluate(ctx, &args)?;
    let text = match ctx.global.output {
        // Checking someone else's manifests: wiring first, policy under its own heading.
        Output::Table if !args.manifests.is_empty() => {
            report::human::render_sections(&report, ctx.global.color.stdout())
        }
        Output::Table => report::human::render(&report, ctx.global.color.stdout()),
        Output::Json => report::json::render(&report) + "\n",
        Output::Sarif => report::sarif::render(&report) + "\n",
    };
    print!("{text}");
    let partial = report
        .charts
        .iter()
        .filter(|c| !c.stand_ins.is_empty())
        .count();
    if args.require_full && partial > 0 {
        eprintln!(
            "--require-full: {partial} chart(s) were checked only in part (stand-ins for absent upstream charts); run `helm dependency build` for each, or `kalypso check --fetch-deps`"
        );
        return Ok(EXIT_FAILED);
    }
    Ok(if report.fails(args.fail_on) {
        EXIT_FAILED
    } else {
        EXIT_OK
    })
}

/// `wiring/contract`: every component of the ApplicationSet in contract.yaml, in the same
/// namespace (the whole stack's; `--only` narrows the render, not this comparison).
fn contract_vs_stack(root: &Path) -> Result<Vec<check::Finding>> {
    if !root.join(crate::contract::CONTRACT_PATH).is_file() {
        return Ok(Vec::new());
    }
    let contract = crate::contract::Contract::load(root)?;
    let whole = Stack::load(root)?;
    Ok(contract
        .differences(&whole)
        .into_iter()
        .map(|msg| {
            check::Finding::general(
                check::CONTRACT_RULE,
                Severity::Error,
                "contract",
                crate::manifest::ObjectRef {
                    api_version: String::new(),
                    kind: "Contract".into(),
                    namespace: None,
                    name: crate::contract::CONTRACT_PATH.into(),
                },
                msg,
            )
        })
        .collect())
}

/// The first pass of each render, as manifest sources.
pub fn render_sources(renders: &[ChartRender]) -> Vec<Source> {
    renders
        .iter()
        .map(|r| Source {
            component: r.component.name.clone(),
            origin: format!("helm template {} {}", r.component.name, r.component.path),
            default_namespace: r.component.namespace.clone(),
            text: r.outputs.first().cloned().unwrap_or_default(),
        })
        .collect()
}

/// The Argo CD manifests under `<repo>/argocd/` (checked for wave enforcement).
pub fn gitops_sources(repo: &Path) -> Result<Vec<Source>> {
    let dir = repo.join("argocd");
    let mut files = Vec::new();
    collect_files(&dir, &mut files);
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f)
                .map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?;
            Ok(Source {
                component: "argocd".into(),
                origin: f.strip_prefix(repo).unwrap_or(&f).display().to_string(),
                default_namespace: "argocd".into(),
                text,
            })
        })
        .collect()
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect_files(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
}

/// `--manifests` inputs as sources: a `kalypso render --out` directory (its index gives each
/// release and namespace), other directories (recursively), files, or stdin. Objects without
/// a namespace get `namespace`.
pub fn manifest_sources(
    inputs: &[PathBuf],
    namespace: &str,
) -> Result<(Vec<Source>, Vec<ChartInfo>)> {
    let mut sources = Vec::new();
    let mut charts = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| usage(format!("cannot read stdin: {e}")))?;
            sources.push(Source {
                component: "stdin".into(),
                origin: "<stdin>".into(),
                default_namespace: namespace.into(),
                text,
            });
            continue;
        }
        let index = input.join(INDEX_FILE);
        if input.is_dir() && index.is_file() {
            let text = std::fs::read_to_string(&index)
                .map_err(|e| usage(format!("cannot read {}: {e}", index.display())))?;
            let entries: Vec<IndexEntry> = serde_json::from_str(&text).map_err(|e| {
                usage(format!(
                    "{}: not a kalypso render index: {e}",
                    index.display()
                ))
            })?;
            for e in entries {
                let f = input.join(&e.file);
                let text = std::fs::read_to_string(&f).map_err(|err| {
                    usage(format!(
                        "cannot read {} (listed in {}): {err}",
                        f.display(),
                        index.display()
                    ))
                })?;
                sources.push(Source {
                    component: e.release.clone(),
                    origin: f.display().to_string(),
                    default_namespace: e.namespace.clone(),
                    text,
                });
                charts.push(ChartInfo {
                    name: e.release,
                    namespace: e.namespace,
                    wave: Some(e.wave),
                    status: e.chart,
                    stand_in_values: Vec::new(),
                });
            }
            continue;
        }
        let mut files = Vec::new();
        if input.is_dir() {
            collect_files(input, &mut files);
            if files.is_empty() {
                return Err(usage(format!(
                    "{}: no .yaml, .yml or .json files in it",
                    input.display()
                )));
            }
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            return Err(usage(format!(
                "{}: no such file or directory",
                input.display()
            )));
        }
        for f in files {
            let text = std::fs::read_to_string(&f)
                .map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?;
            let name = f
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            sources.push(Source {
                component: name,
                origin: f.display().to_string(),
                default_namespace: namespace.into(),
                text,
            });
        }
    }
    Ok((sources, charts))
}
