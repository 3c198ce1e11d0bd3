//! The command line: one grammar for every subcommand. Global flags (`-v`/`-q`, `--color`,
//! `--repo`) and the argument groups subcommands share ([`SelectArgs`], [`ValuesArgs`],
//! [`KubeVersionArgs`]) are defined once here; each flag means the same thing wherever it
//! appears. Errors become exit codes in one place ([`exit_code`]).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::cluster::is_environment;
use crate::commands;
use crate::contract::Contract;
use crate::error::{is_usage, EXIT_FAILED, EXIT_USAGE};
use crate::release::ValuesChoice;
use crate::stack::APPLICATIONSET_PATH;

/// What the exit codes mean, shown under every `--help`.
pub const EXIT_CODES: &str = "Exit codes: 0 everything passed; 1 something checked failed \
(findings at or above --fail-on, an unhealthy release, a failed probe); 2 usage or environment \
error (bad flag, missing file, broken YAML, helm missing, cluster unreachable); 130 interrupted.";

/// Render, check, install and verify the Kalypso observability stack.
#[derive(Debug, Parser)]
#[command(name = "kalypso", version, about, propagate_version = true, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

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

/// The Kubernetes version README promises as the minimum (mimir-distributed 6.2 requires 1.32).
pub const DEFAULT_KUBE_VERSION: &str = "1.32";

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

/// `-o/--output` of the commands that print a table or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A table for people.
    Table,
    /// JSON on stdout.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render every chart with helm template, as its release, in its namespace.
    #[command(after_help = EXIT_CODES)]
    Render(commands::render::RenderArgs),
    /// Check the rendered stack (or any manifests) for broken wiring, ordering and hygiene.
    #[command(after_help = EXIT_CODES)]
    Check(commands::check::CheckArgs),
    /// Run `helm lint --strict` on every chart (stand-ins for absent upstream archives).
    #[command(after_help = EXIT_CODES)]
    Lint(commands::lint::LintArgs),
    /// Show what `up` would change, object by object, as the API server computes it.
    Diff(commands::diff::DiffArgs),
    /// Install or upgrade the stack wave by wave, gating each wave on health.
    #[command(after_help = EXIT_CODES)]
    Up(commands::up::UpArgs),
    /// Uninstall the stack in reverse wave order.
    #[command(after_help = EXIT_CODES)]
    Down(commands::down::DownArgs),
    /// Show the health of every release.
    #[command(after_help = EXIT_CODES)]
    Status(commands::status::StatusArgs),
    /// Preflight checks before an install.
    #[command(after_help = EXIT_CODES)]
    Doctor(commands::doctor::DoctorArgs),
    /// Send a trace, a metric, a log line and a profile through the stack and read each back.
    #[command(after_help = EXIT_CODES)]
    Verify(commands::verify::VerifyArgs),
    /// Run the verify probes continuously and export Prometheus metrics.
    #[command(after_help = EXIT_CODES)]
    Canary(commands::canary::CanaryArgs),
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

/// The exit code for an error: 2 for usage and environment errors, 1 otherwise.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    if is_usage(e) || is_environment(e) {
        EXIT_USAGE
    } else {
        EXIT_FAILED
    }
}

/// The clap command, with defaults that come from the stack contract (verify's tenant) shown
/// in `--help`, when a contract can be found from `args`.
pub fn command_for(args: &[std::ffi::OsString]) -> clap::Command {
    let mut repo = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--repo" {
            repo = it.next().map(PathBuf::from);
        } else if let Some(v) = a.to_str().and_then(|s| s.strip_prefix("--repo=")) {
            repo = Some(PathBuf::from(v));
        }
    }
    let root = repo_root(repo.as_deref()).ok();
    let mut cmd = Cli::command();
    if let Ok(contract) = Contract::load_or_embedded(root.as_deref()) {
        cmd = commands::verify::with_contract_defaults(cmd, &contract);
    }
    cmd
}

fn init_tracing(g: &GlobalArgs) {
    let level = match (g.quiet, g.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KALYPSO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("kalypso={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_ansi(g.color == ColorChoice::Always)
        .try_init();
}

/// Entry point of the binary: returns the process exit code.
pub fn main() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let matches = match command_for(&args).try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return EXIT_USAGE;
        }
    };
    init_tracing(&cli.global);
    let ctx = Context {
        global: cli.global.clone(),
    };
    let result = match cli.command {
        Command::Render(a) => commands::render::run(&ctx, a),
        Command::Check(a) => commands::check::run(&ctx, a),
        Command::Lint(a) => commands::lint::run(&ctx, a),
        Command::Diff(a) => commands::diff::run(&ctx, a),
        Command::Up(a) => commands::up::run(&ctx, a),
        Command::Down(a) => commands::down::run(&ctx, a),
        Command::Status(a) => commands::status::run(&ctx, a),
        Command::Doctor(a) => commands::doctor::run(&ctx, a),
        Command::Verify(a) => commands::verify::run(&ctx, a),
        Command::Canary(a) => commands::canary::run(&ctx, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit_code(&e)
        }
    }
}
