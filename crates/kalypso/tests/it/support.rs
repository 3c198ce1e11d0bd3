//! Helpers shared by the integration tests: the repository root, repository copies, visible
//! SKIP lines.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The repository root (two levels above the crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// Prints a SKIP line on the real stderr: the test harness captures `println!` of passing
/// tests, and a skipped check must be visible in CI's log.
pub fn skip(line: &str) {
    let _ = writeln!(std::io::stderr(), "SKIP: {line}");
}

/// Copies the repository's stack (argocd/, charts/ with any upstream archives, the policy,
/// the contract) into a temporary directory, with the repository's render cache: it is keyed
/// by the content of every input, so a chart a test changes renders again and the others are
/// not rendered a second time (`bash .ci/run` runs `kalypso check` first, which fills it).
pub fn copy_repo() -> tempfile::TempDir {
    let root = repo_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    for dir in ["argocd", "charts"] {
        copy_dir(&root.join(dir), &tmp.path().join(dir));
    }
    // Another test may be writing the cache: a file that goes away meanwhile is left out.
    let renders = root.join(".cache/kalypso/renders");
    let into = tmp.path().join(".cache/kalypso/renders");
    if let (Ok(entries), Ok(())) = (std::fs::read_dir(&renders), std::fs::create_dir_all(&into)) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x != "tmp") {
                let _ = std::fs::copy(e.path(), into.join(e.file_name()));
            }
        }
    }
    for file in [
        "kalypso-policy.yaml",
        "kalypso-waivers.yaml",
        "contract.yaml",
    ] {
        if root.join(file).is_file() {
            std::fs::copy(root.join(file), tmp.path().join(file)).expect("copy");
        }
    }
    tmp
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// Replaces `from` by `to` in a file of a repository copy; panics when `from` is absent so a
/// mutation test never passes vacuously.
pub fn mutate(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(
        text.contains(from),
        "{file} does not contain {from:?}: the test is out of date"
    );
    std::fs::write(&path, text.replace(from, to)).expect("write");
}

// ---- check fixtures

use kalypso::check::{self, ChartInfo, CheckOptions, Context, Finding, Policy, Severity};
use kalypso::manifest::{Manifest, Source};
use kalypso::render::ChartStatus;

/// A stack assembled from YAML snippets, one per component.
#[derive(Default)]
pub struct Fixture {
    pub sources: Vec<Source>,
    pub charts: Vec<ChartInfo>,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::default()
    }

    /// A component rendered in full.
    pub fn chart(mut self, name: &str, namespace: &str, wave: u32, yaml: &str) -> Fixture {
        self.sources.push(Source {
            component: name.into(),
            origin: format!("helm template {name}"),
            default_namespace: namespace.into(),
            text: yaml.into(),
        });
        self.charts.push(ChartInfo {
            name: name.into(),
            namespace: namespace.into(),
            wave: Some(wave),
            status: ChartStatus::Full,
            stand_in_values: Vec::new(),
        });
        self
    }

    /// A component rendered with stand-ins for `stand_ins`.
    pub fn partial(
        mut self,
        name: &str,
        namespace: &str,
        wave: u32,
        stand_ins: &[&str],
        yaml: &str,
    ) -> Fixture {
        self = self.chart(name, namespace, wave, yaml);
        let last = self.charts.last_mut().expect("just added");
        last.status = ChartStatus::Partial {
            stand_ins: stand_ins.iter().map(|s| s.to_string()).collect(),
        };
        self
    }

    /// Manifests that are not a component (e.g. the Argo CD manifests).
    pub fn extra(mut self, component: &str, namespace: &str, yaml: &str) -> Fixture {
        self.sources.push(Source {
            component: component.into(),
            origin: format!("{component}.yaml"),
            default_namespace: namespace.into(),
            text: yaml.into(),
        });
        self
    }

    /// Runs every rule except the schema rule (which needs the schema files).
    pub fn findings(&self) -> Vec<Finding> {
        let manifest = Manifest::from_sources(&self.sources).expect("fixture parses");
        let policy = Policy::load(None, None).expect("built-in policy");
        let ctx = Context::new(&manifest, &self.charts, &policy);
        check::run(
            &ctx,
            &[],
            &CheckOptions {
                skip_schema: true,
                ..Default::default()
            },
        )
    }
}

/// Findings of one rule.
pub fn of_rule<'a>(findings: &'a [Finding], rule: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.rule == rule).collect()
}

/// Findings at warning or above.
pub fn problems(findings: &[Finding]) -> Vec<&Finding> {
    findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .collect()
}

/// Pretty list for assertion messages.
pub fn show(findings: &[&Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {} | {}",
                f.severity, f.rule, f.object, f.field, f.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// helm, or `None` after printing a visible SKIP line.
pub fn helm_or_skip(test: &str) -> Option<kalypso::helm::Helm> {
    match kalypso::helm::Helm::locate(&repo_root()) {
        Ok(h) => Some(h),
        Err(_) => {
            skip(&format!("helm not installed ({test})"));
            None
        }
    }
}

/// Whether every named upstream archive (`charts/<chart>/charts/<file>`) is present; prints a
/// visible SKIP line when one is not.
pub fn archives_or_skip(test: &str, archives: &[&str]) -> bool {
    let root = repo_root();
    for a in archives {
        if !root.join("charts").join(a).is_file() {
            skip(&format!(
                "upstream archive charts/{a} not present ({test}); package it to run this test"
            ));
            return false;
        }
    }
    true
}

/// `kalypso check --output json --repo <repo> <extra>` with the located helm, ready to run
/// (callers may set more environment).
pub fn check_command(
    helm: &kalypso::helm::Helm,
    repo: &Path,
    extra: &[&str],
) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("kalypso").expect("binary");
    cmd.env("KALYPSO_HELM", &helm.binary)
        .args(["check", "--output", "json", "--repo"])
        .arg(repo)
        .args(extra);
    cmd
}

/// Runs a `check --output json` command: its exit code, its findings and the whole report.
pub fn json_report(
    mut cmd: assert_cmd::Command,
) -> (i32, Vec<serde_json::Value>, serde_json::Value) {
    let out = cmd.output().expect("kalypso check runs");
    let code = out.status.code().unwrap_or(-1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "exit {code}, not JSON; stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings = v["findings"].as_array().cloned().unwrap_or_default();
    (code, findings, v)
}

/// Pretty list of JSON findings for assertion messages.
pub fn show_json(findings: &[&serde_json::Value]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {} | {}",
                f["severity"], f["rule"], f["object"], f["field"], f["message"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
