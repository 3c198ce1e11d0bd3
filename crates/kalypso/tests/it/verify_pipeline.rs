//! `kalypso verify` against fakes that speak the real wire formats: every signal round-trips,
//! the content written is what the fakes decoded, and the binary's exit code and output say
//! which signal failed when one does.

use std::time::Duration;

use crate::fakes::backends::{options, row, Behaviour, DataFakes};
use assert_cmd::Command;
use kalypso::verify::probe::Status;
use kalypso::verify::Signal;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signal_written_is_read_back_with_its_content() {
    let f = DataFakes::start().await;
    let report = kalypso::verify::run(&options(&f, &Signal::DATA, Duration::from_secs(10))).await;
    assert!(report.passed, "{}", report.to_table(false));
    assert_eq!(report.exit_code(), 0);
    for s in ["metrics", "logs", "traces", "profiles"] {
        assert_eq!(row(&report, &format!("{s}/write")).status, Status::Pass);
        let read = row(&report, &format!("{s}/read"));
        assert_eq!(read.status, Status::Pass);
        assert!(read.latency.is_some());
    }

    // What the fakes decoded is what verify meant to write, tagged with the run id.
    let run_id = report.run_id.clone();
    let mimir = f.mimir.state.lock().expect("lock");
    let (labels, _, _) = &mimir.samples["kalypso"][0];
    assert_eq!(labels["__name__"], "kalypso_verify_probe");
    assert_eq!(labels["run_id"], run_id);
    let loki = f.loki.state.lock().expect("lock");
    let (stream, _, _, line) = &loki.lines["kalypso"][0];
    assert_eq!(stream["run_id"], run_id);
    assert!(line.contains(&run_id));
    let tempo = f.tempo.state.lock().expect("lock");
    let spans = tempo.spans.values().next().expect("a trace");
    assert!(spans[0]
        .1
        .contains(&("kalypso.verify.id".to_string(), run_id.clone())));
    assert!(spans[0]
        .0
        .contains(&("service.name".to_string(), "kalypso-verify".to_string())));
    let pyro = f.pyroscope.state.lock().expect("lock");
    let (kind, functions, total) = &pyro.profiles[&format!("kalypso-verify-{run_id}")];
    assert_eq!(kind, "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
    assert_eq!(functions[0], format!("kalypso_verify_probe_{run_id}"));
    assert_eq!(*total, 5 * 10_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_sent_as_otlp_are_read_back_through_structured_metadata() {
    let f = DataFakes::start().await;
    let mut opts = options(&f, &[Signal::Logs], Duration::from_secs(10));
    opts.endpoints.logs_write =
        Some(reqwest::Url::parse(&f.loki.url("/otlp/v1/logs")).expect("url"));
    let report = kalypso::verify::run(&opts).await;
    assert!(report.passed, "{}", report.to_table(false));
    let loki = f.loki.state.lock().expect("lock");
    let (stream, meta, _, _) = &loki.lines["kalypso"][0];
    assert_eq!(stream["service_name"], "kalypso-verify");
    assert_eq!(meta["run_id"], report.run_id);
}

fn run_binary(args: Vec<String>) -> std::process::Output {
    Command::cargo_bin("kalypso")
        .expect("binary")
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_a_table_and_exits_0_when_everything_passed() {
    let f = DataFakes::start().await;
    let mut args = vec![
        "verify".to_string(),
        "--signals".into(),
        "metrics,logs,traces,profiles".into(),
        "--read-timeout".into(),
        "10s".into(),
    ];
    args.extend(f.flags());
    let out = tokio::task::spawn_blocking(move || run_binary(args))
        .await
        .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for check in [
        "metrics/write",
        "metrics/read",
        "logs/read",
        "traces/read",
        "profiles/read",
    ] {
        assert!(stdout.contains(check), "{check} missing:\n{stdout}");
    }
    assert!(stdout.contains("all 8 checks passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broken_signal_fails_the_run_and_the_json_names_it() {
    let mut f = DataFakes::start().await;
    f.tempo = crate::fakes::backends::tempo(Behaviour {
        write_error: Some((503, "DoBatch: InstancesCount <= 0")),
        ..Default::default()
    })
    .await;
    let mut args = vec![
        "verify".to_string(),
        "--signals".into(),
        "metrics,logs,traces,profiles".into(),
        "--output".into(),
        "json".into(),
        "--read-timeout".into(),
        "10s".into(),
    ];
    args.extend(f.flags());
    let out = tokio::task::spawn_blocking(move || run_binary(args))
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json output");
    assert_eq!(json["passed"], false);
    let checks = json["checks"].as_array().expect("checks");
    let by = |name: &str| {
        checks
            .iter()
            .find(|c| c["check"] == name)
            .cloned()
            .expect("row")
    };
    assert_eq!(by("traces/write")["status"], "fail");
    let reason = by("traces/write")["reason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        reason.contains("HTTP 503") && reason.contains("DoBatch"),
        "{reason}"
    );
    assert_eq!(by("traces/read")["status"], "skip");
    for ok in ["metrics/read", "logs/read", "profiles/read"] {
        assert_eq!(by(ok)["status"], "pass", "{ok}");
    }
}
