//! What every chart says about itself, the same way in all eight: `Chart.yaml` names the
//! upstream application version it installs (`appVersion`, one of its upstream charts'), where it
//! comes from (`home`, `sources`), who keeps it (`maintainers`) and the stack's one `kubeVersion`;
//! `NOTES.txt` says after an install what was installed, how to reach it through the contract's
//! Services, and the next command; and the values-schema fragments every chart repeats are copies
//! of one source, `charts/kalypso-common/values.schema.shared.json` (helm resolves no `$ref`
//! across charts). `KALYPSO_BLESS=1 cargo test --test it chart_meta` rewrites stale copies.

use std::ops::Range;
use std::path::Path;

use serde_json::Value;

use crate::chart_contract::{chart_copy, components, dependencies};
use crate::support::{helm_or_skip, repo_root, skip};

fn chart_yaml(chart: &Path) -> Value {
    let path = chart.join("Chart.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn name(chart: &Path) -> String {
    chart
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn chart_meta_every_chart_names_its_app_home_sources_maintainers_and_the_stacks_kube_version() {
    let wanted_kube = format!(">={}.0-0", kalypso::args::DEFAULT_KUBE_VERSION);
    let mut charts = crate::chart_docs::charts_with_values();
    charts.push(repo_root().join("charts/kalypso-common"));
    let mut problems = Vec::new();
    for chart in &charts {
        let meta = chart_yaml(chart);
        let n = name(chart);
        if meta["kubeVersion"].as_str() != Some(wanted_kube.as_str()) {
            problems.push(format!(
                "{n}: kubeVersion {} (every chart: {wanted_kube:?}, the stack's floor)",
                meta["kubeVersion"]
            ));
        }
        if !meta["home"]
            .as_str()
            .is_some_and(|h| h.starts_with("https://"))
        {
            problems.push(format!("{n}: no https home"));
        }
        let sources = meta["sources"].as_array().cloned().unwrap_or_default();
        if sources.is_empty() || !sources.iter().all(|s| s.as_str().is_some()) {
            problems.push(format!("{n}: no sources"));
        }
        let maintainers = meta["maintainers"].as_array().cloned().unwrap_or_default();
        if maintainers.is_empty() || !maintainers.iter().all(|m| m["name"].is_string()) {
            problems.push(format!("{n}: no maintainers with a name"));
        }
        let application = meta["type"].as_str() != Some("library");
        if application && meta["appVersion"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{n}: no appVersion"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `appVersion` is the version of an application the chart installs: the `appVersion` of one of
/// its pinned upstream charts (read from the archives, as `helm show chart` prints them).
#[test]
fn chart_meta_every_app_version_is_an_upstream_charts_app_version() {
    let Some(helm) = helm_or_skip("chart_meta app versions") else {
        return;
    };
    for chart in crate::chart_docs::charts_with_values() {
        let n = name(&chart);
        let mut upstream = Vec::new();
        let mut missing = None;
        for (dep, version, repo) in dependencies(&chart) {
            if repo.starts_with("file://") {
                continue;
            }
            let archive = chart.join("charts").join(format!("{dep}-{version}.tgz"));
            if !archive.is_file() {
                missing = Some(archive);
                break;
            }
            let out = helm
                .command(["show", "chart", &archive.display().to_string()])
                .output()
                .expect("run helm show chart");
            assert!(
                out.status.success(),
                "helm show chart {}",
                archive.display()
            );
            let shown: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout))
                .expect("helm show chart prints YAML");
            if let Some(v) = shown["appVersion"].as_str() {
                upstream.push(format!("{dep} {v}"));
            }
        }
        if let Some(archive) = missing {
            skip(&format!(
                "chart_meta: {n}'s appVersion not compared: {} absent",
                archive.display()
            ));
            continue;
        }
        let app = chart_yaml(&chart)["appVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            upstream.iter().any(|u| u.ends_with(&format!(" {app}"))),
            "{n}: appVersion {app:?} is none of its upstream charts' ({upstream:?})"
        );
    }
}

/// A chart's NOTES.txt as `helm install` would print it: NOTES are not part of `helm template`'s
/// output, so a copy of the chart renders the same file through `tpl` into a ConfigMap.
fn notes(component: &crate::chart_contract::Component) -> String {
    let helm = helm_or_skip("chart_meta notes").expect("helm (the chart tests need it)");
    let root = repo_root();
    let (_tmp, dir) = chart_copy(&root, component, true);
    let notes = dir.join("templates/NOTES.txt");
    assert!(
        notes.is_file(),
        "{} has no templates/NOTES.txt",
        component.name
    );
    std::fs::rename(&notes, dir.join("notes.tpl")).expect("move NOTES.txt");
    std::fs::write(
        dir.join("templates/zz-notes.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  \
         notes: {{ tpl (.Files.Get \"notes.tpl\") . | toJson }}\n",
    )
    .expect("write notes template");
    let out = helm
        .command([
            "template",
            &component.name,
            &dir.display().to_string(),
            "-n",
            &component.namespace,
            "-f",
            &root.join("contract.yaml").display().to_string(),
            "--show-only",
            "templates/zz-notes.yaml",
        ])
        .output()
        .expect("run helm template");
    assert!(
        out.status.success(),
        "{}: NOTES.txt does not render: {}",
        component.name,
        String::from_utf8_lossy(&out.stderr)
    );
    let cm: Value =
        serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).expect("rendered ConfigMap");
    cm["data"]["notes"]
        .as_str()
        .expect("data.notes")
        .to_string()
}

#[test]
fn chart_meta_every_chart_notes_say_what_was_installed_how_to_reach_it_and_what_next() {
    if helm_or_skip("chart_meta notes").is_none() {
        return;
    }
    let root = repo_root();
    let contract = kalypso::contract::Contract::load(&root).expect("contract.yaml");
    for component in components(&root) {
        let text = notes(&component);
        let meta = chart_yaml(&root.join(&component.path));
        let app = meta["appVersion"].as_str().unwrap_or_default();
        let mut wanted = vec![
            format!(
                "Release {} (chart {} {}, app {app}) in namespace {}",
                component.name,
                component.name,
                meta["version"].as_str().unwrap_or_default(),
                component.namespace
            ),
            "kalypso status".to_string(),
            "kalypso verify".to_string(),
        ];
        let wires = &contract.components[&component.name];
        for e in wires.endpoints.values() {
            let host = format!("{}.{}.svc.cluster.local", e.service, wires.namespace);
            let ports: Vec<u16> = e
                .port
                .into_iter()
                .chain(e.ports.values().copied())
                .collect();
            for port in ports {
                wanted.push(format!("{host}:{port}"));
                wanted.push(format!("svc/{} ", e.service));
            }
        }
        if wires.endpoints.is_empty() {
            wanted.push("serves no Service of the stack contract".to_string());
        }
        let missing: Vec<&String> = wanted.iter().filter(|w| !text.contains(*w)).collect();
        assert!(
            missing.is_empty(),
            "{}'s NOTES.txt lacks {missing:?}:\n{text}",
            component.name
        );
    }
}

// ---- the shared schema fragments

const SHARED: &str = "charts/kalypso-common/values.schema.shared.json";

/// The byte range of the value at `path` (object keys from the top) in the JSON `text`.
fn value_span(text: &str, path: &[&str]) -> Option<Range<usize>> {
    let b = text.as_bytes();
    let mut at = skip_ws(b, 0);
    for (depth, key) in path.iter().enumerate() {
        if b.get(at) != Some(&b'{') {
            return None;
        }
        let mut i = skip_ws(b, at + 1);
        let found = loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let key_end = skip_value(b, i)?;
            let this = &text[i + 1..key_end - 1];
            i = skip_ws(b, key_end);
            if b.get(i) != Some(&b':') {
                return None;
            }
            let value = skip_ws(b, i + 1);
            if this == *key {
                break value;
            }
            i = skip_ws(b, skip_value(b, value)?);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                _ => return None,
            }
        };
        at = found;
        if depth + 1 == path.len() {
            return Some(at..skip_value(b, at)?);
        }
    }
    None
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// The index just after the JSON value that starts at `i`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => {
            let mut j = i + 1;
            loop {
                match b.get(j)? {
                    b'\\' => j += 2,
                    b'"' => return Some(j + 1),
                    _ => j += 1,
                }
            }
        }
        open @ (b'{' | b'[') => {
            let close = if *open == b'{' { b'}' } else { b']' };
            let mut j = skip_ws(b, i + 1);
            if b.get(j) == Some(&close) {
                return Some(j + 1);
            }
            loop {
                j = skip_ws(b, skip_value(b, j)?);
                if *open == b'{' {
                    // j is after a key: skip `: value`.
                    if b.get(j) != Some(&b':') {
                        return None;
                    }
                    j = skip_ws(b, skip_value(b, skip_ws(b, j + 1))?);
                }
                match b.get(j)? {
                    b',' => j = skip_ws(b, j + 1),
                    c if *c == close => return Some(j + 1),
                    _ => return None,
                }
            }
        }
        _ => {
            let mut j = i;
            while b
                .get(j)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// The fragments of the shared file: (path, its text).
fn shared_fragments() -> Vec<([String; 2], String)> {
    let text = std::fs::read_to_string(repo_root().join(SHARED)).expect(SHARED);
    let shared: Value = serde_json::from_str(&text).expect("the shared fragments parse");
    let mut out = Vec::new();
    for section in ["properties", "definitions"] {
        let keys: Vec<String> = shared[section]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for key in keys {
            let span =
                value_span(&text, &[section, &key]).expect("a span of every shared fragment");
            out.push(([section.to_string(), key], text[span].to_string()));
        }
    }
    assert!(
        !out.is_empty(),
        "{SHARED} holds no fragment under properties or definitions"
    );
    out
}

#[test]
fn chart_meta_the_schema_fragments_every_chart_repeats_are_the_shared_ones() {
    let bless = std::env::var("KALYPSO_BLESS").as_deref() == Ok("1");
    let fragments = shared_fragments();
    let mut stale = Vec::new();
    for chart in crate::chart_docs::charts_with_values() {
        let path = chart.join("values.schema.json");
        let mut text = std::fs::read_to_string(&path).expect("values.schema.json");
        let mut changed = false;
        for (keys, fragment) in &fragments {
            let wanted: Value = serde_json::from_str(fragment).expect("fragment parses");
            let span = value_span(&text, &[&keys[0], &keys[1]]);
            let current: Option<Value> = span
                .clone()
                .and_then(|s| serde_json::from_str(&text[s]).ok());
            if current.as_ref() == Some(&wanted) {
                continue;
            }
            match (bless, span) {
                (true, Some(span)) => {
                    text.replace_range(span, fragment);
                    changed = true;
                }
                _ => stale.push(format!("{}: {}", name(&chart), keys.join("."))),
            }
        }
        if changed {
            serde_json::from_str::<Value>(&text).expect("the rewritten schema parses");
            std::fs::write(&path, text).expect("write values.schema.json");
        }
    }
    assert!(
        stale.is_empty(),
        "schema fragments that differ from {SHARED} (or are missing): {stale:?}\n\
         edit {SHARED}, then KALYPSO_BLESS=1 cargo test --test it chart_meta"
    );
}

#[test]
fn chart_meta_value_span_finds_nested_values_and_only_them() {
    let text = r#"{"a": {"x": [1, {"y": "}"}], "b": {"c": true}}, "b": 2}"#;
    assert_eq!(
        value_span(text, &["a", "b"]).map(|r| &text[r]),
        Some(r#"{"c": true}"#)
    );
    assert_eq!(value_span(text, &["b"]).map(|r| &text[r]), Some("2"));
    assert_eq!(
        value_span(text, &["a", "x"]).map(|r| &text[r]),
        Some(r#"[1, {"y": "}"}]"#)
    );
    assert_eq!(value_span(text, &["a", "z"]), None);
}
