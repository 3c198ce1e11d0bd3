//! A chart's `Chart.yaml`: its name, version and pinned upstream dependencies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;

use crate::error::usage;

/// The parts of `Chart.yaml` kalypso uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartMeta {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub app_version: Option<String>,
    #[serde(default)]
    pub kube_version: Option<String>,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// Chart annotation listing the steps of a first install: a YAML list whose entries are the
/// extra helm flags of one `helm upgrade --install` each, in order, the last one the full
/// install. A chart needs it when it creates custom resources from CRDs it installs itself,
/// which helm cannot do in one install.
pub const INSTALL_STEPS_ANNOTATION: &str = "kalypso/install-steps";

/// One upstream chart an umbrella chart pins.
#[derive(Debug, Clone, Deserialize)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub repository: String,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub condition: Option<String>,
}

impl Dependency {
    /// The key the dependency's values live under (its alias, else its name).
    pub fn values_key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    /// Where `helm dependency build` puts this dependency's archive inside `chart_dir`.
    pub fn archive_path(&self, chart_dir: &Path) -> PathBuf {
        chart_dir
            .join("charts")
            .join(format!("{}-{}.tgz", self.name, self.version))
    }

    /// A chart of this repository (`repository: file://…`), not an upstream one.
    pub fn is_local(&self) -> bool {
        self.repository.starts_with("file://")
    }

    /// The directory of a local dependency, relative to the chart that needs it.
    pub fn local_dir(&self, chart_dir: &Path) -> Option<PathBuf> {
        self.repository
            .strip_prefix("file://")
            .map(|p| chart_dir.join(p))
    }

    /// Whether the dependency's chart is under `chart_dir/charts/` (archive or unpacked
    /// directory), as helm needs it to render.
    pub fn present(&self, chart_dir: &Path) -> bool {
        if self.archive_path(chart_dir).is_file() {
            return true;
        }
        if chart_dir
            .join("charts")
            .join(&self.name)
            .join("Chart.yaml")
            .is_file()
        {
            return true;
        }
        // A range constraint: any archive of that chart will do for helm.
        if self.version.chars().any(|c| "^~<>=*xX ".contains(c)) {
            if let Ok(entries) = std::fs::read_dir(chart_dir.join("charts")) {
                return entries.flatten().any(|e| {
                    let f = e.file_name().to_string_lossy().to_string();
                    f.starts_with(&format!("{}-", self.name)) && f.ends_with(".tgz")
                });
            }
        }
        false
    }
}

impl ChartMeta {
    /// The extra helm arguments of each install step (see [`INSTALL_STEPS_ANNOTATION`]);
    /// empty when the chart installs in one step.
    pub fn install_steps(&self) -> Result<Vec<Vec<String>>> {
        let Some(text) = self.annotations.get(INSTALL_STEPS_ANNOTATION) else {
            return Ok(Vec::new());
        };
        let steps: Vec<String> = serde_saphyr::from_str(text).map_err(|e| {
            usage(format!(
                "chart {}: annotation {INSTALL_STEPS_ANNOTATION} must be a YAML list of strings: {e}",
                self.name
            ))
        })?;
        Ok(steps
            .iter()
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .collect())
    }

    /// Reads `<dir>/Chart.yaml`; a missing or broken file is a usage error naming it.
    pub fn load(dir: &Path) -> Result<ChartMeta> {
        let file = dir.join("Chart.yaml");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
        serde_saphyr::from_str(&text)
            .map_err(|e| usage(format!("{}: not a valid Chart.yaml: {e}", file.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dependencies_and_their_archive_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Chart.yaml"),
            "apiVersion: v2\nname: kalypso-x\nversion: 0.1.0\ndependencies:\n  - name: loki\n    version: 18.11.0\n    repository: https://example.invalid\n    condition: loki.enabled\n",
        )
        .unwrap();
        let meta = ChartMeta::load(dir.path()).unwrap();
        assert_eq!(meta.dependencies.len(), 1);
        let dep = &meta.dependencies[0];
        assert_eq!(dep.values_key(), "loki");
        assert!(dep
            .archive_path(dir.path())
            .ends_with("charts/loki-18.11.0.tgz"));
    }

    #[test]
    fn install_steps_are_read_from_the_chart_annotation() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Chart.yaml"),
            "apiVersion: v2\nname: kalypso-x\nversion: 0.1.0\nannotations:\n  kalypso/install-steps: |\n    - --set a.enabled=false --set b.enabled=false\n    - \"\"\n",
        )
        .unwrap();
        let steps = ChartMeta::load(dir.path())
            .unwrap()
            .install_steps()
            .unwrap();
        assert_eq!(
            steps,
            vec![
                vec!["--set", "a.enabled=false", "--set", "b.enabled=false"],
                Vec::<&str>::new()
            ]
        );
    }

    #[test]
    fn malformed_install_steps_name_the_chart_and_the_annotation() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Chart.yaml"),
            "apiVersion: v2\nname: kalypso-x\nversion: 0.1.0\nannotations:\n  kalypso/install-steps: \"{not: a list}\"\n",
        )
        .unwrap();
        let err = ChartMeta::load(dir.path())
            .unwrap()
            .install_steps()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("kalypso-x") && err.contains("kalypso/install-steps"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_chart_yaml_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = ChartMeta::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("Chart.yaml"), "{err}");
    }
}
