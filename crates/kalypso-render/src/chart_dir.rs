//! The chart directory helm is given: the repository's own when nothing needs filling in, or a
//! temporary copy with its dependencies filled in. The repository's chart is never written to.
//!
//! A local (`file://`) dependency is always copied in from the repository, since a copy under
//! `charts/` goes stale as soon as the library chart is edited. Installs and diffs stop there
//! ([`HelmChart::for_install`]); renders and lints may also replace each absent upstream chart
//! by a stand-in ([`HelmChart::with_stand_ins`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::TempDir;

use kalypso_model::chart::Dependency;
use kalypso_model::release::ReleaseSpec;

use crate::standin;

/// A chart ready for helm; a temporary copy lives as long as this value.
#[derive(Debug)]
pub struct HelmChart {
    path: PathBuf,
    _copy: Option<TempDir>,
}

impl HelmChart {
    /// The chart as `helm upgrade` installs it: local dependencies copied in, upstream ones as
    /// they are under `charts/` (helm names any that is absent).
    pub fn for_install(spec: &ReleaseSpec) -> Result<HelmChart> {
        Self::filled(&spec.chart_dir, &spec.local_deps(), &[])
    }

    /// The chart as `render` and `lint` read it: local dependencies copied in, and a stand-in
    /// for each upstream one that is absent (returned, so callers can say the result is partial).
    pub fn with_stand_ins(spec: &ReleaseSpec) -> Result<(HelmChart, Vec<Dependency>)> {
        let absent = spec.missing_upstream();
        let chart = Self::filled(&spec.chart_dir, &spec.local_deps(), &absent)?;
        Ok((chart, absent))
    }

    /// The directory to pass to helm.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn filled(chart_dir: &Path, local: &[Dependency], absent: &[Dependency]) -> Result<HelmChart> {
        if local.is_empty() && absent.is_empty() {
            return Ok(HelmChart {
                path: chart_dir.to_path_buf(),
                _copy: None,
            });
        }
        let tmp = tempfile::Builder::new()
            .prefix("kalypso-chart-")
            .tempdir()
            .context("creating a temporary directory for a copy of the chart")?;
        let dest = tmp
            .path()
            .join(chart_dir.file_name().unwrap_or_else(|| "chart".as_ref()));
        copy_dir(chart_dir, &dest).with_context(|| format!("copying {}", chart_dir.display()))?;
        let charts = dest.join("charts");
        std::fs::create_dir_all(&charts)
            .with_context(|| format!("creating {}", charts.display()))?;
        for dep in local.iter().chain(absent) {
            remove_archives(&charts, &dep.name);
            let dir = charts.join(&dep.name);
            match dep.local_dir(chart_dir) {
                Some(source) => {
                    // Whatever copy was there, the repository's own is the one rendered.
                    if dir.exists() {
                        std::fs::remove_dir_all(&dir)
                            .with_context(|| format!("replacing {}", dir.display()))?;
                    }
                    copy_dir(&source, &dir).with_context(|| {
                        format!(
                            "copying the local dependency {} from {}",
                            dep.name,
                            source.display()
                        )
                    })?;
                }
                None => standin::write(&dir, dep)?,
            }
        }
        Ok(HelmChart {
            path: dest,
            _copy: Some(tmp),
        })
    }
}

/// Removes `<name>-*.tgz` from `charts`: a stale archive of another version would be loaded
/// next to the copy.
fn remove_archives(charts: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(charts) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().to_string();
        if file.starts_with(&format!("{name}-")) && file.ends_with(".tgz") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let target = to.join(entry.file_name());
        if ty.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if ty.is_file() || ty.is_symlink() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
