//! `kalypso render` through the real binary on a tiny stack written by the test: stand-ins for
//! missing dependencies, profiles, values, output layout and order, and clear errors.

use std::path::Path;

use crate::support::helm_or_skip;
use assert_cmd::Command;
use predicates::prelude::*;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// Two components: `kalypso-a` (wave 1) depends on an upstream chart that is not vendored;
/// `kalypso-b` (wave 2) has a profile.
fn tiny_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "argocd/applicationset.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: t}\nspec:\n  generators:\n    - list:\n        elements:\n          - {name: kalypso-b, path: charts/kalypso-b, namespace: bee, wave: \"2\"}\n          - {name: kalypso-a, path: charts/kalypso-a, namespace: ay, wave: \"1\"}\n",
    );
    write(
        root,
        "charts/kalypso-a/Chart.yaml",
        "apiVersion: v2\nname: kalypso-a\nversion: 0.1.0\ndependencies:\n  - name: upstream\n    version: 1.2.3\n    repository: https://charts.example.invalid\n    condition: upstream.enabled\n  - name: off\n    version: 0.0.1\n    repository: https://charts.example.invalid\n    condition: off.enabled\n",
    );
    write(
        root,
        "charts/kalypso-a/values.yaml",
        "greeting: hello\nupstream: {enabled: true}\noff: {enabled: false}\n",
    );
    write(
        root,
        "charts/kalypso-a/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  ns: {{ .Release.Namespace }}\n{{- if .Values.explode }}{{ fail \"the values asked me to fail\" }}{{ end }}\n",
    );
    write(
        root,
        "charts/kalypso-b/Chart.yaml",
        "apiVersion: v2\nname: kalypso-b\nversion: 0.1.0\n",
    );
    write(root, "charts/kalypso-b/values.yaml", "size: large\n");
    write(
        root,
        "charts/kalypso-b/profiles/small.yaml",
        "size: small\n",
    );
    write(
        root,
        "charts/kalypso-b/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  size: {{ .Values.size | quote }}\n",
    );
    dir
}

fn kalypso(helm: &kalypso::helm::Helm, repo: &Path) -> Command {
    let mut c = Command::cargo_bin("kalypso").unwrap();
    c.env("KALYPSO_HELM", &helm.binary)
        .args(["render", "--repo"])
        .arg(repo);
    c
}

#[test]
fn renders_in_component_order_with_stand_ins_for_missing_dependencies() {
    let Some(helm) = helm_or_skip("render order") else {
        return;
    };
    let repo = tiny_repo();
    let out = kalypso(&helm, repo.path()).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let b = stdout.find("size: \"large\"").expect("b rendered");
    let a = stdout.find("ns: ay").expect("a rendered");
    assert!(b < a, "component list order (b is listed first):\n{stdout}");
    assert!(stdout.contains("greeting: \"hello\""));
    assert!(stdout.contains("ns: ay"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("kalypso-a: partial (stand-ins: upstream)"),
        "{stderr}"
    );
    assert!(stderr.contains("kalypso-b: full"), "{stderr}");
    // The chart in the repository is untouched: stand-ins live in a temporary copy.
    assert!(!repo.path().join("charts/kalypso-a/charts").exists());
}

#[test]
fn out_dir_gets_one_file_per_chart_and_profiles_values_and_set_apply() {
    let Some(helm) = helm_or_skip("render --out") else {
        return;
    };
    let repo = tiny_repo();
    let out_dir = repo.path().join("out");
    write(repo.path(), "extra.yaml", "greeting: hi\n");
    kalypso(&helm, repo.path())
        .args(["--profile", "small", "-f"])
        .arg(repo.path().join("extra.yaml"))
        .args(["--set", "size=tiny", "--only", "a,b", "--out"])
        .arg(&out_dir)
        .assert()
        .code(0);
    let a = std::fs::read_to_string(out_dir.join("kalypso-a.yaml")).unwrap();
    let b = std::fs::read_to_string(out_dir.join("kalypso-b.yaml")).unwrap();
    assert!(a.contains("greeting: \"hi\""), "{a}");
    assert!(
        b.contains("size: \"tiny\""),
        "--set wins over the profile: {b}"
    );
    // The index says, per release, its namespace and whether it rendered in full.
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("index.json")).unwrap())
            .expect("index.json");
    assert_eq!(index[0]["release"], "kalypso-b");
    assert_eq!(index[1]["namespace"], "ay");
    assert_eq!(index[1]["chart"]["status"], "partial");
    assert_eq!(index[1]["file"], "kalypso-a.yaml");

    kalypso(&helm, repo.path())
        .args(["--profile", "small", "--only", "b"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("size: \"small\""));
}

#[test]
fn render_errors_name_the_chart_and_exit_two() {
    let Some(helm) = helm_or_skip("render errors") else {
        return;
    };
    let repo = tiny_repo();
    kalypso(&helm, repo.path())
        .args(["--set", "explode=true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "helm template failed for kalypso-a (charts/kalypso-a)",
        ))
        .stderr(predicate::str::contains("the values asked me to fail"));
    kalypso(&helm, repo.path())
        .args(["--profile", "huge"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no selected chart has profiles/huge.yaml",
        ));
    kalypso(&helm, repo.path())
        .args(["--only", "zzz"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no component \"zzz\""));
    std::fs::remove_dir_all(repo.path().join("charts/kalypso-b")).unwrap();
    kalypso(&helm, repo.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("component kalypso-b: chart"))
        .stderr(predicate::str::contains("not found"));
}

#[test]
fn a_missing_helm_is_exit_two_with_advice() {
    let repo = tiny_repo();
    Command::cargo_bin("kalypso")
        .unwrap()
        .env("KALYPSO_HELM", "/nonexistent/helm")
        .args(["render", "--repo"])
        .arg(repo.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "KALYPSO_HELM=/nonexistent/helm is not a file",
        ));
}

#[test]
fn a_vendored_dependency_renders_in_full() {
    let Some(helm) = helm_or_skip("vendored dependency") else {
        return;
    };
    let repo = tiny_repo();
    write(
        repo.path(),
        "charts/kalypso-a/charts/upstream/Chart.yaml",
        "apiVersion: v2\nname: upstream\nversion: 1.2.3\n",
    );
    write(
        repo.path(),
        "charts/kalypso-a/charts/off/Chart.yaml",
        "apiVersion: v2\nname: off\nversion: 0.0.1\n",
    );
    write(
        repo.path(),
        "charts/kalypso-a/charts/upstream/templates/svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: upstream}\nspec: {ports: [{port: 80}]}\n",
    );
    kalypso(&helm, repo.path())
        .args(["--only", "a"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("kalypso-a: full"))
        .stdout(predicate::str::contains("kind: Service"));
}

/// `kalypso [-v] check --output json` on `repo` without schemas, plus `extra`.
fn run_check(
    helm: &kalypso::helm::Helm,
    repo: &Path,
    verbose: bool,
    extra: &[&str],
) -> std::process::Output {
    let mut cmd = Command::cargo_bin("kalypso").unwrap();
    cmd.env("KALYPSO_HELM", &helm.binary);
    if verbose {
        cmd.arg("-v");
    }
    cmd.args([
        "check",
        "--output",
        "json",
        "--schema-dir",
        "/nonexistent",
        "--repo",
    ])
    .arg(repo)
    .args(extra)
    .output()
    .unwrap()
}

fn check(helm: &kalypso::helm::Helm, repo: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let out = run_check(helm, repo, false, extra);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

fn determinism(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "determinism")
        .map(|f| format!("{} {}", f["object"], f["message"]))
        .collect()
}

#[test]
fn check_reports_a_chart_that_renders_differently_each_time() {
    let Some(helm) = helm_or_skip("determinism") else {
        return;
    };
    let repo = tiny_repo();
    write(
        repo.path(),
        "charts/kalypso-b/templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: generated}\nstringData:\n  password: {{ randAlphaNum 16 | quote }}\n",
    );
    let (code, v) = check(&helm, repo.path(), &["--no-cache"]);
    assert_eq!(code, 1);
    let found = determinism(&v);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("\"name\":\"generated\""), "{found:?}");
    assert!(
        found[0].contains("kalypso-b/templates/secret.yaml"),
        "{found:?}"
    );
    assert_eq!(v["charts"][1]["status"], "partial");
    assert_eq!(v["charts"][1]["stand_ins"][0], "upstream");
}

#[test]
fn check_finds_a_random_value_through_named_templates_values_and_includes_by_path() {
    let Some(helm) = helm_or_skip("determinism through templates") else {
        return;
    };
    let repo = tiny_repo();
    let root = repo.path();
    // kalypso-b: a random password in a named template, a random token in a values string
    // rendered with tpl, a checksum of the secret's file, and a template with nothing random.
    write(
        root,
        "charts/kalypso-b/templates/_helpers.tpl",
        "{{- define \"b.password\" -}}{{ randAlphaNum 12 }}{{- end }}\n",
    );
    write(
        root,
        "charts/kalypso-b/templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: generated}\nstringData:\n  password: {{ include \"b.password\" . | quote }}\n",
    );
    write(
        root,
        "charts/kalypso-b/values.yaml",
        "size: large\nauth:\n  token: '{{ uuidv4 }}'\n",
    );
    write(
        root,
        "charts/kalypso-b/templates/token.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: token}\ndata:\n  token: {{ tpl .Values.auth.token . | quote }}\n",
    );
    write(
        root,
        "charts/kalypso-b/templates/deploy.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rolled\n  annotations:\n    checksum: {{ include (print $.Template.BasePath \"/secret.yaml\") . | sha256sum }}\n",
    );
    // kalypso-a: a random template its values switch off, one that renders nothing under
    // `helm template` (no upgrade), and a switched-off subchart.
    write(
        root,
        "charts/kalypso-a/templates/maybe.yaml",
        "{{- if .Values.generate }}\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: maybe}\ndata: {id: {{ uuidv4 | quote }}}\n{{- end }}\n",
    );
    write(
        root,
        "charts/kalypso-a/templates/upgrade.yaml",
        "{{- if .Release.IsUpgrade }}\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: upgrade}\ndata: {id: {{ uuidv4 | quote }}}\n{{- end }}\n",
    );
    write(
        root,
        "charts/kalypso-a/values.yaml",
        "greeting: hello\nupstream: {enabled: false}\noff: {enabled: false}\n",
    );
    write(
        root,
        "charts/kalypso-a/charts/upstream/Chart.yaml",
        "apiVersion: v2\nname: upstream\nversion: 1.2.3\n",
    );
    write(
        root,
        "charts/kalypso-a/charts/upstream/templates/uid.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: uid}\ndata: {id: {{ uuidv4 | quote }}}\n",
    );
    let out = run_check(&helm, root, true, &["--no-cache"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let mut found: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "determinism")
        .map(|f| f["object"]["name"].as_str().unwrap().to_string())
        .collect();
    found.sort();
    // kalypso-a's random values are in a branch its values switch off, in a template that
    // renders only on upgrade, and in a switched-off subchart: helm renders none of them.
    assert_eq!(found, vec!["generated", "rolled", "token"], "{v}");
}

#[test]
fn check_reuses_a_verified_render_and_renders_again_when_an_input_changes() {
    let Some(helm) = helm_or_skip("render cache") else {
        return;
    };
    let repo = tiny_repo();
    // (chart, whether it came from the cache), by chart name.
    let cached_flags = |v: &serde_json::Value| -> Vec<(String, bool)> {
        let mut flags: Vec<(String, bool)> = v["charts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["cached"].as_bool().unwrap(),
                )
            })
            .collect();
        flags.sort();
        flags
    };
    let flags = |a: bool, b: bool| vec![("kalypso-a".to_string(), a), ("kalypso-b".to_string(), b)];
    // (The tiny ApplicationSet has no RollingSync strategy: an ordering error, not ours here.)
    let (_, v) = check(&helm, repo.path(), &[]);
    assert!(determinism(&v).is_empty(), "{v}");
    assert_eq!(cached_flags(&v), flags(false, false), "first run renders");
    let dir = repo.path().join(".cache/kalypso/renders");
    let mut cached: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    cached.sort();
    assert_eq!(
        cached.len(),
        4,
        "a render and a verified marker per chart: {cached:?}"
    );
    // Nothing changed: neither chart is rendered again, and the summary says so.
    let (_, v) = check(&helm, repo.path(), &[]);
    assert_eq!(cached_flags(&v), flags(true, true), "{v}");
    let summary = v["summary"]["text"].as_str().unwrap_or_default();
    assert!(
        summary.contains("(2 unchanged: cached render reused"),
        "{summary}"
    );
    // A changed value file: that chart is rendered again, the other still comes from the cache.
    let values = repo.path().join("charts/kalypso-b/values.yaml");
    let text = std::fs::read_to_string(&values).unwrap();
    std::fs::write(&values, format!("{text}\n# edited\n")).unwrap();
    let (_, v) = check(&helm, repo.path(), &[]);
    assert_eq!(cached_flags(&v), flags(true, false), "{v}");
    // A cached render that was not verified stands in for the second pass: if it no longer
    // matches a fresh render, that is a determinism finding.
    let b = |suffix: &str| {
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n.starts_with("kalypso-b--") && n.ends_with(suffix)
            })
            .unwrap()
    };
    std::fs::remove_file(b(".verified")).unwrap();
    let render = b(".yaml");
    let text = std::fs::read_to_string(&render).unwrap();
    std::fs::write(
        &render,
        text.replace("size: \"large\"", "size: \"changed\""),
    )
    .unwrap();
    let (_, v) = check(&helm, repo.path(), &[]);
    let found = determinism(&v);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("identical inputs"), "{found:?}");
    // The fresh render replaced the tampered one (not verified: the two differed).
    let (_, v) = check(&helm, repo.path(), &[]);
    assert!(determinism(&v).is_empty(), "{v}");
    // --no-cache renders everything.
    let (_, v) = check(&helm, repo.path(), &["--no-cache"]);
    assert_eq!(cached_flags(&v), flags(false, false), "{v}");
}

#[test]
fn a_dependency_that_cannot_be_fetched_shows_helms_own_reason() {
    // A download attempt: only inside the loopback-only network namespace of `bash .ci/run`,
    // where it fails before any packet leaves.
    if !crate::controlplane::loopback_only() {
        crate::support::skip("--fetch-deps failure: not in a loopback-only network namespace");
        return;
    }
    let Some(helm) = helm_or_skip("--fetch-deps failure") else {
        return;
    };
    let repo = tiny_repo();
    let out = kalypso(&helm, repo.path())
        .args(["--only", "a", "--fetch-deps"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot download upstream 1.2.3 from https://charts.example.invalid"),
        "{stderr}"
    );
    // helm's own reason (no route, no DNS), not a cache miss of a repository never added.
    assert!(
        !stderr.contains("no cached repository")
            && stderr.contains("charts.example.invalid/index.yaml"),
        "{stderr}"
    );
}

#[test]
fn the_same_bad_value_gives_the_same_error_on_every_run() {
    let Some(helm) = helm_or_skip("deterministic errors") else {
        return;
    };
    // Two charts that both fail on `n=5`, each in two ways: the schema (first render) and the
    // template's own check (the determinism render skips schema validation).
    let repo = tiny_repo();
    for chart in ["kalypso-a", "kalypso-b"] {
        write(
            repo.path(),
            &format!("charts/{chart}/values.schema.json"),
            r#"{"type": "object", "properties": {"n": {"type": "string"}}}"#,
        );
        write(
            repo.path(),
            &format!("charts/{chart}/templates/check.yaml"),
            "{{- if not (kindIs \"string\" .Values.n) }}{{ fail (printf \"n must be a string, got %v\" .Values.n) }}{{ end }}\n",
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let out = Command::cargo_bin("kalypso")
            .unwrap()
            .env("KALYPSO_HELM", &helm.binary)
            .args(["check", "--no-cache", "--set", "n=5", "--repo"])
            .arg(repo.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        seen.insert(String::from_utf8_lossy(&out.stderr).to_string());
    }
    assert_eq!(seen.len(), 1, "different errors: {seen:#?}");
    let err = seen.into_iter().next().unwrap_or_default();
    // The first chart in the component list, and its first render's (schema) error.
    assert!(err.contains("kalypso-b") && err.contains("schema"), "{err}");
}

#[test]
fn the_library_chart_is_rendered_from_the_repository_and_its_edits_reach_the_cache() {
    let Some(helm) = helm_or_skip("local dependency") else {
        return;
    };
    let repo = tiny_repo();
    let root = repo.path();
    write(
        root,
        "charts/kalypso-lib/Chart.yaml",
        "apiVersion: v2\nname: kalypso-lib\nversion: 0.1.0\ntype: library\n",
    );
    write(
        root,
        "charts/kalypso-lib/templates/_size.tpl",
        "{{- define \"lib.size\" -}}from-the-repository{{- end -}}\n",
    );
    write(
        root,
        "charts/kalypso-b/Chart.yaml",
        "apiVersion: v2\nname: kalypso-b\nversion: 0.1.0\ndependencies:\n  - name: kalypso-lib\n    version: 0.1.0\n    repository: file://../kalypso-lib\n",
    );
    write(
        root,
        "charts/kalypso-b/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  size: {{ include \"lib.size\" . | quote }}\n",
    );
    // A stale copy left by an earlier `helm dependency build`.
    write(
        root,
        "charts/kalypso-b/charts/kalypso-lib/Chart.yaml",
        "apiVersion: v2\nname: kalypso-lib\nversion: 0.1.0\ntype: library\n",
    );
    write(
        root,
        "charts/kalypso-b/charts/kalypso-lib/templates/_size.tpl",
        "{{- define \"lib.size\" -}}stale-copy{{- end -}}\n",
    );
    let rendered = |root: &Path| {
        let out = kalypso(&helm, root).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = rendered(root);
    assert!(text.contains("size: \"from-the-repository\""), "{text}");
    assert!(!text.contains("stale-copy"), "{text}");
    // check caches the render; an edit of the library chart alone must be rendered again.
    let (_, v) = check(&helm, root, &[]);
    let (_, v2) = check(&helm, root, &[]);
    let cached_b = |v: &serde_json::Value| {
        v["charts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "kalypso-b")
            .map(|c| c["cached"].as_bool().unwrap())
            .unwrap()
    };
    assert!(!cached_b(&v) && cached_b(&v2), "{v2}");
    write(
        root,
        "charts/kalypso-lib/templates/_size.tpl",
        "{{- define \"lib.size\" -}}edited{{- end -}}\n",
    );
    let (_, v3) = check(&helm, root, &[]);
    assert!(
        !cached_b(&v3),
        "an edited library chart is rendered again: {v3}"
    );
    assert!(rendered(root).contains("size: \"edited\""));
}
