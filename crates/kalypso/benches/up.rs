//! Benchmark: `kalypso up` of the whole stack against the way the stack was installed before
//! kalypso existed (README's plain-Helm path: one `helm upgrade --install --wait` per chart and
//! install step, sequential in wave order), each on a fresh real control plane (the test
//! harness of `tests/it/controlplane`) built the same way, in one process and one run. Prints
//! both wall times and their ratio; the target is at most 0.6.
//!
//! ```text
//! bash .ci/run bench-up          # builds the control plane, runs this in a loopback-only netns
//! ```
//!
//! The upstream charts are the real ones where their archives are present
//! (`charts/*/charts/*.tgz`), stand-ins otherwise (the run says which). No container runs
//! (kwok), but pods do not turn ready at once: the kwok stages of this bench add a **latency
//! model** of image pulls and start-ups ([`LATENCY`], printed by the run), drawn per pod,
//! uniformly, by kwok's `delay.durationMilliseconds` + `jitterDurationMilliseconds`:
//! - a pod of a StatefulSet (the backends, the object store: volume attach, WAL replay, ring
//!   join) is Ready 15–45 s after it is scheduled;
//! - any other pod (Deployments, DaemonSets, Jobs) 5–30 s after;
//! - a Job's pod then runs 2–10 s before it completes.
//!
//! So gate polling and what runs in parallel are measured as a user waits for them. The gates
//! are stricter than `helm --wait`: a Deployment counts when its replicas are available (ready
//! for its `minReadySeconds`, as `kubectl rollout status` waits), where helm counts ready
//! ones; tempo-distributed sets `minReadySeconds: 10`.

#[allow(dead_code)]
#[path = "../tests/it/controlplane/mod.rs"]
mod controlplane;
#[allow(dead_code)]
#[path = "../tests/it/support.rs"]
mod support;

use std::path::PathBuf;
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

/// README's plain-Helm path: every chart in wave order, its install steps one by one, each
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

/// The latency model: (stage, extra selector, delay from, delay up to), in milliseconds.
const LATENCY: &[(&str, &str, u64, u64)] = &[
    ("pod-ready", "StatefulSet", 15_000, 45_000),
    ("pod-ready", "other", 5_000, 30_000),
    ("pod-complete", "Job", 2_000, 10_000),
];

/// kwok's stages with the latency model: the control plane's fast stages (`pod-ready` split
/// into StatefulSet pods and the others, `pod-complete` delayed), written next to them.
fn latency_stages() -> PathBuf {
    let base = std::env::var_os("KALYPSO_KWOK_STAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::repo_root().join(".cache/controlplane/kwok-stages.yaml"));
    let text = std::fs::read_to_string(&base)
        .unwrap_or_else(|e| panic!("kwok stages {}: {e}", base.display()));
    let selector = "  selector:\n    matchExpressions:\n";
    let delayed = |doc: &str, name: &str, owner: Option<(&str, &str)>, from: u64, to: u64| {
        assert!(
            doc.contains(selector) && doc.contains("\n  next:\n"),
            "kwok stage {name} has no selector or next: {}",
            base.display()
        );
        let mut d = doc.replace(
            "\n  next:\n",
            &format!(
                "\n  delay:\n    durationMilliseconds: {from}\n    jitterDurationMilliseconds: {to}\n  next:\n"
            ),
        );
        if let Some((op, kind)) = owner {
            d = d.replace(
                selector,
                &format!(
                    "{selector}    - key: '.metadata.ownerReferences.[].kind'\n      operator: '{op}'\n      values:\n      - '{kind}'\n"
                ),
            );
        }
        d.replacen(
            &format!("name: {name}\n"),
            &format!("name: {name}-{from}ms\n"),
            1,
        )
    };
    let mut out = Vec::new();
    for doc in text.split("---\n").filter(|d| !d.trim().is_empty()) {
        if doc.contains("\n  name: pod-ready\n") {
            for (_, owner, from, to) in LATENCY.iter().filter(|l| l.0 == "pod-ready") {
                let sel = if *owner == "StatefulSet" {
                    ("In", "StatefulSet")
                } else {
                    ("NotIn", "StatefulSet")
                };
                out.push(delayed(doc, "pod-ready", Some(sel), *from, *to));
            }
        } else if doc.contains("\n  name: pod-complete\n") {
            let (_, _, from, to) = LATENCY
                .iter()
                .find(|l| l.0 == "pod-complete")
                .expect("pod-complete latency");
            out.push(delayed(doc, "pod-complete", None, *from, *to));
        } else {
            out.push(doc.to_string());
        }
    }
    let path = base.with_file_name("kwok-stages-latency.yaml");
    std::fs::write(&path, format!("---\n{}", out.join("---\n")))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// What README's plain-Helm path does before installing (`helm dependency build`): packages each
/// chart's local (`file://`) dependency, the library chart kalypso-common, into its `charts/`.
/// The upstream archives are already there; nothing is fetched. Not timed.
fn package_local_dependencies(cp: &ControlPlane, repo: &UpRepo) {
    let stack = Stack::load(repo.path()).expect("component list");
    for c in &stack.components {
        let dir = stack.chart_dir(c);
        let meta = ChartMeta::load(&dir).expect("Chart.yaml");
        for dep in meta.dependencies.iter().filter(|d| d.is_local()) {
            let source = dir.join(dep.repository.trim_start_matches("file://"));
            let mut cmd = cp.helm();
            cmd.arg("package")
                .arg(&source)
                .arg("-d")
                .arg(dir.join("charts"));
            run(&mut cmd, &format!("helm package {}", source.display()));
        }
    }
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
        .filter(|l| l.starts_with("wave ") || l.starts_with("start ") || l.ends_with(": healthy"))
    {
        println!("  kalypso up: {line}");
    }
    elapsed
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read.
    let stages = latency_stages();
    println!("kwok latency model (uniform per pod, ms):");
    for (stage, pods, from, to) in LATENCY {
        println!("  {stage:<13} {pods:<12} {from}..{to}");
    }
    // Read by the control plane when it starts kwok; no thread runs yet.
    std::env::set_var("KALYPSO_KWOK_STAGES", &stages);
    let Some(cp) = ControlPlane::start("bench: plain helm") else {
        return;
    };
    let repo = UpRepo::prepare("bench");
    package_local_dependencies(&cp, &repo);
    let baseline = plain_helm(&cp, &repo);
    drop(cp);
    let Some(cp) = ControlPlane::start("bench: kalypso up") else {
        return;
    };
    let up = kalypso_up(&cp, &repo);
    drop(cp);
    println!(
        "plain helm (sequential, --wait): {:.1} s\nkalypso up:                      {:.1} s\nratio up/plain helm:             {:.2} (target <= 0.6)",
        baseline.as_secs_f64(),
        up.as_secs_f64(),
        up.as_secs_f64() / baseline.as_secs_f64()
    );
}
