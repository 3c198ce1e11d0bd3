//! `kalypso lint` drives the real binary and the real helm over a copy of the repository.

use crate::support::{copy_repo, helm_or_skip, mutate};
use assert_cmd::Command;

fn kalypso() -> Command {
    Command::cargo_bin("kalypso").expect("binary")
}

#[test]
fn charts_without_upstream_archives_are_linted_with_stand_ins_and_say_so() {
    let Some(helm) = helm_or_skip("lint stand-ins") else {
        return;
    };
    let repo = copy_repo();
    // As in CI: no `helm dependency build` output anywhere.
    for e in std::fs::read_dir(repo.path().join("charts"))
        .expect("charts")
        .flatten()
    {
        let _ = std::fs::remove_dir_all(e.path().join("charts"));
    }
    let out = kalypso()
        .env("KALYPSO_HELM", &helm.binary)
        .args(["lint", "--only", "loki,grafana", "--repo"])
        .arg(repo.path())
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("ok    kalypso-loki (partial, stand-ins for loki)"),
        "{stdout}"
    );
    assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");
    assert!(
        !repo.path().join("charts/kalypso-loki/charts").exists(),
        "lint must not write stand-ins into the tree"
    );
}

#[test]
fn a_kalypso_value_of_the_wrong_type_fails_lint_naming_the_chart() {
    let Some(helm) = helm_or_skip("lint schema") else {
        return;
    };
    let repo = copy_repo();
    mutate(
        repo.path(),
        "charts/kalypso-tempo/values.yaml",
        "    secretAccessKey: tempo-dev-secret-change-me",
        "    secretAccessKey: 12345678",
    );
    let out = kalypso()
        .env("KALYPSO_HELM", &helm.binary)
        .args(["lint", "--only", "tempo", "--repo"])
        .arg(repo.path())
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  kalypso-tempo"), "{stdout}");
    assert!(stdout.contains("secretAccessKey"), "{stdout}");
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
}
