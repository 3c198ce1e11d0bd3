//! Helpers shared by the integration tests: the repository root, repository copies, visible
//! SKIP lines.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The repository root (two levels above the crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// Prints a SKIP line on the real stderr: the test harness captures `println!` of passing
/// tests, and a skipped check must be visible in CI's log.
pub fn skip(line: &str) {
    let _ = writeln!(std::io::stderr(), "SKIP: {line}");
}

/// Copies the repository's stack (argocd/, charts/ without upstream archives, the policy)
/// into a temporary directory.
pub fn copy_repo() -> tempfile::TempDir {
    let root = repo_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    for dir in ["argocd", "charts"] {
        copy_dir(&root.join(dir), &tmp.path().join(dir));
    }
    let policy = root.join("kalypso-policy.yaml");
    if policy.is_file() {
        std::fs::copy(&policy, tmp.path().join("kalypso-policy.yaml")).expect("copy policy");
    }
    tmp
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        let name = e.file_name().to_string_lossy().to_string();
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else if !name.ends_with(".tgz") {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// Replaces `from` by `to` in a file of a repository copy; panics when `from` is absent so a
/// mutation test never passes vacuously.
pub fn mutate(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(
        text.contains(from),
        "{file} does not contain {from:?}: the test is out of date"
    );
    std::fs::write(&path, text.replace(from, to)).expect("write");
}
