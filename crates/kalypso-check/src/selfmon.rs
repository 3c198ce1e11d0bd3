//! `selfmon/selectors`: the stack's self-monitoring can show something.
//!
//! The backends' dashboards and rules (the upstream mixins) select on the labels the scrapes
//! give their series (`cluster`, `namespace`, `job="<namespace>/<component>"`, `pod`,
//! `container`, `instance`), and many panels read recording rules. This rule takes every
//! dashboard the render provisions (a ConfigMap key holding dashboard JSON, and the dashboards
//! Grafana's `download_dashboards.sh` fetches by URL at install time) and every rule group it
//! loads into Mimir's ruler (ConfigMaps labelled `kalypso/ruler-rules`: `<namespace>.yaml` rule
//! files and `<namespace>.url` files fetched at install time), parses each query with
//! `promql-parser`, and evaluates it abstractly over the targets the collectors' Prometheus
//! receivers scrape in the render (Kubernetes service discovery and their `relabel_configs`,
//! as `wiring/netpol` models them) and over the recording rules' outputs:
//!
//! - a selector matches a target when every matcher on a label the scrapes produce (the six
//!   above and whatever else relabelling sets) accepts the target's value (`""` when it has
//!   none); matchers on other labels (a metric's own, `route`, `le`) cannot be known offline
//!   and are taken as satisfied; the metric name is not checked (what a target exposes is not
//!   in the render), except that a recording rule's name is matched against what the loaded
//!   rules record and that cAdvisor, kube-state-metrics, node-exporter and kubelet metrics
//!   (`container_*`, `kube_*`, `node_*`, `kubelet_*`, `machine_*`) come from scrapes the stack
//!   does not have;
//! - aggregations keep their `by` labels (drop their `without` labels), `label_replace` and
//!   `label_join` write theirs, binary operators need both sides and matching labels (`or`
//!   either side), `absent`, `vector` and scalars are never empty.
//!
//! A panel all of whose PromQL queries can only be empty is a warning naming the dashboard, the
//! panel and the selector; an alert whose expression can only be empty (it never fires) and a
//! recording rule that records nothing are warnings too. When what makes it empty is a metric
//! of an exporter the stack does not run, the finding is info. A rule that does not parse is an
//! error (Mimir refuses its group); a dashboard query that does not parse is a warning.
//!
//! Dashboard template variables: Grafana's interval built-ins (`$__rate_interval`,
//! `$__interval`, `$__range`, …) become `5m`; custom, constant, textbox and interval variables
//! take their default (current) value; query, datasource and ad hoc variables are wildcards
//! (their `allValue`, else `.+`: a value some series has). Only queries of the Prometheus
//! datasource type are read (Loki, Tempo, Pyroscope and expression queries are not PromQL).
//!
//! Files loaded by URL at install time are not in the render: they are read from a local copy
//! of the published files named by [`MONITORING_DIR_ENV`] (`<dir>/<repo>-<tag>/…`, the longest
//! tail of the URL's path that exists there), and reported as info ("not verified") otherwise.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr, LabelModifier, VectorMatchCardinality, VectorSelector};
use regex::Regex;
use serde_json::Value;

use super::context::Context;
use super::finding::{Finding, Severity};
use super::netpol::scraped_targets;
use kalypso_model::manifest::{yaml, Object};

/// Rule id.
pub const RULE: &str = "selfmon/selectors";

/// Environment variable naming a local copy of the monitoring files loaded by URL at install
/// time (one folder per `<repo>-<tag>`).
pub const MONITORING_DIR_ENV: &str = "KALYPSO_UPSTREAM_MONITORING";

/// Label of the ConfigMaps whose keys are rule groups loaded into Mimir's ruler.
const RULES_LABEL: &str = "kalypso/ruler-rules";
/// The grafana chart's script that downloads the dashboards given by URL.
const DOWNLOAD_SCRIPT: &str = "download_dashboards.sh";
/// The labels the mixins expect every scrape to give its series.
const SCRAPE_LABELS: [&str; 6] = [
    "cluster",
    "namespace",
    "job",
    "pod",
    "container",
    "instance",
];
/// Metric name prefixes of exporters the stack does not scrape.
const FOREIGN: &[(&str, &str)] = &[
    ("container_", "cAdvisor"),
    ("machine_", "cAdvisor"),
    ("kube_", "kube-state-metrics"),
    ("node_", "node-exporter"),
    ("kubelet_", "the kubelet's own /metrics"),
];
/// A wildcard variable inside a string literal (shown as written in findings).
const ANY_IN_STRING: &str = "${any}";
/// A wildcard variable outside string literals (a name the parser takes).
const ANY_OUTSIDE: &str = "__any__";
/// The duration the interval built-ins stand for.
const INTERVAL: &str = "5m";
/// Bound on the series one expression is modelled with (label combinations, not samples).
const MAX_SERIES: usize = 4000;

/// What can be known of one series: its values of the labels the check models.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Series {
    /// Label -> value; `None`: present with a value not known offline.
    labels: BTreeMap<String, Option<String>>,
    /// Labels not listed may be present with any value (a function's output).
    open: bool,
}

impl Series {
    fn closed() -> Series {
        Series {
            labels: BTreeMap::new(),
            open: false,
        }
    }

    /// The value a matcher sees: `Some("")` when absent, `None` when not known.
    fn value(&self, label: &str, vocabulary: &BTreeSet<String>) -> Option<&str> {
        match self.labels.get(label) {
            Some(Some(v)) => Some(v),
            Some(None) => None,
            None if self.open || !vocabulary.contains(label) => None,
            None => Some(""),
        }
    }
}

/// Why an expression can only be empty.
#[derive(Debug, Clone, PartialEq)]
struct Empty {
    /// The selector (or rule) that selects nothing, as written.
    selector: String,
    why: String,
    /// Because of a metric of an exporter the stack does not run.
    foreign: bool,
}

/// An expression's result, as far as labels go.
#[derive(Debug, Clone)]
enum Shape {
    Scalar,
    /// Empty: the expression can only return nothing.
    Vector(BTreeSet<Series>),
}

#[derive(Debug, Clone)]
struct Eval {
    shape: Shape,
    /// Set when the vector is empty.
    empty: Option<Empty>,
}

impl Eval {
    fn scalar() -> Eval {
        Eval {
            shape: Shape::Scalar,
            empty: None,
        }
    }

    fn vector(series: BTreeSet<Series>, empty: Option<Empty>) -> Eval {
        let empty = if series.is_empty() { empty } else { None };
        Eval {
            shape: Shape::Vector(series),
            empty,
        }
    }

    fn is_empty(&self) -> bool {
        matches!(&self.shape, Shape::Vector(s) if s.is_empty())
    }
}

/// What a recording rule records.
#[derive(Debug, Clone, Default)]
struct Recorded {
    series: BTreeSet<Series>,
    empty: Option<Empty>,
}

/// The scraped targets and the recorded series: what selectors can match.
struct Model {
    targets: Vec<Series>,
    vocabulary: BTreeSet<String>,
    recorded: BTreeMap<String, Recorded>,
    regexes: std::cell::RefCell<HashMap<String, Option<Regex>>>,
    /// `chart/dependency` rendered as an empty stand-in: emptiness is then not verified.
    stand_ins: Vec<String>,
}

/// One loaded rule.
struct Rule {
    /// Where it is: finding object, field.
    at: Source,
    group: String,
    record: Option<String>,
    alert: Option<String>,
    expr: String,
    labels: BTreeMap<String, String>,
}

/// Where a dashboard or rule file came from.
#[derive(Clone)]
struct Source {
    /// Index of the rendered object that provisions it.
    object: usize,
    /// Its field (`data.mimir-writes.json`, `data.tempo-alerts.url: <url>`).
    field: String,
}

/// Runs the rule.
pub fn check(ctx: &Context) -> Vec<Finding> {
    let dir = std::env::var_os(MONITORING_DIR_ENV).map(PathBuf::from);
    check_with(ctx, dir.as_deref())
}

/// Runs the rule with the local copy of URL-loaded files at `dir`.
fn check_with(ctx: &Context, dir: Option<&Path>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut rules = Vec::new();
    let mut dashboards = Vec::new();
    for (i, obj) in ctx.manifest.objects.iter().enumerate() {
        if obj.kind != "ConfigMap" {
            continue;
        }
        let Some(data) = obj.body["data"].as_object() else {
            continue;
        };
        let rule_source = obj.body["metadata"]["labels"][RULES_LABEL].as_str() == Some("true");
        for (key, text) in data {
            let Some(text) = text.as_str() else { continue };
            let field = format!("data.{key}");
            if rule_source && (key.ends_with(".yaml") || key.ends_with(".yml")) {
                let at = Source { object: i, field };
                rules.extend(rule_file(ctx, &at, text, &mut findings));
            } else if rule_source && key.ends_with(".url") {
                let url = text.trim();
                let at = Source {
                    object: i,
                    field: format!("{field}: {url}"),
                };
                match fetched(dir, url) {
                    Some(text) => rules.extend(rule_file(ctx, &at, &text, &mut findings)),
                    None => findings.push(not_verified(obj, &at.field, url, dir)),
                }
            } else if key == DOWNLOAD_SCRIPT {
                for url in script_urls(text) {
                    let at = Source {
                        object: i,
                        field: format!("{field}: {url}"),
                    };
                    match fetched(dir, &url).and_then(|t| serde_json::from_str(&t).ok()) {
                        Some(d) if is_dashboard(&d) => dashboards.push((at, d)),
                        _ => findings.push(not_verified(obj, &at.field, &url, dir)),
                    }
                }
            } else if key.ends_with(".json") {
                if let Ok(d) = serde_json::from_str::<Value>(text) {
                    if is_dashboard(&d) {
                        dashboards.push((Source { object: i, field }, d));
                    }
                }
            }
        }
    }
    if rules.is_empty() && dashboards.is_empty() {
        return findings;
    }
    let mut model = Model::new(scraped_targets(ctx).into_iter().map(|t| t.labels).collect());
    // With stand-ins for upstream charts their workloads, and so their scrape targets, are not
    // in the render: an empty selector then says nothing about the labels.
    model.stand_ins = ctx
        .charts
        .iter()
        .flat_map(|c| {
            c.status
                .stand_ins()
                .iter()
                .map(move |s| format!("{}/{s}", c.name))
        })
        .collect();
    findings.extend(record(ctx, &mut model, &rules));
    for r in rules.iter().filter(|r| r.alert.is_some()) {
        findings.extend(check_alert(ctx, &model, r));
    }
    for (at, d) in &dashboards {
        findings.extend(check_dashboard(ctx, &model, at, d));
    }
    findings
}

/// A finding about the object at `at`.
fn finding(ctx: &Context, at: &Source, field: &str, severity: Severity, msg: String) -> Finding {
    Finding::new(
        RULE,
        severity,
        &ctx.manifest.objects[at.object],
        field.to_string(),
        msg,
    )
}

fn not_verified(obj: &Object, field: &str, url: &str, dir: Option<&Path>) -> Finding {
    let how = match dir {
        Some(d) => format!("no copy of it under {}", d.display()),
        None => format!("set {MONITORING_DIR_ENV} to a local copy of the published files"),
    };
    Finding::new(
        RULE,
        Severity::Info,
        obj,
        field,
        format!("{url} is loaded at install time: not verified ({how})"),
    )
}

/// Whether a JSON document is a Grafana dashboard.
fn is_dashboard(d: &Value) -> bool {
    d.is_object() && (d["panels"].is_array() || d["rows"].is_array())
}

/// The `https://…` URLs of dashboards a download script fetches.
fn script_urls(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in script.split('"').skip(1).step_by(2) {
        if part.starts_with("https://") && !out.iter().any(|u| u == part) {
            out.push(part.to_string());
        }
    }
    out
}

/// The local copy of a published file: `<dir>/<repo>-<tag>/<the longest tail of its path>`
/// (GitHub's raw URLs: `https://raw.githubusercontent.com/<owner>/<repo>/<tag>/<path>`).
fn fetched(dir: Option<&Path>, url: &str) -> Option<String> {
    let dir = dir?;
    let rest = url.split_once("://")?.1;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() < 5 {
        return None;
    }
    let base = dir.join(format!("{}-{}", parts[2], parts[3]));
    let path = &parts[4..];
    (0..path.len()).find_map(|skip| std::fs::read_to_string(base.join(path[skip..].join("/"))).ok())
}

/// The rules of a Prometheus rule file; a file or rule that does not parse is an error.
fn rule_file(ctx: &Context, at: &Source, text: &str, findings: &mut Vec<Finding>) -> Vec<Rule> {
    let Some(doc) = yaml::value(text) else {
        findings.push(finding(
            ctx,
            at,
            &at.field,
            Severity::Error,
            "not a Prometheus rule file (no YAML document)".into(),
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for g in doc["groups"].as_array().into_iter().flatten() {
        let group = g["name"].as_str().unwrap_or_default().to_string();
        for r in g["rules"].as_array().into_iter().flatten() {
            let expr = match &r["expr"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            let labels = r["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect();
            out.push(Rule {
                at: at.clone(),
                group: group.clone(),
                record: r["record"].as_str().map(str::to_string),
                alert: r["alert"].as_str().map(str::to_string),
                expr,
                labels,
            });
        }
    }
    out
}

impl Rule {
    fn name(&self) -> &str {
        self.record
            .as_deref()
            .or(self.alert.as_deref())
            .unwrap_or("?")
    }

    fn field(&self) -> String {
        format!("{}: {}/{}", self.at.field, self.group, self.name())
    }
}

/// Evaluates the recording rules until what they record stops changing (rules read other
/// rules' outputs); reports rules that do not parse and rules that record nothing.
fn record(ctx: &Context, model: &mut Model, rules: &[Rule]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut parsed = Vec::new();
    for r in rules {
        match parser::parse(&r.expr) {
            Ok(e) => parsed.push(Some(e)),
            Err(e) => {
                findings.push(finding(
                    ctx,
                    &r.at,
                    &r.field(),
                    Severity::Error,
                    format!(
                        "{} {} does not parse as PromQL: {}",
                        if r.record.is_some() { "rule" } else { "alert" },
                        r.name(),
                        e.trim()
                    ),
                ));
                parsed.push(None);
            }
        }
    }
    for _ in 0..8 {
        let mut changed = false;
        for (r, e) in rules.iter().zip(&parsed) {
            let (Some(name), Some(e)) = (&r.record, e) else {
                continue;
            };
            let out = model.eval(e);
            let series: BTreeSet<Series> = match out.shape {
                Shape::Scalar => BTreeSet::from([Series::closed()]),
                Shape::Vector(s) => s
                    .into_iter()
                    .map(|mut s| {
                        for (k, v) in &r.labels {
                            s.labels.insert(k.clone(), Some(v.clone()));
                        }
                        s
                    })
                    .collect(),
            };
            let entry = model.recorded.entry(name.clone()).or_default();
            let before = entry.series.len();
            entry.series.extend(series);
            if entry.series.is_empty() && entry.empty.is_none() {
                entry.empty = out.empty.clone();
                changed = true;
            }
            changed |= entry.series.len() != before;
        }
        if !changed {
            break;
        }
    }
    for (r, e) in rules.iter().zip(&parsed) {
        let (Some(name), Some(_)) = (&r.record, e) else {
            continue;
        };
        let rec = &model.recorded[name];
        if rec.series.is_empty() {
            let (severity, why) = model.explain(rec.empty.as_ref());
            findings.push(finding(
                ctx,
                &r.at,
                &r.field(),
                severity,
                format!(
                    "recording rule {name} (group {}) records nothing: {why}",
                    r.group
                ),
            ));
        }
    }
    findings
}

fn check_alert(ctx: &Context, model: &Model, r: &Rule) -> Option<Finding> {
    let e = parser::parse(&r.expr).ok()?;
    let out = model.eval(&e);
    if !out.is_empty() {
        return None;
    }
    let (severity, why) = model.explain(out.empty.as_ref());
    Some(finding(
        ctx,
        &r.at,
        &r.field(),
        severity,
        format!(
            "alert {} (group {}) can never fire: {why}",
            r.name(),
            r.group
        ),
    ))
}

/// A dashboard's template variables: what each stands for in a query.
struct Variables {
    values: BTreeMap<String, Option<String>>,
    /// Datasource variables: name -> plugin type (`prometheus`, `loki`).
    datasources: BTreeMap<String, String>,
}

impl Variables {
    fn of(d: &Value) -> Variables {
        let mut values: BTreeMap<String, Option<String>> = BTreeMap::new();
        for b in [
            "__rate_interval",
            "__interval",
            "__range",
            "__auto_interval",
        ] {
            values.insert(b.into(), Some(INTERVAL.into()));
        }
        values.insert("__range_s".into(), Some("300".into()));
        values.insert("__range_ms".into(), Some("300000".into()));
        values.insert("__interval_ms".into(), Some("300000".into()));
        let mut datasources = BTreeMap::new();
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            let Some(name) = v["name"].as_str() else {
                continue;
            };
            let kind = v["type"].as_str().unwrap_or("query");
            if kind == "datasource" {
                let plugin = v["query"].as_str().unwrap_or("prometheus");
                datasources.insert(name.to_string(), plugin.to_string());
            }
            let current = match &v["current"]["value"] {
                Value::String(s) => Some(s.clone()),
                Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_string),
                _ => None,
            }
            .filter(|c| c != "$__all" && !c.is_empty());
            let value = match kind {
                "custom" | "constant" | "textbox" | "interval" => current.or_else(|| {
                    v["options"]
                        .as_array()
                        .and_then(|o| o.first())
                        .and_then(|o| o["value"].as_str())
                        .map(str::to_string)
                        .or_else(|| (kind == "interval").then(|| INTERVAL.to_string()))
                }),
                _ => None,
            }
            // A custom variable's `\,` is a comma inside one option.
            .map(|v| {
                if kind == "custom" {
                    v.replace("\\,", ",")
                } else {
                    v
                }
            });
            if kind == "interval" {
                values.insert(
                    format!("__auto_interval_{name}"),
                    Some(value.clone().unwrap_or_else(|| INTERVAL.into())),
                );
            }
            values.insert(name.to_string(), value);
        }
        Variables {
            values,
            datasources,
        }
    }

    /// `text` with every known variable replaced (`$x`, `${x}`, `${x:fmt}`, `[[x]]`); a
    /// wildcard becomes a marker the matcher model reads as "any value that exists". A value
    /// holding variables is substituted too (Grafana interpolates a custom variable's options).
    fn substitute(&self, text: &str) -> String {
        self.substitute_at(text, 0)
    }

    fn substitute_at(&self, text: &str, depth: usize) -> String {
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::with_capacity(text.len());
        let mut quote: Option<char> = None;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if let Some(q) = quote {
                if c == '\\' && q != '`' && i + 1 < chars.len() {
                    out.push(c);
                    out.push(chars[i + 1]);
                    i += 2;
                    continue;
                }
                if c == q {
                    quote = None;
                }
            } else if c == '"' || c == '\'' || c == '`' {
                quote = Some(c);
            }
            if let Some((name, len)) = variable_at(&chars, i) {
                if let Some(value) = self.values.get(&name) {
                    match value {
                        Some(v) if depth < 2 && v.contains(['$', '[']) => {
                            out.push_str(&self.substitute_at(v, depth + 1))
                        }
                        Some(v) => out.push_str(v),
                        None if quote.is_some() => out.push_str(ANY_IN_STRING),
                        None => out.push_str(ANY_OUTSIDE),
                    }
                    i += len;
                    continue;
                }
            }
            out.push(c);
            i += 1;
        }
        out
    }

    /// Whether a datasource reference (a panel's or a query's) is a Prometheus one; `None`
    /// when it does not say (then the panel's, else the default datasource, Mimir).
    fn is_prometheus(&self, ds: &Value) -> Option<bool> {
        let plugin = |s: &str| -> Option<bool> {
            let var = s
                .trim_start_matches('$')
                .trim_start_matches('{')
                .trim_end_matches('}');
            if s.starts_with('$') {
                return Some(self.datasources.get(var).is_none_or(|p| p == "prometheus"));
            }
            match s {
                "-- Mixed --" => None,
                "-- Grafana --" | "-- Dashboard --" | "grafana" | "__expr__" => Some(false),
                _ => Some(true),
            }
        };
        match ds {
            Value::String(s) => plugin(s),
            Value::Object(o) => match o.get("type").and_then(Value::as_str) {
                Some("datasource") | None => o.get("uid").and_then(Value::as_str).and_then(plugin),
                Some(t) if t.starts_with('$') => plugin(t),
                Some(t) => Some(t == "prometheus"),
            },
            _ => None,
        }
    }
}

/// A variable reference at `chars[i]`: its name and length.
fn variable_at(chars: &[char], i: usize) -> Option<(String, usize)> {
    let ident = |from: usize| -> String {
        chars[from..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .collect()
    };
    match chars[i] {
        '$' if chars.get(i + 1) == Some(&'{') => {
            let name = ident(i + 2);
            let mut end = i + 2 + name.chars().count();
            if chars.get(end) == Some(&':') {
                while end < chars.len() && chars[end] != '}' {
                    end += 1;
                }
            }
            (chars.get(end) == Some(&'}') && !name.is_empty()).then(|| (name, end + 1 - i))
        }
        '$' => {
            let name = ident(i + 1);
            let len = name.chars().count() + 1;
            (!name.is_empty()).then_some((name, len))
        }
        '[' if chars.get(i + 1) == Some(&'[') => {
            let name = ident(i + 2);
            let mut end = i + 2 + name.chars().count();
            while end < chars.len() && chars[end] != ']' {
                end += 1;
            }
            (chars.get(end + 1) == Some(&']') && !name.is_empty()).then(|| (name, end + 2 - i))
        }
        _ => None,
    }
}

/// Every panel of a dashboard (rows' panels included), with its row's title.
fn panels(d: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            if p["targets"].is_array() {
                out.push(p);
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&d["panels"], &mut out);
    for r in d["rows"].as_array().into_iter().flatten() {
        walk(&r["panels"], &mut out);
    }
    out
}

fn check_dashboard(ctx: &Context, model: &Model, at: &Source, d: &Value) -> Vec<Finding> {
    let vars = Variables::of(d);
    let title = d["title"].as_str().unwrap_or("(untitled)");
    let mut findings = Vec::new();
    for p in panels(d) {
        let panel = match (p["title"].as_str(), p["id"].as_u64()) {
            (Some(t), Some(id)) if !t.is_empty() => format!("panel {id} \"{t}\""),
            (Some(t), None) if !t.is_empty() => format!("panel \"{t}\""),
            (_, Some(id)) => format!("panel {id}"),
            _ => "a panel".into(),
        };
        let field = format!("{}: {panel}", at.field);
        let panel_ds = vars.is_prometheus(&p["datasource"]);
        let mut queries = 0;
        let mut empties = Vec::new();
        for t in p["targets"].as_array().into_iter().flatten() {
            let Some(expr) = t["expr"].as_str().filter(|e| !e.trim().is_empty()) else {
                continue;
            };
            let prometheus = vars
                .is_prometheus(&t["datasource"])
                .or(panel_ds)
                .unwrap_or(true);
            if !prometheus {
                continue;
            }
            queries += 1;
            let text = vars.substitute(expr);
            match parser::parse(&text) {
                Ok(e) => {
                    let out = model.eval(&e);
                    if out.is_empty() {
                        empties.push(out.empty);
                    }
                }
                Err(err) => findings.push(finding(
                    ctx,
                    at,
                    &field,
                    Severity::Warning,
                    format!(
                        "dashboard \"{title}\", {panel}: query {} does not parse as PromQL: {}",
                        t["refId"].as_str().unwrap_or("?"),
                        err.trim()
                    ),
                )),
            }
        }
        if queries > 0 && empties.len() == queries {
            let worst = empties
                .iter()
                .flatten()
                .find(|e| !e.foreign)
                .or_else(|| empties.iter().flatten().next());
            let (severity, why) = model.explain(worst);
            findings.push(finding(
                ctx,
                at,
                &field,
                severity,
                format!("dashboard \"{title}\", {panel} can only show nothing: {why}"),
            ));
        }
    }
    findings
}

/// The exporter a metric comes from, when the stack does not scrape it; for a recording rule's
/// name (`level:metric:operations`), the exporter of the metric it is recorded from.
fn foreign(name: &str) -> Option<&'static str> {
    let segments: Vec<&str> = name.split(':').collect();
    let metric: &[&str] = match segments.len() {
        1 => &segments,
        2 => &segments[1..],
        n => &segments[1..n - 1],
    };
    metric.iter().find_map(|segment| {
        FOREIGN
            .iter()
            .find(|(prefix, _)| segment.starts_with(prefix))
            .map(|(_, exporter)| *exporter)
    })
}

/// One matcher as the model applies it.
enum Test {
    /// Not checkable (a variable in a negative matcher): taken as satisfied.
    Any,
    Equal(String),
    NotEqual(String),
    Regex(Regex, bool),
}

impl Model {
    /// The severity and the words for why something is empty.
    fn explain(&self, empty: Option<&Empty>) -> (Severity, String) {
        let (severity, why) = match empty {
            Some(e) if e.foreign => return (Severity::Info, format!("{} ({})", e.selector, e.why)),
            Some(e) => (
                Severity::Warning,
                format!("selector {} {}", e.selector, e.why),
            ),
            None => (Severity::Warning, "no series".into()),
        };
        if self.stand_ins.is_empty() {
            return (severity, why);
        }
        let unverified = format!(
            "{why} (not verified: rendered with stand-ins for {}, whose scrape targets are absent)",
            self.stand_ins.join(", ")
        );
        (Severity::Info, unverified)
    }

    fn new(targets: Vec<BTreeMap<String, String>>) -> Model {
        let mut vocabulary: BTreeSet<String> =
            SCRAPE_LABELS.iter().map(|l| l.to_string()).collect();
        vocabulary.extend(targets.iter().flat_map(|t| t.keys().cloned()));
        let targets = targets
            .into_iter()
            .map(|t| Series {
                labels: t.into_iter().map(|(k, v)| (k, Some(v))).collect(),
                open: false,
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        Model {
            targets,
            vocabulary,
            recorded: BTreeMap::new(),
            regexes: Default::default(),
            stand_ins: Vec::new(),
        }
    }

    fn regex(&self, pattern: &str) -> Option<Regex> {
        self.regexes
            .borrow_mut()
            .entry(pattern.to_string())
            .or_insert_with(|| Regex::new(&format!("^(?:{pattern})$")).ok())
            .clone()
    }

    fn test(&self, m: &Matcher) -> Test {
        let wildcard = m.value.contains(ANY_IN_STRING);
        match &m.op {
            MatchOp::Equal if wildcard => {
                let pattern = m
                    .value
                    .split(ANY_IN_STRING)
                    .map(regex::escape)
                    .collect::<Vec<_>>()
                    .join(".+");
                self.regex(&pattern)
                    .map_or(Test::Any, |r| Test::Regex(r, true))
            }
            MatchOp::Equal => Test::Equal(m.value.clone()),
            MatchOp::NotEqual if wildcard => Test::Any,
            MatchOp::NotEqual => Test::NotEqual(m.value.clone()),
            MatchOp::NotRe(_) if wildcard => Test::Any,
            MatchOp::Re(_) | MatchOp::NotRe(_) => {
                let pattern = m.value.replace(ANY_IN_STRING, ".+");
                let positive = matches!(m.op, MatchOp::Re(_));
                self.regex(&pattern)
                    .map_or(Test::Any, |r| Test::Regex(r, positive))
            }
        }
    }

    /// Whether `s` can satisfy every condition.
    fn satisfies(&self, tests: &[(String, Test)], s: &Series) -> bool {
        tests.iter().all(|(label, t)| self.holds(label, t, s))
    }

    fn holds(&self, label: &str, t: &Test, s: &Series) -> bool {
        let Some(value) = s.value(label, &self.vocabulary) else {
            return true;
        };
        match t {
            Test::Any => true,
            Test::Equal(v) => value == v,
            Test::NotEqual(v) => value != v,
            Test::Regex(r, positive) => r.is_match(value) == *positive,
        }
    }

    fn eval(&self, e: &Expr) -> Eval {
        match e {
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Eval::scalar(),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => self.eval(&u.expr),
            Expr::Subquery(s) => self.eval(&s.expr),
            Expr::VectorSelector(vs) => self.select(vs),
            Expr::MatrixSelector(ms) => self.select(&ms.vs),
            Expr::Aggregate(a) => {
                let inner = self.eval(&a.expr);
                let Shape::Vector(series) = inner.shape else {
                    return Eval::scalar();
                };
                let op = a.op.to_string();
                let keeps_labels =
                    matches!(op.as_str(), "topk" | "bottomk" | "limitk" | "limit_ratio");
                let out = if keeps_labels {
                    series
                } else {
                    let mut added = None;
                    if op == "count_values" {
                        if let Some(Expr::StringLiteral(l)) = a.param.as_deref() {
                            added = Some(l.val.clone());
                        }
                    }
                    series
                        .into_iter()
                        .map(|s| {
                            let mut s = group(s, a.modifier.as_ref());
                            if let Some(l) = &added {
                                s.labels.insert(l.clone(), None);
                            }
                            s
                        })
                        .collect()
                };
                Eval::vector(out, inner.empty)
            }
            Expr::Call(c) => self.call(c),
            Expr::Binary(b) => self.binary(b),
            Expr::Extension(_) => Eval::vector(
                BTreeSet::from([Series {
                    labels: BTreeMap::new(),
                    open: true,
                }]),
                None,
            ),
        }
    }

    fn call(&self, c: &parser::Call) -> Eval {
        let name = c.func.name;
        let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
        if name == "absent" || name == "absent_over_time" {
            // One series, with the selector's equality matchers as labels, when it is empty.
            let mut s = Series::closed();
            if let Some(
                Expr::VectorSelector(vs) | Expr::MatrixSelector(parser::MatrixSelector { vs, .. }),
            ) = args.first().copied()
            {
                for m in &vs.matchers.matchers {
                    if matches!(m.op, MatchOp::Equal) && m.name != "__name__" {
                        s.labels.insert(m.name.clone(), Some(m.value.clone()));
                    }
                }
            }
            return Eval::vector(BTreeSet::from([s]), None);
        }
        if c.func.return_type == parser::value::ValueType::Scalar {
            return Eval::scalar();
        }
        let vector_arg = args.iter().find(|a| {
            matches!(
                a.value_type(),
                parser::value::ValueType::Vector | parser::value::ValueType::Matrix
            )
        });
        let Some(arg) = vector_arg else {
            // vector(s), time-based functions without an argument: one series without labels.
            return Eval::vector(BTreeSet::from([Series::closed()]), None);
        };
        let inner = self.eval(arg);
        let Shape::Vector(series) = inner.shape else {
            return Eval::scalar();
        };
        let text = |i: usize| -> Option<String> {
            match args.get(i) {
                Some(Expr::StringLiteral(s)) => Some(s.val.clone()),
                _ => None,
            }
        };
        let out = match name {
            "label_replace" => {
                let (Some(dst), Some(replacement), Some(src), Some(pattern)) =
                    (text(1), text(2), text(3), text(4))
                else {
                    return Eval::vector(series, inner.empty);
                };
                let re = self.regex(&pattern);
                series
                    .into_iter()
                    .map(|mut s| {
                        let value = s.value(&src, &self.vocabulary).map(str::to_string);
                        let new = match (value, &re) {
                            (Some(v), Some(re)) => match re.captures(&v) {
                                Some(caps) => {
                                    let mut out = String::new();
                                    caps.expand(&replacement, &mut out);
                                    Some(Some(out))
                                }
                                None => None,
                            },
                            _ => Some(None),
                        };
                        match new {
                            Some(Some(v)) if v.is_empty() => {
                                s.labels.remove(&dst);
                            }
                            Some(v) => {
                                s.labels.insert(dst.clone(), v);
                            }
                            None => {}
                        }
                        s
                    })
                    .collect()
            }
            "label_join" => {
                let Some(dst) = text(1) else {
                    return Eval::vector(series, inner.empty);
                };
                series
                    .into_iter()
                    .map(|mut s| {
                        s.labels.insert(dst.clone(), None);
                        s
                    })
                    .collect()
            }
            _ => series,
        };
        Eval::vector(out, inner.empty)
    }

    fn binary(&self, b: &parser::BinaryExpr) -> Eval {
        let lhs = self.eval(&b.lhs);
        let rhs = self.eval(&b.rhs);
        let op = b.op.to_string();
        let (l, r) = match (lhs.shape, rhs.shape) {
            (Shape::Scalar, Shape::Scalar) => return Eval::scalar(),
            (Shape::Scalar, Shape::Vector(v)) => return Eval::vector(v, rhs.empty),
            (Shape::Vector(v), Shape::Scalar) => return Eval::vector(v, lhs.empty),
            (Shape::Vector(l), Shape::Vector(r)) => (l, r),
        };
        let modifier = b.modifier.as_ref();
        let matching = modifier.and_then(|m| m.matching.as_ref());
        let card = modifier.map(|m| &m.card);
        let mismatch = || Empty {
            selector: format!("{}", b),
            why: "has no pair of series whose labels match across the operator".into(),
            foreign: false,
        };
        match op.as_str() {
            "or" => {
                let empty = lhs.empty.clone().or(rhs.empty.clone());
                let mut out = l;
                out.extend(r);
                Eval::vector(cap(out), empty)
            }
            "unless" => Eval::vector(l, lhs.empty),
            "and" => {
                if l.is_empty() || r.is_empty() {
                    return Eval::vector(BTreeSet::new(), lhs.empty.or(rhs.empty));
                }
                let out: BTreeSet<Series> = l
                    .into_iter()
                    .filter(|x| r.iter().any(|y| self.match_on(matching, x, y)))
                    .collect();
                Eval::vector(out, Some(mismatch()))
            }
            _ => {
                if l.is_empty() || r.is_empty() {
                    return Eval::vector(BTreeSet::new(), lhs.empty.or(rhs.empty));
                }
                let filter = b.op.is_comparison_operator() && !b.return_bool();
                let group_right = matches!(card, Some(VectorMatchCardinality::OneToMany(_)));
                let one_to_one = matches!(card, None | Some(VectorMatchCardinality::OneToOne));
                let mut out = BTreeSet::new();
                for x in &l {
                    for y in &r {
                        if !self.match_on(matching, x, y) {
                            continue;
                        }
                        let mut s = if group_right { y.clone() } else { x.clone() };
                        if one_to_one && !filter {
                            match matching {
                                Some(LabelModifier::Include(on)) => {
                                    s.labels.retain(|k, _| on.labels.contains(k));
                                    s.open = false;
                                }
                                Some(LabelModifier::Exclude(ignoring)) => {
                                    s.labels.retain(|k, _| !ignoring.labels.contains(k));
                                }
                                None => {}
                            }
                        }
                        out.insert(s);
                        if out.len() >= MAX_SERIES {
                            break;
                        }
                    }
                }
                Eval::vector(out, Some(mismatch()))
            }
        }
    }

    /// Whether two series match for a binary operator (`on`, `ignoring` or all labels).
    fn match_on(&self, matching: Option<&LabelModifier>, x: &Series, y: &Series) -> bool {
        let labels: BTreeSet<&String> = match matching {
            Some(LabelModifier::Include(on)) => on.labels.iter().collect(),
            other => {
                let ignored: Vec<&String> = match other {
                    Some(LabelModifier::Exclude(l)) => l.labels.iter().collect(),
                    _ => Vec::new(),
                };
                x.labels
                    .keys()
                    .chain(y.labels.keys())
                    .filter(|k| !ignored.contains(k))
                    .collect()
            }
        };
        labels.into_iter().all(|k| {
            match (x.value(k, &self.vocabulary), y.value(k, &self.vocabulary)) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
        })
    }

    /// The series a selector can match: recorded ones for a recording rule's name, else the
    /// scraped targets.
    fn select(&self, vs: &VectorSelector) -> Eval {
        let shown = vs.to_string();
        let name = vs.name.clone().or_else(|| {
            vs.matchers
                .matchers
                .iter()
                .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
                .map(|m| m.value.clone())
        });
        let alternatives: Vec<&Vec<Matcher>> = if vs.matchers.or_matchers.is_empty() {
            vec![&vs.matchers.matchers]
        } else {
            vs.matchers.or_matchers.iter().collect()
        };
        let conditions: Vec<Vec<(String, Test)>> = alternatives
            .iter()
            .map(|ms| {
                ms.iter()
                    .filter(|m| m.name != "__name__")
                    .map(|m| (m.name.clone(), self.test(m)))
                    .collect()
            })
            .collect();
        if let Some(n) = name.as_deref() {
            if let Some(exporter) = foreign(n) {
                return Eval::vector(
                    BTreeSet::new(),
                    Some(Empty {
                        selector: shown,
                        why: if n.contains(':') {
                            format!("{n} is recorded from {exporter} metrics, which the stack does not scrape")
                        } else {
                            format!("{n} comes from {exporter}, which the stack does not scrape")
                        },
                        foreign: true,
                    }),
                );
            }
            if let Some(rec) = self.recorded.get(n) {
                let out: BTreeSet<Series> = rec
                    .series
                    .iter()
                    .filter(|s| conditions.iter().any(|c| self.satisfies(c, s)))
                    .cloned()
                    .collect();
                let empty = if rec.series.is_empty() {
                    rec.empty.clone().map(|e| Empty {
                        why: format!("reads {n}, which records nothing: {} {}", e.selector, e.why),
                        selector: shown.clone(),
                        foreign: e.foreign,
                    })
                } else {
                    Some(Empty {
                        why: self.mismatch(
                            &conditions,
                            &rec.series,
                            &format!("series {n} records"),
                        ),
                        selector: shown.clone(),
                        foreign: false,
                    })
                };
                return Eval::vector(out, empty);
            }
            if n.contains(':') {
                return Eval::vector(
                    BTreeSet::new(),
                    Some(Empty {
                        selector: shown,
                        why: format!("reads {n}, which no loaded rule group records"),
                        foreign: false,
                    }),
                );
            }
        }
        let out: BTreeSet<Series> = self
            .targets
            .iter()
            .filter(|s| conditions.iter().any(|c| self.satisfies(c, s)))
            .cloned()
            .collect();
        let why = self.mismatch(&conditions, &self.targets, "scraped target");
        Eval::vector(
            out,
            Some(Empty {
                selector: shown,
                why,
                foreign: false,
            }),
        )
    }

    /// Why no series of `among` satisfies the conditions, in words.
    fn mismatch<'a>(
        &self,
        conditions: &[Vec<(String, Test)>],
        among: impl IntoIterator<Item = &'a Series> + Clone,
        what: &str,
    ) -> String {
        for c in conditions {
            for (label, t) in c {
                if among.clone().into_iter().any(|s| self.holds(label, t, s)) {
                    continue;
                }
                let values: BTreeSet<&str> = among
                    .clone()
                    .into_iter()
                    .filter_map(|s| s.labels.get(label).and_then(|v| v.as_deref()))
                    .collect();
                if values.is_empty() {
                    return format!("matches nothing: no {what} has a `{label}` label");
                }
                let shown: Vec<&str> = values.iter().take(6).copied().collect();
                return format!(
                    "matches nothing: no {what} has a `{label}` it accepts (values: {}{})",
                    shown.join(", "),
                    if values.len() > shown.len() {
                        ", …"
                    } else {
                        ""
                    }
                );
            }
        }
        format!("matches nothing: no {what} satisfies all of its matchers at once")
    }
}

/// A series after an aggregation's grouping (`by` keeps, `without` drops; none keeps none).
fn group(mut s: Series, modifier: Option<&LabelModifier>) -> Series {
    match modifier {
        Some(LabelModifier::Include(by)) => {
            let mut labels = BTreeMap::new();
            for l in &by.labels {
                match s.labels.remove(l) {
                    Some(v) => {
                        labels.insert(l.clone(), v);
                    }
                    None if s.open => {
                        labels.insert(l.clone(), None);
                    }
                    None => {}
                }
            }
            Series {
                labels,
                open: false,
            }
        }
        Some(LabelModifier::Exclude(without)) => {
            s.labels.retain(|k, _| !without.labels.contains(k));
            s
        }
        None => Series::closed(),
    }
}

fn cap(mut s: BTreeSet<Series>) -> BTreeSet<Series> {
    while s.len() > MAX_SERIES {
        s.pop_last();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(targets: &[&[(&str, &str)]]) -> Model {
        Model::new(
            targets
                .iter()
                .map(|t| {
                    t.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .collect(),
        )
    }

    fn ingester() -> &'static [(&'static str, &'static str)] {
        &[
            ("cluster", "kalypso"),
            ("namespace", "mimir"),
            ("job", "mimir/ingester"),
            ("pod", "mimir-distributed-ingester-0"),
            ("container", "ingester"),
            ("instance", "pod-ip:8080"),
        ]
    }

    fn empty(m: &Model, q: &str) -> bool {
        m.eval(&parser::parse(q).expect("parses")).is_empty()
    }

    #[test]
    fn a_mixin_job_matcher_matches_namespace_slash_component() {
        let m = model(&[ingester()]);
        assert!(!empty(
            &m,
            r#"sum(rate(cortex_ingester_ingested_samples_total{cluster=~".+", job=~"(.+)/((ingester.*|cortex|mimir))"}[5m]))"#
        ));
        assert!(empty(&m, r#"cortex_up{job=~".+/(distributor.*)"}"#));
        // A label of the metric itself (route) is not known offline: satisfied.
        assert!(!empty(
            &m,
            r#"cortex_request_duration_seconds_count{route="/api/v1/push", job="mimir/ingester"}"#
        ));
    }

    #[test]
    fn dropping_a_label_empties_selectors_that_need_it() {
        let m = model(&[&[
            ("namespace", "mimir"),
            ("pod", "p"),
            ("container", "ingester"),
        ]]);
        let e = m.eval(&parser::parse(r#"up{job=~".+/ingester"}"#).expect("parses"));
        assert!(e.is_empty());
        assert!(e
            .empty
            .expect("why")
            .why
            .contains("no scraped target has a `job` label"));
        // A negative matcher is satisfied by an absent label.
        assert!(!empty(&m, r#"up{job!="x"}"#));
    }

    #[test]
    fn aggregations_or_absent_and_binary_operators() {
        let m = model(&[ingester()]);
        assert!(!empty(&m, r#"absent(up{job="nothing/here"})"#));
        assert!(!empty(&m, r#"up{job="nothing"} or vector(0)"#));
        assert!(empty(&m, r#"up{job="mimir/ingester"} / up{job="nothing"}"#));
        // `by` drops labels: a later matcher on a dropped label sees none.
        assert!(empty(
            &m,
            r#"sum by (job) (up) / on (namespace) sum by (namespace) (up)"#
        ));
        assert!(!empty(
            &m,
            r#"sum by (cluster, job) (up) / on (cluster) group_left sum by (cluster) (up)"#
        ));
        assert!(!empty(
            &m,
            r#"label_replace(up, "status", "${1}xx", "status_code", "([0-9])..")"#
        ));
    }

    #[test]
    fn recorded_series_carry_their_by_labels() {
        let mut m = model(&[ingester()]);
        let e = parser::parse("sum by (cluster, job) (rate(x[5m]))").expect("parses");
        let Shape::Vector(series) = m.eval(&e).shape else {
            panic!("vector")
        };
        m.recorded.insert(
            "cluster_job:x:rate5m".into(),
            Recorded {
                series,
                empty: None,
            },
        );
        assert!(!empty(&m, r#"cluster_job:x:rate5m{job=~".+/ingester"}"#));
        // namespace was aggregated away.
        assert!(empty(&m, r#"cluster_job:x:rate5m{namespace="mimir"}"#));
        assert!(empty(&m, r#"cluster_job:not_recorded:rate5m"#));
    }

    #[test]
    fn metrics_of_exporters_the_stack_does_not_run_are_foreign() {
        let m = model(&[ingester()]);
        let e = m.eval(
            &parser::parse(r#"container_memory_working_set_bytes{container="ingester"}"#)
                .expect("parses"),
        );
        assert!(e.is_empty() && e.empty.expect("why").foreign);
        assert_eq!(
            foreign("node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate"),
            Some("cAdvisor")
        );
        assert_eq!(foreign("node_memory_MemTotal_bytes"), Some("node-exporter"));
        assert_eq!(foreign("cortex_ingester_memory_series"), None);
    }

    #[test]
    fn variables_are_substituted_by_kind() {
        let d = serde_json::json!({"templating": {"list": [
            {"name": "namespace", "type": "query"},
            {"name": "latency_metrics", "type": "custom", "current": {"value": "1"}},
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            {"name": "logs", "type": "datasource", "query": "loki"}
        ]}});
        let v = Variables::of(&d);
        assert_eq!(
            v.substitute(r#"rate(x{job=~"($namespace)/ingester"}[$__rate_interval]) and on() (vector($latency_metrics) == 1)"#),
            r#"rate(x{job=~"(${any})/ingester"}[5m]) and on() (vector(1) == 1)"#
        );
        // Not a variable of the dashboard: a regex group reference stays.
        assert_eq!(
            v.substitute(r#"label_replace(x, "a", "${1}xx", "b", "(.)")"#),
            r#"label_replace(x, "a", "${1}xx", "b", "(.)")"#
        );
        assert_eq!(v.substitute("[[namespace]]"), ANY_OUTSIDE);
        assert_eq!(
            v.is_prometheus(&serde_json::json!("$datasource")),
            Some(true)
        );
        assert_eq!(
            v.is_prometheus(&serde_json::json!({"uid": "${logs}"})),
            Some(false)
        );
        assert_eq!(
            v.is_prometheus(&serde_json::json!({"type": "loki", "uid": "x"})),
            Some(false)
        );
        let m = model(&[ingester()]);
        let q = v.substitute(r#"up{job=~"($namespace)/ingester", namespace="$namespace"}"#);
        assert!(!empty(&m, &q));
    }

    #[test]
    fn urls_map_to_the_longest_local_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("pyroscope-v2.2.1");
        std::fs::create_dir_all(&base).expect("mkdir");
        std::fs::write(base.join("operational.json"), "{}").expect("write");
        let url = "https://raw.githubusercontent.com/grafana/pyroscope/v2.2.1/operations/monitoring/dashboards/operational.json";
        assert_eq!(fetched(Some(dir.path()), url).as_deref(), Some("{}"));
        assert_eq!(fetched(None, url), None);
        assert_eq!(
            script_urls(
                r#"curl -sLf "https://a/b.json" > x; curl "https://a/b.json" "https://c/d.json""#
            ),
            vec!["https://a/b.json", "https://c/d.json"]
        );
    }
}
