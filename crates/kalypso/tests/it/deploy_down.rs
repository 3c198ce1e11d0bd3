//! `kalypso down`: reverse wave order, PVCs and namespaces kept unless `--purge`, and no
//! uninstall without confirmation.

use predicates::prelude::*;
use serde_json::json;

use crate::fakes::api::Obj;
use crate::fakes::deploy::{comp, Harness};
use crate::fakes::k8s;

fn installed() -> Harness {
    let h = Harness::new(&[
        comp("kalypso-otel", "otel-system", 1),
        comp("kalypso-minio", "minio", 3),
        comp("kalypso-loki", "loki", 4),
        comp("kalypso-tempo", "tempo", 4),
    ]);
    for (n, ns) in [
        ("kalypso-otel", "otel-system"),
        ("kalypso-minio", "minio"),
        ("kalypso-loki", "loki"),
        ("kalypso-tempo", "tempo"),
    ] {
        h.preinstall(n, ns, "deployed", "kalypso-digest sha256:0");
        h.api.add([Obj::fixed(k8s::namespace(ns))]);
    }
    h.api.add([
        Obj::fixed(k8s::pvc("minio", "export-minio-0")),
        Obj::fixed(k8s::pvc("loki", "storage-loki-0")),
    ]);
    h
}

fn uninstall_order(h: &Harness) -> Vec<String> {
    h.calls()
        .iter()
        .filter(|c| c["cmd"] == "uninstall" && c["event"] == "start")
        .map(|c| c["release"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn down_uninstalls_the_last_wave_first_and_keeps_volumes_and_namespaces() {
    let h = installed();
    h.kalypso()
        .args(["down", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("kalypso-otel: uninstalled"))
        .stdout(predicate::str::contains(
            "kalypso-loki: uninstalled; kept PVCs loki/storage-loki-0",
        ));
    let order = uninstall_order(&h);
    assert_eq!(order.len(), 4);
    let mut wave4 = order[..2].to_vec();
    wave4.sort();
    assert_eq!(wave4, ["kalypso-loki", "kalypso-tempo"]);
    assert_eq!(order[2..], ["kalypso-minio", "kalypso-otel"]);
    assert!(h
        .api
        .has("persistentvolumeclaims", Some("minio"), "export-minio-0"));
    assert!(h.api.has("namespaces", None, "minio"));
    assert!(
        h.api.requests().iter().all(|r| !r.starts_with("DELETE")),
        "{:?}",
        h.api.requests()
    );
    let args: Vec<String> = serde_json::from_value(h.calls()[0]["args"].clone()).expect("args");
    assert!(args.contains(&"--wait".to_string()), "{args:?}");
}

#[test]
fn down_without_a_terminal_and_without_yes_refuses() {
    let h = installed();
    h.kalypso()
        .args(["down"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "stdin is not a terminal, so pass --yes",
        ));
    assert!(uninstall_order(&h).is_empty());
}

#[test]
fn down_skips_releases_that_are_not_installed_and_stops_at_a_failure() {
    let h = installed();
    std::fs::remove_file(h.helm_state.join("releases/kalypso-tempo.json")).expect("rm");
    h.scenario(json!({"releases": {"kalypso-minio": {"uninstall_fail": true}}}));
    h.kalypso()
        .args(["down", "--yes"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("kalypso-tempo: not installed"))
        .stdout(predicate::str::contains(
            "kalypso-minio: failed: helm uninstall failed",
        ))
        .stderr(predicate::str::contains(
            "kalypso down stopped at kalypso-minio (wave 3)",
        ));
    assert!(
        !uninstall_order(&h).contains(&"kalypso-otel".to_string()),
        "wave 1 must stay while wave 3 failed"
    );
}

#[test]
fn down_json_reports_each_release_with_its_duration() {
    let h = installed();
    let out = h
        .kalypso()
        .args(["down", "--yes", "-o", "json", "--release-timeout", "30s"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("only JSON on stdout");
    assert_eq!(v["ok"], true);
    let releases = v["releases"].as_array().expect("releases");
    assert_eq!(releases.len(), 4);
    for r in releases {
        assert_eq!(r["result"], "uninstalled", "{r}");
        assert!(r["duration_ms"].is_u64(), "{r}");
    }
    let loki = releases
        .iter()
        .find(|r| r["release"] == "kalypso-loki")
        .expect("loki");
    assert_eq!(loki["kept_pvcs"], json!(["loki/storage-loki-0"]));
}
