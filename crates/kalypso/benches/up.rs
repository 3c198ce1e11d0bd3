//! Benchmark: `kalypso up` of the whole stack against the way the stack was installed before
//! kalypso existed (the plain-Helm path of docs/install.md: one `helm upgrade --install --wait` per chart and
//! install step, sequential in wave order), each on a fresh real control plane (the test
//! harness of `tests/it/controlplane`) built the same way, in one process and one run. Prints
//! both wall times and their ratio; the target is at most 0.5.
//!
//! ```text
//! bash .ci/run bench-up          # builds the control plane, runs this in a loopback-only netns
//! ```
//!
//! The upstream charts are the real ones where their archives are present
//! (`charts/*/charts/*.tgz`), stand-ins otherwise (the run says which). No container runs
//! (kwok), so this measures orchestration: waves in parallel, health gates, helm's own waits.
//! The gates are stricter than `helm --wait`: a Deployment counts when its replicas are
//! available (ready for its `minReadySeconds`, as `kubectl rollout status` waits), where helm
//! counts ready ones; tempo-distributed sets `minReadySeconds: 10`.

#[allow(dead_code)]
#[path = "../tests/it/controlplane/mod.rs"]
mod controlplane;
#[allow(dead_code)]
#[path = "../tests/it/support.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use controlplane::standin_charts::UpRepo;
use controlplane::ControlPlane;
use kalypso::chart::ChartMeta;
use kalypso::stack::Stack;

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The plain-Helm path of docs/install.md: every chart in wave order, its install steps one by one, each
/// `helm upgrade --install --wait` (which returns when its workloads are ready).
fn plain_helm(cp: &ControlPlane, repo: &UpRepo) -> Duration {
    let stack = Stack::load(repo.path()).expect("component list");
    let started = Instant::now();
    for wave in stack.waves() {
        for c in &wave.components {
            let dir = stack.chart_dir(c);
            let steps = ChartMeta::load(&dir)
                .expect("Chart.yaml")
                .install_steps()
                .expect("install steps");
            let steps = if steps.is_empty() {
                vec![Vec::new()]
            } else {
                steps
            };
            let chart_started = Instant::now();
            for extra in steps {
                let mut cmd = cp.helm();
                cmd.args(["upgrade", "--install", &c.name])
                    .arg(&dir)
                    .args(["-n", &c.namespace, "--create-namespace", "--reset-values"])
                    .arg("-f")
                    .arg(repo.path().join("contract.yaml"))
                    .args(["--wait", "--timeout", "10m"])
                    .args(&extra);
                run(&mut cmd, &format!("helm upgrade --install {}", c.name));
            }
            println!(
                "  plain helm: {} in {:.1} s",
                c.name,
                chart_started.elapsed().as_secs_f64()
            );
        }
    }
    started.elapsed()
}

fn kalypso_up(cp: &ControlPlane, repo: &UpRepo) -> Duration {
    let started = Instant::now();
    let progress = run(
        cp.kalypso(repo.path()).args(["up", "--timeout", "10m"]),
        "kalypso up",
    );
    let elapsed = started.elapsed();
    // Each wave's line and when each release was healthy, from up's own progress lines.
    for line in progress
        .lines()
        .filter(|l| l.starts_with("wave ") || l.ends_with(": healthy"))
    {
        println!("  kalypso up: {line}");
    }
    elapsed
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read.
    let Some(cp) = ControlPlane::start("bench: plain helm") else {
        return;
    };
    let repo = UpRepo::prepare("bench");
    let baseline = plain_helm(&cp, &repo);
    drop(cp);
    let Some(cp) = ControlPlane::start("bench: kalypso up") else {
        return;
    };
    let up = kalypso_up(&cp, &repo);
    drop(cp);
    println!(
        "plain helm (sequential, --wait): {:.1} s\nkalypso up:                      {:.1} s\nratio up/plain helm:             {:.2} (target <= 0.5)",
        baseline.as_secs_f64(),
        up.as_secs_f64(),
        up.as_secs_f64() / baseline.as_secs_f64()
    );
}
