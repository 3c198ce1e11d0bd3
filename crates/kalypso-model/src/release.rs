//! What decides one release: its component (name, namespace, wave), its chart, the values
//! files in the order helm merges them (the stack contract, the profile overlay, the user's
//! `--values`), the user's `--set` strings and the Kubernetes version rendered for. `render`,
//! `lint` and `up` all build it the same way, and its [`ReleaseSpec::fingerprint`] is both the
//! render cache key and the digest `up` stores in the helm release.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::chart::{ChartMeta, Dependency};
use crate::contract::CONTRACT_PATH;
use crate::error::usage;
use crate::stack::{Component, Stack};

/// Values the user chose for every release: a profile overlay, values files, `--set` strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValuesChoice {
    /// `charts/<chart>/profiles/<NAME>.yaml`, where a chart has one.
    pub profile: Option<String>,
    /// Extra values files, in order.
    pub files: Vec<PathBuf>,
    /// `--set key=value`, applied last.
    pub set: Vec<String>,
}

impl ValuesChoice {
    /// Checks that every values file exists and that the profile is some chart's.
    pub fn validate(&self, stack: &Stack) -> Result<()> {
        for f in &self.files {
            if !f.is_file() {
                return Err(usage(format!("values file {} does not exist", f.display())));
            }
        }
        if let Some(p) = &self.profile {
            let any = stack
                .components
                .iter()
                .any(|c| profile_file(&stack.chart_dir(c), p).is_file());
            if !any {
                return Err(usage(format!(
                    "--profile {p}: no selected chart has profiles/{p}.yaml"
                )));
            }
        }
        Ok(())
    }
}

/// `charts/<chart>/profiles/<NAME>.yaml`.
pub fn profile_file(chart_dir: &Path, profile: &str) -> PathBuf {
    chart_dir.join("profiles").join(format!("{profile}.yaml"))
}

/// One release, fully decided.
#[derive(Debug, Clone)]
pub struct ReleaseSpec {
    /// Its component (release name, namespace, wave, chart path as listed).
    pub component: Component,
    /// Absolute chart directory.
    pub chart_dir: PathBuf,
    /// The chart's `Chart.yaml`.
    pub chart: ChartMeta,
    /// Values files in merge order: contract, profile overlay, the user's files.
    pub values_files: Vec<PathBuf>,
    /// The user's `--set` strings.
    pub set: Vec<String>,
    /// `--kube-version` to render for (none for an install: helm asks the cluster).
    pub kube_version: Option<String>,
}

impl ReleaseSpec {
    /// The spec of `component` with the user's values choice.
    pub fn new(
        stack: &Stack,
        component: &Component,
        values: &ValuesChoice,
        kube_version: Option<&str>,
    ) -> Result<ReleaseSpec> {
        let chart_dir = stack.chart_dir(component);
        if !chart_dir.join("Chart.yaml").is_file() {
            return Err(usage(format!(
                "component {}: chart {} not found (no Chart.yaml); fix its path in argocd/applicationset.yaml",
                component.name,
                chart_dir.display()
            )));
        }
        let chart = ChartMeta::load(&chart_dir)
            .with_context(|| format!("component {} ({})", component.name, component.path))?;
        let mut values_files = Vec::new();
        let contract = stack.root.join(CONTRACT_PATH);
        if contract.is_file() {
            values_files.push(contract);
        }
        if let Some(p) = &values.profile {
            let f = profile_file(&chart_dir, p);
            if f.is_file() {
                values_files.push(f);
            }
        }
        values_files.extend(values.files.iter().cloned());
        // Absolute, so helm finds them from a temporary copy of the chart too.
        let values_files = values_files
            .into_iter()
            .map(|f| std::fs::canonicalize(&f).unwrap_or(f))
            .collect();
        Ok(ReleaseSpec {
            component: component.clone(),
            chart_dir,
            chart,
            values_files,
            set: values.set.clone(),
            kube_version: kube_version.map(str::to_string),
        })
    }

    /// Every spec of the stack, in component-list order.
    pub fn all(
        stack: &Stack,
        values: &ValuesChoice,
        kube_version: Option<&str>,
    ) -> Result<Vec<ReleaseSpec>> {
        values.validate(stack)?;
        stack
            .components
            .iter()
            .map(|c| ReleaseSpec::new(stack, c, values, kube_version))
            .collect()
    }

    /// Upstream dependencies whose chart is not under `charts/` (`helm dependency build` makes
    /// them); local `file://` dependencies are not listed, kalypso copies those in itself.
    pub fn missing_upstream(&self) -> Vec<Dependency> {
        self.chart
            .dependencies
            .iter()
            .filter(|d| !d.is_local() && !d.present(&self.chart_dir))
            .cloned()
            .collect()
    }

    /// Local `file://` dependencies, present under `charts/` or not: they are always copied in
    /// from the repository, since a copy under `charts/` (left by a manual `helm dependency
    /// build`) goes stale as soon as the library chart is edited.
    pub fn local_deps(&self) -> Vec<Dependency> {
        self.chart
            .dependencies
            .iter()
            .filter(|d| d.is_local())
            .cloned()
            .collect()
    }

    /// `--values F … --set K=V …` as helm takes them.
    pub fn values_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        for f in &self.values_files {
            a.push("--values".into());
            a.push(f.to_string_lossy().into_owned());
        }
        for s in &self.set {
            a.push("--set".into());
            a.push(s.clone());
        }
        a
    }

    /// A digest (`sha256:…`) of everything that decides what helm renders for this release:
    /// name and namespace, every file of the chart directory (archives included), the content
    /// of each values file in order, the `--set` strings, the Kubernetes version, and `extra`
    /// (what the caller adds: the helm binary, stand-ins).
    pub fn fingerprint(&self, extra: &[&str]) -> Result<String> {
        let mut h = Sha256::new();
        let field = |h: &mut Sha256, label: &str, bytes: &[u8]| {
            h.update(label.as_bytes());
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(&mut h, "v3", b"kalypso release fingerprint");
        field(&mut h, "name", self.component.name.as_bytes());
        field(&mut h, "namespace", self.component.namespace.as_bytes());
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
        // The library charts rendered with it come from their source directories.
        for dep in self.local_deps() {
            let Some(dir) = dep.local_dir(&self.chart_dir) else {
                continue;
            };
            let mut files = Vec::new();
            walk(&dir, &mut files)
                .with_context(|| format!("reading local dependency {}", dir.display()))?;
            files.sort();
            for f in files {
                let rel = f
                    .strip_prefix(&dir)
                    .unwrap_or(&f)
                    .to_string_lossy()
                    .into_owned();
                let bytes =
                    std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
                field(
                    &mut h,
                    "local-dep-file",
                    format!("{}/{rel}", dep.name).as_bytes(),
                );
                field(&mut h, "content", &bytes);
            }
        }
        for f in &self.values_files {
            let bytes =
                std::fs::read(f).with_context(|| format!("reading values file {}", f.display()))?;
            field(&mut h, "values", &bytes);
        }
        for s in &self.set {
            field(&mut h, "set", s.as_bytes());
        }
        if let Some(k) = &self.kube_version {
            field(&mut h, "kube-version", k.as_bytes());
        }
        for e in extra {
            field(&mut h, "extra", e.as_bytes());
        }
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!("sha256:{hex}"))
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
    fn the_fingerprint_changes_with_a_template_a_values_file_a_set_or_the_kube_version() {
        let d = repo();
        let stack = Stack::load(d.path()).unwrap();
        let extra = d.path().join("extra.yaml");
        std::fs::write(&extra, "y: 1\n").unwrap();
        let fp = |set: &[String], kv: Option<&str>| {
            let choice = ValuesChoice {
                files: vec![extra.clone()],
                set: set.to_vec(),
                ..Default::default()
            };
            ReleaseSpec::new(&stack, &stack.components[0], &choice, kv)
                .unwrap()
                .fingerprint(&[])
                .unwrap()
        };
        let first = fp(&[], None);
        assert_eq!(first, fp(&[], None), "stable");
        assert_ne!(first, fp(&["y=2".into()], None));
        assert_ne!(first, fp(&[], Some("1.33")));
        std::fs::write(&extra, "y: 2\n").unwrap();
        let second = fp(&[], None);
        assert_ne!(first, second);
        std::fs::write(
            d.path().join("charts/kalypso-a/templates/cm.yaml"),
            "kind: ConfigMap\n",
        )
        .unwrap();
        assert_ne!(second, fp(&[], None));
    }

    #[test]
    fn the_contract_comes_first_then_the_profile_then_the_users_files() {
        let d = repo();
        std::fs::write(d.path().join(CONTRACT_PATH), "global: {}\n").unwrap();
        std::fs::create_dir_all(d.path().join("charts/kalypso-a/profiles")).unwrap();
        std::fs::write(
            d.path().join("charts/kalypso-a/profiles/prod.yaml"),
            "x: 2\n",
        )
        .unwrap();
        let user = d.path().join("mine.yaml");
        std::fs::write(&user, "x: 3\n").unwrap();
        let stack = Stack::load(d.path()).unwrap();
        let choice = ValuesChoice {
            profile: Some("prod".into()),
            files: vec![user],
            set: vec![],
        };
        let spec = ReleaseSpec::new(&stack, &stack.components[0], &choice, None).unwrap();
        let names: Vec<String> = spec
            .values_files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [CONTRACT_PATH, "prod.yaml", "mine.yaml"]);
    }

    #[test]
    fn a_profile_no_chart_has_is_a_usage_error() {
        let d = repo();
        let stack = Stack::load(d.path()).unwrap();
        let choice = ValuesChoice {
            profile: Some("prod".into()),
            ..Default::default()
        };
        let err = ReleaseSpec::all(&stack, &choice, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("profiles/prod.yaml"), "{err}");
    }
}
