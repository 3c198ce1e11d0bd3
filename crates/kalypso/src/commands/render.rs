//! `kalypso render`: every chart through `helm template`, as its release in its namespace.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::error::{usage, EXIT_OK};
use crate::helm::Helm;
use crate::render::{render_stack, ChartRender, RenderOptions};
use crate::stack::Stack;

/// Arguments of `kalypso render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Repository root (holds argocd/applicationset.yaml and charts/).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Render only these components (comma-separated; `mimir` means `kalypso-mimir`).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Apply `charts/<chart>/profiles/<NAME>.yaml` to each chart that has it.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Extra values file for every chart (repeatable; applied after the profile).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Set a value on the command line for every chart (repeatable; applied last).
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Run `helm dependency build` for charts whose upstream archives are missing (needs
    /// network); without it, missing dependencies are rendered as empty stand-ins.
    #[arg(long)]
    pub fetch_deps: bool,
    /// Kubernetes version to render for (`helm template --kube-version`).
    #[arg(long, value_name = "X.Y")]
    pub kube_version: Option<String>,
    /// Write one `<release>.yaml` per chart into DIR instead of one stream on stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The comment line that starts each chart's output. `kalypso check -f` reads it back to
/// know the component and the namespace of the objects that follow.
pub fn header(r: &ChartRender) -> String {
    format!(
        "{RENDER_HEADER}{} in namespace {} ({})\n",
        r.component.name,
        r.component.namespace,
        r.status.describe()
    )
}

/// Prefix of [`header`].
pub const RENDER_HEADER: &str = "# kalypso render: ";

/// Runs `kalypso render`; returns the process exit code.
pub fn run(args: RenderArgs) -> Result<i32> {
    let stack = Stack::load(&args.repo)?.select(&args.only)?;
    let helm = Helm::locate(&args.repo)?;
    let opts = RenderOptions {
        profile: args.profile,
        values: args.values,
        set: args.set,
        fetch_deps: args.fetch_deps,
        kube_version: args.kube_version,
        passes: 1,
        cache: None,
        reuse_cache: false,
    };
    let renders = render_stack(&stack, &helm, &opts)?;
    for r in &renders {
        eprintln!("{}: {}", r.component.name, r.status.describe());
    }
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| usage(format!("cannot create --out {}: {e}", dir.display())))?;
            for r in &renders {
                let file = dir.join(format!("{}.yaml", r.component.name));
                let text = format!(
                    "{}{}",
                    header(r),
                    r.outputs.first().map(String::as_str).unwrap_or("")
                );
                std::fs::write(&file, text)
                    .with_context(|| format!("writing {}", file.display()))?;
            }
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            for r in &renders {
                let header = header(r);
                let body = r.outputs.first().map(String::as_str).unwrap_or("");
                if stdout
                    .write_all(header.as_bytes())
                    .and_then(|_| stdout.write_all(body.as_bytes()))
                    .is_err()
                {
                    break; // stdout closed (e.g. piped into head)
                }
            }
        }
    }
    Ok(EXIT_OK)
}
