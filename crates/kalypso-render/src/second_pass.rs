//! The determinism rule's second render, limited to what can change. A template can render
//! differently from one run to the next only through a nondeterministic function
//! ([`template_scan::NONDETERMINISTIC`]) that it calls, includes (through named templates or
//! by path), or renders with `tpl` from a values string or chart file that calls one. Templates
//! that cannot reach one render the same text from the same inputs, so the second render only
//! needs the others: a copy of the chart tree keeps those (with every helper, every file that
//! defines named templates, and every file included by path) and is rendered without CRDs.
//! Branches the chart's values switch off are left out first ([`dead_branches`]).
//! When no template can change, there is no second render. A template that can change but
//! rendered nothing in the first render is not rendered again either: only a condition on a
//! random value could make it render something the next time.
//!
//! Whatever this reading cannot follow (a template that does not parse, a failing or differing
//! reduced render) falls back to rendering the whole chart again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::chart_tree::TreeChart;
use super::dead_branches;
use super::template_scan::{self, Scan};
use kalypso_model::manifest::parse::split_documents;

/// What the second render of a chart has to cover.
#[derive(Debug)]
pub(crate) enum Plan {
    /// No template can render differently.
    Unneeded,
    /// Render again the templates that can change (see [`Reduced::copy_for`]).
    Templates(Reduced),
    /// Render the whole chart again, for this reason.
    Full(String),
}

/// A chart tree read for what can change.
#[derive(Debug)]
pub(crate) struct Reduced {
    tree: TreeChart,
    scans: BTreeMap<String, Scan>,
    sources: TplSources,
    /// Output templates that can change.
    compare: BTreeSet<String>,
}

/// A copy of a chart tree with the templates to render again (removed when dropped).
#[derive(Debug)]
pub(crate) struct Copy {
    /// The chart to render.
    pub chart: PathBuf,
    /// The templates whose documents to compare.
    pub compare: BTreeSet<String>,
    _dir: tempfile::TempDir,
}

impl Reduced {
    /// The copy to render again, given the first render: only templates that rendered
    /// something in it are compared; `None` when none did.
    pub(crate) fn copy_for(&self, first: &str) -> Result<Option<Copy>> {
        let rendered: BTreeSet<String> = split_documents(first)
            .into_iter()
            .filter_map(|d| d.source)
            .collect();
        let compare: BTreeSet<String> = self.compare.intersection(&rendered).cloned().collect();
        if compare.is_empty() {
            return Ok(None);
        }
        let graph = Graph::new(&self.scans);
        let keep = kept_files(&self.scans, &compare);
        let reading = charts_reading_files(&graph, &compare, &self.sources);
        let dir = tempfile::Builder::new()
            .prefix("kalypso-second-")
            .tempdir()
            .context("creating a directory for the second render")?;
        let chart = dir.path().join("chart");
        // Other files only where a template to compare may read them: a chart's dashboards,
        // CRDs and docs cost time to write and to load, and the second render prints no CRDs.
        self.tree.write(&chart, &|chart, rel| {
            if rel.starts_with("templates/") {
                keep.contains(&format!("{chart}/{rel}"))
            } else {
                const LOADED: &[&str] = &["Chart.yaml", "values.yaml", "Chart.lock"];
                LOADED.contains(&rel) || (reading.contains(chart) && rel != "values.schema.json")
            }
        })?;
        Ok(Some(Copy {
            chart,
            compare,
            _dir: dir,
        }))
    }
}

/// Plans the second render of the chart at `chart_dir`, rendered with these values files and
/// `--set` strings.
pub(crate) fn plan(chart_dir: &Path, values_files: &[PathBuf], set: &[String]) -> Plan {
    match try_plan(chart_dir, values_files, set) {
        Ok(p) => p,
        Err(e) => Plan::Full(format!("{e:#}")),
    }
}

fn try_plan(chart_dir: &Path, values_files: &[PathBuf], set: &[String]) -> Result<Plan> {
    let tree = TreeChart::load_dir(chart_dir)?;
    // Text `tpl` may render that calls a nondeterministic function: by key path in values
    // (the chart's, its subcharts', the user's files and --set strings), else by file.
    let mut sources = TplSources::default();
    for chart in tree.all() {
        for (rel, data) in &chart.files {
            // values.schema.json is not a chart file templates can read (helm keeps it apart).
            if rel.starts_with("templates/") || rel == "values.schema.json" {
                continue;
            }
            let text = String::from_utf8_lossy(data);
            let name = format!("{}/{rel}", chart.path);
            sources.mention_files |= text.contains(".Files");
            if rel == "values.yaml" {
                sources.values(&name, &text);
            } else if template_scan::file_calls(rel, &text) {
                sources.files.push(name);
            }
        }
    }
    for f in values_files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        sources.values(&f.display().to_string(), &text);
    }
    for s in set {
        if let Some((key, value)) = s.split_once('=') {
            if !template_scan::nondeterministic_calls(value).is_empty() {
                sources
                    .paths
                    .push(key.split('.').map(str::to_string).collect());
            }
        }
    }
    if !sources.files.is_empty() || !sources.paths.is_empty() {
        tracing::debug!(
            "text that tpl may render calls a nondeterministic function: files {:?}, values {:?}",
            sources.files,
            sources.paths
        );
    }
    // A subchart its condition switches off is not rendered: its templates cannot change.
    let known = known_values(&tree, values_files, set);
    let mut scans: BTreeMap<String, Scan> = BTreeMap::new();
    for chart in tree.all() {
        if known.off.contains(&chart.path) {
            continue;
        }
        for (name, data) in chart.templates() {
            let text = String::from_utf8_lossy(data);
            // Branches the values switch off cannot change anything.
            let pruned = match known.by_chart.get(&chart.path) {
                Some(values) => dead_branches::prune(&text, values).ok(),
                None => None,
            };
            let scan = template_scan::scan(pruned.as_deref().unwrap_or(&text))
                .map_err(|e| anyhow::anyhow!("{name}: {}", e.0))?;
            scans.insert(name, scan);
        }
    }
    let graph = Graph::new(&scans);
    let tainted = tainted_files(&scans, &graph, &sources);
    let compare: BTreeSet<String> = tainted
        .into_iter()
        .filter(|name| renders_output(name))
        .collect();
    if compare.is_empty() {
        return Ok(Plan::Unneeded);
    }
    Ok(Plan::Templates(Reduced {
        tree,
        scans,
        sources,
        compare,
    }))
}

/// What the values decide before anything renders: the subcharts (and theirs) a `condition`
/// switches off, and each chart's values (its `values.yaml` under what its parent and the values
/// files set for it, globals passed down), by helm path. Empty when the values cannot all be
/// read, or with `--set` strings (not parsed here).
#[derive(Debug, Default)]
struct KnownValues {
    off: BTreeSet<String>,
    by_chart: BTreeMap<String, serde_json::Value>,
}

fn known_values(tree: &TreeChart, values_files: &[PathBuf], set: &[String]) -> KnownValues {
    let mut known = KnownValues::default();
    if !set.is_empty() {
        return known;
    }
    let mut top = tree.values();
    for f in values_files {
        let parsed = std::fs::read_to_string(f)
            .ok()
            .and_then(|t| kalypso_model::manifest::yaml::value(&t));
        match parsed {
            Some(v) => merge(&mut top, v),
            None => return known,
        }
    }
    walk_values(tree, top, &mut known);
    known
}

/// Records the values of `chart` and its subcharts; returns `chart`'s, with each enabled
/// subchart's under its key, as helm coalesces them (a parent's template that reads
/// `.Values.<subchart>.x` sees the subchart's default).
fn walk_values(
    chart: &TreeChart,
    mut values: serde_json::Value,
    known: &mut KnownValues,
) -> serde_json::Value {
    if !values.is_object() {
        values = serde_json::Value::Object(Default::default());
    }
    for (_, sub) in &chart.subcharts {
        // The subchart's values: its defaults under what the parent sets for it, and the
        // parent's globals over its own.
        let mut sub_values = sub.values();
        if let Some(set_by_parent) = values.get(&sub.values_key) {
            merge(&mut sub_values, set_by_parent.clone());
        }
        if let Some(global) = values.get("global") {
            if let serde_json::Value::Object(m) = &mut sub_values {
                let mut g = m.remove("global").unwrap_or(serde_json::Value::Null);
                if !g.is_object() {
                    g = serde_json::Value::Object(Default::default());
                }
                merge(&mut g, global.clone());
                m.insert("global".into(), g);
            }
        }
        let lookup = |path: &str| -> Option<bool> {
            let (root, rest) = match path.strip_prefix(&format!("{}.", sub.values_key)) {
                Some(rest) => (&sub_values, rest),
                None => (&values, path),
            };
            rest.split('.')
                .try_fold(root, |v, k| v.get(k))
                .and_then(serde_json::Value::as_bool)
        };
        let enabled = sub
            .condition
            .as_deref()
            .and_then(|c| c.split(',').map(str::trim).find_map(lookup));
        if enabled == Some(false) {
            known.off.extend(sub.all().iter().map(|c| c.path.clone()));
            continue;
        }
        let coalesced = walk_values(sub, sub_values, known);
        if let serde_json::Value::Object(m) = &mut values {
            m.insert(sub.values_key.clone(), coalesced);
        }
    }
    known.by_chart.insert(chart.path.clone(), values.clone());
    values
}

/// Merges `over` into `base` as helm coalesces values: maps key by key, anything else replaced.
fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Strings that `tpl` may render and that call a nondeterministic function.
#[derive(Debug, Default)]
struct TplSources {
    /// Files read as a whole (`tpl (.Files.Get …)`): every `tpl` call may render them.
    files: Vec<String>,
    /// Key paths of values strings: a `tpl` call may render one where its template reads a
    /// key of the path (or all of `.Values`).
    paths: Vec<Vec<String>>,
    /// Some text `tpl` may render reads chart files (`.Files`).
    mention_files: bool,
}

impl TplSources {
    fn values(&mut self, name: &str, text: &str) {
        self.mention_files |= text.contains(".Files");
        match template_scan::value_paths_calling(text) {
            Some(paths) => self.paths.extend(paths),
            None => self.files.push(name.to_string()),
        }
    }

    /// Whether a unit can read such a string (to pass it to `tpl`): it reads all of
    /// `.Values`, a field chain of it lines up with the string's key path (`gateway.nginx`,
    /// `basicAuth.htpasswd`: a subtree holding it, or a part of the path through a dict a
    /// caller passed; at any depth, since a subchart's values sit under its key), or it looks
    /// up a key of the path by name.
    fn reached_by(&self, u: &template_scan::Unit) -> bool {
        u.whole_values
            || self.paths.iter().any(|p| {
                p.iter().any(|k| u.keys.contains(k)) || u.chains.iter().any(|c| lines_up(c, p))
            })
    }
}

/// Whether `chain` matches `path` from some position on, for as long as both go.
fn lines_up(chain: &[String], path: &[String]) -> bool {
    (0..path.len()).any(|start| chain.iter().zip(&path[start..]).all(|(c, p)| c == p))
}

/// Whether helm prints what the file renders: not helpers (`_*`) nor `NOTES.txt`.
fn renders_output(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    !base.starts_with('_') && base != "NOTES.txt"
}

/// Every unit of a chart tree (a file's top level, named by the file; each define, by its
/// name) and what each includes.
struct Graph<'a> {
    units: Vec<(&'a str, &'a template_scan::Unit)>,
    by_name: BTreeMap<&'a str, Vec<usize>>,
    /// Unit indexes each unit includes; a computed include may name any unit.
    callees: Vec<Vec<usize>>,
}

impl<'a> Graph<'a> {
    fn new(scans: &'a BTreeMap<String, Scan>) -> Graph<'a> {
        let mut units: Vec<(&str, &template_scan::Unit)> = Vec::new();
        for (file, scan) in scans {
            units.push((file.as_str(), &scan.top));
            units.extend(scan.defines.iter().map(|(n, u)| (n.as_str(), u)));
        }
        let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, (n, _)) in units.iter().enumerate() {
            by_name.entry(*n).or_default().push(i);
        }
        let literal_callees: Vec<Vec<usize>> = units
            .iter()
            .map(|(_, u)| {
                u.includes
                    .iter()
                    .flat_map(|n| by_name.get(n.as_str()).into_iter().flatten().copied())
                    .collect()
            })
            .collect();
        // A computed include names a define or a helper file, or a file by a path that the
        // including unit or its caller spells out (`print $.Template.BasePath "/config.yaml"`,
        // `dict "name" "/config.yaml"`); one built from `Template.BasePath` names a file. An
        // output file included by a path built otherwise is still compared itself, so a
        // change in it is still found.
        let mut file_by_rel: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let (mut defines, mut helpers) = (Vec::new(), Vec::new());
        for (i, (name, _)) in units.iter().enumerate() {
            match name.split_once("/templates/") {
                Some((_, rel)) if scans.contains_key(*name) => {
                    if rel.rsplit('/').next().is_some_and(|b| b.starts_with('_')) {
                        helpers.push(i);
                    } else {
                        file_by_rel.entry(rel).or_default().push(i);
                    }
                }
                _ => defines.push(i),
            }
        }
        let named_by = |i: usize| -> Vec<usize> {
            units[i]
                .1
                .literals
                .iter()
                .filter_map(|l| {
                    let rel = l
                        .strip_prefix("%s/")
                        .or_else(|| l.strip_prefix('/'))
                        .unwrap_or(l);
                    file_by_rel.get(rel)
                })
                .flatten()
                .copied()
                .collect()
        };
        let callees = units
            .iter()
            .enumerate()
            .map(|(i, (_, u))| {
                if !u.dynamic_include && !u.path_include {
                    return literal_callees[i].clone();
                }
                let mut targets: BTreeSet<usize> = literal_callees[i].iter().copied().collect();
                if u.dynamic_include {
                    targets.extend(&defines);
                }
                targets.extend(&helpers);
                targets.extend(named_by(i));
                for (caller, callees) in literal_callees.iter().enumerate() {
                    if callees.contains(&i) {
                        targets.extend(named_by(caller));
                    }
                }
                targets.into_iter().collect()
            })
            .collect();
        Graph {
            units,
            by_name,
            callees,
        }
    }

    /// `marked` plus every unit that includes a marked one, directly or not.
    fn with_callers(&self, mut marked: Vec<bool>) -> Vec<bool> {
        loop {
            let mut changed = false;
            for i in 0..self.units.len() {
                if !marked[i] && self.callees[i].iter().any(|&c| marked[c]) {
                    marked[i] = true;
                    changed = true;
                }
            }
            if !changed {
                return marked;
            }
        }
    }

    /// The units that rendering `file` runs: its top level and all it includes.
    fn run_by(&self, file: &str) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<usize> = self.by_name.get(file).cloned().unwrap_or_default();
        while let Some(i) = todo.pop() {
            if seen.insert(i) {
                todo.extend(&self.callees[i]);
            }
        }
        seen
    }
}

/// Template files whose own output can change between renders.
///
/// A unit can change when it calls a nondeterministic function, includes a unit that can,
/// or can pass a nondeterministic values string to `tpl` (reads a key of its path and calls
/// `tpl`, itself or through what it includes). A unit that makes such a value and also
/// changes a dict it did not make may leave the value where other templates read it: then
/// every template is treated as one that can change.
fn tainted_files(
    scans: &BTreeMap<String, Scan>,
    graph: &Graph,
    sources: &TplSources,
) -> BTreeSet<String> {
    let units = &graph.units;
    let reaches_tpl = graph.with_callers(units.iter().map(|(_, u)| u.calls_tpl).collect());
    let direct: Vec<bool> = units
        .iter()
        .zip(&reaches_tpl)
        .map(|((_, u), tpl)| {
            !u.nondeterministic.is_empty()
                || (u.calls_tpl && !sources.files.is_empty())
                || (*tpl && sources.reached_by(u))
        })
        .collect();
    for ((name, u), t) in units.iter().zip(&direct) {
        if *t {
            let why = if u.nondeterministic.is_empty() {
                "renders with tpl a values string or file that calls a function that changes"
                    .to_string()
            } else {
                format!("calls {:?}", u.nondeterministic)
            };
            tracing::debug!("{name} can change: {why}");
        }
    }
    if let Some(((name, _), _)) = units
        .iter()
        .zip(&direct)
        .find(|((_, u), d)| **d && u.mutates_shared)
    {
        tracing::debug!(
            "{name} can change a value and changes a shared dict: every template can change"
        );
        return scans.keys().cloned().collect();
    }
    let tainted = graph.with_callers(direct);
    for (i, (name, _)) in units.iter().enumerate() {
        if tainted[i] {
            let via: Vec<&str> = graph.callees[i]
                .iter()
                .filter(|&&c| tainted[c])
                .map(|&c| units[c].0)
                .take(8)
                .collect();
            tracing::trace!("{name} can change through {via:?}");
        }
    }
    scans
        .keys()
        .filter(|file| {
            graph
                .by_name
                .get(file.as_str())
                .into_iter()
                .flatten()
                .any(|&i| tainted[i])
        })
        .cloned()
        .collect()
}

/// The charts (by helm path) whose templates to compare may read chart files (`.Files`,
/// directly or in text they render with `tpl`): their copy keeps every file.
fn charts_reading_files(
    graph: &Graph,
    compare: &BTreeSet<String>,
    sources: &TplSources,
) -> BTreeSet<String> {
    compare
        .iter()
        .filter(|file| {
            graph.run_by(file).iter().any(|&i| {
                let u = graph.units[i].1;
                u.reads_files || (u.calls_tpl && sources.mention_files)
            })
        })
        .filter_map(|file| file.find("/templates/").map(|i| file[..i].to_string()))
        .collect()
}

/// The template files a render of `compare` needs: those, every helper and every file that
/// defines named templates, and every file any template includes by path.
fn kept_files(scans: &BTreeMap<String, Scan>, compare: &BTreeSet<String>) -> BTreeSet<String> {
    let base_paths: BTreeSet<String> = scans
        .keys()
        .filter_map(|f| {
            f.find("/templates/")
                .map(|i| f[..i + "/templates".len()].to_string())
        })
        .collect();
    let mut keep = compare.clone();
    for (file, scan) in scans {
        if !renders_output(file) || !scan.defines.is_empty() {
            keep.insert(file.clone());
        }
        // `print $.Template.BasePath "/x.yaml"`, `printf "%s/x.yaml" .Template.BasePath`, or a
        // path a caller passes in (`dict "name" "/config.yaml"`): the including template's
        // chart decides the directory, so keep a file of that name in every chart.
        let units = std::iter::once(&scan.top).chain(scan.defines.iter().map(|(_, u)| u));
        for literal in units.flat_map(|u| &u.literals) {
            let Some(rel) = literal
                .strip_prefix("%s/")
                .or_else(|| literal.strip_prefix('/'))
            else {
                continue;
            };
            for base in &base_paths {
                let target = format!("{base}/{rel}");
                if scans.contains_key(&target) {
                    keep.insert(target);
                }
            }
        }
    }
    keep
}

/// Whether the templates in `compare` rendered the same documents in both texts.
pub(crate) fn same_documents(first: &str, second: &str, compare: &BTreeSet<String>) -> bool {
    let by_source = |text: &str| -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for doc in split_documents(text) {
            if let Some(source) = doc.source {
                if compare.contains(&source) {
                    out.entry(source).or_default().push(doc.text);
                }
            }
        }
        out
    };
    by_source(first) == by_source(second)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    fn planned(files: &[(&str, &str)], values: &[(&str, &str)]) -> (Plan, tempfile::TempDir) {
        let dir = chart(files);
        let vdir = chart(values);
        let vfiles: Vec<PathBuf> = values.iter().map(|(n, _)| vdir.path().join(n)).collect();
        (plan(dir.path(), &vfiles, &[]), dir)
    }

    const HELPERS: &str = r#"{{- define "c.password" -}}{{ randAlphaNum 16 }}{{- end }}
{{- define "c.name" -}}c{{- end }}
"#;

    #[test]
    fn a_chart_without_nondeterministic_calls_needs_no_second_render() {
        let (p, _d) = planned(
            &[
                ("Chart.yaml", "name: c\n"),
                ("templates/_helpers.tpl", HELPERS),
                ("templates/cm.yaml", "name: {{ include \"c.name\" . }}\n"),
            ],
            &[],
        );
        assert!(matches!(p, Plan::Unneeded), "{p:?}");
    }

    #[test]
    fn only_templates_that_reach_a_nondeterministic_call_are_rendered_again() {
        let (p, _d) = planned(
            &[
                ("Chart.yaml", "name: c\n"),
                ("templates/_helpers.tpl", HELPERS),
                ("templates/cm.yaml", "name: {{ include \"c.name\" . }}\n"),
                (
                    "templates/secret.yaml",
                    "password: {{ include \"c.password\" . }}\n",
                ),
                (
                    "templates/deploy.yaml",
                    "checksum: {{ include (print $.Template.BasePath \"/secret.yaml\") . | sha256sum }}\n",
                ),
                ("charts/sub/Chart.yaml", "name: sub\n"),
                ("charts/sub/templates/big.yaml", "kind: Big\n"),
                ("charts/sub/templates/uid.yaml", "uid: {{ uuidv4 }}\n"),
            ],
            &[],
        );
        let Plan::Templates(reduced) = p else {
            panic!("{p:?}")
        };
        assert_eq!(
            reduced.compare,
            BTreeSet::from([
                "c/charts/sub/templates/uid.yaml".to_string(),
                "c/templates/deploy.yaml".to_string(),
                "c/templates/secret.yaml".to_string(),
            ])
        );
        // The first render printed the secret and the deployment, not the subchart's object.
        let first = "---\n# Source: c/templates/cm.yaml\nname: c\n---\n# Source: c/templates/deploy.yaml\nchecksum: x\n---\n# Source: c/templates/secret.yaml\npassword: y\n";
        let copy = reduced.copy_for(first).unwrap().unwrap();
        assert_eq!(
            copy.compare,
            BTreeSet::from([
                "c/templates/deploy.yaml".to_string(),
                "c/templates/secret.yaml".to_string(),
            ])
        );
        let chart = &copy.chart;
        assert!(chart.join("templates/_helpers.tpl").is_file());
        assert!(chart.join("templates/secret.yaml").is_file());
        assert!(!chart.join("templates/cm.yaml").exists());
        assert!(!chart.join("charts/sub/templates/big.yaml").exists());
        assert!(!chart.join("charts/sub/templates/uid.yaml").exists());
        assert!(chart.join("charts/sub/Chart.yaml").is_file());
        // Nothing that can change was rendered: nothing to render again.
        let nothing = "---\n# Source: c/templates/cm.yaml\nname: c\n";
        assert!(reduced.copy_for(nothing).unwrap().is_none());
    }

    #[test]
    fn a_subchart_its_condition_switches_off_is_not_rendered_again() {
        let files = [
            (
                "Chart.yaml",
                "name: c\ndependencies:\n- {name: sub, condition: sub.enabled}\n",
            ),
            ("values.yaml", "sub:\n  enabled: true\n"),
            ("charts/sub/Chart.yaml", "name: sub\n"),
            ("charts/sub/values.yaml", "enabled: false\n"),
            ("charts/sub/templates/uid.yaml", "uid: {{ uuidv4 }}\n"),
        ];
        let (p, _d) = planned(&files, &[]);
        assert!(matches!(p, Plan::Templates { .. }), "{p:?}");
        let (p, _d) = planned(&files, &[("v.yaml", "sub: {enabled: false}\n")]);
        assert!(matches!(p, Plan::Unneeded), "{p:?}");
        // The subchart's own default decides when the parent sets nothing.
        let mut defaults = files;
        defaults[1] = ("values.yaml", "other: 1\n");
        let (p, _d) = planned(&defaults, &[]);
        assert!(matches!(p, Plan::Unneeded), "{p:?}");
    }

    #[test]
    fn a_random_value_in_a_branch_the_values_switch_off_cannot_change() {
        let files = [
            ("Chart.yaml", "name: c\n"),
            ("values.yaml", "rolling: false\n"),
            (
                "templates/deploy.yaml",
                "kind: Deployment\n{{- if .Values.rolling }}\nrollme: {{ randAlphaNum 5 }}\n{{- end }}\n",
            ),
        ];
        let (p, _d) = planned(&files, &[]);
        assert!(matches!(p, Plan::Unneeded), "{p:?}");
        let (p, _d) = planned(&files, &[("v.yaml", "rolling: true\n")]);
        assert!(matches!(p, Plan::Templates(_)), "{p:?}");
        // A parent's template reading a subchart's default sees it, as in helm.
        let sub = [
            ("Chart.yaml", "name: c\ndependencies:\n- {name: sub}\n"),
            ("charts/sub/Chart.yaml", "name: sub\n"),
            ("charts/sub/values.yaml", "rolling: true\n"),
            (
                "templates/deploy.yaml",
                "{{- if .Values.sub.rolling }}\nrollme: {{ randAlphaNum 5 }}\n{{- end }}\n",
            ),
        ];
        let (p, _d) = planned(&sub, &[]);
        assert!(matches!(p, Plan::Templates(_)), "{p:?}");
        // A values file that cannot be read decides nothing.
        let (p, _d) = planned(&files, &[("v.yaml", "rolling: [\n")]);
        assert!(matches!(p, Plan::Templates(_)), "{p:?}");
    }

    #[test]
    fn a_values_string_that_tpl_renders_taints_every_tpl_call() {
        let files = [
            ("Chart.yaml", "name: c\n"),
            ("templates/a.yaml", "a: {{ tpl .Values.auth . }}\n"),
            ("templates/b.yaml", "b: {{ .Values.b }}\n"),
        ];
        let (p, _d) = planned(&files, &[("v.yaml", "auth: plain\n")]);
        assert!(matches!(p, Plan::Unneeded), "{p:?}");
        let (p, _d) = planned(
            &files,
            &[("v.yaml", "auth: '{{ htpasswd \"u\" \"p\" }}'\n")],
        );
        let Plan::Templates(reduced) = p else {
            panic!("{p:?}")
        };
        assert_eq!(
            reduced.compare,
            BTreeSet::from(["c/templates/a.yaml".to_string()])
        );
    }

    #[test]
    fn a_template_that_does_not_parse_means_a_full_second_render() {
        let (p, _d) = planned(
            &[
                ("Chart.yaml", "name: c\n"),
                ("templates/a.yaml", "{{ if .X }}\n"),
            ],
            &[],
        );
        assert!(
            matches!(&p, Plan::Full(why) if why.contains("c/templates/a.yaml")),
            "{p:?}"
        );
    }

    #[test]
    fn documents_are_compared_for_the_listed_templates_only() {
        let compare = BTreeSet::from(["c/templates/s.yaml".to_string()]);
        let full = "---\n# Source: c/templates/cm.yaml\nkind: ConfigMap\n---\n# Source: c/templates/s.yaml\nkind: Secret\ndata: {p: a}\n";
        let reduced_same = "---\n# Source: c/templates/s.yaml\nkind: Secret\ndata: {p: a}\n";
        let reduced_other = "---\n# Source: c/templates/s.yaml\nkind: Secret\ndata: {p: b}\n";
        assert!(same_documents(full, reduced_same, &compare));
        assert!(!same_documents(full, reduced_other, &compare));
        assert!(!same_documents(full, "", &compare));
    }
}
