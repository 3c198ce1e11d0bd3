//! The argument groups and context every subcommand shares: global flags (`-v`/`-q`,
//! `--color`, `--repo`), [`SelectArgs`], [`ValuesArgs`], [`KubeVersionArgs`], [`Output`], and
//! the [`Context`] a command runs with. Each flag means the same thing wherever it appears.

use std::path::{Path, PathBuf};

use std::io::IsTerminal;

use anyhow::Result;
use clap::{ArgAction, Args, ValueEnum};

use crate::release::ValuesChoice;
use crate::stack::{APPLICATIONSET_PATH, MIN_KUBERNETES};

/// Flags every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// More on stderr: -v adds timings and each helm call, -vv debug detail.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less on stderr: no progress, errors only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Colors in tables and reports.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// Output format on stdout: a table for people, or JSON (every command); sarif is check's
    /// code-scanning report.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
    /// Repository root [default: the nearest directory at or above the current one that has
    /// argocd/applicationset.yaml, as git finds .git].
    #[arg(long, value_name = "DIR", global = true)]
    pub repo: Option<PathBuf>,
}

/// When to color output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// Whether to color stdout.
    pub fn stdout(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        }
    }
}

/// `--only`: which components (`mimir` or `kalypso-mimir`).
#[derive(Debug, Clone, Default, Args)]
pub struct SelectArgs {
    /// Only these components, comma-separated (`mimir` means `kalypso-mimir`).
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub only: Vec<String>,
}

/// What decides the values of every release, on top of each chart's values.yaml and the
/// stack contract.
#[derive(Debug, Clone, Default, Args)]
pub struct ValuesArgs {
    /// Apply charts/<chart>/profiles/<NAME>.yaml to every chart that has it.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Values file for every selected chart, after the profile (repeatable).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Value for every selected chart, as helm --set takes it, applied last (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl ValuesArgs {
    /// The values choice the render, lint and install share.
    pub fn choice(&self) -> ValuesChoice {
        ValuesChoice {
            profile: self.profile.clone(),
            files: self.values.clone(),
            set: self.set.clone(),
        }
    }
}

/// The version render, lint and check use unless told otherwise: the stack's minimum.
pub const DEFAULT_KUBE_VERSION: &str = MIN_KUBERNETES.text;

/// `--kube-version`: what render, lint and check render and validate for.
#[derive(Debug, Clone, Args)]
pub struct KubeVersionArgs {
    /// Kubernetes version to render, lint and validate for (X.Y or X.Y.Z).
    #[arg(long, value_name = "X.Y", default_value = DEFAULT_KUBE_VERSION, value_parser = parse_kube_version)]
    pub kube_version: String,
}

fn parse_kube_version(s: &str) -> Result<String, String> {
    let parts: Vec<&str> = s.trim_start_matches('v').split('.').collect();
    if (2..=3).contains(&parts.len()) && parts.iter().all(|p| p.parse::<u32>().is_ok()) {
        Ok(s.trim_start_matches('v').to_string())
    } else {
        Err(format!("{s:?}: expected X.Y or X.Y.Z, e.g. 1.32"))
    }
}

/// What decides a render (render, check, lint): which components, their values, and the
/// Kubernetes version.
#[derive(Debug, Clone, Args)]
pub struct StackArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub values: ValuesArgs,
    #[command(flatten)]
    pub kube: KubeVersionArgs,
}

impl StackArgs {
    /// Render options for one pass without a cache; `check` adds its second pass and cache.
    pub fn render_options(&self, fetch_deps: bool) -> crate::render::RenderOptions {
        crate::render::RenderOptions {
            values: self.values.choice(),
            fetch_deps,
            kube_version: Some(self.kube.kube_version.clone()),
            passes: 1,
            cache: None,
            reuse_cache: false,
        }
    }
}

/// `-o/--output`, the one output format flag of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A table (or text) for people.
    #[value(alias = "human")]
    Table,
    /// JSON on stdout.
    Json,
    /// SARIF 2.1.0 for code-scanning tools (`check` only).
    Sarif,
}

impl Output {
    /// The format for a command that prints a table or JSON: sarif is a usage error there.
    pub fn table_or_json(self, command: &str) -> Result<Output> {
        if self == Output::Sarif {
            return Err(crate::error::usage(format!(
                "-o sarif is the report format of `kalypso check`; `kalypso {command}` prints table or json"
            )));
        }
        Ok(self)
    }
}

/// `--kubeconfig` and `--kube-context`: which cluster the commands that talk to one use, for
/// their own client and for helm alike.
#[derive(Debug, Clone, Default, Args)]
pub struct ClusterArgs {
    /// Kubeconfig file [default: $KUBECONFIG, else ~/.kube/config].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context [default: its current context].
    #[arg(long, value_name = "NAME")]
    pub kube_context: Option<String>,
}

impl ClusterArgs {
    /// The cluster choice for kalypso's client.
    pub fn target(&self) -> crate::cluster::KubeTarget {
        crate::cluster::KubeTarget {
            kubeconfig: self.kubeconfig.clone(),
            context: self.kube_context.clone(),
        }
    }

    /// `helm` at `root`, told the same cluster (`--kubeconfig`, `--kube-context`).
    pub fn helm(&self, root: &Path) -> Result<crate::helm::Helm> {
        Ok(crate::helm::Helm::locate(root)?.with_kube_args(self.target().helm_args()))
    }
}

/// What every command gets besides its own arguments.
#[derive(Debug, Clone)]
pub struct Context {
    /// The global flags.
    pub global: GlobalArgs,
}

impl Context {
    /// The repository root: `--repo`, else the nearest directory at or above the current one
    /// with `argocd/applicationset.yaml`.
    pub fn repo(&self) -> Result<PathBuf> {
        repo_root(self.global.repo.as_deref())
    }

    /// The repository root when there is one (commands that can run without it).
    pub fn repo_if_any(&self) -> Option<PathBuf> {
        self.repo().ok()
    }

    /// Whether to show progress on stderr.
    pub fn progress(&self) -> bool {
        !self.global.quiet
    }
}

/// The repository root: `given`, else the nearest directory at or above the current one that
/// has `argocd/applicationset.yaml`.
pub fn repo_root(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        if !p.join(APPLICATIONSET_PATH).is_file() {
            return Err(crate::error::usage(format!(
                "--repo {}: no {APPLICATIONSET_PATH} there",
                p.display()
            )));
        }
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| crate::error::usage(format!("cannot read the current directory: {e}")))?;
    for dir in cwd.ancestors() {
        if dir.join(APPLICATIONSET_PATH).is_file() {
            return Ok(dir.to_path_buf());
        }
    }
    Err(crate::error::usage(format!(
        "no {APPLICATIONSET_PATH} in {} or above: run inside the Kalypso repository or pass --repo DIR",
        cwd.display()
    )))
}

/// A multi-threaded tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
}
