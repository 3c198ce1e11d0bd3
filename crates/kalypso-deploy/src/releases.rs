//! Helm release operations `up`, `down` and `status` need, run asynchronously with a deadline:
//! the version check, `status`, `get manifest`, `list`, `upgrade --install`, `uninstall`, and
//! which helm failures are transient.

use std::ffi::OsString;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;
use tokio::time::Instant;

use kalypso_model::error::usage;
use kalypso_render::helm::Helm;

/// The oldest helm kalypso drives: 3.8.0 made OCI registries generally available (no
/// `HELM_EXPERIMENTAL_OCI`), and kalypso-otel's cert-manager dependency comes from
/// `oci://quay.io/jetstack/charts`; it also has `uninstall --wait`. Helm 4 works too.
pub const MIN_HELM: (u64, u64, u64) = (3, 8, 0);

/// How long a short helm query (`status`, `list`, `get`) may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(120);

/// Parses `v3.22.0+g1234` / `v4.0.1` into (major, minor, patch).
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let t = text
        .trim()
        .trim_start_matches("version.BuildInfo{Version:\"")
        .trim_start_matches('v');
    let core: String = t
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((it.next()??, it.next()??, it.next().flatten().unwrap_or(0)))
}

/// Checks that helm runs and is at least [`MIN_HELM`]; returns its version string.
pub async fn ensure_supported(helm: &Helm) -> Result<String> {
    let out = run(
        helm,
        ["version", "--short"].map(OsString::from).to_vec(),
        Some(Instant::now() + QUERY_TIMEOUT),
        Duration::from_secs(2),
    )
    .await
    .with_context(|| format!("running {} version", helm.binary.display()))?;
    if !out.success() {
        return Err(usage(format!(
            "{} version failed: {}",
            helm.binary.display(),
            out.stderr.trim()
        )));
    }
    let v = out.stdout.trim().to_string();
    match parse_version(&v) {
        Some(found) if found >= MIN_HELM => Ok(v),
        Some(_) => Err(usage(format!(
            "helm {v} at {} is too old: kalypso needs helm {}.{}.{} or newer (OCI chart \
             repositories, `uninstall --wait`); install a current helm 3 or helm 4",
            helm.binary.display(),
            MIN_HELM.0,
            MIN_HELM.1,
            MIN_HELM.2
        ))),
        None => Err(usage(format!(
            "cannot tell the version of {} (it printed {v:?}); is it helm?",
            helm.binary.display()
        ))),
    }
}

/// How a helm run ended.
#[derive(Debug, Clone)]
pub struct HelmRun {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// True when kalypso stopped it at the deadline.
    pub timed_out: bool,
}

impl HelmRun {
    /// Exited 0.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// The last lines of stderr, for messages.
    pub fn stderr_tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Runs helm with `args`. At `deadline` it is asked to stop (SIGTERM: helm then marks the
/// release `failed` instead of leaving it `pending-*`), and killed `grace` later. When the
/// returned future is dropped early (kalypso interrupted), helm gets SIGTERM too, not SIGKILL,
/// for the same reason.
pub async fn run(
    helm: &Helm,
    args: Vec<OsString>,
    deadline: Option<Instant>,
    grace: Duration,
) -> Result<HelmRun> {
    let mut cmd = tokio::process::Command::from(helm.command(&args));
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", helm.binary.display()))?;
    let mut guard = TermOnDrop(child.id());
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let read_out = async move {
        let mut s = Vec::new();
        if let Some(o) = stdout.as_mut() {
            let _ = tokio::io::AsyncReadExt::read_to_end(o, &mut s).await;
        }
        s
    };
    let read_err = async move {
        let mut s = Vec::new();
        if let Some(e) = stderr.as_mut() {
            let _ = tokio::io::AsyncReadExt::read_to_end(e, &mut s).await;
        }
        s
    };
    let out_task = tokio::spawn(read_out);
    let err_task = tokio::spawn(read_err);
    let mut timed_out = false;
    let status = match deadline {
        None => child.wait().await?,
        Some(d) => {
            tokio::select! {
                s = child.wait() => s?,
                _ = tokio::time::sleep_until(d) => {
                    timed_out = true;
                    terminate(&child);
                    match tokio::time::timeout(grace, child.wait()).await {
                        Ok(s) => s?,
                        Err(_) => {
                            let _ = child.start_kill();
                            child.wait().await?
                        }
                    }
                }
            }
        }
    };
    // Reaped: the pid is no longer ours to signal.
    guard.0 = None;
    // A grandchild holding the pipes open must not keep us waiting.
    let stdout = tokio::time::timeout(Duration::from_secs(5), out_task)
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or_default();
    let stderr = tokio::time::timeout(Duration::from_secs(5), err_task)
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or_default();
    Ok(HelmRun {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        timed_out,
    })
}

/// Sends SIGTERM to a helm that is still running when its future is dropped.
struct TermOnDrop(Option<u32>);

impl Drop for TermOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            sigterm(pid);
        }
    }
}

fn terminate(child: &tokio::process::Child) {
    if let Some(pid) = child.id() {
        sigterm(pid);
    }
}

#[cfg(unix)]
fn sigterm(pid: u32) {
    // SAFETY: kill(2) on a child we spawned and have not reaped yet, so the pid is still ours;
    // no memory is involved.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}

#[cfg(not(unix))]
fn sigterm(_pid: u32) {}

/// Helm failures that mean "an admission webhook is not serving yet": on a fresh install
/// cert-manager's or the OTel operator's webhook Pods may be Ready a moment before the API
/// server can reach them, or before cainjector has written the CA. Retried with backoff.
pub const TRANSIENT_PATTERNS: &[&str] = &[
    "failed calling webhook",
    "failed to call webhook",
    "connection refused",
    "no endpoints available for service",
    "x509: certificate signed by unknown authority",
];

/// The transient pattern `stderr` matches, if any.
pub fn transient_cause(stderr: &str) -> Option<&'static str> {
    TRANSIENT_PATTERNS
        .iter()
        .copied()
        .find(|p| stderr.contains(p))
}

/// A release as `helm status -o json` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseState {
    /// `deployed`, `failed`, `pending-install`, `pending-upgrade`, `superseded`, …
    pub status: String,
    /// The description of the last revision (carries kalypso's digest).
    pub description: String,
    /// Chart version of the last revision.
    pub chart_version: String,
    /// Revision number.
    pub revision: u64,
}

#[derive(Deserialize)]
struct StatusJson {
    #[serde(default)]
    info: StatusInfo,
    #[serde(default)]
    chart: Option<StatusChart>,
    #[serde(default)]
    version: u64,
}
#[derive(Deserialize, Default)]
struct StatusInfo {
    #[serde(default)]
    status: String,
    #[serde(default)]
    description: String,
}
#[derive(Deserialize)]
struct StatusChart {
    #[serde(default)]
    metadata: Option<StatusChartMeta>,
}
#[derive(Deserialize)]
struct StatusChartMeta {
    #[serde(default)]
    version: String,
}

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

fn is_not_found(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    s.contains("not found")
}

/// `helm status <name> -n <ns> -o json`; `None` when the release does not exist.
pub async fn release_state(
    helm: &Helm,
    name: &str,
    namespace: &str,
) -> Result<Option<ReleaseState>> {
    let out = run(
        helm,
        args(&["status", name, "--namespace", namespace, "--output", "json"]),
        Some(Instant::now() + QUERY_TIMEOUT),
        Duration::from_secs(2),
    )
    .await?;
    if !out.success() {
        if is_not_found(&out.stderr) {
            return Ok(None);
        }
        anyhow::bail!(
            "helm status {name} -n {namespace} failed: {}",
            out.stderr_tail(5)
        );
    }
    let s: StatusJson = serde_json::from_str(&out.stdout)
        .with_context(|| format!("helm status {name} -n {namespace} printed no release JSON"))?;
    Ok(Some(ReleaseState {
        status: s.info.status,
        description: s.info.description,
        chart_version: s
            .chart
            .and_then(|c| c.metadata)
            .map(|m| m.version)
            .unwrap_or_default(),
        revision: s.version,
    }))
}

/// `helm get manifest <name> -n <ns>`.
pub async fn manifest(helm: &Helm, name: &str, namespace: &str) -> Result<String> {
    let out = run(
        helm,
        args(&["get", "manifest", name, "--namespace", namespace]),
        Some(Instant::now() + QUERY_TIMEOUT),
        Duration::from_secs(2),
    )
    .await?;
    if !out.success() {
        anyhow::bail!(
            "helm get manifest {name} -n {namespace} failed: {}",
            out.stderr_tail(5)
        );
    }
    Ok(out.stdout)
}

/// One row of `helm list -o json`.
#[derive(Debug, Clone, Deserialize)]
pub struct ListedRelease {
    /// Release name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// `deployed`, `failed`, …
    #[serde(default)]
    pub status: String,
    /// `<chart>-<version>`.
    #[serde(default)]
    pub chart: String,
}

impl ListedRelease {
    /// The chart version out of `<chart>-<version>` (the version is the part after the last `-`
    /// that starts with a digit or `v`).
    pub fn chart_version(&self) -> String {
        let parts: Vec<&str> = self.chart.split('-').collect();
        for i in 1..parts.len() {
            let p = parts[i];
            if p.starts_with(|c: char| c.is_ascii_digit())
                || (p.starts_with('v') && p[1..].starts_with(|c: char| c.is_ascii_digit()))
            {
                return parts[i..].join("-");
            }
        }
        String::new()
    }
}

/// `helm list --all --all-namespaces -o json` (all states, so failed and pending show).
pub async fn list_all(helm: &Helm) -> Result<Vec<ListedRelease>> {
    let out = run(
        helm,
        args(&[
            "list",
            "--all",
            "--all-namespaces",
            "--max",
            "0",
            "--output",
            "json",
        ]),
        Some(Instant::now() + QUERY_TIMEOUT),
        Duration::from_secs(2),
    )
    .await?;
    if !out.success() {
        anyhow::bail!("helm list failed: {}", out.stderr_tail(5));
    }
    let text = out.stdout.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).context("helm list printed no JSON list")
}

/// `helm uninstall <name> -n <ns> --wait --timeout <t>`.
pub async fn uninstall(
    helm: &Helm,
    name: &str,
    namespace: &str,
    timeout: Duration,
) -> Result<HelmRun> {
    let t = format!("{}s", timeout.as_secs().max(1));
    run(
        helm,
        args(&[
            "uninstall",
            name,
            "--namespace",
            namespace,
            "--wait",
            "--timeout",
            &t,
        ]),
        Some(Instant::now() + timeout + Duration::from_secs(30)),
        Duration::from_secs(10),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_versions_parse_and_compare() {
        assert_eq!(parse_version("v3.22.0+gabc"), Some((3, 22, 0)));
        assert_eq!(parse_version("v4.0.1"), Some((4, 0, 1)));
        assert!(parse_version("v3.7.2+g663a896").unwrap() < MIN_HELM);
        assert_eq!(parse_version("nonsense"), None);
    }

    #[test]
    fn webhook_not_serving_is_transient_and_a_template_error_is_not() {
        assert_eq!(
            transient_cause("Error: Internal error occurred: failed calling webhook \"webhook.cert-manager.io\": connect: connection refused"),
            Some("failed calling webhook")
        );
        assert_eq!(
            transient_cause("Error: template: x.yaml:3: function \"nope\" not defined"),
            None
        );
    }

    #[test]
    fn chart_version_comes_out_of_the_list_chart_column() {
        let r = |chart: &str| ListedRelease {
            name: "x".into(),
            namespace: "y".into(),
            status: "deployed".into(),
            chart: chart.into(),
        };
        assert_eq!(r("kalypso-otel-0.1.0").chart_version(), "0.1.0");
        assert_eq!(r("cert-manager-v1.21.1").chart_version(), "v1.21.1");
    }
}
