//! `kalypso canary` as the Deployment runs it: rounds against the fakes, per-signal metrics on
//! `/metrics`, `/healthz`, payloads a reader can rebuild, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::fakes::backends::{Behaviour, DataFakes};
use kalypso::verify::payload::Payload;

/// The canary process; killed if a test fails before stopping it.
struct Canary {
    child: Child,
    addr: String,
}

impl Drop for Canary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(flags: Vec<String>, instance: &str) -> Canary {
    let bin = assert_cmd::cargo::cargo_bin("kalypso");
    let mut child = Command::new(bin)
        .arg("canary")
        .args([
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "1s",
            "--read-timeout",
            "3s",
            "--instance",
            instance,
        ])
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start canary");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let addr = first.rsplit(' ').next().unwrap_or_default().to_string();
    assert!(
        first.contains("listening on"),
        "unexpected first line: {first}"
    );
    // Keep draining stderr so the canary never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Canary { child, addr }
}

fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1.0)
}

async fn scrape_until(addr: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = match reqwest::get(format!("http://{addr}/metrics")).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if ok(&text) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_exports_per_signal_metrics_and_stops_on_sigterm() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut f = DataFakes::start().await;
    // Pyroscope accepts profiles but never shows them: its reads count as missing.
    f.pyroscope = crate::fakes::backends::pyroscope(Behaviour {
        never_readable: true,
        ..Default::default()
    })
    .await;
    let mut canary = start(f.flags(), "test-canary");

    let health = reqwest::get(format!("http://{}/healthz", canary.addr))
        .await
        .expect("healthz");
    assert!(health.status().is_success());

    let text = scrape_until(&canary.addr, |t| {
        value(t, "kalypso_canary_reads_total{signal=\"traces\"}") >= 2.0
            && value(t, "kalypso_canary_missing_total{signal=\"profiles\"}") >= 1.0
    })
    .await;
    for signal in ["metrics", "logs", "traces"] {
        assert!(
            value(
                &text,
                &format!("kalypso_canary_writes_total{{signal=\"{signal}\"}}")
            ) >= 2.0,
            "{signal}\n{text}"
        );
        assert_eq!(
            value(
                &text,
                &format!("kalypso_canary_write_failures_total{{signal=\"{signal}\"}}")
            ),
            0.0,
            "{text}"
        );
        assert_eq!(
            value(
                &text,
                &format!("kalypso_canary_missing_total{{signal=\"{signal}\"}}")
            ),
            0.0,
            "{text}"
        );
        assert!(
            value(
                &text,
                &format!("kalypso_canary_e2e_latency_seconds_count{{signal=\"{signal}\"}}")
            ) >= 1.0,
            "{text}"
        );
    }
    assert!(
        value(&text, "kalypso_canary_missing_total{signal=\"profiles\"}") >= 1.0,
        "{text}"
    );
    assert!(
        text.contains("# TYPE kalypso_canary_e2e_latency_seconds histogram"),
        "{text}"
    );

    // A reader rebuilds what a round wrote from the instance id and the round number.
    {
        let loki = f.loki.state.lock().expect("lock");
        let (stream, _, _, line) = &loki.lines["kalypso"][0];
        assert_eq!(stream["canary_instance"], "test-canary");
        let round: u64 = line
            .split("round=")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|r| r.parse().ok())
            .expect("round");
        let rebuilt = Payload::canary("test-canary", round, std::time::UNIX_EPOCH);
        assert_eq!(line, &rebuilt.log_line);
        let tempo = f.tempo.state.lock().expect("lock");
        assert!(tempo.spans.contains_key(&rebuilt.trace_id_hex()));
    }

    // SIGTERM: the canary stops serving and exits 0.
    let pid = canary.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let code = loop {
        if let Some(s) = canary.child.try_wait().expect("wait") {
            break s.code();
        }
        assert!(
            Instant::now() < deadline,
            "canary did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_failures_are_counted_per_signal() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut f = DataFakes::start().await;
    f.mimir = crate::fakes::backends::mimir(Behaviour {
        write_error: Some((500, "ingester unavailable")),
        ..Default::default()
    })
    .await;
    let mut flags = f.flags();
    flags.extend(["--signals".to_string(), "metrics,logs".to_string()]);
    let canary = start(flags, "failing-canary");
    let text = scrape_until(&canary.addr, |t| {
        value(t, "kalypso_canary_write_failures_total{signal=\"metrics\"}") >= 2.0
    })
    .await;
    assert!(
        value(
            &text,
            "kalypso_canary_write_failures_total{signal=\"metrics\"}"
        ) >= 2.0,
        "{text}"
    );
    assert_eq!(
        value(&text, "kalypso_canary_reads_total{signal=\"metrics\"}"),
        0.0,
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "kalypso_canary_write_failures_total{signal=\"logs\"}"
        ),
        0.0,
        "{text}"
    );
    assert!(
        !text.contains("signal=\"traces\""),
        "only the asked-for signals are exported:\n{text}"
    );
}
