//! Usage errors of `verify` and `canary` exit 2 with a message naming the flag; nothing panics.

use assert_cmd::Command;
use predicates::str::contains;

fn kalypso() -> Command {
    Command::cargo_bin("kalypso").expect("binary")
}

#[test]
fn an_unknown_signal_in_only_is_a_usage_error() {
    kalypso()
        .args(["verify", "--signals", "metrics,spans"])
        .assert()
        .code(2)
        .stderr(contains("unknown signal \"spans\""));
}

#[test]
fn a_logs_write_url_that_is_neither_push_nor_otlp_is_a_usage_error() {
    kalypso()
        .args(["verify", "--logs-write-url", "http://loki/api/push"])
        .assert()
        .code(2)
        .stderr(contains("cannot tell the log write format"));
}

#[test]
fn a_malformed_url_or_duration_or_credential_is_a_usage_error() {
    kalypso()
        .args(["verify", "--metrics-write-url", "mimir:80"])
        .assert()
        .code(2)
        .stderr(contains("http://"));
    kalypso()
        .args(["verify", "--read-timeout", "soon"])
        .assert()
        .code(2)
        .stderr(contains("--read-timeout"));
    kalypso()
        .args(["verify", "--s3-credentials", "loki=nokey"])
        .assert()
        .code(2)
        .stderr(contains("backend=access:secret"));
    kalypso()
        .args(["verify", "--output", "yaml"])
        .assert()
        .code(2);
}

#[test]
fn the_canary_refuses_grafana_and_storage_probes() {
    kalypso()
        .args(["canary", "--signals", "grafana"])
        .assert()
        .code(2)
        .stderr(contains("checked by `kalypso verify`"));
}

#[test]
fn without_urls_or_a_cluster_every_check_fails_with_a_reason_and_exit_1() {
    let home = tempfile::tempdir().expect("tempdir");
    kalypso()
        .env("KUBECONFIG", home.path().join("missing-kubeconfig"))
        .env("HOME", home.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .args(["verify", "--signals", "metrics,storage", "--read-timeout", "2s"])
        .assert()
        .code(1)
        .stdout(contains("no --metrics-write-url given and cannot port-forward to svc/mimir-distributed-gateway.mimir:80"))
        .stdout(contains("no --s3-url given"));
}
