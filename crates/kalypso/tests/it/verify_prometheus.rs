//! The metrics probe against a real Prometheus (Debian's `prometheus` package) with its
//! remote-write receiver on: the sample is written by remote write and read back by PromQL.
//! Prints `SKIP: prometheus not installed` and passes when the binary is absent.

/// passing tests, and a skipped check must be visible in CI's log.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::fakes::backends::{closed_port, options, row, DataFakes};
use kalypso::verify::probe::Status;
use kalypso::verify::Signal;

pub(crate) fn prometheus_binary() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/bin/prometheus");
    if debian.is_file() {
        return Some(debian);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join("prometheus"))
        .find(|p| p.is_file())
}

/// A Prometheus on a free loopback port; killed when dropped.
pub(crate) struct Prometheus {
    child: Child,
    pub(crate) port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bin` with `config` (YAML) and `flags`, and waits until it is ready.
pub(crate) async fn start_prometheus(bin: &Path, config: &str, flags: &[&str]) -> Prometheus {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_file = dir.path().join("prometheus.yml");
    std::fs::write(&config_file, config).expect("config");
    let port = closed_port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let prom = Prometheus {
        child,
        port,
        _dir: dir,
    };
    let ready = format!("http://127.0.0.1:{port}/-/ready");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(&ready).await {
            if r.status().is_success() {
                return prom;
            }
        }
        assert!(
            Instant::now() < deadline,
            "prometheus did not become ready on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn url(s: String) -> Option<reqwest::Url> {
    Some(reqwest::Url::parse(&s).expect("url"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_remote_written_to_prometheus_is_read_back_by_promql() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(bin) = prometheus_binary() else {
        crate::support::skip("prometheus not installed");
        return;
    };
    let prom = start_prometheus(
        &bin,
        "global:\n  scrape_interval: 15s\nscrape_configs: []\n",
        &["--web.enable-remote-write-receiver"],
    )
    .await;
    let base = format!("http://127.0.0.1:{}", prom.port);
    let f = DataFakes::start().await;
    let mut opts = options(&f, &[Signal::Metrics], Duration::from_secs(30));
    opts.endpoints.metrics_write = url(format!("{base}/api/v1/write"));
    opts.endpoints.metrics_query = url(base.clone());
    let report = kalypso::verify::run(&opts).await;
    assert!(report.passed, "{}", report.to_table(false));
    assert!(row(&report, "metrics/read").latency.is_some());

    // Prometheus really holds the series, with the run id label.
    let q = format!("{base}/api/v1/query?query=kalypso_verify_probe");
    let body: serde_json::Value = reqwest::get(&q)
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    let result = &body["data"]["result"];
    assert!(
        result
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["metric"]["run_id"] == report.run_id.as_str()),
        "{body}"
    );

    // An endpoint where nothing listens is reported as unreachable, the peer still works.
    let mut opts = options(&f, &[Signal::Metrics], Duration::from_secs(5));
    opts.endpoints.metrics_write = url(format!("http://127.0.0.1:{}/api/v1/write", closed_port()));
    opts.endpoints.metrics_query = url(base.clone());
    let report = kalypso::verify::run(&opts).await;
    let w = row(&report, "metrics/write");
    assert_eq!(w.status, Status::Fail);
    assert!(
        w.reason
            .as_deref()
            .unwrap_or("")
            .starts_with("unreachable: "),
        "{:?}",
        w.reason
    );

    // A query URL with the wrong base (Mimir-style /prometheus on plain Prometheus) is a 404, named.
    let mut opts = options(&f, &[Signal::Metrics], Duration::from_secs(2));
    opts.endpoints.metrics_write = url(format!("{base}/api/v1/write"));
    opts.endpoints.metrics_query = url(format!("{base}/prometheus"));
    let report = kalypso::verify::run(&opts).await;
    let r = row(&report, "metrics/read")
        .reason
        .clone()
        .unwrap_or_default();
    assert!(r.contains("HTTP 404 Not Found"), "{r}");
}
