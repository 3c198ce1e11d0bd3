//! A temporary copy of a chart with its dependencies filled in: a local (`file://`)
//! dependency is copied from the repository (replacing any copy under `charts/`), an upstream one becomes an empty stand-in chart
//! (a `Chart.yaml` with name and version only) so the chart's own templates still render.

use std::path::Path;

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::chart::Dependency;

/// Copies `chart_dir` into a new temporary directory and adds each of `missing`: a copy of a
/// local one, a stand-in for an upstream one.
/// Returns the directory; the chart is at `<tmp>/<chart dir name>`.
pub(crate) fn copy_with_stand_ins(chart_dir: &Path, missing: &[Dependency]) -> Result<TempDir> {
    let tmp = tempfile::Builder::new()
        .prefix("kalypso-render-")
        .tempdir()
        .context("creating a temporary directory for stand-in rendering")?;
    let name = chart_dir.file_name().unwrap_or_else(|| "chart".as_ref());
    let dest = tmp.path().join(name);
    copy_dir(chart_dir, &dest)
        .with_context(|| format!("copying {} for stand-in rendering", chart_dir.display()))?;
    let charts = dest.join("charts");
    std::fs::create_dir_all(&charts)?;
    for dep in missing {
        // A stale archive of another version would be loaded next to the stand-in.
        if let Ok(entries) = std::fs::read_dir(&charts) {
            for e in entries.flatten() {
                let file = e.file_name().to_string_lossy().to_string();
                if file.starts_with(&format!("{}-", dep.name)) && file.ends_with(".tgz") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let dir = charts.join(&dep.name);
        if let Some(local) = dep.local_dir(chart_dir) {
            // Whatever copy was there, the repository's own is the one rendered.
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("replacing {}", dir.display()))?;
            }
            copy_dir(&local, &dir).with_context(|| {
                format!(
                    "copying the local dependency {} from {}",
                    dep.name,
                    local.display()
                )
            })?;
            continue;
        }
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("Chart.yaml"),
            format!(
                "apiVersion: v2\nname: {}\nversion: {}\ndescription: kalypso offline stand-in (renders nothing)\n",
                dep.name,
                dep.version.trim_start_matches('=')
            ),
        )?;
    }
    Ok(tmp)
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
