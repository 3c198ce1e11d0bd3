//! The last render of each chart, keyed by everything that determines it (chart files and
//! archives, values files, flags, helm binary). `kalypso check` compares a fresh render with
//! the cached render of identical inputs instead of rendering every chart twice: the
//! determinism rule still compares two independent renders (from different runs, which also
//! catches time-dependent output), and an unchanged chart costs one helm run instead of two.
//! Lives under `<repo>/.cache/kalypso/renders/` (git-ignored); one file per component.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A directory of cached renders.
#[derive(Debug, Clone)]
pub struct RenderCache {
    dir: PathBuf,
}

fn hash_dir(h: &mut Sha256, root: &Path, dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        let rel = p
            .strip_prefix(root)
            .unwrap_or(&p)
            .to_string_lossy()
            .to_string();
        if p.is_dir() {
            hash_dir(h, root, &p);
        } else if let Ok(bytes) = std::fs::read(&p) {
            h.update(rel.as_bytes());
            h.update([0]);
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(&bytes);
        }
    }
}

impl RenderCache {
    /// The cache under `<root>/.cache/kalypso/renders`, created when missing; `None` when it
    /// cannot be created (a read-only checkout just renders twice).
    pub fn open(root: &Path) -> Option<RenderCache> {
        let dir = root.join(".cache/kalypso/renders");
        std::fs::create_dir_all(&dir).ok()?;
        Some(RenderCache { dir })
    }

    /// The key of a render: chart directory contents, the helm arguments that are not paths
    /// to temporary copies, the contents of values files, and the helm binary.
    pub fn key(
        chart_dir: &Path,
        args: &[String],
        values_files: &[PathBuf],
        helm: &Path,
        stand_ins: &[String],
    ) -> String {
        let mut h = Sha256::new();
        h.update(b"kalypso-render-v1\0");
        if let Ok(meta) = std::fs::metadata(helm) {
            h.update(helm.to_string_lossy().as_bytes());
            h.update(meta.len().to_le_bytes());
            if let Ok(modified) = meta.modified() {
                h.update(format!("{modified:?}").as_bytes());
            }
        }
        // The chart path argument may be a fresh temporary copy: hash its source instead.
        for (i, a) in args.iter().enumerate() {
            if i != 2 {
                h.update(a.as_bytes());
                h.update([0]);
            }
        }
        for f in values_files {
            if let Ok(bytes) = std::fs::read(f) {
                h.update(&bytes);
                h.update([0]);
            }
        }
        for s in stand_ins {
            h.update(s.as_bytes());
            h.update([1]);
        }
        hash_dir(&mut h, chart_dir, chart_dir);
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn file(&self, component: &str, key: &str) -> PathBuf {
        self.dir.join(format!("{component}--{key}.yaml"))
    }

    /// The cached render of `component` for `key`.
    pub fn get(&self, component: &str, key: &str) -> Option<String> {
        std::fs::read_to_string(self.file(component, key)).ok()
    }

    /// Stores a render, replacing older renders of the component.
    pub fn put(&self, component: &str, key: &str, text: &str) {
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            let prefix = format!("{component}--");
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let target = self.file(component, key);
        let tmp = target.with_extension("tmp");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &target);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_changes_with_the_chart_and_the_cache_keeps_one_render_per_component() {
        let dir = tempfile::tempdir().unwrap();
        let chart = dir.path().join("c");
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(chart.join("templates/a.yaml"), "a").unwrap();
        let args: Vec<String> = vec!["template".into(), "c".into(), "/tmp/x".into()];
        let other: Vec<String> = vec!["template".into(), "c".into(), "/tmp/y".into()];
        let k1 = RenderCache::key(&chart, &args, &[], Path::new("/nonexistent"), &[]);
        assert_eq!(
            k1,
            RenderCache::key(&chart, &other, &[], Path::new("/nonexistent"), &[])
        );
        std::fs::write(chart.join("templates/a.yaml"), "b").unwrap();
        let k2 = RenderCache::key(&chart, &args, &[], Path::new("/nonexistent"), &[]);
        assert_ne!(k1, k2);
        let cache = RenderCache::open(dir.path()).unwrap();
        cache.put("c", &k1, "one");
        cache.put("c", &k2, "two");
        assert_eq!(cache.get("c", &k1), None);
        assert_eq!(cache.get("c", &k2).as_deref(), Some("two"));
    }
}
