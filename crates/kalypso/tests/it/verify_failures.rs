//! Every way a signal can fail is reported precisely: unreachable, 401/403, 429/5xx, a write
//! that hangs, data that never becomes readable, content that does not match, a missing or
//! dropped tenant. No panic, and the other signals still pass.

use std::time::{Duration, Instant};

use crate::fakes::backends::{closed_port, options, row, Behaviour, DataFakes};
use kalypso::verify::probe::Status;
use kalypso::verify::Signal;

fn url(s: String) -> Option<reqwest::Url> {
    Some(reqwest::Url::parse(&s).expect("url"))
}

fn reason(r: &kalypso::verify::probe::CheckResult) -> String {
    r.reason.clone().unwrap_or_default()
}

#[tokio::test]
async fn an_unreachable_endpoint_is_named_and_the_others_still_pass() {
    let f = DataFakes::start().await;
    let mut opts = options(&f, &Signal::DATA, Duration::from_secs(10));
    let port = closed_port();
    opts.endpoints.logs_write = url(format!("http://127.0.0.1:{port}/loki/api/v1/push"));
    let report = kalypso::verify::run(&opts).await;
    assert_eq!(report.exit_code(), 1);
    let w = row(&report, "logs/write");
    assert_eq!(w.status, Status::Fail);
    assert!(
        reason(w).starts_with(&format!(
            "unreachable: http://127.0.0.1:{port}/loki/api/v1/push"
        )),
        "{}",
        reason(w)
    );
    assert_eq!(row(&report, "logs/read").status, Status::Skip);
    for ok in ["metrics/read", "traces/read", "profiles/read"] {
        assert_eq!(row(&report, ok).status, Status::Pass, "{ok}");
    }
}

#[tokio::test]
async fn a_missing_tenant_is_reported_as_mimirs_401_no_org_id() {
    let f = DataFakes::start().await;
    let mut opts = options(&f, &[Signal::Metrics, Signal::Logs], Duration::from_secs(5));
    opts.tenants.metrics = String::new();
    opts.tenants.logs = String::new();
    let report = kalypso::verify::run(&opts).await;
    let w = row(&report, "metrics/write");
    assert_eq!(
        reason(w),
        format!(
            "HTTP 401 Unauthorized from {}: no org id",
            f.mimir.url("/api/v1/push")
        )
    );
    assert!(reason(row(&report, "logs/write")).contains("HTTP 401 Unauthorized"));
}

#[tokio::test]
async fn a_gateway_that_drops_the_tenant_leaves_the_sample_unreadable_in_ours() {
    let mut f = DataFakes::start().await;
    f.mimir = crate::fakes::backends::mimir(Behaviour {
        drop_tenant: true,
        ..Default::default()
    })
    .await;
    let report =
        kalypso::verify::run(&options(&f, &[Signal::Metrics], Duration::from_secs(2))).await;
    assert_eq!(row(&report, "metrics/write").status, Status::Pass);
    let r = row(&report, "metrics/read");
    assert_eq!(r.status, Status::Fail);
    let text = reason(r);
    assert!(
        text.starts_with("timeout: not readable within 2s"),
        "{text}"
    );
    assert!(
        text.contains("no series kalypso_verify_probe{run_id=\""),
        "{text}"
    );
    // The sample landed, but in the wrong tenant.
    assert!(f
        .mimir
        .state
        .lock()
        .expect("lock")
        .samples
        .contains_key("anonymous"));
}

#[tokio::test]
async fn a_wrong_grafana_password_is_a_401_and_the_rest_is_skipped() {
    let addr =
        crate::fakes::backends::grafana(crate::fakes::backends::GrafanaSetup::default()).await;
    let f = DataFakes::start().await;
    let mut opts = options(&f, &[Signal::Grafana], Duration::from_secs(5));
    opts.endpoints.grafana = url(format!("http://{addr}"));
    opts.grafana_password = Some("wrong".into());
    let report = kalypso::verify::run(&opts).await;
    assert_eq!(row(&report, "grafana/health").status, Status::Pass);
    let login = row(&report, "grafana/login");
    assert!(
        reason(login).contains("HTTP 401 Unauthorized"),
        "{}",
        reason(login)
    );
    assert!(reason(login).contains("Invalid username or password"));
    assert_eq!(row(&report, "grafana/datasources").status, Status::Skip);
}

#[tokio::test]
async fn a_forbidden_read_fails_at_once_instead_of_waiting_for_the_deadline() {
    let mut f = DataFakes::start().await;
    f.loki = crate::fakes::backends::loki(Behaviour {
        read_error: Some((403, "forbidden: tenant kalypso")),
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    let report = kalypso::verify::run(&options(&f, &[Signal::Logs], Duration::from_secs(30))).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        reason(row(&report, "logs/read")).contains("HTTP 403 Forbidden"),
        "{:?}",
        report.checks
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_quote_status_and_body() {
    let mut f = DataFakes::start().await;
    f.loki = crate::fakes::backends::loki(Behaviour {
        write_error: Some((
            429,
            "Ingestion rate limit exceeded for user kalypso (limit: 4194304 bytes/sec)",
        )),
        ..Default::default()
    })
    .await;
    f.pyroscope = crate::fakes::backends::pyroscope(Behaviour {
        read_error: Some((500, "querier: backend unavailable")),
        ..Default::default()
    })
    .await;
    let report = kalypso::verify::run(&options(
        &f,
        &[Signal::Logs, Signal::Profiles],
        Duration::from_secs(2),
    ))
    .await;
    let logs = reason(row(&report, "logs/write"));
    assert!(
        logs.starts_with("HTTP 429 Too Many Requests")
            && logs.contains("Ingestion rate limit exceeded"),
        "{logs}"
    );
    let prof = reason(row(&report, "profiles/read"));
    assert!(
        prof.contains("last answer: HTTP 500 Internal Server Error")
            && prof.contains("querier: backend unavailable"),
        "{prof}"
    );
}

#[tokio::test]
async fn a_write_that_hangs_times_out() {
    let mut f = DataFakes::start().await;
    f.tempo = crate::fakes::backends::tempo(Behaviour {
        write_delay: Some(Duration::from_secs(30)),
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    let report =
        kalypso::verify::run(&options(&f, &[Signal::Traces], Duration::from_secs(1))).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let w = reason(row(&report, "traces/write"));
    assert_eq!(
        w,
        format!(
            "timeout: no answer from {} within 1s",
            f.tempo.url("/v1/traces")
        )
    );
}

#[tokio::test]
async fn data_that_never_shows_up_times_out_naming_the_last_answer() {
    let mut f = DataFakes::start().await;
    f.tempo = crate::fakes::backends::tempo(Behaviour {
        never_readable: true,
        ..Default::default()
    })
    .await;
    let report =
        kalypso::verify::run(&options(&f, &[Signal::Traces], Duration::from_secs(1))).await;
    let r = reason(row(&report, "traces/read"));
    assert!(
        r.starts_with("timeout: not readable within 1s; last answer: HTTP 404 Not Found"),
        "{r}"
    );
    assert!(r.contains("trace not found"), "{r}");
}

#[tokio::test]
async fn content_that_does_not_match_names_expected_and_got() {
    let f = DataFakes {
        mimir: crate::fakes::backends::mimir(Behaviour {
            corrupt: true,
            ..Default::default()
        })
        .await,
        loki: crate::fakes::backends::loki(Behaviour {
            corrupt: true,
            ..Default::default()
        })
        .await,
        tempo: crate::fakes::backends::tempo(Behaviour {
            corrupt: true,
            ..Default::default()
        })
        .await,
        pyroscope: crate::fakes::backends::pyroscope(Behaviour {
            corrupt: true,
            ..Default::default()
        })
        .await,
    };
    let report = kalypso::verify::run(&options(&f, &Signal::DATA, Duration::from_secs(1))).await;
    assert_eq!(report.exit_code(), 1);
    for s in ["metrics", "logs", "traces", "profiles"] {
        let r = reason(row(&report, &format!("{s}/read")));
        assert!(r.starts_with("content mismatch: expected"), "{s}: {r}");
        assert!(
            r.contains(", got ") && r.ends_with("(still after 1s)"),
            "{s}: {r}"
        );
    }
    assert!(reason(row(&report, "traces/read")).contains("someone-else"));
    assert!(reason(row(&report, "logs/read")).contains("(tampered)"));
}

#[tokio::test]
async fn a_logs_url_the_tool_cannot_classify_is_a_setup_failure_not_a_panic() {
    let f = DataFakes::start().await;
    let mut opts = options(&f, &[Signal::Logs], Duration::from_secs(1));
    opts.endpoints.logs_write = url(f.loki.url("/push"));
    let report = kalypso::verify::run(&opts).await;
    assert!(reason(row(&report, "logs/write")).contains("cannot tell the log write format"));
}

/// A server that answers every request with 500 and echoes the request target (path and query)
/// in the body, as some proxies do.
async fn echoing_500() -> std::net::SocketAddr {
    let app = axum::Router::new().fallback(|uri: axum::http::Uri| async move {
        (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed {uri}"),
        )
    });
    crate::fakes::serve(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_or_query_token_is_printed_for_a_failing_or_refused_endpoint() {
    let addr = echoing_500().await;
    let closed = closed_port();
    let base = |output: &str, verbose: &str| {
        vec![
            "verify".to_string(),
            verbose.into(),
            "-o".into(),
            output.into(),
            "--signals".into(),
            "metrics,logs".into(),
            "--read-timeout".into(),
            "3s".into(),
            "--metrics-write-url".into(),
            format!("http://user:secret@{addr}/api/v1/push?token=tokXYZ"),
            "--metrics-query-url".into(),
            format!("http://user:secret@{addr}/prometheus?token=tokXYZ"),
            "--logs-write-url".into(),
            format!("http://user:secret@127.0.0.1:{closed}/loki/api/v1/push?token=tokXYZ"),
            "--logs-query-url".into(),
            format!("http://user:secret@127.0.0.1:{closed}/?token=tokXYZ"),
        ]
    };
    for (output, verbose) in [("json", "-v"), ("table", "-vv")] {
        let args = base(output, verbose);
        let out = tokio::task::spawn_blocking(move || {
            assert_cmd::Command::cargo_bin("kalypso")
                .expect("binary")
                .args(args)
                .timeout(Duration::from_secs(60))
                .output()
                .expect("run")
        })
        .await
        .expect("join");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        let all = format!("{stdout}\n{stderr}");
        assert!(all.contains("HTTP 500"), "{all}");
        assert!(all.contains("unreachable"), "{all}");
        assert!(
            all.contains(&format!("http://user:***@{addr}/api/v1/push")),
            "{all}"
        );
        assert!(!all.contains("secret"), "{all}");
        assert!(!all.contains("tokXYZ"), "{all}");
    }
}

/// A server that knows no path: 404 with Go's default body, as a wrong prefix gets.
async fn no_such_path() -> std::net::SocketAddr {
    let app = axum::Router::new()
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "404 page not found") });
    crate::fakes::serve(app).await
}

#[tokio::test]
async fn a_read_url_with_a_wrong_path_fails_at_once_naming_the_url_and_404() {
    let f = DataFakes::start().await;
    let wrong = no_such_path().await;
    let mut opts = options(
        &f,
        &[
            Signal::Metrics,
            Signal::Logs,
            Signal::Traces,
            Signal::Profiles,
        ],
        Duration::from_secs(30),
    );
    opts.endpoints.metrics_query = url(format!("http://u:secret@{wrong}/wrong?token=tokXYZ"));
    opts.endpoints.logs_query = url(format!("http://{wrong}/wrong"));
    opts.endpoints.traces_query = url(format!("http://{wrong}/wrong"));
    opts.endpoints.profiles_query = url(format!("http://{wrong}/wrong"));
    let started = Instant::now();
    let report = kalypso::verify::run(&opts).await;
    // Every read gives up on its first answer, far inside the 30 s deadline.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let expect = [
        (
            "metrics/read",
            format!("http://u:***@{wrong}/wrong/api/v1/query"),
        ),
        (
            "logs/read",
            format!("http://{wrong}/wrong/loki/api/v1/query_range"),
        ),
        ("traces/read", format!("http://{wrong}/wrong/api/traces/")),
        ("profiles/read", format!("http://{wrong}/wrong/querier.v1.")),
    ];
    for (check, shown) in expect {
        let r = row(&report, check);
        assert_eq!(r.status, Status::Fail, "{check}");
        let text = reason(r);
        assert!(
            text.starts_with("HTTP 404 Not Found from "),
            "{check}: {text}"
        );
        assert!(text.contains(&shown), "{check}: {text}");
        assert!(
            !text.contains("secret") && !text.contains("tokXYZ"),
            "{text}"
        );
    }
}
