//! `determinism`: two renders of the same chart are identical, object by object (no `lookup`,
//! `randAlphaNum`, `now` or generated certificates that change on every Argo CD sync). The
//! renderer renders every chart twice in whole with helm (or once, against the cached render
//! of identical inputs from an earlier run); those two renders are compared here.

use std::collections::BTreeMap;

use super::finding::{Finding, Severity};
use kalypso_model::manifest::{Manifest, ObjectRef, Source};
use kalypso_render::ChartRender;

/// Rule id.
pub const RULE: &str = "determinism";

/// Compares the passes of every chart render.
pub fn check(renders: &[ChartRender]) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in renders {
        let Some(first) = r.outputs.first() else {
            continue;
        };
        for other in r.outputs.iter().skip(1) {
            if other != first {
                out.extend(compare(r, first, other));
            }
        }
    }
    out
}

fn parse(r: &ChartRender, text: &str) -> Option<Manifest> {
    Manifest::from_sources(&[Source {
        component: r.component.name.clone(),
        origin: format!("helm template {}", r.component.name),
        default_namespace: r.component.namespace.clone(),
        text: text.to_string(),
    }])
    .ok()
}

fn compare(r: &ChartRender, a: &str, b: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let (Some(ma), Some(mb)) = (parse(r, a), parse(r, b)) else {
        out.push(Finding::general(
            RULE,
            Severity::Error,
            &r.component.name,
            ObjectRef {
                api_version: String::new(),
                kind: "Chart".into(),
                namespace: None,
                name: r.component.name.clone(),
            },
            "two renders differ (and one does not parse)",
        ));
        return out;
    };
    let index = |m: &Manifest| -> BTreeMap<ObjectRef, usize> {
        m.objects
            .iter()
            .enumerate()
            .map(|(i, o)| (o.reference(), i))
            .collect()
    };
    let (ia, ib) = (index(&ma), index(&mb));
    for (key, &i) in &ia {
        let oa = &ma.objects[i];
        match ib.get(key) {
            None => out.push(Finding::new(
                RULE,
                Severity::Error,
                oa,
                "",
                "rendered by one pass only: the chart renders different objects each time",
            )),
            Some(&j) => {
                let ob = &mb.objects[j];
                if oa.text != ob.text {
                    let line = oa
                        .text
                        .lines()
                        .zip(ob.text.lines())
                        .position(|(x, y)| x != y)
                        .map(|n| n + 1)
                        .unwrap_or(0);
                    let what = oa
                        .text
                        .lines()
                        .nth(line.saturating_sub(1))
                        .map(|l| l.split(':').next().unwrap_or("").trim().to_string())
                        .unwrap_or_default();
                    out.push(Finding::new(
                        RULE,
                        Severity::Error,
                        oa,
                        if what.is_empty() { String::new() } else { format!("line {line}: {what}") },
                        format!(
                            "differs between two renders{} (first at line {line} of the object): look for randAlphaNum, now, genCA or uuidv4 in {}",
                            if r.second_from_cache { " of identical inputs (this one and the previous run's)" } else { "" },
                            oa.origin.file
                        ),
                    ));
                }
            }
        }
    }
    for (key, &j) in &ib {
        if !ia.contains_key(key) {
            out.push(Finding::new(
                RULE,
                Severity::Error,
                &mb.objects[j],
                "",
                "rendered by one pass only: the chart renders different objects each time",
            ));
        }
    }
    out
}
