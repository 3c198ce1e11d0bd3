//! The install plan: waves in order, and per release its namespace, chart, upstream
//! dependencies and values files. `kalypso up --dry-run` prints it without a cluster.
//!
//! Idempotency: every release's plan has a digest, the fingerprint of its
//! [`ReleaseSpec`](kalypso_model::release::ReleaseSpec): release name and namespace, every file of the
//! chart directory (templates, values.yaml, Chart.yaml, the dependency archives under
//! `charts/`), the content of each values file in order (the contract included), and the
//! `--set` strings. `kalypso up` stores it in the helm release's
//! description (`--description "kalypso-digest sha256:…"`, shown by `helm status -o json`),
//! and leaves a release alone when its last revision is `deployed` with the same digest.
//! This catches an edited template that keeps the chart version, a changed values file, and a
//! release changed by hand with `helm upgrade` (whose description is then helm's own).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use kalypso_model::chart::{ChartMeta, Dependency};
use kalypso_model::error::usage;
use kalypso_model::release::{ReleaseSpec, ValuesChoice};
use kalypso_model::stack::Stack;

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
    /// The chart's `Chart.yaml`.
    pub chart: ChartMeta,
    /// Everything that decides the release (values files in order, sets).
    pub spec: ReleaseSpec,
    /// Dependencies whose archive is not under `charts/` (`helm dependency build` needed).
    pub missing_dependencies: Vec<Dependency>,
    /// The releases of the plan that must be healthy before this one starts, with what it
    /// needs from each (set by [`Plan::with_needs`]).
    pub needs: Vec<Need>,
}

/// One startup dependency of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The release that must be healthy first.
    pub release: String,
    /// What is needed from it (`CRD certificates.cert-manager.io`, an address).
    pub what: String,
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
    /// `up` starts each release as soon as its [`PlannedRelease::needs`] are healthy, instead
    /// of wave by wave.
    pub by_needs: bool,
}

impl Plan {
    /// Builds the plan for `stack` (already narrowed by `--only`). A profile overlay is
    /// `charts/<chart>/profiles/<profile>.yaml`, used where it exists; a profile that no chart
    /// has, or a `-f` file that does not exist, is a usage error.
    pub fn build(stack: &Stack, values: &ValuesChoice) -> Result<Plan> {
        values.validate(stack)?;
        let mut waves = Vec::new();
        for wave in stack.waves() {
            let mut releases = Vec::new();
            for c in &wave.components {
                let spec = ReleaseSpec::new(stack, c, values, None)?;
                releases.push(PlannedRelease {
                    name: c.name.clone(),
                    namespace: c.namespace.clone(),
                    wave: c.wave,
                    chart_path: c.path.clone(),
                    chart: spec.chart.clone(),
                    missing_dependencies: spec.missing_upstream(),
                    needs: Vec::new(),
                    spec,
                });
            }
            waves.push(PlannedWave {
                number: wave.number,
                releases,
            });
        }
        Ok(Plan {
            profile: values.profile.clone(),
            waves,
            by_needs: false,
        })
    }

    /// Orders the releases by their startup dependencies, `(release, needed release, what)`:
    /// each starts once those it needs are healthy. Dependencies on releases outside the plan
    /// (`--only`) are dropped: those are already installed. A cycle is an error naming it
    /// (`check`'s ordering rules would have reported it).
    pub fn with_needs(mut self, deps: &[(String, String, String)]) -> Result<Plan> {
        let names: Vec<String> = self.releases().map(|r| r.name.clone()).collect();
        for w in &mut self.waves {
            for r in &mut w.releases {
                r.needs = deps
                    .iter()
                    .filter(|(from, to, _)| *from == r.name && names.contains(to))
                    .map(|(_, to, what)| Need {
                        release: to.clone(),
                        what: what.clone(),
                    })
                    .collect();
            }
        }
        // Kahn's algorithm: every release must become startable.
        let mut done: Vec<&str> = Vec::new();
        while done.len() < names.len() {
            let next: Vec<&str> = self
                .releases()
                .filter(|r| !done.contains(&r.name.as_str()))
                .filter(|r| r.needs.iter().all(|n| done.contains(&n.release.as_str())))
                .map(|r| r.name.as_str())
                .collect();
            if next.is_empty() {
                let stuck: Vec<&str> = self
                    .releases()
                    .filter(|r| !done.contains(&r.name.as_str()))
                    .map(|r| r.name.as_str())
                    .collect();
                return Err(usage(format!(
                    "the startup dependencies of {} form a cycle: none can start first",
                    stuck.join(", ")
                )));
            }
            done.extend(next);
        }
        self.by_needs = true;
        Ok(self)
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
        let order = if self.by_needs {
            "each release starts when the releases it needs are healthy (waves are Argo CD's order)"
        } else {
            "each wave starts when the one before is healthy"
        };
        let _ = writeln!(
            out,
            "Plan: {count} release(s) in {} wave(s){}; {order}.",
            self.waves.len(),
            self.profile
                .as_ref()
                .map(|p| format!(", profile {p}"))
                .unwrap_or_default()
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
                if self.by_needs {
                    let needs: Vec<String> = r
                        .needs
                        .iter()
                        .map(|n| format!("{} ({})", n.release, n.what))
                        .collect();
                    let _ = writeln!(
                        out,
                        "      starts after: {}",
                        if needs.is_empty() {
                            "nothing".to_string()
                        } else {
                            needs.join(", ")
                        }
                    );
                }
                let mut files = vec![format!("{}/values.yaml", r.chart_path)];
                files.extend(r.spec.values_files.iter().map(|f| shown(root, f)));
                let _ = writeln!(out, "      values: {}", files.join(", "));
                if !r.spec.set.is_empty() {
                    let _ = writeln!(out, "      set: {}", r.spec.set.join(", "));
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
        self.spec.fingerprint(&[])
    }

    /// The helm release description that records `digest`.
    pub fn description(digest: &str) -> String {
        format!("{DIGEST_PREFIX}{digest}")
    }

    /// Arguments of `helm upgrade --install` for this release from `chart` (its directory, or a
    /// copy with its local dependencies filled in); `step` holds the extra flags of an install
    /// step (they come last, so they win over the user's `--set`).
    pub fn upgrade_args(
        &self,
        chart: &Path,
        description: &str,
        timeout: Duration,
        step: &[String],
    ) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec![
            "upgrade".into(),
            "--install".into(),
            self.name.clone().into(),
            chart.into(),
            "--namespace".into(),
            self.namespace.clone().into(),
            "--create-namespace".into(),
            // Every run passes the whole values (chart, contract, profile, --values, --set);
            // without this, an upgrade that passes none reuses the previous revision's, so an
            // install step's `--set x.enabled=false` or an earlier `kalypso up --set` would
            // outlive its run.
            "--reset-values".into(),
        ];
        a.extend(self.spec.values_args().into_iter().map(OsString::from));
        a.extend(step.iter().map(OsString::from));
        a.push("--description".into());
        a.push(description.into());
        // Bounds helm's own waits (hooks); kalypso does the readiness gating itself.
        a.push("--timeout".into());
        a.push(format!("{}s", timeout.as_secs().max(1)).into());
        a
    }
}
