//! The command line: parse, dispatch to `commands::*`, map errors to exit codes.

use clap::{Parser, Subcommand};

use crate::commands;
use crate::error::{UsageError, EXIT_FAILED, EXIT_USAGE};

/// Render, check, install and verify the Kalypso observability stack.
#[derive(Debug, Parser)]
#[command(name = "kalypso", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render every chart with helm template, as its release, in its namespace.
    Render(commands::render::RenderArgs),
    /// Check the rendered stack (or any manifests) for broken wiring, ordering and hygiene.
    Check(commands::check::CheckArgs),
    /// Run `helm lint --strict` on every chart (stand-ins for absent upstream archives).
    Lint(commands::lint::LintArgs),
    /// Install or upgrade the stack wave by wave, gating each wave on health.
    Up(commands::up::UpArgs),
    /// Uninstall the stack in reverse wave order.
    Down(commands::down::DownArgs),
    /// Show the health of every release.
    Status(commands::status::StatusArgs),
    /// Preflight checks before an install.
    Doctor(commands::doctor::DoctorArgs),
    /// Send a trace, a metric, a log line and a profile through the stack and read each back.
    Verify(commands::verify::VerifyArgs),
    /// Run the verify probes continuously and export Prometheus metrics.
    Canary(commands::canary::CanaryArgs),
}

/// Entry point of the binary: returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Render(a) => commands::render::run(a),
        Command::Check(a) => commands::check::run(a),
        Command::Lint(a) => commands::lint::run(a),
        Command::Up(a) => commands::up::run(a),
        Command::Down(a) => commands::down::run(a),
        Command::Status(a) => commands::status::run(a),
        Command::Doctor(a) => commands::doctor::run(a),
        Command::Verify(a) => commands::verify::run(a),
        Command::Canary(a) => commands::canary::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some()
                || e.chain().any(|c| c.downcast_ref::<UsageError>().is_some())
            {
                EXIT_USAGE
            } else {
                EXIT_FAILED
            }
        }
    }
}
