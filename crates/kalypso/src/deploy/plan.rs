//! The install plan: waves in order, and per release its namespace, chart, upstream
//! dependencies and values files. `kalypso up --dry-run` prints it without a cluster.
//!
//! Idempotency: every release's plan has a digest (sha256) over everything that decides what
//! helm would apply: release name and namespace, every file of the chart directory (templates,
//! values.yaml, Chart.yaml, the dependency archives under `charts/`), the content of each
//! values file in order, and the `--set` strings. `kalypso up` stores it in the helm release's
//! description (`--description "kalypso-digest sha256:…"`, shown by `helm status -o json`),
//! and leaves a release alone when its last revision is `deployed` with the same digest.
//! This catches an edited template that keeps the chart version, a changed values file, and a
//! release changed by hand with `helm upgrade` (whose description is then helm's own).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::chart::{ChartMeta, Dependency};
use crate::error::usage;
use crate::render::dependency_present;
use crate::stack::Stack;

/// The prefix of the helm release description that carries the digest.
pub const DIGEST_PREFIX: &str = "kalypso-digest ";

/// One release to install.
#[derive(Debug, Clone)]
pub struct PlannedRelease {
    /// Release name (= component name).
    pub name: String,
    /// Target namespace (created when missing).
    pub namespace: String,
    /// Install wave.
    pub wave: u32,
    /// Chart directory as listed (`charts/kalypso-x`), for messages.
    pub chart_path: String,
    /// Absolute chart directory.
    pub chart_dir: PathBuf,
    /// The chart's `Chart.yaml`.
    pub chart: ChartMeta,
    /// Values files in the order helm applies them: the profile overlay, then the user's `-f`.
    pub values_files: Vec<PathBuf>,
    /// The user's `--set` strings.
    pub set: Vec<String>,
    /// Dependencies whose archive is not under `charts/` (`helm dependency build` needed).
    pub missing_dependencies: Vec<Dependency>,
}

/// Releases of one wave, installed in parallel.
#[derive(Debug, Clone)]
pub struct PlannedWave {
    /// The wave number from the component list.
    pub number: u32,
    /// Its releases, in list order.
    pub releases: Vec<PlannedRelease>,
}

/// The whole plan, waves ascending.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `--profile`, if any.
    pub profile: Option<String>,
    /// Waves in install order.
    pub waves: Vec<PlannedWave>,
}

impl Plan {
    /// Builds the plan for `stack` (already narrowed by `--only`). A profile overlay is
    /// `charts/<chart>/profiles/<profile>.yaml`, used where it exists; a profile that no chart
    /// has, or a `-f` file that does not exist, is a usage error.
    pub fn build(
        stack: &Stack,
        profile: Option<&str>,
        values: &[PathBuf],
        set: &[String],
    ) -> Result<Plan> {
        for f in values {
            if !f.is_file() {
                return Err(usage(format!("values file {} does not exist", f.display())));
            }
        }
        let mut waves = Vec::new();
        let mut profile_found = false;
        for wave in stack.waves() {
            let mut releases = Vec::new();
            for c in &wave.components {
                let chart_dir = stack.chart_dir(c);
                let chart = ChartMeta::load(&chart_dir)
                    .with_context(|| format!("component {} ({})", c.name, c.path))?;
                let mut values_files = Vec::new();
                if let Some(p) = profile {
                    let overlay = chart_dir.join("profiles").join(format!("{p}.yaml"));
                    if overlay.is_file() {
                        profile_found = true;
                        values_files.push(overlay);
                    }
                }
                values_files.extend(values.iter().cloned());
                let missing_dependencies = chart
                    .dependencies
                    .iter()
                    .filter(|d| !dependency_present(&chart_dir, d))
                    .cloned()
                    .collect();
                releases.push(PlannedRelease {
                    name: c.name.clone(),
                    namespace: c.namespace.clone(),
                    wave: c.wave,
                    chart_path: c.path.clone(),
                    chart_dir,
                    chart,
                    values_files,
                    set: set.to_vec(),
                    missing_dependencies,
                });
            }
            waves.push(PlannedWave {
                number: wave.number,
                releases,
            });
        }
        if let Some(p) = profile {
            if !profile_found {
                return Err(usage(format!(
                    "--profile {p}: no selected chart has profiles/{p}.yaml"
                )));
            }
        }
        Ok(Plan {
            profile: profile.map(str::to_string),
            waves,
        })
    }

    /// Every release, wave by wave.
    pub fn releases(&self) -> impl Iterator<Item = &PlannedRelease> {
        self.waves.iter().flat_map(|w| w.releases.iter())
    }

    /// Fails with the `helm dependency build` commands to run when an archive is missing.
    pub fn require_dependencies(&self) -> Result<()> {
        let missing: Vec<_> = self
            .releases()
            .filter(|r| !r.missing_dependencies.is_empty())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let mut msg = String::from("upstream chart archives are missing; build them first:");
        for r in missing {
            let names: Vec<_> = r
                .missing_dependencies
                .iter()
                .map(|d| format!("{}-{}", d.name, d.version))
                .collect();
            let _ = write!(
                msg,
                "\n  helm dependency build {}   # {}",
                r.chart_path,
                names.join(", ")
            );
        }
        Err(usage(msg))
    }

    /// The plan as `kalypso up --dry-run` prints it.
    pub fn render_text(&self, root: &Path) -> String {
        let count: usize = self.waves.iter().map(|w| w.releases.len()).sum();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Plan: {count} release(s) in {} wave(s){}; each wave starts when the one before is healthy.",
            self.waves.len(),
            self.profile.as_ref().map(|p| format!(", profile {p}")).unwrap_or_default()
        );
        for w in &self.waves {
            let _ = writeln!(
                out,
                "\nWave {} ({} in parallel):",
                w.number,
                w.releases.len()
            );
            for r in &w.releases {
                let _ = writeln!(
                    out,
                    "  {}  namespace {}  chart {} {} ({})",
                    r.name, r.namespace, r.chart.name, r.chart.version, r.chart_path
                );
                for d in &r.chart.dependencies {
                    let state = if r.missing_dependencies.iter().any(|m| m.name == d.name) {
                        format!(
                            "  [archive missing: helm dependency build {}]",
                            r.chart_path
                        )
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        out,
                        "      upstream {} {} from {}{state}",
                        d.name, d.version, d.repository
                    );
                }
                let mut files = vec![format!("{}/values.yaml", r.chart_path)];
                files.extend(r.values_files.iter().map(|f| shown(root, f)));
                let _ = writeln!(out, "      values: {}", files.join(", "));
                if !r.set.is_empty() {
                    let _ = writeln!(out, "      set: {}", r.set.join(", "));
                }
                // Shown as written; a malformed annotation fails `up` itself with its name.
                if let Ok(steps) = r.chart.install_steps() {
                    if steps.len() > 1 {
                        let _ = writeln!(
                            out,
                            "      first install in {} steps (CRDs before their custom resources)",
                            steps.len()
                        );
                    }
                }
            }
        }
        out
    }
}

fn shown(root: &Path, f: &Path) -> String {
    f.strip_prefix(root).unwrap_or(f).display().to_string()
}

impl PlannedRelease {
    /// The digest of everything that decides what helm applies (see the module docs).
    pub fn digest(&self) -> Result<String> {
        let mut h = Sha256::new();
        let field = |h: &mut Sha256, label: &str, bytes: &[u8]| {
            h.update(label.as_bytes());
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(&mut h, "v1", b"kalypso release digest");
        field(&mut h, "name", self.name.as_bytes());
        field(&mut h, "namespace", self.namespace.as_bytes());
        let mut files = Vec::new();
        walk(&self.chart_dir, &mut files)
            .with_context(|| format!("reading chart directory {}", self.chart_dir.display()))?;
        files.sort();
        for f in files {
            let rel = f
                .strip_prefix(&self.chart_dir)
                .unwrap_or(&f)
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
            field(&mut h, "chart-file", rel.as_bytes());
            field(&mut h, "content", &bytes);
        }
        for f in &self.values_files {
            let bytes =
                std::fs::read(f).with_context(|| format!("reading values file {}", f.display()))?;
            field(&mut h, "values", &bytes);
        }
        for s in &self.set {
            field(&mut h, "set", s.as_bytes());
        }
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!("sha256:{hex}"))
    }

    /// The helm release description that records `digest`.
    pub fn description(digest: &str) -> String {
        format!("{DIGEST_PREFIX}{digest}")
    }

    /// Arguments of `helm upgrade --install` for this release; `step` holds the extra flags of
    /// an install step (they come last, so they win over the user's `--set`).
    pub fn upgrade_args(
        &self,
        description: &str,
        timeout: Duration,
        step: &[String],
    ) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec![
            "upgrade".into(),
            "--install".into(),
            self.name.clone().into(),
            self.chart_dir.clone().into(),
            "--namespace".into(),
            self.namespace.clone().into(),
            "--create-namespace".into(),
            // Every run passes the whole values (chart, profile, -f, --set); without this, an
            // upgrade that passes none reuses the previous revision's, so an install step's
            // `--set x.enabled=false` or an earlier `kalypso up --set` would outlive its run.
            "--reset-values".into(),
        ];
        for f in &self.values_files {
            a.push("--values".into());
            a.push(f.clone().into());
        }
        for s in &self.set {
            a.push("--set".into());
            a.push(s.clone().into());
        }
        a.extend(step.iter().map(OsString::from));
        a.push("--description".into());
        a.push(description.into());
        // Bounds helm's own waits (hooks); kalypso does the readiness gating itself.
        a.push("--timeout".into());
        a.push(format!("{}s", timeout.as_secs().max(1)).into());
        a
    }
}

/// Every regular file under `dir`, recursively (symlinks followed as helm does).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let meta = std::fs::metadata(&path)?;
        if meta.is_dir() {
            walk(&path, out)?;
        } else if meta.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("argocd")).unwrap();
        std::fs::write(
            d.path().join("argocd/applicationset.yaml"),
            "spec:\n  generators:\n    - list:\n        elements:\n          - {name: kalypso-a, path: charts/kalypso-a, namespace: a, wave: \"1\"}\n",
        )
        .unwrap();
        std::fs::create_dir_all(d.path().join("charts/kalypso-a/templates")).unwrap();
        std::fs::write(
            d.path().join("charts/kalypso-a/Chart.yaml"),
            "apiVersion: v2\nname: kalypso-a\nversion: 0.1.0\n",
        )
        .unwrap();
        std::fs::write(d.path().join("charts/kalypso-a/values.yaml"), "x: 1\n").unwrap();
        d
    }

    #[test]
    fn the_digest_changes_with_a_template_a_values_file_or_a_set_and_nothing_else() {
        let d = repo();
        let stack = Stack::load(d.path()).unwrap();
        let extra = d.path().join("extra.yaml");
        std::fs::write(&extra, "y: 1\n").unwrap();
        let digest = |set: &[String]| {
            Plan::build(&stack, None, std::slice::from_ref(&extra), set)
                .unwrap()
                .waves[0]
                .releases[0]
                .digest()
                .unwrap()
        };
        let first = digest(&[]);
        assert_eq!(first, digest(&[]), "stable");
        assert_ne!(first, digest(&["y=2".into()]));
        std::fs::write(&extra, "y: 2\n").unwrap();
        let second = digest(&[]);
        assert_ne!(first, second);
        std::fs::write(
            d.path().join("charts/kalypso-a/templates/cm.yaml"),
            "kind: ConfigMap\n",
        )
        .unwrap();
        assert_ne!(second, digest(&[]));
    }

    #[test]
    fn a_profile_no_chart_has_is_a_usage_error() {
        let d = repo();
        let stack = Stack::load(d.path()).unwrap();
        let err = Plan::build(&stack, Some("prod"), &[], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("profiles/prod.yaml"), "{err}");
    }
}
