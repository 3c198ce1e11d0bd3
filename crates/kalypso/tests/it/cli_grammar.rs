//! One grammar for the whole CLI: every subcommand shows the global flags, a shared flag means
//! the same in every subcommand that takes it, bad values are usage errors (exit 2), and an
//! unreachable cluster is an environment error (exit 2) for every cluster command.

use std::collections::BTreeMap;

use assert_cmd::Command;
use predicates::prelude::*;

use crate::support::repo_root;

const SUBCOMMANDS: &[&str] = &[
    "render", "check", "lint", "diff", "up", "down", "status", "doctor", "verify", "canary",
];

/// The commands that talk to a cluster.
const CLUSTER_COMMANDS: &[&str] = &["diff", "up", "down", "status", "doctor", "verify", "canary"];

/// The `--help` text of `sub`.
fn help(sub: &str) -> String {
    let out = Command::cargo_bin("kalypso")
        .unwrap()
        .args([sub, "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{sub} --help failed");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Flags and the first line of their help, per subcommand.
fn flags(sub: &str) -> BTreeMap<String, String> {
    let text = help(sub);
    assert!(
        text.contains("Exit codes: 0 "),
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
        for global in ["--verbose", "--quiet", "--color", "--repo", "--output"] {
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
        "--output",
        "--kubeconfig",
        "--kube-context",
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
    for sub in CLUSTER_COMMANDS {
        for flag in ["--kubeconfig", "--kube-context"] {
            assert!(all[sub].contains_key(flag), "{sub} lacks {flag}");
        }
    }
    // One name, one meaning: no command has a bare `--timeout`; each bound says what it bounds.
    for (sub, f) in &all {
        assert!(
            !f.contains_key("--timeout"),
            "{sub} still shows a bare --timeout"
        );
    }
    assert!(all["up"].contains_key("--wave-timeout"));
    assert!(all["down"].contains_key("--release-timeout"));
    for sub in ["verify", "canary"] {
        assert!(all[sub].contains_key("--read-timeout"), "{sub}");
    }
}

#[test]
fn each_help_names_only_the_exit_codes_its_command_can_return() {
    let footer = |sub: &str| {
        let text = help(sub);
        let at = text
            .find("Exit codes:")
            .unwrap_or_else(|| panic!("{sub}: no footer"));
        text[at..].to_string()
    };
    // Only up can be interrupted half-way (130); the read-only commands never say it.
    assert!(footer("up").contains("130 interrupted"));
    for sub in [
        "render", "check", "lint", "diff", "down", "status", "doctor", "verify", "canary",
    ] {
        assert!(!footer(sub).contains("130"), "{sub}: {}", footer(sub));
    }
    // Commands that reach no cluster do not mention one; --fail-on belongs to check alone.
    for sub in ["render", "check", "lint", "verify", "canary"] {
        assert!(!footer(sub).contains("cluster unreachable"), "{sub}");
    }
    for sub in SUBCOMMANDS.iter().filter(|s| **s != "check") {
        assert!(!footer(sub).contains("--fail-on"), "{sub}: {}", footer(sub));
    }
}

#[test]
fn sarif_is_a_usage_error_outside_check() {
    for sub in ["status", "verify", "up", "render"] {
        Command::cargo_bin("kalypso")
            .unwrap()
            .current_dir(repo_root())
            .args([sub, "-o", "sarif"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("-o sarif"));
    }
}

#[test]
fn an_explicit_kube_context_that_the_kubeconfig_lacks_is_exit_two_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kubeconfig");
    std::fs::write(
        &cfg,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: dead\n  context: {cluster: dead, user: dev}\ncurrent-context: dead\nusers:\n- name: dev\n  user: {token: x}\n",
    )
    .unwrap();
    for sub in ["status", "doctor"] {
        let out = Command::cargo_bin("kalypso")
            .unwrap()
            .current_dir(repo_root())
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .args([sub, "--kubeconfig"])
            .arg(&cfg)
            .args(["--kube-context", "elsewhere"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sub}: {stderr}");
        assert!(stderr.contains("elsewhere"), "{sub}: {stderr}");
        // The file given is read, not $KUBECONFIG.
        assert!(!stderr.contains("/nonexistent"), "{sub}: {stderr}");
    }
}

#[test]
fn up_dry_run_prints_the_plan_as_json() {
    let out = Command::cargo_bin("kalypso")
        .unwrap()
        .current_dir(repo_root())
        .args(["up", "--dry-run", "--only", "loki", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("up --dry-run -o json");
    assert_eq!(v["waves"][0]["releases"][0]["release"], "kalypso-loki");
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
        &["diff", "--only", "minio"],
        &["status", "-o", "json"],
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
