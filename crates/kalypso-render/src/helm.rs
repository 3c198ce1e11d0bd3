//! Finding and running the `helm` binary (3.x or 4.x). Everything else kalypso does itself.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result};

use kalypso_model::error::usage;

/// A located helm binary.
#[derive(Debug, Clone)]
pub struct Helm {
    pub binary: PathBuf,
    /// Flags added to every call: the cluster choice (`--kubeconfig`, `--kube-context`) of the
    /// commands that talk to a cluster, so helm and kalypso's own client see the same one.
    pub kube_args: Vec<std::ffi::OsString>,
}

impl Helm {
    /// Finds helm: `$KALYPSO_HELM`, then `helm` on PATH, then the copy `.ci/run`
    /// installs under `<root>/.cache/bin`.
    pub fn locate(root: &Path) -> Result<Helm> {
        if let Some(p) = std::env::var_os("KALYPSO_HELM") {
            let binary = PathBuf::from(p);
            if binary.is_file() {
                return Ok(Helm {
                    binary,
                    kube_args: Vec::new(),
                });
            }
            return Err(usage(format!(
                "KALYPSO_HELM={} is not a file",
                binary.display()
            )));
        }
        if let Some(paths) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&paths) {
                let cand = dir.join("helm");
                if cand.is_file() {
                    return Ok(Helm {
                        binary: cand,
                        kube_args: Vec::new(),
                    });
                }
            }
        }
        let cached = root.join(".cache/bin/helm");
        if cached.is_file() {
            return Ok(Helm {
                binary: cached,
                kube_args: Vec::new(),
            });
        }
        Err(usage(
            "helm is not installed: put helm 3.x or 4.x on PATH (or set KALYPSO_HELM); \
             `bash .ci/run` installs one under .cache/bin",
        ))
    }

    /// A `Command` for this helm with `args`.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new(&self.binary);
        c.args(args);
        c.args(&self.kube_args);
        c
    }

    /// This helm with `args` added to every call (see [`Helm::kube_args`]).
    pub fn with_kube_args(mut self, args: Vec<std::ffi::OsString>) -> Helm {
        self.kube_args = args;
        self
    }

    /// Runs helm and returns its output; a failure to start is an error, a non-zero exit is not.
    pub fn output<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command(args)
            .output()
            .with_context(|| format!("running {}", self.binary.display()))
    }

    /// What identifies this binary for caching: its path, size and modification time.
    pub fn identity(&self) -> String {
        let meta = std::fs::metadata(&self.binary);
        format!(
            "{} {} {:?}",
            self.binary.display(),
            meta.as_ref().map(|m| m.len()).unwrap_or(0),
            meta.and_then(|m| m.modified()).ok()
        )
    }

    /// `helm version --short`, e.g. `v3.22.0+g…`.
    pub fn version(&self) -> Result<String> {
        let out = self.output(["version", "--short"])?;
        if !out.status.success() {
            return Err(usage(format!(
                "{} version failed: {}",
                self.binary.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}
