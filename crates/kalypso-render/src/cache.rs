//! The last render of each chart, keyed by everything that determines it (the release
//! fingerprint of [`kalypso_model::release::ReleaseSpec`]: chart files, upstream archives, values
//! files, `--set` strings, namespace and Kubernetes version; plus the helm binary and the
//! stand-ins). Lives under `<repo>/.cache/kalypso/renders/` (git-ignored), one file per
//! component, with a `.verified` marker when the run that stored it found those inputs render
//! the same text twice.
//!
//! `kalypso check` uses it like a build cache: a chart whose inputs are unchanged since a
//! verified render is not rendered again (its rules run on the cached text); a cached render
//! that was not verified stands in for the second pass of the determinism rule (two renders
//! from different runs, which also catches time-dependent output). `--no-cache` renders every
//! chart again (twice, for the determinism rule).

use std::path::{Path, PathBuf};

/// A directory of cached renders.
#[derive(Debug, Clone)]
pub struct RenderCache {
    dir: PathBuf,
}

impl RenderCache {
    /// The cache under `<root>/.cache/kalypso/renders`, created when missing; `None` when it
    /// cannot be created (a read-only checkout just renders twice).
    pub fn open(root: &Path) -> Option<RenderCache> {
        let dir = root.join(".cache/kalypso/renders");
        std::fs::create_dir_all(&dir).ok()?;
        Some(RenderCache { dir })
    }

    fn file(&self, component: &str, key: &str) -> PathBuf {
        self.dir.join(format!("{component}--{key}.yaml"))
    }

    fn marker(&self, component: &str, key: &str) -> PathBuf {
        self.dir.join(format!("{component}--{key}.verified"))
    }

    /// The cached render of `component` for `key`, and whether it was verified (two renders
    /// of these inputs were identical).
    pub fn get(&self, component: &str, key: &str) -> Option<(String, bool)> {
        let text = std::fs::read_to_string(self.file(component, key)).ok()?;
        Some((text, self.marker(component, key).is_file()))
    }

    /// Stores a render, replacing older renders of the component; `verified` when two
    /// renders of these inputs gave this text.
    pub fn put(&self, component: &str, key: &str, text: &str, verified: bool) {
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
        if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, &target).is_ok() && verified
        {
            let _ = std::fs::write(self.marker(component, key), "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_one_render_per_component() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RenderCache::open(dir.path()).unwrap();
        cache.put("c", "k1", "one", true);
        cache.put("c", "k2", "two", false);
        assert_eq!(cache.get("c", "k1"), None);
        assert_eq!(cache.get("c", "k2"), Some(("two".to_string(), false)));
        assert_eq!(
            std::fs::read_dir(&cache.dir).unwrap().count(),
            1,
            "old marker removed"
        );
        cache.put("c", "k2", "two", true);
        assert_eq!(cache.get("c", "k2"), Some(("two".to_string(), true)));
    }
}
