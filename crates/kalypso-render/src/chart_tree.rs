//! A chart and its subcharts as helm loads them (a directory, `charts/<dir>/` and
//! `charts/*.tgz` at any depth), in memory, with the name helm gives each template
//! (`<chart>/charts/<subchart>/templates/x.yaml`, as in `# Source:`); and a copy of it on disk
//! with only some templates.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use kalypso_model::manifest::yaml;

/// One chart of the tree.
#[derive(Debug, Clone)]
pub(super) struct TreeChart {
    /// Helm's path of the chart (`top`, `top/charts/sub`, with the parent's alias for it when
    /// it has one): templates are `<path>/templates/…`.
    pub path: String,
    /// The key of its values in its parent's (alias or name).
    pub values_key: String,
    /// Its parent's condition for it (`minio.enabled`), if any.
    pub condition: Option<String>,
    /// Its files other than subcharts, by path inside the chart (`templates/x.yaml`).
    pub files: BTreeMap<String, Vec<u8>>,
    /// Subcharts, with the directory name they get in a copy.
    pub subcharts: Vec<(String, TreeChart)>,
}

impl TreeChart {
    /// Loads the chart directory `dir` and every subchart in it.
    pub(super) fn load_dir(dir: &Path) -> Result<TreeChart> {
        let mut files = BTreeMap::new();
        read_dir_into(dir, dir, &mut files)
            .with_context(|| format!("reading chart directory {}", dir.display()))?;
        TreeChart::from_files(files, None).with_context(|| format!("loading {}", dir.display()))
    }

    fn from_files(all: BTreeMap<String, Vec<u8>>, parent: Option<&Parent>) -> Result<TreeChart> {
        let meta = all
            .get("Chart.yaml")
            .and_then(|b| yaml::value(&String::from_utf8_lossy(b)))
            .context("no readable Chart.yaml")?;
        // A name YAML reads as another scalar (`off`) is its text, as helm reads it.
        let name = match meta.get("name") {
            Some(Value::String(s)) => s.clone(),
            Some(v @ (Value::Bool(_) | Value::Number(_))) => v.to_string(),
            _ => anyhow::bail!("Chart.yaml without a name"),
        };
        let (path, values_key, condition) = match parent {
            None => (name.clone(), name, None),
            Some(p) => {
                let deps: Vec<&Value> = p
                    .dependencies
                    .iter()
                    .filter(|d| d["name"] == name)
                    .collect();
                if deps.len() > 1 {
                    anyhow::bail!("{}: the dependency {name} is listed more than once", p.path);
                }
                let key = deps
                    .first()
                    .and_then(|d| d["alias"].as_str())
                    .unwrap_or(&name)
                    .to_string();
                let condition = deps
                    .first()
                    .and_then(|d| d["condition"].as_str())
                    .map(str::to_string);
                (format!("{}/charts/{key}", p.path), key, condition)
            }
        };
        let me = Parent {
            path: path.clone(),
            dependencies: meta["dependencies"].as_array().cloned().unwrap_or_default(),
        };
        let mut files = BTreeMap::new();
        let mut sub_files: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
        let mut archives = Vec::new();
        for (rel, data) in all {
            let Some(inside) = rel.strip_prefix("charts/") else {
                files.insert(rel, data);
                continue;
            };
            match inside.split_once('/') {
                Some((dir, rest)) => {
                    sub_files
                        .entry(dir.to_string())
                        .or_default()
                        .insert(rest.to_string(), data);
                }
                None if inside.ends_with(".tgz") => archives.push((inside.to_string(), data)),
                // helm keeps other files there (`.prov`) as plain files.
                None => {
                    files.insert(rel, data);
                }
            }
        }
        let mut subcharts = Vec::new();
        for (dir, sub) in sub_files {
            if sub.contains_key("Chart.yaml") {
                subcharts.push((dir, TreeChart::from_files(sub, Some(&me))?));
            }
        }
        for (file, data) in archives {
            let unpacked = untar(&data).with_context(|| format!("unpacking charts/{file}"))?;
            let dir = file.trim_end_matches(".tgz").to_string();
            subcharts.push((dir, TreeChart::from_files(unpacked, Some(&me))?));
        }
        Ok(TreeChart {
            path,
            values_key,
            condition,
            files,
            subcharts,
        })
    }

    /// Its `values.yaml`, parsed (null when absent or unreadable).
    pub(super) fn values(&self) -> Value {
        self.files
            .get("values.yaml")
            .and_then(|b| yaml::value(&String::from_utf8_lossy(b)))
            .unwrap_or(Value::Null)
    }

    /// Every chart of the tree, this one first.
    pub(super) fn all(&self) -> Vec<&TreeChart> {
        let mut out = vec![self];
        for (_, s) in &self.subcharts {
            out.extend(s.all());
        }
        out
    }

    /// Template files (`templates/…`) with helm's name for each.
    pub(super) fn templates(&self) -> impl Iterator<Item = (String, &[u8])> {
        self.files
            .iter()
            .filter(|(rel, _)| rel.starts_with("templates/"))
            .map(|(rel, data)| (format!("{}/{rel}", self.path), data.as_slice()))
    }

    /// Writes the tree under `dest`, unpacked, with only the files `keep` accepts (given the
    /// chart's helm path and the file's path in the chart).
    pub(super) fn write(&self, dest: &Path, keep: &dyn Fn(&str, &str) -> bool) -> Result<()> {
        for (rel, data) in &self.files {
            if !keep(&self.path, rel) {
                continue;
            }
            let target = dest.join(rel);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&target, data)
                .with_context(|| format!("writing {}", target.display()))?;
        }
        for (dir, sub) in &self.subcharts {
            sub.write(&dest.join("charts").join(dir), keep)?;
        }
        Ok(())
    }
}

/// What a subchart needs to know of its parent.
struct Parent {
    path: String,
    dependencies: Vec<Value>,
}

fn read_dir_into(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path: PathBuf = entry?.path();
        if path.is_dir() {
            read_dir_into(root, &path, out)?;
        } else {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let data =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            out.insert(rel, data);
        }
    }
    Ok(())
}

/// The files of a chart archive, by path inside the chart (the archive's top directory removed).
fn untar(data: &[u8]) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(data));
    let mut out = BTreeMap::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path()?.to_string_lossy().replace('\\', "/");
        let Some((_, rel)) = path.split_once('/') else {
            continue;
        };
        let rel = rel.to_string();
        let mut buf = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut buf)?;
        out.insert(rel, buf);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, text) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, path, text.as_bytes())
                .unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn subcharts_in_directories_and_archives_get_helms_template_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("top");
        let write = |rel: &str, text: &[u8]| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write(
            "Chart.yaml",
            b"name: top\ndependencies:\n- {name: up, alias: up_alias, condition: up_alias.enabled}\n",
        );
        write("templates/a.yaml", b"kind: A\n");
        write("charts/common/Chart.yaml", b"name: common\n");
        write("charts/common/templates/_h.tpl", b"");
        let archive = tgz(&[
            ("up/Chart.yaml", "name: up\n"),
            ("up/templates/b.yaml", "kind: B\n"),
        ]);
        write("charts/up-1.0.0.tgz", &archive);
        let tree = TreeChart::load_dir(&root).unwrap();
        let names: Vec<String> = tree
            .all()
            .iter()
            .flat_map(|c| c.templates().map(|(n, _)| n))
            .collect();
        assert_eq!(
            names,
            vec![
                "top/templates/a.yaml",
                "top/charts/common/templates/_h.tpl",
                "top/charts/up_alias/templates/b.yaml"
            ]
        );
        let up = &tree.subcharts[1].1;
        assert_eq!(up.values_key, "up_alias");
        assert_eq!(up.condition.as_deref(), Some("up_alias.enabled"));
        let out = dir.path().join("copy");
        tree.write(&out, &|chart, rel| {
            !rel.starts_with("templates/") || format!("{chart}/{rel}").ends_with("b.yaml")
        })
        .unwrap();
        assert!(out.join("Chart.yaml").is_file());
        assert!(!out.join("templates/a.yaml").exists());
        assert!(out.join("charts/up-1.0.0/templates/b.yaml").is_file());
        assert!(out.join("charts/common/Chart.yaml").is_file());
    }
}
