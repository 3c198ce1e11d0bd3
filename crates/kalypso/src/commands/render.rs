//! `kalypso render`: every chart through `helm template`, as its release in its namespace.
//!
//! With `--out DIR` each chart goes to `DIR/<release>.yaml` and `DIR/index.json` records, per
//! release, its namespace, wave and whether it rendered in full; `kalypso check --manifests DIR`
//! reads that index back, so objects keep their release and namespace.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::args::{Context, Output, StackArgs};
use crate::error::{usage, EXIT_OK};
use crate::helm::Helm;
use crate::render::{render_stack, ChartStatus};
use crate::stack::Stack;

/// Arguments of `kalypso render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Run `helm dependency build` for charts whose upstream archives are missing (needs
    /// network); without it, missing dependencies are rendered as empty stand-ins.
    #[arg(long)]
    pub fetch_deps: bool,
    /// Write one `<release>.yaml` per chart and an `index.json` into DIR instead of one
    /// stream on stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The file `render --out` writes next to the manifests.
pub(crate) const INDEX_FILE: &str = "index.json";

/// One release of a rendered directory, as `index.json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct IndexEntry {
    /// Release (component) name.
    pub release: String,
    /// Its namespace: objects without `metadata.namespace` belong there.
    pub namespace: String,
    /// Its wave.
    pub wave: u32,
    /// The manifest file, relative to the index.
    pub file: String,
    /// Whether it rendered with every upstream chart.
    pub chart: ChartStatus,
}

/// Runs `kalypso render`; returns the process exit code.
pub(crate) fn run(ctx: &Context, args: RenderArgs) -> Result<i32> {
    let root = ctx.repo()?;
    let stack = Stack::load(&root)?.select(&args.stack.select.only)?;
    let output = ctx.global.output.table_or_json("render")?;
    let helm = Helm::locate(&root)?;
    let opts = args.stack.render_options(args.fetch_deps);
    let renders = render_stack(&stack, &helm, &opts)?;
    if ctx.progress() {
        for r in &renders {
            eprintln!("{}: {}", r.component.name, r.status.describe());
        }
    }
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| usage(format!("cannot create --out {}: {e}", dir.display())))?;
            let mut index = Vec::new();
            for r in &renders {
                let file = format!("{}.yaml", r.component.name);
                let path = dir.join(&file);
                std::fs::write(&path, r.outputs.first().map(String::as_str).unwrap_or(""))
                    .with_context(|| format!("writing {}", path.display()))?;
                index.push(IndexEntry {
                    release: r.component.name.clone(),
                    namespace: r.component.namespace.clone(),
                    wave: r.component.wave,
                    file,
                    chart: r.status.clone(),
                });
            }
            let path = dir.join(INDEX_FILE);
            std::fs::write(&path, serde_json::to_string_pretty(&index)? + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None if output == Output::Json => {
            let releases: Vec<serde_json::Value> = renders
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "release": r.component.name,
                        "namespace": r.component.namespace,
                        "wave": r.component.wave,
                        "chart": r.status,
                        "manifest": r.outputs.first().map(String::as_str).unwrap_or(""),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&releases)?);
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            for r in &renders {
                let body = r.outputs.first().map(String::as_str).unwrap_or("");
                if stdout.write_all(body.as_bytes()).is_err() {
                    break; // stdout closed (e.g. piped into head)
                }
            }
        }
    }
    Ok(EXIT_OK)
}
