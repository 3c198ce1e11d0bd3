//! One grammar for the whole CLI: every subcommand shows the global flags, a shared flag means
//! the same in every subcommand that takes it, bad values are usage errors (exit 2), and an
//! unreachable cluster is an environment error (exit 2) for every cluster command.

use std::collections::BTreeMap;

use assert_cmd::Command;
use predicates::prelude::*;

use crate::support::repo_root;

const SUBCOMMANDS: &[&str] = &[
    "render", "check", "lint", "up", "down", "status", "doctor", "verify", "canary",
];

/// Flags and the first line of their help, per subcommand.
fn flags(sub: &str) -> BTreeMap<String, String> {
    let out = Command::cargo_bin("kalypso")
        .unwrap()
        .args([sub, "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{sub} --help failed");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("Exit codes: 0 everything passed; 1 something checked failed"),
        "{sub} --help does not document the exit codes:\n{text}"
    );
    let mut map = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        if !t.starts_with('-') {
            continue;
        }
        let long = t
            .split([' ', ','])
            .find(|w| w.starts_with("--"))
            .unwrap_or(t)
            .trim_end_matches("...")
            .to_string();
        // The description is the next non-empty line (clap's long help layout).
        let help = lines[i + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_string();
        map.insert(long, help);
    }
    map
}

#[test]
fn every_subcommand_shows_the_global_flags_and_shared_flags_mean_one_thing() {
    let all: BTreeMap<&str, BTreeMap<String, String>> =
        SUBCOMMANDS.iter().map(|s| (*s, flags(s))).collect();
    for (sub, f) in &all {
        for global in ["--verbose", "--quiet", "--color", "--repo"] {
            assert!(f.contains_key(global), "{sub} lacks {global}: {f:?}");
        }
    }
    // A flag that several subcommands take has the same description in each (`--timeout` and
    // `--output` say what they bound or print per command, so only their presence is shared).
    for flag in [
        "--verbose",
        "--quiet",
        "--color",
        "--repo",
        "--only",
        "--profile",
        "--values",
        "--set",
        "--kube-version",
        "--signals",
    ] {
        let helps: Vec<(&str, &String)> = all
            .iter()
            .filter_map(|(s, f)| f.get(flag).map(|h| (*s, h)))
            .collect();
        if let Some((_, first)) = helps.first() {
            for (sub, h) in &helps {
                assert_eq!(h, first, "{flag} means something else in {sub}");
            }
        }
    }
    // Who takes what: the stack selection and values where charts are rendered or installed.
    for sub in ["render", "check", "lint", "up"] {
        for flag in ["--only", "--profile", "--values", "--set"] {
            assert!(all[sub].contains_key(flag), "{sub} lacks {flag}");
        }
    }
    for sub in ["render", "check", "lint"] {
        assert!(
            all[sub].contains_key("--kube-version"),
            "{sub} lacks --kube-version"
        );
    }
    for sub in ["check", "status", "doctor", "verify"] {
        assert!(all[sub].contains_key("--output"), "{sub} lacks -o/--output");
    }
}

#[test]
fn a_bad_value_for_a_shared_flag_is_a_usage_error() {
    for args in [
        &["status", "--color", "purple"][..],
        &["check", "--kube-version", "latest"],
        &["status", "-v", "-q"],
        &["verify", "--signals", "metrics,spans"],
    ] {
        Command::cargo_bin("kalypso")
            .unwrap()
            .args(args)
            .assert()
            .code(2);
    }
}

#[test]
fn an_unreachable_cluster_is_exit_two_for_every_cluster_command() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kubeconfig");
    std::fs::write(
        &cfg,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: dead\n  context: {cluster: dead, user: dev}\ncurrent-context: dead\nusers:\n- name: dev\n  user: {token: x}\n",
    )
    .unwrap();
    for args in [
        &["status"][..],
        &["doctor"],
        &["down", "--yes"],
        &["up", "--only", "minio"],
    ] {
        let out = Command::cargo_bin("kalypso")
            .unwrap()
            .current_dir(repo_root())
            .env("KUBECONFIG", &cfg)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // `up` may stop earlier for missing upstream archives, also an environment error.
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    }
}

#[test]
fn the_repository_is_found_from_any_directory_inside_it() {
    Command::cargo_bin("kalypso")
        .unwrap()
        .current_dir(repo_root().join("charts/kalypso-loki"))
        .args(["up", "--dry-run", "--only", "loki"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("kalypso-loki"));
    let elsewhere = tempfile::tempdir().unwrap();
    Command::cargo_bin("kalypso")
        .unwrap()
        .current_dir(elsewhere.path())
        .args(["up", "--dry-run"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pass --repo DIR"));
}
