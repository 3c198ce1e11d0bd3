//! A temporary copy of a chart with its dependencies filled in: a local (`file://`)
//! dependency is copied from the repository (replacing any copy under `charts/`), an upstream
//! one becomes a stand-in chart (name and version) so the chart's own templates still render.
//!
//! A stand-in renders one document of its own, the values the upstream chart would have
//! received ([`STAND_IN_KIND`]); [`split_stand_in_values`] takes it out of helm's output, so
//! that what the upstream chart cannot show (its configs) can still be checked from its values.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;
use tempfile::TempDir;

use kalypso_model::chart::Dependency;
use kalypso_model::manifest::yaml;

/// Kind of the document a stand-in renders (never part of a render's output).
pub const STAND_IN_KIND: &str = "KalypsoStandInValues";
/// The stand-in's template file, as helm names it in `# Source:`.
const STAND_IN_TEMPLATE: &str = "kalypso-stand-in-values.yaml";

/// The values an upstream chart that was replaced by a stand-in would have received.
#[derive(Debug, Clone, PartialEq)]
pub struct StandInValues {
    /// The dependency's name (`loki`, `minio`).
    pub dependency: String,
    /// Its `.Values`, globals included.
    pub values: Value,
}

/// Removes the stand-ins' value documents from a helm output; returns the rest of the text
/// (every other document exactly as helm wrote it) and the values, in output order.
pub fn split_stand_in_values(text: &str) -> (String, Vec<StandInValues>) {
    if !text.contains(STAND_IN_KIND) {
        return (text.to_string(), Vec::new());
    }
    let mut kept = String::with_capacity(text.len());
    let mut found = Vec::new();
    let mut doc = String::new();
    let mut flush = |doc: &mut String, kept: &mut String| {
        let is_stand_in = doc
            .lines()
            .find(|l| l.starts_with("# Source:"))
            .is_some_and(|l| l.trim_end().ends_with(STAND_IN_TEMPLATE));
        if is_stand_in {
            if let Some(v) = yaml::value(doc) {
                if v["kind"] == STAND_IN_KIND {
                    found.push(StandInValues {
                        dependency: v["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        values: v["values"].clone(),
                    });
                }
            }
        } else {
            kept.push_str(doc);
        }
        doc.clear();
    };
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            flush(&mut doc, &mut kept);
        }
        doc.push_str(line);
    }
    flush(&mut doc, &mut kept);
    (kept, found)
}

/// Copies `chart_dir` into a new temporary directory and adds each of `missing`: a copy of a
/// local one, a stand-in for an upstream one.
/// Returns the directory; the chart is at `<tmp>/<chart dir name>`.
pub fn copy_with_stand_ins(chart_dir: &Path, missing: &[Dependency]) -> Result<TempDir> {
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
        std::fs::create_dir_all(dir.join("templates"))?;
        std::fs::write(
            dir.join("Chart.yaml"),
            format!(
                "apiVersion: v2\nname: {}\nversion: {}\ndescription: kalypso offline stand-in (renders only the values it receives)\n",
                dep.name,
                dep.version.trim_start_matches('=')
            ),
        )?;
        std::fs::write(
            dir.join("templates").join(STAND_IN_TEMPLATE),
            format!(
                "apiVersion: kalypso.dev/v1\nkind: {STAND_IN_KIND}\nmetadata:\n  name: {{{{ .Chart.Name }}}}\nvalues:\n{{{{- toYaml .Values | nindent 2 }}}}\n"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_in_values_are_taken_out_and_everything_else_is_kept_verbatim() {
        let text = "---\n# Source: c/templates/a.yaml\nkind: ConfigMap\nmetadata: {name: a}\n---\n# Source: c/charts/loki/templates/kalypso-stand-in-values.yaml\napiVersion: kalypso.dev/v1\nkind: KalypsoStandInValues\nmetadata:\n  name: loki\nvalues:\n  loki:\n    storage: {bucketNames: {chunks: c}}\n---\n# Source: c/templates/b.yaml\nkind: ConfigMap\nmetadata: {name: b}\n";
        let (kept, values) = split_stand_in_values(text);
        assert_eq!(kept, "---\n# Source: c/templates/a.yaml\nkind: ConfigMap\nmetadata: {name: a}\n---\n# Source: c/templates/b.yaml\nkind: ConfigMap\nmetadata: {name: b}\n");
        assert_eq!(values.len(), 1);
        assert_eq!(values[0].dependency, "loki");
        assert_eq!(
            values[0].values["loki"]["storage"]["bucketNames"]["chunks"],
            "c"
        );
    }
}
