//! `kalypso diff`, and `up`'s refusal of immutable changes, on a real API server: the server
//! computes what would change (server-side apply dry runs), refuses a changed StatefulSet
//! claim template, and `up --recreate` replaces the StatefulSet while its claim stays.

use std::process::Output;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{Api, ListParams};
use serde_json::Value;

use crate::controlplane::standin_charts::UpRepo;
use crate::controlplane::ControlPlane;
use crate::support::archives_or_skip;

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The claim template size of StatefulSet loki/loki.
fn template_size(cp: &ControlPlane) -> String {
    let sts = cp
        .rt
        .block_on(Api::<StatefulSet>::namespaced(cp.client.clone(), "loki").get("loki"))
        .expect("StatefulSet loki/loki");
    let v = serde_json::to_value(sts).expect("json");
    v["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn diff_shows_a_values_change_flags_an_immutable_one_and_up_refuses_it_without_recreate() {
    // The claim size is read by the real loki chart; a stand-in would not change with it.
    if !archives_or_skip("kalypso diff", &["kalypso-loki/charts/loki-18.11.0.tgz"]) {
        return;
    }
    let Some(cp) = ControlPlane::start("kalypso diff") else {
        return;
    };
    let repo = UpRepo::prepare("kalypso diff");
    let kalypso = |args: &[&str]| -> Output {
        cp.kalypso(repo.path())
            .args(args)
            .output()
            .expect("running kalypso")
    };
    let out = kalypso(&["up", "--only", "loki", "--timeout", "4m"]);
    assert!(out.status.success(), "up failed:\n{}", text(&out));

    // Nothing changed since: no diff, exit 0.
    let out = kalypso(&["diff", "--only", "loki"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("kalypso-loki (loki): no change"),
        "{}",
        text(&out)
    );

    // A values change: the ConfigMap changes, shown as a unified diff of the new line.
    let set = "loki.loki.limits_config.max_line_size=1MB";
    let out = kalypso(&["diff", "--only", "loki", "--set", set]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("~ ConfigMap loki/loki"), "{all}");
    assert!(all.contains("+      max_line_size: 1MB"), "{all}");
    assert!(!all.contains("error: immutable"), "{all}");
    let json = kalypso(&["diff", "--only", "loki", "--set", set, "-o", "json"]);
    let report: Value = serde_json::from_slice(&json.stdout).expect("diff -o json");
    assert_eq!(report["changes"], true, "{}", text(&json));
    assert_eq!(report["immutable"], 0);

    // A bigger claim template: the API server refuses it in place; diff says which field.
    let grow = "loki.singleBinary.persistence.size=4Gi";
    let out = kalypso(&["diff", "--only", "loki", "--set", grow]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("~ StatefulSet loki/loki"), "{all}");
    assert!(
        all.contains("error: immutable field spec.volumeClaimTemplates"),
        "{all}"
    );
    assert!(all.contains("--recreate StatefulSet/loki/loki"), "{all}");

    // up refuses it and changes nothing.
    let before = template_size(&cp);
    let out = kalypso(&["up", "--only", "loki", "--set", grow, "--timeout", "4m"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("refuses") && all.contains("spec.volumeClaimTemplates"),
        "{all}"
    );
    assert_eq!(template_size(&cp), before);

    // With --recreate the StatefulSet is replaced; its claim is kept.
    let claims = |cp: &ControlPlane| -> Vec<String> {
        cp.rt
            .block_on(
                Api::<PersistentVolumeClaim>::namespaced(cp.client.clone(), "loki")
                    .list(&ListParams::default()),
            )
            .expect("claims")
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect()
    };
    let kept = claims(&cp);
    let out = kalypso(&[
        "up",
        "--only",
        "loki",
        "--set",
        grow,
        "--recreate",
        "StatefulSet/loki/loki",
        "--timeout",
        "4m",
    ]);
    assert!(
        out.status.success(),
        "up --recreate failed:\n{}",
        text(&out)
    );
    assert_eq!(template_size(&cp), "4Gi");
    for c in kept {
        assert!(claims(&cp).contains(&c), "claim {c} was deleted");
    }
    let out = kalypso(&["diff", "--only", "loki", "--set", grow]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
