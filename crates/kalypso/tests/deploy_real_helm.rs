//! The real helm binary (when installed: PATH or the `.cache/bin/helm` that `.ci/run`
//! installs) against the fake Kubernetes API: what kalypso reads from `helm version`,
//! `helm status` and `helm list` is what helm really prints. Prints SKIP without helm.

/// Prints a SKIP line on the real stderr: the test harness captures `println!`/`eprintln!` of
/// passing tests, and a skipped check must be visible in CI's log.
macro_rules! skip {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod support;

use std::path::Path;

use kalypso::deploy::releases;
use kalypso::helm::Helm;
use support::{Comp, Harness};

fn real_helm() -> Option<Helm> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::env::remove_var("KALYPSO_HELM");
    Helm::locate(&workspace)
        .ok()
        .filter(|h| !h.binary.to_string_lossy().contains("fake"))
}

#[tokio::test(flavor = "multi_thread")]
async fn real_helm_on_an_empty_cluster_reports_no_release_and_an_empty_list() {
    let Some(helm) = real_helm() else {
        skip!("SKIP: helm is not installed (run .ci/run once to install it under .cache/bin)");
        return;
    };
    let version = releases::ensure_supported(&helm)
        .await
        .expect("supported helm");
    assert!(version.starts_with('v'), "{version}");

    let h = Harness::new(&[Comp {
        name: "kalypso-a",
        namespace: "a",
        wave: 1,
    }]);
    // helm reads the kubeconfig from the environment; this test binary's processes only.
    std::env::set_var("KUBECONFIG", h.kubeconfig());
    let state = releases::release_state(&helm, "kalypso-a", "a")
        .await
        .expect("helm status");
    assert_eq!(state, None, "an absent release must read as not installed");
    let list = releases::list_all(&helm).await.expect("helm list");
    assert!(list.is_empty());
    assert!(
        h.api.requests().iter().any(|r| r.contains("/secrets")),
        "{:?}",
        h.api.requests()
    );
}
