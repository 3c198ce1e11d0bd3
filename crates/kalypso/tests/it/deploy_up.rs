//! `kalypso up` against a fake Kubernetes API and a fake helm: wave order and parallelism,
//! gating on each readiness kind, failure reports, idempotent reruns, a hung helm, and
//! bounded retries of transient helm failures.

use std::time::{Duration, Instant};

use kalypso::deploy::plan::Plan;
use kalypso::deploy::progress::Stage;
use kalypso::deploy::up::{up, FailureStage, UpReport};
use kalypso::stack::Stack;
use serde_json::{json, Value};

use crate::fakes::api::Obj;
use crate::fakes::deploy::{comp, fast_options, Harness, Recorder};
use crate::fakes::k8s::{self, flip};

const DELAY: Duration = Duration::from_millis(800);

async fn run(h: &Harness, wave_timeout: Duration, set: &[String]) -> (UpReport, Recorder) {
    let stack = Stack::load(&h.repo).expect("stack");
    let values = kalypso::release::ValuesChoice {
        set: set.to_vec(),
        ..Default::default()
    };
    let plan = Plan::build(&stack, &values).expect("plan");
    let rec = Recorder::default();
    let report = up(
        &h.cluster(),
        &h.helm,
        &plan,
        &fast_options(wave_timeout),
        &rec,
    )
    .await;
    (report, rec)
}

fn two_waves() -> Harness {
    Harness::new(&[comp("kalypso-a", "a", 1), comp("kalypso-b", "b", 2)])
}

/// Scenario with one manifest per release.
fn scenario(h: &Harness, releases: Value) {
    h.scenario(json!({"version": "v3.22.0+gfake", "releases": releases}));
}

#[tokio::test(flavor = "multi_thread")]
async fn waves_run_in_order_the_next_only_after_the_previous_is_healthy_and_a_wave_runs_in_parallel(
) {
    let h = Harness::new(&[
        comp("kalypso-a", "a", 1),
        comp("kalypso-b", "b", 2),
        comp("kalypso-c", "c", 2),
        comp("kalypso-d", "d", 3),
    ]);
    let a = k8s::deployment("a", "web", "kalypso-a");
    let b = k8s::statefulset("b", "store", "kalypso-b");
    let c = k8s::deployment("c", "api", "kalypso-c");
    let d = k8s::job("d", "setup", "kalypso-d");
    scenario(
        &h,
        json!({
            "kalypso-a": {"manifest": k8s::manifest(&[&a.0])},
            "kalypso-b": {"manifest": k8s::manifest(&[&b.0]), "sleep_ms": 600},
            "kalypso-c": {"manifest": k8s::manifest(&[&c.0]), "sleep_ms": 600},
            "kalypso-d": {"manifest": k8s::manifest(&[&d.0])},
        }),
    );
    h.api.add([
        flip(a, "kalypso-a", DELAY),
        flip(b, "kalypso-b", DELAY),
        flip(c, "kalypso-c", DELAY),
        flip(d, "kalypso-d", DELAY),
    ]);

    let (report, _) = run(&h, Duration::from_secs(20), &[]).await;

    assert!(report.failures().is_empty(), "{:#?}", report.failures());
    let order = h.upgrades();
    assert_eq!(order[0], "kalypso-a");
    assert_eq!(order[3], "kalypso-d");
    let (a_start, a_end) = h.install_window("kalypso-a");
    let (b_start, b_end) = h.install_window("kalypso-b");
    let (c_start, c_end) = h.install_window("kalypso-c");
    let (d_start, _) = h.install_window("kalypso-d");
    assert!(a_start <= a_end);
    let delay = DELAY.as_millis() as u64;
    assert!(
        b_start >= a_end + delay && c_start >= a_end + delay,
        "wave 2 started before wave 1 was healthy"
    );
    assert!(
        b_start < c_end && c_start < b_end,
        "the two releases of wave 2 did not overlap"
    );
    assert!(
        d_start >= b_end.max(c_end) + delay,
        "wave 3 started before wave 2 was healthy"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_that_never_gets_healthy_is_reported_with_its_events_and_log_tail_and_stops_the_install(
) {
    let h = two_waves();
    let (pending, _) = k8s::deployment("a", "web", "kalypso-a");
    scenario(
        &h,
        json!({"kalypso-a": {"manifest": k8s::manifest(&[&pending])}, "kalypso-b": {"manifest": ""}}),
    );
    h.api.add([
        Obj::fixed(pending),
        Obj::fixed(k8s::pod(
            "a",
            "web-7d9c-x1",
            "web",
            false,
            4,
            Some("CrashLoopBackOff"),
        )),
        Obj::fixed(k8s::event(
            "a",
            "Deployment",
            "web",
            "Normal",
            "ScalingReplicaSet",
            "Scaled up replica set web-7d9c to 1",
            "2026-01-01T00:00:01Z",
        )),
        Obj::fixed(k8s::event(
            "a",
            "Pod",
            "web-7d9c-x1",
            "Warning",
            "BackOff",
            "Back-off restarting failed container web",
            "2026-01-01T00:00:30Z",
        )),
    ]);
    h.api.log(
        "a",
        "web-7d9c-x1",
        "web",
        true,
        "starting\npanic: cannot open /data/wal: permission denied\n",
    );

    let (report, _) = run(&h, Duration::from_secs(1), &[]).await;

    assert_eq!(report.failed_wave, Some(1));
    let failures = report.failures();
    assert_eq!(failures.len(), 1);
    let f = failures[0];
    assert_eq!(f.release, "kalypso-a");
    assert_eq!(f.stage, FailureStage::Timeout);
    assert!(
        f.message
            .contains("Deployment a/web: 0/1 replicas available"),
        "{}",
        f.message
    );
    let text = f.to_string();
    assert!(
        text.contains("failing container: web in pod web-7d9c-x1 (CrashLoopBackOff"),
        "{text}"
    );
    assert!(
        text.contains("Warning BackOff Pod/web-7d9c-x1: Back-off restarting failed container web"),
        "{text}"
    );
    assert!(
        text.contains("Normal ScalingReplicaSet Deployment/web"),
        "{text}"
    );
    assert!(
        text.contains("| panic: cannot open /data/wal: permission denied"),
        "{text}"
    );
    assert_eq!(
        h.upgrades(),
        ["kalypso-a"],
        "wave 2 must not start after a failure"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_job_fails_the_wave_at_once_without_waiting_for_the_timeout() {
    let h = two_waves();
    let failed = k8s::failed_job("a", "buckets", "kalypso-a");
    scenario(
        &h,
        json!({"kalypso-a": {"manifest": k8s::manifest(&[&failed])}}),
    );
    h.api.add([Obj::fixed(failed)]);
    let started = Instant::now();
    let (report, _) = run(&h, Duration::from_secs(30), &[]).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let f = report.failures()[0].clone();
    assert_eq!(f.stage, FailureStage::Health);
    assert!(
        f.message
            .contains("Job a/buckets failed: job failed: BackoffLimitExceeded"),
        "{}",
        f.message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn when_one_release_of_a_wave_fails_its_siblings_stop_waiting() {
    let h = Harness::new(&[comp("kalypso-a", "a", 1), comp("kalypso-b", "b", 1)]);
    let (never, _) = k8s::deployment("b", "slow", "kalypso-b");
    scenario(
        &h,
        json!({
            "kalypso-a": {"manifest": "", "sleep_ms": 300, "fail_times": -1, "fail_stderr": "Error: UPGRADE FAILED: template: kalypso-a/templates/x.yaml:3:4: executing \"x\" at <.Values.nope.key>: nil pointer evaluating interface {}.key"},
            "kalypso-b": {"manifest": k8s::manifest(&[&never])},
        }),
    );
    h.api.add([Obj::fixed(never)]);
    let started = Instant::now();
    let (report, rec) = run(&h, Duration::from_secs(30), &[]).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the sibling kept waiting"
    );
    let failures = report.failures();
    assert_eq!(failures[0].release, "kalypso-a");
    assert_eq!(failures[0].stage, FailureStage::Helm);
    assert!(failures[0]
        .helm_stderr
        .as_deref()
        .unwrap_or("")
        .contains("nil pointer"));
    assert_eq!(failures[1].stage, FailureStage::Stopped);
    assert!(rec.stages("kalypso-b").contains(&Stage::Stopped));
    assert_eq!(
        h.upgrades().iter().filter(|r| *r == "kalypso-a").count(),
        1,
        "a template error is not retried"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_stuck_in_pending_upgrade_is_reported_with_the_command_that_unsticks_it() {
    let h = two_waves();
    h.preinstall("kalypso-a", "a", "pending-upgrade", "Preparing upgrade");
    let (report, _) = run(&h, Duration::from_secs(5), &[]).await;
    let f = report.failures()[0].clone();
    assert!(
        f.message.contains("pending-upgrade") && f.message.contains("helm rollback kalypso-a -n a"),
        "{}",
        f.message
    );
    assert!(h.upgrades().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_helm_is_stopped_at_the_wave_timeout_with_a_clear_error() {
    let h = two_waves();
    scenario(&h, json!({"kalypso-a": {"manifest": "", "hang": true}}));
    let started = Instant::now();
    let (report, rec) = run(&h, Duration::from_millis(800), &[]).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let f = report.failures()[0].clone();
    assert_eq!(f.stage, FailureStage::Timeout);
    assert!(
        f.message
            .contains("did not finish within the wave timeout (800ms)"),
        "{}",
        f.message
    );
    assert!(matches!(
        rec.stages("kalypso-a").last(),
        Some(Stage::Failed { .. })
    ));
    assert_eq!(h.upgrades(), ["kalypso-a"], "wave 2 must not start");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_not_serving_yet_is_retried_with_backoff_and_says_so() {
    let h = two_waves();
    let webhook = "Error: UPGRADE FAILED: failed to create resource: Internal error occurred: failed calling webhook \"webhook.cert-manager.io\": failed to call webhook: Post \"https://cert-manager-webhook.a.svc:443/validate?timeout=30s\": dial tcp 10.96.1.2:443: connect: connection refused";
    scenario(
        &h,
        json!({"kalypso-a": {"manifest": "", "fail_times": 2, "fail_stderr": webhook}, "kalypso-b": {"manifest": ""}}),
    );
    let (report, rec) = run(&h, Duration::from_secs(20), &[]).await;
    assert!(report.failures().is_empty(), "{:#?}", report.failures());
    assert_eq!(
        h.upgrades(),
        ["kalypso-a", "kalypso-a", "kalypso-a", "kalypso-b"]
    );
    let retries: Vec<String> = rec
        .stages("kalypso-a")
        .iter()
        .filter(|s| matches!(s, Stage::Retrying { .. }))
        .map(Stage::label)
        .collect();
    assert_eq!(retries.len(), 2);
    assert!(
        retries[0].contains("transient helm failure (failed calling webhook)"),
        "{}",
        retries[0]
    );
    assert!(retries[1].contains("attempt 3 of 3"), "{}", retries[1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_retries_are_bounded() {
    let h = two_waves();
    let stderr = "Error: INSTALLATION FAILED: Internal error occurred: failed calling webhook \"mopentelemetrycollectorbeta.kb.io\": no endpoints available for service \"opentelemetry-operator-webhook\"";
    scenario(
        &h,
        json!({"kalypso-a": {"manifest": "", "fail_times": -1, "fail_stderr": stderr}}),
    );
    let (report, _) = run(&h, Duration::from_secs(20), &[]).await;
    let f = report.failures()[0].clone();
    assert_eq!(f.stage, FailureStage::Helm);
    assert!(
        f.message
            .contains("failed 3 times with a transient error (failed calling webhook)"),
        "{}",
        f.message
    );
    assert!(f
        .helm_stderr
        .as_deref()
        .unwrap_or("")
        .contains("opentelemetry-operator-webhook"));
    assert_eq!(h.upgrades().len(), 3);
}

/// With startup dependencies, a release starts as soon as what it needs is healthy, whatever
/// its wave: `kalypso-c` (wave 2, needs nothing) runs beside `kalypso-a` (wave 1), while
/// `kalypso-b` (wave 2, needs `kalypso-a`) waits for `kalypso-a` to be healthy.
#[tokio::test(flavor = "multi_thread")]
async fn by_needs_a_release_starts_when_what_it_needs_is_healthy_not_when_its_wave_comes() {
    let h = Harness::new(&[
        comp("kalypso-a", "a", 1),
        comp("kalypso-b", "b", 2),
        comp("kalypso-c", "c", 2),
    ]);
    let a = k8s::statefulset("a", "store", "kalypso-a");
    let b = k8s::deployment("b", "api", "kalypso-b");
    let c = k8s::deployment("c", "ui", "kalypso-c");
    scenario(
        &h,
        json!({
            "kalypso-a": {"manifest": k8s::manifest(&[&a.0])},
            "kalypso-b": {"manifest": k8s::manifest(&[&b.0])},
            "kalypso-c": {"manifest": k8s::manifest(&[&c.0])},
        }),
    );
    h.api.add([
        flip(a, "kalypso-a", DELAY),
        flip(b, "kalypso-b", DELAY),
        flip(c, "kalypso-c", DELAY),
    ]);
    let stack = Stack::load(&h.repo).expect("stack");
    let plan = Plan::build(&stack, &Default::default())
        .expect("plan")
        .with_needs(&[(
            "kalypso-b".into(),
            "kalypso-a".into(),
            "store.a.svc:9000".into(),
        )])
        .expect("no cycle");
    let rec = Recorder::default();
    let report = up(
        &h.cluster(),
        &h.helm,
        &plan,
        &fast_options(Duration::from_secs(20)),
        &rec,
    )
    .await;
    assert!(report.failures().is_empty(), "{:#?}", report.failures());
    let (a_start, a_end) = h.install_window("kalypso-a");
    let (b_start, _) = h.install_window("kalypso-b");
    let (c_start, _) = h.install_window("kalypso-c");
    let delay = DELAY.as_millis() as u64;
    assert!(
        c_start < a_end + delay,
        "kalypso-c waited for kalypso-a, which it does not need"
    );
    assert!(
        b_start >= a_end + delay && b_start >= a_start,
        "kalypso-b started before kalypso-a, which it needs, was healthy"
    );
}

/// A cycle of startup dependencies is refused, naming the releases in it.
#[test]
fn a_cycle_of_startup_dependencies_is_an_error_naming_it() {
    let h = two_waves();
    let stack = Stack::load(&h.repo).expect("stack");
    let err = Plan::build(&stack, &Default::default())
        .expect("plan")
        .with_needs(&[
            ("kalypso-a".into(), "kalypso-b".into(), "x".into()),
            ("kalypso-b".into(), "kalypso-a".into(), "y".into()),
        ])
        .expect_err("a cycle");
    assert!(
        err.to_string()
            .contains("kalypso-a, kalypso-b form a cycle"),
        "{err}"
    );
}
