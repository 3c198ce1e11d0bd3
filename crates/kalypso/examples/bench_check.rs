//! Benchmark: `kalypso check` on the whole stack against the development loop docs/testing.md
//! documents (`helm lint --strict` then `helm template` for each chart, one after the other), in one
//! process tree and one run, printing both wall times and their ratio.
//!
//! ```text
//! cargo run --release --example bench_check -- [--repo DIR] [--runs N]
//! ```
//!
//! `kalypso check` does more (every chart rendered twice for the determinism rule, every rule,
//! schema validation). Targets on two cores: cold
//! (`--no-cache`, as on a fresh clone) at most 0.5 of the loop; warm (a second run with nothing changed:
//! every render comes from the cache, verified by the cold run, and the rules run again) at
//! most 0.3. With `--runs N` everything runs N times and the medians are compared.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use kalypso::cli::{Cli, Command as Sub};
use kalypso::helm::Helm;
use kalypso::stack::Stack;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn dev_loop(helm: &Helm, stack: &Stack) -> Result<Duration, String> {
    let start = Instant::now();
    for c in &stack.components {
        let dir = stack.chart_dir(c).display().to_string();
        let name = c.path.rsplit('/').next().unwrap_or(&c.name).to_string();
        // Exactly docs/testing.md's development loop: lint --strict, then template, chart by chart.
        let contract = stack.root.join("contract.yaml").display().to_string();
        let lint = vec![
            "lint".to_string(),
            "--strict".into(),
            dir.clone(),
            "-f".into(),
            contract.clone(),
        ];
        let template = vec![
            "template".to_string(),
            name,
            dir,
            "-f".into(),
            contract,
            "--kube-version".into(),
            "1.32.0".into(),
        ];
        for args in [lint, template] {
            // The loop's result does not matter for timing; a failing chart still costs its run.
            let _ = Command::new(&helm.binary)
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(|e| format!("running helm: {e}"))?;
        }
    }
    Ok(start.elapsed())
}

fn check(repo: &std::path::Path, cold: bool) -> Result<(Duration, String), String> {
    let repo = repo.display().to_string();
    let mut argv = vec!["kalypso", "check", "--repo", repo.as_str()];
    if cold {
        argv.push("--no-cache");
    }
    let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
    let Sub::Check(args) = cli.command else {
        return Err("not a check command".into());
    };
    let ctx = kalypso::args::Context {
        global: cli.global.clone(),
    };
    let start = Instant::now();
    let report = kalypso::commands::check::evaluate(&ctx, &args).map_err(|e| format!("{e:#}"))?;
    Ok((start.elapsed(), report.summary()))
}

fn main() {
    let mut repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut runs = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repo" => repo = PathBuf::from(args.next().expect("--repo DIR")),
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).expect("--runs N"),
            other => {
                eprintln!("unknown argument {other}; usage: bench_check [--repo DIR] [--runs N]");
                std::process::exit(2);
            }
        }
    }
    let repo = repo.canonicalize().unwrap_or(repo);
    let run = || -> Result<(), String> {
        let stack = Stack::load(&repo).map_err(|e| format!("{e:#}"))?;
        let helm = Helm::locate(&repo).map_err(|e| format!("{e:#}"))?;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        println!(
            "bench_check: {} charts, {cores} cores, helm {}",
            stack.components.len(),
            helm.version().unwrap_or_else(|_| "?".into())
        );
        let (mut cold, mut warm, mut loops) = (Vec::new(), Vec::new(), Vec::new());
        let mut summary = String::new();
        for i in 0..runs {
            // Alternate which goes first so caches favour neither.
            if i % 2 == 1 {
                loops.push(dev_loop(&helm, &stack)?);
            }
            let (d, s) = check(&repo, true)?;
            cold.push(d);
            summary = s;
            // The cold run left verified renders in the cache: the warm run reuses them.
            warm.push(check(&repo, false)?.0);
            if i % 2 == 0 {
                loops.push(dev_loop(&helm, &stack)?);
            }
        }
        let (c, w, l) = (median(cold), median(warm), median(loops));
        let ratio = |d: Duration| d.as_secs_f64() / l.as_secs_f64().max(1e-9);
        let verdict = |r: f64, target: f64| if r <= target { "met" } else { "NOT met" };
        println!(
            "helm lint + template loop:             {:>6.2} s",
            l.as_secs_f64()
        );
        println!(
            "kalypso check, cold (no cache):       {:>6.2} s   ratio {:.2} (target <= 0.50: {})",
            c.as_secs_f64(),
            ratio(c),
            verdict(ratio(c), 0.5)
        );
        println!(
            "kalypso check, warm (cached renders):  {:>6.2} s   ratio {:.2} (target <= 0.30: {})",
            w.as_secs_f64(),
            ratio(w),
            verdict(ratio(w), 0.3)
        );
        println!("findings: {summary}");
        if summary.starts_with("PARTIAL") {
            println!(
                "NOTE: upstream charts are absent (stand-ins), so helm lint fails early in the loop \
                 and these ratios mean little: run `helm dependency build` for each chart first"
            );
        }
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("bench_check: {e}");
        std::process::exit(2);
    }
}
