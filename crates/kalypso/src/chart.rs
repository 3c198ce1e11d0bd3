//! A chart's `Chart.yaml`: its name, version and pinned upstream dependencies.

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
}

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
}

impl ChartMeta {
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
    fn a_missing_chart_yaml_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = ChartMeta::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("Chart.yaml"), "{err}");
    }
}
