//! The last render of each chart, keyed by everything that determines it (the release
//! fingerprint of [`crate::release::ReleaseSpec`], plus the helm binary and the stand-ins). `kalypso check` compares a fresh render with
//! the cached render of identical inputs instead of rendering every chart twice: the
//! determinism rule still compares two independent renders (from different runs, which also
//! catches time-dependent output), and an unchanged chart costs one helm run instead of two.
//! Lives under `<repo>/.cache/kalypso/renders/` (git-ignored); one file per component.

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
    fn the_cache_keeps_one_render_per_component() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RenderCache::open(dir.path()).unwrap();
        cache.put("c", "k1", "one");
        cache.put("c", "k2", "two");
        assert_eq!(cache.get("c", "k1"), None);
        assert_eq!(cache.get("c", "k2").as_deref(), Some("two"));
    }
}
