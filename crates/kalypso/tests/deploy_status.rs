//! `kalypso status`: release status and chart version, pods ready/total and restarts, the
//! objects that are not healthy; JSON output; exit 1 when anything is unhealthy.

mod support;

use predicates::prelude::*;
use serde_json::{json, Value};

use support::api::Obj;
use support::k8s;
use support::{Comp, Harness};

fn harness() -> Harness {
    let h = Harness::new(&[
        Comp {
            name: "kalypso-minio",
            namespace: "minio",
            wave: 3,
        },
        Comp {
            name: "kalypso-loki",
            namespace: "loki",
            wave: 4,
        },
        Comp {
            name: "kalypso-tempo",
            namespace: "tempo",
            wave: 4,
        },
    ]);
    let (_, minio_ready) = k8s::deployment("minio", "minio", "kalypso-minio");
    let (loki_pending, _) = k8s::statefulset("loki", "loki", "kalypso-loki");
    h.scenario(json!({"releases": {
        "kalypso-minio": {"manifest": k8s::manifest(&[&minio_ready])},
        "kalypso-loki": {"manifest": k8s::manifest(&[&loki_pending])},
    }}));
    h.preinstall(
        "kalypso-minio",
        "minio",
        "deployed",
        "kalypso-digest sha256:0",
    );
    h.preinstall(
        "kalypso-loki",
        "loki",
        "deployed",
        "kalypso-digest sha256:0",
    );
    h.api.add([
        Obj::fixed(minio_ready),
        Obj::fixed(k8s::pod("minio", "minio-5d4f-abc", "minio", true, 0, None)),
        Obj::fixed(k8s::completed_pod("minio", "kalypso-minio-buckets")),
        Obj::fixed(loki_pending),
        Obj::fixed(k8s::pod(
            "loki",
            "loki-0",
            "loki",
            false,
            4,
            Some("CrashLoopBackOff"),
        )),
        Obj::fixed(k8s::pod("loki", "loki-gateway-1", "gateway", true, 1, None)),
    ]);
    h
}

#[test]
fn status_json_reports_each_component_and_exits_1_when_anything_is_unhealthy() {
    let h = harness();
    let out = h
        .kalypso()
        .args(["status", "--output", "json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).expect("JSON");
    assert_eq!(v["healthy"], false);
    let c = v["components"].as_array().expect("components");
    assert_eq!(c.len(), 3);

    assert_eq!(c[0]["component"], "kalypso-minio");
    assert_eq!(c[0]["release_status"], "deployed");
    assert_eq!(c[0]["chart_version"], "0.1.0");
    assert_eq!(
        (c[0]["pods_ready"].as_u64(), c[0]["pods_total"].as_u64()),
        (Some(1), Some(1)),
        "completed Job pods do not count"
    );
    assert_eq!(c[0]["healthy"], true);

    assert_eq!(c[1]["component"], "kalypso-loki");
    assert_eq!(
        (c[1]["pods_ready"].as_u64(), c[1]["pods_total"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(c[1]["restarts"], 5);
    assert_eq!(c[1]["unhealthy"][0]["object"], "StatefulSet loki/loki");
    assert_eq!(c[1]["unhealthy"][0]["reason"], "0/1 replicas ready");
    assert_eq!(c[1]["healthy"], false);

    assert_eq!(c[2]["component"], "kalypso-tempo");
    assert_eq!(c[2]["release_status"], "not installed");
    assert_eq!(c[2]["chart_version"], Value::Null);
    assert_eq!(c[2]["healthy"], false);
}

#[test]
fn status_table_has_one_row_per_component_and_exit_0_when_all_is_healthy() {
    let h = harness();
    h.kalypso()
        .args(["status", "--only", "minio"])
        .assert()
        .success()
        .stdout(predicate::str::contains("component"))
        .stdout(predicate::str::contains("pods ready"))
        .stdout(predicate::str::contains("kalypso-minio"))
        .stdout(predicate::str::contains("1/1"))
        .stdout(predicate::str::contains("all 1 component(s) healthy"));
    h.kalypso()
        .args(["status"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "StatefulSet loki/loki: 0/1 replicas ready",
        ))
        .stdout(predicate::str::contains("not installed"))
        .stdout(predicate::str::contains("2 of 3 component(s) not healthy"));
}
