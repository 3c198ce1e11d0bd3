//! `kalypso check`: render the stack (or read manifests) and run every rule.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::check::{self, ChartInfo, CheckOptions, Policy, SchemaOptions, Severity};
use crate::error::{usage, EXIT_FAILED, EXIT_OK};
use crate::helm::Helm;
use crate::manifest::{Manifest, Source};
use crate::render::cache::RenderCache;
use crate::render::{render_stack, ChartRender, RenderOptions};
use crate::report::{self, ChartReport, Report};
use crate::stack::Stack;

/// The Kubernetes version README promises as the minimum (mimir-distributed 6.2 requires 1.32).
pub const DEFAULT_KUBE_VERSION: &str = "1.32";

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
    Sarif,
}

/// Arguments of `kalypso check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Repository root (holds argocd/ and charts/).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Check rendered manifests instead of rendering the repository: a file, a directory
    /// (every .yaml/.yml/.json in it), or `-` for stdin. Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR|-")]
    pub files: Vec<PathBuf>,
    /// Check only these components (comma-separated; `mimir` means `kalypso-mimir`).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Render with `charts/<chart>/profiles/<NAME>.yaml` applied.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Extra values file for every chart (repeatable).
    #[arg(long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Set a value for every chart (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Run `helm dependency build` for missing upstream archives (needs network).
    #[arg(long)]
    pub fetch_deps: bool,
    /// Kubernetes version to validate (and render) for.
    #[arg(long, value_name = "X.Y", default_value = DEFAULT_KUBE_VERSION)]
    pub kube_version: String,
    /// Report format.
    #[arg(long, value_enum, default_value = "human")]
    pub output: OutputFormat,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value = "error")]
    pub fail_on: Severity,
    /// Kubernetes JSON schemas: a `kubernetes-json-schema` directory of kubernetes-validate,
    /// or one `vX.Y.Z-local-strict` directory (default: found through python3).
    #[arg(long, value_name = "DIR")]
    pub schema_dir: Option<PathBuf>,
    /// Policy file (external objects, privilege allow-list); default `<repo>/kalypso-policy.yaml`.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Render every chart twice instead of comparing with the cached render of identical
    /// inputs from an earlier run (`.cache/kalypso/renders`).
    #[arg(long)]
    pub no_cache: bool,
    /// Colour the human report: auto (on a terminal), always, never.
    #[arg(long, value_name = "WHEN", default_value = "auto")]
    pub color: String,
}

/// Renders (or reads) the input and runs every rule; prints nothing.
pub fn evaluate(args: &CheckArgs) -> Result<Report> {
    if !args
        .kube_version
        .split('.')
        .take(2)
        .all(|p| p.parse::<u32>().is_ok())
        || args.kube_version.split('.').count() < 2
    {
        return Err(usage(format!(
            "--kube-version {:?}: expected X.Y, e.g. 1.32",
            args.kube_version
        )));
    }
    let timings = std::env::var_os("KALYPSO_TIMINGS").is_some();
    let started = std::time::Instant::now();
    let lap = |what: &str| {
        if timings {
            eprintln!(
                "timing: {what} done at {:.2}s",
                started.elapsed().as_secs_f64()
            );
        }
    };
    let (sources, renders, charts, repo) = if args.files.is_empty() {
        let stack = Stack::load(&args.repo)?.select(&args.only)?;
        let helm = Helm::locate(&args.repo)?;
        let opts = RenderOptions {
            profile: args.profile.clone(),
            values: args.values.clone(),
            set: args.set.clone(),
            fetch_deps: args.fetch_deps,
            kube_version: Some(args.kube_version.clone()),
            passes: 2,
            cache: RenderCache::open(&args.repo),
            reuse_cache: !args.no_cache,
        };
        let renders = render_stack(&stack, &helm, &opts)?;
        let mut sources = render_sources(&renders);
        sources.extend(gitops_sources(&args.repo)?);
        let charts = renders
            .iter()
            .map(|r| ChartInfo {
                name: r.component.name.clone(),
                namespace: r.component.namespace.clone(),
                wave: Some(r.component.wave),
                status: r.status.clone(),
            })
            .collect();
        (sources, renders, charts, Some(args.repo.clone()))
    } else {
        (file_sources(&args.files)?, Vec::new(), Vec::new(), None)
    };
    lap("render");
    let manifest = Manifest::from_sources(&sources).map_err(|e| usage(e.to_string()))?;
    let policy = Policy::load(repo.as_deref(), args.policy.as_deref())?;
    let charts: Vec<ChartInfo> = charts;
    lap("parse");
    let opts = CheckOptions {
        schema: SchemaOptions {
            kube_version: args.kube_version.clone(),
            schema_dir: args.schema_dir.clone(),
            repo: Some(args.repo.clone()),
        },
        skip_schema: false,
    };
    let findings = check::run_on(&manifest, &charts, &policy, &renders, &opts);
    lap("rules");
    Ok(Report {
        findings,
        charts: charts
            .iter()
            .map(|c| ChartReport::new(&c.name, &c.status))
            .collect(),
    })
}

/// Runs `kalypso check`; returns the process exit code.
pub fn run(args: CheckArgs) -> Result<i32> {
    let report = evaluate(&args)?;
    let text = match args.output {
        OutputFormat::Human => {
            let colour = match args.color.as_str() {
                "always" => true,
                "never" => false,
                _ => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            };
            report::human::render(&report, colour)
        }
        OutputFormat::Json => report::json::render(&report) + "\n",
        OutputFormat::Sarif => report::sarif::render(&report) + "\n",
    };
    print!("{text}");
    Ok(if report.fails(args.fail_on) {
        EXIT_FAILED
    } else {
        EXIT_OK
    })
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

/// `-f` inputs as sources: files, directories (recursively) or stdin.
pub fn file_sources(inputs: &[PathBuf]) -> Result<Vec<Source>> {
    let mut sources = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| usage(format!("cannot read stdin: {e}")))?;
            sources.extend(split_rendered("stdin", "<stdin>", &text));
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
            sources.extend(split_rendered(&name, &f.display().to_string(), &text));
        }
    }
    Ok(sources)
}

/// Splits a stream at the `# kalypso render: NAME in namespace NS (...)` lines that
/// `kalypso render` writes, so each chart's objects get its component and namespace; other
/// text is one source in namespace `default`. Line numbers stay those of the whole stream.
pub fn split_rendered(component: &str, origin: &str, text: &str) -> Vec<Source> {
    let mut sources = Vec::new();
    let mut current = Source {
        component: component.to_string(),
        origin: origin.to_string(),
        default_namespace: "default".into(),
        text: String::new(),
    };
    for (i, line) in text.lines().enumerate() {
        let parsed = line
            .strip_prefix(crate::commands::render::RENDER_HEADER)
            .and_then(|rest| rest.split_once(" in namespace "))
            .map(|(name, rest)| {
                let ns = rest.split_whitespace().next().unwrap_or("default");
                (name.trim().to_string(), ns.to_string())
            });
        if let Some((name, ns)) = parsed {
            let next = Source {
                component: name,
                origin: origin.to_string(),
                default_namespace: ns,
                // Blank lines keep error line numbers those of the whole stream.
                text: "\n".repeat(i + 1),
            };
            let done = std::mem::replace(&mut current, next);
            if done.text.lines().any(|l| !l.trim().is_empty()) {
                sources.push(done);
            }
            continue;
        }
        current.text.push_str(line);
        current.text.push('\n');
    }
    sources.push(current);
    sources
}
