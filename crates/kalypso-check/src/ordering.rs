//! `ordering/crd` and `ordering/waves`: custom resources come after the chart that installs
//! their CRD; startup dependencies (in-cluster DNS references) point at earlier waves; and the
//! Argo CD manifests really enforce the waves (RollingSync steps, AppProject permissions).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

use super::context::{ChartInfo, Context, DnsUse};
use super::finding::{Finding, Severity};
use kalypso_model::manifest::walk::{index, join, scalar_text};
use kalypso_model::manifest::Object;

/// Rule id for CRD ordering.
pub const CRD_RULE: &str = "ordering/crd";
/// Rule id for wave ordering and its enforcement.
pub const WAVES_RULE: &str = "ordering/waves";

const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";

fn sync_wave(obj: &Object) -> i64 {
    obj.annotation(SYNC_WAVE)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn wave_of<'a>(ctx: &'a Context, obj: &Object) -> Option<(&'a ChartInfo, u32)> {
    let chart = ctx.chart_of(obj)?;
    chart.wave.map(|w| (chart, w))
}

/// The CRDs the stack renders, by (group, kind) of the resources they define.
fn crd_index<'a>(ctx: &'a Context) -> BTreeMap<(String, String), &'a Object> {
    let mut crds = BTreeMap::new();
    for obj in ctx.manifest.of_kind("CustomResourceDefinition") {
        let Some(crd) = obj.typed::<CustomResourceDefinition>() else {
            continue;
        };
        // A missing group or kind decodes as empty: no resource can be of it.
        let (g, k) = (&crd.spec.group, &crd.spec.names.kind);
        if !g.is_empty() && !k.is_empty() {
            crds.insert((g.clone(), k.clone()), obj);
        }
    }
    crds
}

/// Custom resources against the CRDs the stack renders.
pub fn check_crds(ctx: &Context) -> Vec<Finding> {
    let crds = crd_index(ctx);
    let mut out = Vec::new();
    let mut missing_reported = BTreeSet::new();
    for obj in &ctx.manifest.objects {
        if !obj.is_custom_resource() || ctx.chart_of(obj).is_none() {
            continue;
        }
        let Some(crd) = crds.get(&(obj.group().to_string(), obj.kind.clone())) else {
            if missing_reported.insert((
                obj.group().to_string(),
                obj.kind.clone(),
                obj.origin.component.clone(),
            )) {
                let why = if ctx.any_partial() {
                    " (a chart was rendered with stand-ins; its CRDs may be among them)"
                } else {
                    "; it must be installed before this component"
                };
                out.push(Finding::new(
                    CRD_RULE,
                    Severity::Info,
                    obj,
                    "kind",
                    format!("no CRD for {}/{} in the input{why}", obj.group(), obj.kind),
                ));
            }
            continue;
        };
        let (Some((obj_chart, obj_wave)), Some((crd_chart, crd_wave))) =
            (wave_of(ctx, obj), wave_of(ctx, crd))
        else {
            continue;
        };
        if obj_wave > crd_wave {
            continue;
        }
        if obj_wave < crd_wave {
            out.push(Finding::new(
                CRD_RULE,
                Severity::Error,
                obj,
                "kind",
                format!(
                    "{} comes in wave {obj_wave}, before {} (wave {crd_wave}) installs its CRD {}",
                    obj.kind, crd_chart.name, crd.name
                ),
            ));
            continue;
        }
        if obj_chart.name == crd_chart.name && sync_wave(obj) > sync_wave(crd) {
            continue;
        }
        let msg = if obj_chart.name == crd_chart.name {
            format!(
                "{} is applied with its CRD {} in the same sync; give it an {SYNC_WAVE} annotation greater than the CRD's ({})",
                obj.kind,
                crd.name,
                sync_wave(crd)
            )
        } else {
            format!(
                "{} (wave {obj_wave}) and {} which installs its CRD {} are in the same wave: nothing orders them",
                obj.kind, crd_chart.name, crd.name
            )
        };
        out.push(Finding::new(
            CRD_RULE,
            Severity::Warning,
            obj,
            format!("metadata.annotations.{SYNC_WAVE}"),
            msg,
        ));
    }
    out
}

/// Why one component must be healthy before another starts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StartupDependency {
    /// The component that waits.
    pub from: String,
    /// The component it needs.
    pub to: String,
    /// What it needs, for messages (`CRD certificates.cert-manager.io`, an address).
    pub what: String,
}

/// The custom resources of one component whose CRD another component installs:
/// (resource, the CRD, the component whose chart renders the CRD).
fn crd_uses<'a>(ctx: &'a Context) -> Vec<(&'a Object, &'a Object, &'a ChartInfo)> {
    let crds = crd_index(ctx);
    let mut out = Vec::new();
    for obj in &ctx.manifest.objects {
        if !obj.is_custom_resource() {
            continue;
        }
        let Some(crd) = crds.get(&(obj.group().to_string(), obj.kind.clone())) else {
            continue;
        };
        if let Some(chart) = ctx.chart_of(crd) {
            out.push((obj, *crd, chart));
        }
    }
    out
}

/// The in-cluster addresses a component's objects use, with the component serving each
/// (another one than the user's).
fn dns_uses<'a>(ctx: &'a Context) -> Vec<(&'a DnsUse, &'a ChartInfo, &'a ChartInfo)> {
    ctx.dns
        .iter()
        .filter_map(|u| {
            let from = ctx.chart_of(&ctx.manifest.objects[u.object])?;
            let to = ctx.chart_in_namespace(&u.reference.namespace)?;
            (to.name != from.name).then_some((u, from, to))
        })
        .collect()
}

/// What each component needs healthy before it can start, as `ordering/*` judges the waves:
/// the CRDs of its custom resources (and the webhooks and controllers that come with them) and
/// the addresses it needs to start; addresses used only at runtime (exports, datasources,
/// remote writes, which retry) are not startup dependencies. `kalypso up` starts each release
/// once these are healthy.
pub fn startup_dependencies(ctx: &Context) -> Vec<StartupDependency> {
    let mut out = BTreeSet::new();
    for (obj, crd, chart) in crd_uses(ctx) {
        if let Some(from) = ctx.chart_of(obj) {
            if from.name != chart.name {
                out.insert(StartupDependency {
                    from: from.name.clone(),
                    to: chart.name.clone(),
                    what: format!("CRD {}", crd.name),
                });
            }
        }
    }
    for (u, from, to) in dns_uses(ctx) {
        if !u.runtime_only {
            out.insert(StartupDependency {
                from: from.name.clone(),
                to: to.name.clone(),
                what: u.reference.address.clone(),
            });
        }
    }
    // One reason per pair is enough.
    let mut seen = BTreeSet::new();
    out.into_iter()
        .filter(|d| seen.insert((d.from.clone(), d.to.clone())))
        .collect()
}

/// Startup dependencies (DNS references between components) against the waves.
pub fn check_dependencies(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (u, from, to) in dns_uses(ctx) {
        let obj = &ctx.manifest.objects[u.object];
        let (Some(from_wave), Some(to_wave)) = (from.wave, to.wave) else {
            continue;
        };
        if to_wave < from_wave {
            continue;
        }
        if !seen.insert((from.name.clone(), to.name.clone(), u.runtime_only)) {
            continue;
        }
        let (severity, msg) = match (u.runtime_only, to_wave > from_wave) {
            (true, _) => (
                Severity::Info,
                format!(
                    "{} (wave {from_wave}) sends to or reads from {} (wave {to_wave}) at {}: a runtime dependency that retries, not a startup one",
                    from.name, to.name, u.reference.address
                ),
            ),
            (false, true) => (
                Severity::Error,
                format!(
                    "{} (wave {from_wave}) needs {} at {} to start, but {} comes later (wave {to_wave})",
                    from.name, u.reference.address, u.reference.namespace, to.name
                ),
            ),
            (false, false) => (
                Severity::Warning,
                format!(
                    "{} needs {} at {} to start, but both are in wave {to_wave}: nothing orders them",
                    from.name, to.name, u.reference.address
                ),
            ),
        };
        out.push(Finding::new(WAVES_RULE, severity, obj, &u.field, msg));
    }
    out
}

/// Whether a template value is `{{ .wave }}` (go template) or `{{wave}}` (fasttemplate).
fn is_wave_template(v: &str) -> bool {
    let inner: String = v.chars().filter(|c| !c.is_whitespace()).collect();
    inner == "{{.wave}}" || inner == "{{wave}}"
}

fn glob(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.split_once('*') {
        Some((a, b)) => {
            value.starts_with(a) && value.ends_with(b) && value.len() >= a.len() + b.len()
        }
        None => pattern == value,
    }
}

/// The ApplicationSet's RollingSync steps and the AppProject's permissions.
pub fn check_gitops(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for appset in ctx.manifest.of_kind("ApplicationSet") {
        out.extend(check_applicationset(ctx, appset));
    }
    out
}

fn check_applicationset(ctx: &Context, appset: &Object) -> Vec<Finding> {
    let mut out = Vec::new();
    let spec = &appset.body["spec"];
    let mut err = |field: String, msg: String| {
        out.push(Finding::new(
            WAVES_RULE,
            Severity::Error,
            appset,
            field,
            msg,
        ))
    };
    // Elements of list generators, with their waves.
    let mut elements: Vec<(String, String, String)> = Vec::new(); // name, namespace, wave
    if let Some(gens) = spec["generators"].as_array() {
        for g in gens {
            if let Some(els) = g["list"]["elements"].as_array() {
                for e in els {
                    elements.push((
                        e["name"].as_str().unwrap_or("?").to_string(),
                        e["namespace"].as_str().unwrap_or("").to_string(),
                        scalar_text(&e["wave"]).unwrap_or_default(),
                    ));
                }
            }
        }
    }
    let strategy = spec["strategy"]["type"].as_str().unwrap_or("");
    if strategy != "RollingSync" {
        err(
            "spec.strategy.type".into(),
            format!(
                "strategy is {:?}, so the waves are not enforced: sync-wave annotations on generated Applications order nothing; use RollingSync",
                if strategy.is_empty() { "AllAtOnce (default)" } else { strategy }
            ),
        );
    } else {
        let labels = spec["template"]["metadata"]["labels"].as_object();
        let wave_label = labels.and_then(|l| {
            l.iter()
                .find(|(_, v)| v.as_str().is_some_and(is_wave_template))
                .map(|(k, _)| k.clone())
        });
        match wave_label {
            None => err(
                "spec.template.metadata.labels".into(),
                "no template label carries the element's wave ({{ .wave }}), so RollingSync steps cannot select by wave".into(),
            ),
            Some(label) => {
                let steps = spec["strategy"]["rollingSync"]["steps"].as_array().cloned().unwrap_or_default();
                let mut step_waves: Vec<BTreeSet<String>> = Vec::new();
                for (i, step) in steps.iter().enumerate() {
                    let mut waves = BTreeSet::new();
                    for (j, m) in step["matchExpressions"].as_array().into_iter().flatten().enumerate() {
                        let field = join(&index(&join(&index("spec.strategy.rollingSync.steps", i), "matchExpressions"), j), "key");
                        if m["key"].as_str() != Some(label.as_str()) {
                            err(field, format!("step selects on {:?}, not on the wave label {label:?}", m["key"].as_str().unwrap_or("")));
                            continue;
                        }
                        if m["operator"].as_str() != Some("In") {
                            err(field, format!("step uses operator {:?}; use In with the wave values", m["operator"].as_str().unwrap_or("")));
                            continue;
                        }
                        waves.extend(m["values"].as_array().into_iter().flatten().filter_map(scalar_text));
                    }
                    step_waves.push(waves);
                }
                for (name, _, wave) in &elements {
                    if !step_waves.iter().any(|s| s.contains(wave)) {
                        err(
                            "spec.strategy.rollingSync.steps".into(),
                            format!("wave {wave:?} of {name} has no RollingSync step: that Application is never synced"),
                        );
                    }
                }
                let num = |s: &String| s.parse::<i64>().ok();
                for i in 1..step_waves.len() {
                    let prev_max = step_waves[i - 1].iter().filter_map(num).max();
                    let min = step_waves[i].iter().filter_map(num).min();
                    if let (Some(a), Some(b)) = (prev_max, min) {
                        if b <= a {
                            err(
                                index("spec.strategy.rollingSync.steps", i),
                                format!("steps are not in ascending wave order: wave {b} comes after wave {a}"),
                            );
                        }
                    }
                }
            }
        }
    }
    let project_name = spec["template"]["spec"]["project"]
        .as_str()
        .unwrap_or("default");
    let Some(project) = ctx
        .manifest
        .of_kind("AppProject")
        .find(|p| p.name == project_name)
    else {
        return out;
    };
    out.extend(check_project(ctx, appset, project, &elements));
    out
}

fn check_project(
    ctx: &Context,
    appset: &Object,
    project: &Object,
    elements: &[(String, String, String)],
) -> Vec<Finding> {
    let mut out = Vec::new();
    let pspec = &project.body["spec"];
    let tspec = &appset.body["spec"]["template"]["spec"];
    let repos: Vec<&str> = pspec["sourceRepos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut sources: Vec<&str> = Vec::new();
    if let Some(r) = tspec["source"]["repoURL"].as_str() {
        sources.push(r);
    }
    for s in tspec["sources"].as_array().into_iter().flatten() {
        if let Some(r) = s["repoURL"].as_str() {
            sources.push(r);
        }
    }
    for r in sources {
        if !repos.iter().any(|p| glob(p, r)) {
            out.push(Finding::new(
                WAVES_RULE,
                Severity::Error,
                project,
                "spec.sourceRepos",
                format!("the ApplicationSet's repoURL {r} is not in sourceRepos: every Application is refused"),
            ));
        }
    }
    let dests: Vec<(&str, &str)> = pspec["destinations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["namespace"].as_str().unwrap_or(""),
                d["server"].as_str().or(d["name"].as_str()).unwrap_or("*"),
            )
        })
        .collect();
    let mut needed: BTreeMap<String, String> = BTreeMap::new();
    for (name, ns, _) in elements {
        needed.insert(ns.clone(), format!("destination of {name}"));
    }
    for obj in &ctx.manifest.objects {
        if ctx.chart_of(obj).is_none() {
            continue;
        }
        if let Some(ns) = &obj.namespace {
            needed.entry(ns.clone()).or_insert_with(|| {
                format!("{} renders {} there", obj.origin.component, obj.reference())
            });
        }
    }
    for (ns, why) in needed {
        if !dests.iter().any(|(p, _)| glob(p, &ns)) {
            out.push(Finding::new(
                WAVES_RULE,
                Severity::Error,
                project,
                "spec.destinations",
                format!("namespace {ns} is not an allowed destination ({why})"),
            ));
        }
    }
    let allowed: Vec<(&str, &str)> = pspec["clusterResourceWhitelist"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["group"].as_str().unwrap_or(""),
                r["kind"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let mut kinds: BTreeMap<(String, String), String> = BTreeMap::new();
    let create_ns = appset.body["spec"]["template"]["spec"]["syncPolicy"]["syncOptions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|o| o.as_str() == Some("CreateNamespace=true"));
    if create_ns {
        kinds.insert(
            (String::new(), "Namespace".into()),
            "CreateNamespace=true".into(),
        );
    }
    for obj in &ctx.manifest.objects {
        if obj.namespace.is_none() && ctx.chart_of(obj).is_some() {
            kinds
                .entry((obj.group().to_string(), obj.kind.clone()))
                .or_insert_with(|| format!("{} renders {}", obj.origin.component, obj.reference()));
        }
    }
    for ((group, kind), why) in kinds {
        if !allowed
            .iter()
            .any(|(g, k)| glob(g, &group) && glob(k, &kind))
        {
            out.push(Finding::new(
                WAVES_RULE,
                Severity::Error,
                project,
                "spec.clusterResourceWhitelist",
                format!(
                    "cluster-scoped kind {}{kind} is not whitelisted ({why})",
                    if group.is_empty() {
                        String::new()
                    } else {
                        format!("{group}/")
                    }
                ),
            ));
        }
    }
    out
}
