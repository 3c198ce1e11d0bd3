//! The command line: the subcommands ([`Command`], one module each in `commands`), parsing with
//! the contract's defaults in `--help`, and the one place errors become exit codes
//! ([`exit_code`]). The argument groups they share are in `args`.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::args::{repo_root, ColorChoice, Context, GlobalArgs};
use crate::cluster::is_environment;
use crate::commands;
use crate::contract::Contract;
use crate::error::{is_usage, EXIT_FAILED, EXIT_USAGE};

/// What the exit codes mean, under `kalypso --help`: every code some command returns.
pub const EXIT_CODES: &str = "Exit codes: 0 everything passed; 1 something checked failed \
(findings at or above --fail-on, an unhealthy release, a failed probe); 2 usage or environment \
error (bad flag, missing file, broken YAML, helm missing, cluster unreachable); 130 interrupted.";

/// Each command's exit codes: only those it can return.
mod exit_codes {
    pub(super) const RENDER: &str =
        "Exit codes: 0 every chart rendered; 1 a file under --out could not \
be written; 2 usage or environment error (bad flag, missing file, broken YAML, helm missing, a \
chart helm cannot render).";
    pub(super) const CHECK: &str = "Exit codes: 0 no finding at or above --fail-on (and, with \
--require-full, no stand-ins); 1 otherwise; 2 usage or environment error (bad flag, missing \
file, broken YAML, helm missing, a chart helm cannot render).";
    pub(super) const LINT: &str =
        "Exit codes: 0 every chart passed `helm lint --strict`; 1 a chart \
failed it; 2 usage or environment error (bad flag, missing file, helm missing).";
    pub(super) const UP: &str =
        "Exit codes: 0 every release installed and healthy (or --dry-run); 1 a \
release failed or did not become healthy within --wave-timeout; 2 usage or environment error \
(bad flag, missing file or upstream archive, helm missing, cluster unreachable); 130 \
interrupted.";
    pub(super) const DOWN: &str =
        "Exit codes: 0 every release uninstalled (or was not installed); 1 an \
uninstall failed, or confirmation was declined; 2 usage or environment error (bad flag, no \
--yes without a terminal, helm missing, cluster unreachable).";
    pub(super) const STATUS: &str = "Exit codes: 0 every release healthy and no critical \
self-monitoring alert firing; 1 otherwise; 2 usage or environment error (bad flag, helm \
missing, cluster unreachable).";
    pub(super) const DOCTOR: &str =
        "Exit codes: 0 no preflight error (warnings allowed); 1 a preflight \
check failed; 2 usage or environment error (bad flag, cluster unreachable).";
    pub(super) const VERIFY: &str =
        "Exit codes: 0 every check passed; 1 a check failed (a Service \
that cannot be port-forwarded to is a failed check); 2 usage error (bad flag, URL, duration or \
credential).";
    pub(super) const CANARY: &str =
        "Exit codes: 0 stopped by SIGTERM or Ctrl-C; 1 could not serve \
(--listen address in use); 2 usage error (bad flag, URL or duration).";
}

/// Render, check, install and verify the Kalypso observability stack.
#[derive(Debug, Parser)]
#[command(name = "kalypso", version, about, propagate_version = true, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render every chart with helm template, as its release, in its namespace.
    #[command(after_help = exit_codes::RENDER)]
    Render(commands::render::RenderArgs),
    /// Check the rendered stack (or any manifests) for broken wiring, ordering and hygiene.
    #[command(after_help = exit_codes::CHECK)]
    Check(commands::check::CheckArgs),
    /// Run `helm lint --strict` on every chart (stand-ins for absent upstream archives).
    #[command(after_help = exit_codes::LINT)]
    Lint(commands::lint::LintArgs),
    /// Show what `up` would change, object by object, as the API server computes it.
    Diff(commands::diff::DiffArgs),
    /// Install or upgrade the stack wave by wave, gating each wave on health.
    #[command(after_help = exit_codes::UP)]
    Up(commands::up::UpArgs),
    /// Uninstall the stack in reverse wave order.
    #[command(after_help = exit_codes::DOWN)]
    Down(commands::down::DownArgs),
    /// Show the health of every release.
    #[command(after_help = exit_codes::STATUS)]
    Status(commands::status::StatusArgs),
    /// Preflight checks before an install.
    #[command(after_help = exit_codes::DOCTOR)]
    Doctor(commands::doctor::DoctorArgs),
    /// Send a trace, a metric, a log line and a profile through the stack and read each back.
    #[command(after_help = exit_codes::VERIFY)]
    Verify(commands::verify::VerifyArgs),
    /// Run the verify probes continuously and export Prometheus metrics.
    #[command(after_help = exit_codes::CANARY)]
    Canary(commands::canary::CanaryArgs),
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
