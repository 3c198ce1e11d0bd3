//! Stand-ins for absent upstream charts (see [`crate::chart_dir`]): an empty chart with the
//! dependency's name and version, so that the umbrella chart's own templates still render.
//!
//! A stand-in renders one document of its own, the values the upstream chart would have
//! received ([`STAND_IN_KIND`]); [`split_stand_in_values`] takes it out of helm's output, so
//! that what the upstream chart cannot show (its configs) can still be checked from its values.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

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

/// Writes at `dir` a stand-in chart for the upstream dependency `dep` (its name and version),
/// whose one template renders the values it receives.
pub(crate) fn write(dir: &Path, dep: &Dependency) -> Result<()> {
    let templates = dir.join("templates");
    std::fs::create_dir_all(&templates)
        .with_context(|| format!("creating {}", templates.display()))?;
    std::fs::write(
        dir.join("Chart.yaml"),
        format!(
            "apiVersion: v2\nname: {}\nversion: {}\ndescription: kalypso offline stand-in (renders only the values it receives)\n",
            dep.name,
            dep.version.trim_start_matches('=')
        ),
    )
    .with_context(|| format!("writing the stand-in for {}", dep.name))?;
    std::fs::write(
        templates.join(STAND_IN_TEMPLATE),
        format!(
            "apiVersion: kalypso.dev/v1\nkind: {STAND_IN_KIND}\nmetadata:\n  name: {{{{ .Chart.Name }}}}\nvalues:\n{{{{- toYaml .Values | nindent 2 }}}}\n"
        ),
    )
    .with_context(|| format!("writing the stand-in for {}", dep.name))?;
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
