//! Regenerates the configuration reference data under `crates/kalypso-check/data/config-reference/`
//! from a local checkout of each upstream project (no network).
//!
//! ```text
//! cargo run -p config-reference -- mimir <grafana/mimir checkout>
//! cargo run -p config-reference -- loki <grafana/loki checkout>
//! cargo run -p config-reference -- tempo <grafana/tempo checkout>
//! cargo run -p config-reference -- pyroscope <grafana/pyroscope checkout> <Go source>
//! cargo run -p config-reference -- otelcol-k8s <releases checkout> <component source>...
//! ```
//!
//! Options after the source directory: `--version V` and `--commit SHA` override what is read
//! from the checkout (`VERSION`, a release tag at `HEAD`, and `.git/HEAD`), for a tree extracted
//! from git without its `.git` directory; `-v` lists on stderr every difference between a
//! published reference and the config struct tree (counts are always printed).
//!
//! The published references leave keys out that the servers accept, so the backends' data is
//! completed from their Go config structs (see "Go sources" below): Mimir, Loki and Pyroscope
//! add the `doc:"hidden"` fields their doc generators skip (note `hidden`); Tempo's keys and
//! types come from its struct tree, its manifest (a dump of the defaults that omits every
//! `omitempty` zero value) giving only the defaults. Mimir, Loki and Tempo vendor their
//! dependencies; for Pyroscope, the `<Go source>` is a Go module cache root (`go mod download`
//! in the checkout) or `github.com/grafana/dskit=DIR`, a dskit checkout at the version its
//! `go.mod` requires.
//!
//! A component source for the collector distributions is either a Go module cache root
//! (`<root>/<module>@<version>/metadata.yaml`, as `go mod download` lays it out) or
//! `MODULE-PREFIX=DIR` for a repository checkout at the matching tag, for example
//! `go.opentelemetry.io/collector=../opentelemetry-collector`.
//!
//! Output (stdout): one TSV line per key path, `path  type  default  note`, sorted by path, or
//! for collectors `kind  type  note`. Only facts are kept (names, types, defaults,
//! deprecation, experimental and hidden markers), never the upstream descriptions.

use anyhow::{anyhow, bail, Context, Result};
use regex::Regex;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

const OUT_DIR: &str = "crates/kalypso-check/data/config-reference";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = Opts::parse(&args)?;
    let text = match opts.backend.as_str() {
        "mimir" => mimir(&opts)?,
        "loki" => loki(&opts)?,
        "tempo" => tempo(&opts)?,
        "pyroscope" => pyroscope(&opts)?,
        d if d.starts_with("otelcol-") => collector(&opts)?,
        other => bail!(
            "unknown backend {other:?}: expected mimir, loki, tempo, pyroscope or otelcol-<distribution>"
        ),
    };
    print!("{text}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Arguments and provenance
// ---------------------------------------------------------------------------------------------

struct Opts {
    backend: String,
    src: PathBuf,
    extra: Vec<String>,
    version: Option<String>,
    commit: Option<String>,
    allow_missing: bool,
    verbose: bool,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts> {
        let mut positional = Vec::new();
        let mut version = None;
        let mut commit = None;
        let mut allow_missing = false;
        let mut verbose = false;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--version" => version = Some(it.next().context("--version needs a value")?.clone()),
                "--commit" => commit = Some(it.next().context("--commit needs a value")?.clone()),
                "--allow-missing" => allow_missing = true,
                "--verbose" | "-v" => verbose = true,
                "-h" | "--help" => bail!(
                    "usage: config_reference <mimir|loki|tempo|pyroscope|otelcol-DIST> <source dir> [Go or component sources...] [--version V] [--commit SHA] [-v]"
                ),
                _ => positional.push(a.clone()),
            }
        }
        if positional.len() < 2 {
            bail!("usage: config_reference <backend> <source dir> [component sources...] [--version V] [--commit SHA]");
        }
        if let Some(c) = &commit {
            if !is_sha(c) {
                bail!("--commit {c:?} is not a 40-hex commit id");
            }
        }
        Ok(Opts {
            backend: positional[0].clone(),
            src: PathBuf::from(&positional[1]),
            extra: positional[2..].to_vec(),
            version,
            commit,
            allow_missing,
            verbose,
        })
    }

    fn commit(&self) -> Result<String> {
        match &self.commit {
            Some(c) => Ok(c.clone()),
            None => git_head(&self.src).with_context(|| {
                format!(
                    "reading the commit of {} (pass --commit SHA for a tree without .git)",
                    self.src.display()
                )
            }),
        }
    }

    /// The release version: `--version`, else `VERSION` (when given), else a release tag at HEAD.
    fn version(&self, version_file: Option<&str>, tag_prefix: &str) -> Result<String> {
        if let Some(v) = &self.version {
            return Ok(v.clone());
        }
        if let Some(f) = version_file {
            let p = self.src.join(f);
            if p.is_file() {
                let v = read(&p)?.trim().to_string();
                if !v.is_empty() {
                    return Ok(v);
                }
            }
        }
        let commit = self.commit()?;
        let tags = git_tags_at(&self.src, &commit)?;
        let re = Regex::new(&format!(r"^{}(\d+\.\d+\.\d+)$", regex::escape(tag_prefix)))?;
        let found: BTreeSet<String> = tags
            .iter()
            .filter_map(|t| re.captures(t).map(|c| c[1].to_string()))
            .collect();
        match found.len() {
            1 => Ok(found.into_iter().next().unwrap_or_default()),
            0 => bail!(
                "no release tag {tag_prefix}X.Y.Z points at {commit} in {} (pass --version V)",
                self.src.display()
            ),
            _ => bail!("several release tags point at {commit}: {found:?} (pass --version V)"),
        }
    }
}

fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn read(p: &Path) -> Result<String> {
    fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
}

fn git_dir(src: &Path) -> Result<PathBuf> {
    let dot = src.join(".git");
    if dot.is_dir() {
        return Ok(dot);
    }
    if dot.is_file() {
        let text = read(&dot)?;
        let rest = text
            .trim()
            .strip_prefix("gitdir:")
            .with_context(|| format!("{}: no gitdir line", dot.display()))?;
        let p = PathBuf::from(rest.trim());
        return Ok(if p.is_absolute() { p } else { src.join(p) });
    }
    if src.join("HEAD").is_file() && src.join("objects").is_dir() {
        return Ok(src.to_path_buf());
    }
    bail!("{} is not a git checkout", src.display())
}

fn git_refs(gd: &Path) -> Result<Vec<(String, String)>> {
    // (ref name, commit), peeled for annotated tags in packed-refs.
    let mut out = Vec::new();
    let packed = gd.join("packed-refs");
    if packed.is_file() {
        let text = read(&packed)?;
        let mut last: Option<String> = None;
        for line in text.lines() {
            if let Some(peeled) = line.strip_prefix('^') {
                if let Some(name) = &last {
                    out.push((name.clone(), peeled.trim().to_string()));
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            if let Some((sha, name)) = line.split_once(' ') {
                out.push((name.to_string(), sha.to_string()));
                last = Some(name.to_string());
            }
        }
    }
    let tags = gd.join("refs/tags");
    if tags.is_dir() {
        let mut stack = vec![tags.clone()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
                let e = e?;
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(rel) = p.strip_prefix(gd) {
                    out.push((
                        rel.to_string_lossy().into_owned(),
                        read(&p)?.trim().to_string(),
                    ));
                }
            }
        }
    }
    Ok(out)
}

fn git_head(src: &Path) -> Result<String> {
    let gd = git_dir(src)?;
    let head = read(&gd.join("HEAD"))?.trim().to_string();
    if is_sha(&head) {
        return Ok(head);
    }
    let name = head
        .strip_prefix("ref:")
        .with_context(|| format!("unexpected HEAD {head:?}"))?
        .trim()
        .to_string();
    let loose = gd.join(&name);
    if loose.is_file() {
        return Ok(read(&loose)?.trim().to_string());
    }
    git_refs(&gd)?
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s)
        .with_context(|| format!("ref {name} not found in {}", gd.display()))
}

fn git_tags_at(src: &Path, commit: &str) -> Result<Vec<String>> {
    let gd = git_dir(src)?;
    Ok(git_refs(&gd)?
        .into_iter()
        .filter(|(n, s)| s == commit && n.starts_with("refs/tags/"))
        .map(|(n, _)| n.trim_start_matches("refs/tags/").to_string())
        .collect())
}

// ---------------------------------------------------------------------------------------------
// The reference table
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Entry {
    typ: String,
    default: String,
    note: String,
    /// CLI flag (without the dash), used only to resolve "use X instead".
    flag: String,
}

#[derive(Default)]
struct Table {
    rows: BTreeMap<String, Entry>,
}

impl Table {
    fn add(&mut self, path: &str, typ: &str, default: &str, note: &str, flag: &str) {
        self.rows.entry(path.to_string()).or_insert_with(|| Entry {
            typ: typ.to_string(),
            default: default.to_string(),
            note: note.to_string(),
            flag: flag.to_string(),
        });
    }

    fn render(&self, header: &[String]) -> String {
        let mut s = String::new();
        for h in header {
            s.push_str(h);
            s.push('\n');
        }
        for (path, e) in &self.rows {
            s.push_str(&format!(
                "{}\t{}\t{}\t{}\n",
                path,
                e.typ,
                tsv_escape(&e.default),
                e.note
            ));
        }
        s
    }

    /// Turns `deprecated?<hint>` notes into `deprecated:<path>` when the hint names a key or a
    /// flag of this table, else plain `deprecated`.
    fn resolve_replacements(&mut self) {
        let by_flag: HashMap<String, String> = self
            .rows
            .iter()
            .filter(|(_, e)| !e.flag.is_empty() && !e.flag.contains('<'))
            .map(|(p, e)| (e.flag.clone(), p.clone()))
            .collect();
        let paths: Vec<String> = self.rows.keys().cloned().collect();
        let mut updates = Vec::new();
        for (path, e) in &self.rows {
            let Some(hint) = e.note.strip_prefix("deprecated?") else {
                continue;
            };
            let target = resolve_hint(path, hint, &paths, &by_flag, &self.rows);
            let note = match target {
                Some(t) if t != *path => format!("deprecated:{t}"),
                _ => "deprecated".to_string(),
            };
            updates.push((path.clone(), note));
        }
        for (p, n) in updates {
            if let Some(e) = self.rows.get_mut(&p) {
                e.note = n;
            }
        }
    }
}

fn tsv_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn parent_of(path: &str) -> &str {
    match path.rfind('.') {
        Some(i) => &path[..i],
        None => "",
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

fn resolve_hint(
    path: &str,
    hint: &str,
    paths: &[String],
    by_flag: &HashMap<String, String>,
    rows: &BTreeMap<String, Entry>,
) -> Option<String> {
    let hint = hint.trim().trim_end_matches('.');
    if hint.is_empty() {
        return None;
    }
    let parent = parent_of(path);
    let unique = |cands: Vec<&String>| -> Option<String> {
        if cands.len() == 1 {
            Some(cands[0].clone())
        } else {
            None
        }
    };
    let flaglike = hint.starts_with('-') || hint.contains('-');
    if flaglike {
        let f = hint.trim_start_matches('-');
        if let Some(p) = by_flag.get(f) {
            return Some(p.clone());
        }
        // A flag written without its block prefix ("s3.bucket-lookup-type"): prefer a sibling.
        let suffix = format!(".{f}");
        let sib: Vec<&String> = paths
            .iter()
            .filter(|p| parent_of(p) == parent)
            .filter(|p| rows.get(*p).is_some_and(|e| e.flag.ends_with(&suffix)))
            .collect();
        if let Some(p) = unique(sib) {
            return Some(p);
        }
        let all: Vec<&String> = by_flag
            .iter()
            .filter(|(fl, _)| fl.ends_with(&suffix))
            .map(|(_, p)| p)
            .collect();
        return unique(all);
    }
    if rows.contains_key(hint) {
        return Some(hint.to_string());
    }
    let rel = join(parent, hint);
    if rows.contains_key(&rel) {
        return Some(rel);
    }
    let suffix = format!(".{hint}");
    unique(paths.iter().filter(|p| p.ends_with(&suffix)).collect())
}

static USE_INSTEAD: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?i)\buse '([^']+)' instead",
        r"(?i)\buse `([^`]+)` instead",
        r#"(?i)\buse "([^"]+)" instead"#,
        r"(?i)deprecated[,:;.]? +use +(-?[A-Za-z0-9_.\-]+[A-Za-z0-9_]) +instead",
        r"(?i)\bin favou?r of +'?(-?[A-Za-z0-9_.\-]+[A-Za-z0-9_])",
        r"(?i)\buse +(-[A-Za-z0-9_.\-]+[A-Za-z0-9_])",
    ]
    .iter()
    .filter_map(|r| Regex::new(r).ok())
    .collect()
});

/// The note for an entry from its category (when the source has one) and its description:
/// `deprecated?<hint>` (resolved later), `experimental` or empty.
fn note_from(category: Option<&str>, desc: &str) -> String {
    let d = desc.trim();
    let lower = d.to_ascii_lowercase();
    let deprecated = category == Some("deprecated")
        || lower.starts_with("deprecated")
        || lower.contains("is deprecated")
        || lower.contains("deprecated in favor of")
        || lower.contains("deprecated in favour of");
    if deprecated {
        let hint = USE_INSTEAD
            .iter()
            .find_map(|re| re.captures(d).map(|c| c[1].to_string()))
            .unwrap_or_default();
        return format!("deprecated?{hint}");
    }
    if category == Some("experimental") || lower.starts_with("experimental") {
        return "experimental".to_string();
    }
    String::new()
}

/// Go's time.Duration formatting with the trailing zero units dropped ("1h0m0s" -> "1h").
fn go_duration(ns: i128) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut s = String::new();
    if u < 1_000_000_000 {
        let (unit, div) = if u < 1_000 {
            ("ns", 1u128)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        s.push_str(&frac(u, div));
        s.push_str(unit);
    } else {
        let h = u / 3_600_000_000_000;
        let rem = u % 3_600_000_000_000;
        let m = rem / 60_000_000_000;
        let sec = rem % 60_000_000_000;
        if h > 0 {
            s.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            s.push_str(&format!("{m}m"));
        }
        s.push_str(&frac(sec, 1_000_000_000));
        s.push('s');
        if s.ends_with("m0s") {
            s.truncate(s.len() - 2);
        }
        if s.ends_with("h0m") {
            s.truncate(s.len() - 2);
        }
    }
    if neg {
        format!("-{s}")
    } else {
        s
    }
}

fn frac(v: u128, div: u128) -> String {
    let whole = v / div;
    let rest = v % div;
    if rest == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

fn json_compact(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------
// Mimir: cmd/mimir/config-descriptor.json (+ the runtime config file shape)
// ---------------------------------------------------------------------------------------------

const MIMIR_DESCRIPTOR: &str = "cmd/mimir/config-descriptor.json";
const MIMIR_RUNTIME: &str = "pkg/mimir/runtime_config.go";
/// The root of Mimir's config struct tree: (package directory, struct).
const MIMIR_ROOT: (&str, &str) = ("pkg/mimir", "Config");
/// Flags the doc generator hides by name (`hiddenOverrides`).
const MIMIR_HIDDEN_FLAGS: &str = "pkg/util/configdoc/hidden.go";

fn hidden_flag_names(p: &Path) -> Result<Vec<String>> {
    let re = Regex::new(r#""([^"]+)"\s*:\s*true"#)?;
    Ok(re
        .captures_iter(&read(p)?)
        .map(|c| c[1].to_string())
        .collect())
}
const DSKIT_MULTI: &str = "vendor/github.com/grafana/dskit/kv/multi.go";

fn mimir(o: &Opts) -> Result<String> {
    let path = o.src.join(MIMIR_DESCRIPTOR);
    let root: Value = serde_json::from_str(&read(&path)?)
        .with_context(|| format!("parsing {}", path.display()))?;
    let mut t = Table::default();
    let entries = root
        .get("blockEntries")
        .and_then(Value::as_array)
        .with_context(|| format!("{}: root has no blockEntries", path.display()))?;
    for e in entries {
        mimir_entry(&mut t, "", e).with_context(|| format!("in {}", path.display()))?;
    }
    let go = GoSources::new(&o.src, &o.extra)?;
    let hidden_flags = hidden_flag_names(&o.src.join(MIMIR_HIDDEN_FLAGS))?;
    let keys = go_config_keys(&go, MIMIR_ROOT.0, MIMIR_ROOT.1, &[], &hidden_flags)?;
    add_hidden_keys(&mut t, &keys, o);
    for m in go.missing.borrow().iter() {
        eprintln!("  missing Go source: {m}");
    }
    // Runtime configuration file (-runtime-config.file).
    let runtime = RuntimeSpec {
        file: MIMIR_RUNTIME,
        blocks: &[
            (
                "map[string]*validation.Limits",
                RuntimeTarget::MapOf("limits"),
            ),
            (
                "*ingester.InstanceLimits",
                RuntimeTarget::Block("ingester.instance_limits"),
            ),
            (
                "*distributor.InstanceLimits",
                RuntimeTarget::Block("distributor.instance_limits"),
            ),
            (
                "kv.MultiRuntimeConfig",
                RuntimeTarget::GoStruct(DSKIT_MULTI, "MultiRuntimeConfig"),
            ),
        ],
    };
    add_runtime(&mut t, o, &runtime)?;
    t.resolve_replacements();
    let version = o.version(Some("VERSION"), "mimir-")?;
    let header = vec![
        format!("# kalypso config reference: mimir {version}"),
        format!(
            "# source: grafana/mimir@{}:{MIMIR_DESCRIPTOR} (+ the doc:\"hidden\" keys of the config struct tree from {}.{} with vendor/, {MIMIR_HIDDEN_FLAGS}; {MIMIR_RUNTIME}, {DSKIT_MULTI})",
            o.commit()?,
            MIMIR_ROOT.0,
            MIMIR_ROOT.1
        ),
        format!(
            "# regenerate: cargo run -p config-reference -- mimir <checkout of grafana/mimir at mimir-{version}> > {OUT_DIR}/mimir-{version}.tsv"
        ),
    ];
    Ok(t.render(&header))
}

fn mimir_type(ft: &str) -> Option<&'static str> {
    Some(match ft {
        "string" | "url" => "string",
        "int" => "int",
        "float" => "float",
        "boolean" => "bool",
        "duration" => "duration",
        "time" => "time",
        "list of strings" => "list(string)",
        "list of durations" => "list(duration)",
        "list of ints" => "list(int)",
        "map of string to string" | "map of tracker name (string) to matcher (string)" => {
            "map(string)"
        }
        "map of string to int" => "map(int)",
        "map of string to float64" => "map(float)",
        "relabel_config..." => "any",
        _ => return None,
    })
}

fn mimir_default(ft: &str, v: &Value) -> String {
    match (ft, v) {
        ("duration", Value::Number(n)) => n
            .as_i64()
            .map(|x| go_duration(x as i128))
            .or_else(|| n.as_u64().map(|x| go_duration(x as i128)))
            .unwrap_or_else(|| n.to_string()),
        ("list of durations", Value::Array(items)) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| {
                    i.as_i64()
                        .map(|x| go_duration(x as i128))
                        .unwrap_or_else(|| json_compact(i))
                })
                .collect();
            format!("[{}]", parts.join(","))
        }
        _ => json_compact(v),
    }
}

fn mimir_entry(t: &mut Table, parent: &str, e: &Value) -> Result<()> {
    let kind = e.get("kind").and_then(Value::as_str).unwrap_or_default();
    let name = e
        .get("name")
        .and_then(Value::as_str)
        .with_context(|| format!("an entry under {parent:?} has no name"))?;
    let path = join(parent, name);
    let category = e.get("fieldCategory").and_then(Value::as_str);
    let desc = e.get("desc").and_then(Value::as_str).unwrap_or_default();
    let note = note_from(category, desc);
    let flag = e
        .get("fieldFlag")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match kind {
        "block" => {
            t.add(&path, "block", "", &note, "");
            for c in e
                .get("blockEntries")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                mimir_entry(t, &path, c)?;
            }
        }
        "field" | "map" => {
            let ft = e
                .get("fieldType")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let elem = e.get("fieldElement");
            let default = e.get("fieldDefaultValue").unwrap_or(&Value::Null);
            if let Some(el) =
                elem.filter(|el| el.get("kind").and_then(Value::as_str) == Some("block"))
            {
                let (typ, child) = if kind == "map" {
                    ("map(block)", format!("{path}.*"))
                } else {
                    ("list(block)", format!("{path}[]"))
                };
                t.add(&path, typ, &mimir_default(ft, default), &note, flag);
                for c in el
                    .get("blockEntries")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    mimir_entry(t, &child, c)?;
                }
            } else {
                let typ =
                    mimir_type(ft).with_context(|| format!("{path}: unknown fieldType {ft:?}"))?;
                t.add(&path, typ, &mimir_default(ft, default), &note, flag);
            }
        }
        other => bail!("{path}: unknown entry kind {other:?}"),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Runtime configuration files (Mimir, Loki): top-level keys from runtimeConfigValues
// ---------------------------------------------------------------------------------------------

enum RuntimeTarget {
    /// A map keyed by tenant whose values have the shape of this block of the main config.
    MapOf(&'static str),
    /// The shape of this block of the main config.
    Block(&'static str),
    /// A Go struct (file, type name) not present in the main config.
    GoStruct(&'static str, &'static str),
}

struct RuntimeSpec {
    file: &'static str,
    blocks: &'static [(&'static str, RuntimeTarget)],
}

fn add_runtime(t: &mut Table, o: &Opts, spec: &RuntimeSpec) -> Result<()> {
    let path = o.src.join(spec.file);
    let text = read(&path)?;
    let structs = parse_go(&text);
    let rcv = structs
        .structs
        .get("runtimeConfigValues")
        .with_context(|| format!("{}: no runtimeConfigValues struct", path.display()))?;
    let main: Vec<(String, Entry)> = t.rows.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for f in rcv {
        if f.yaml.is_empty() || f.yaml == "-" {
            continue;
        }
        let target = spec
            .blocks
            .iter()
            .find(|(ty, _)| *ty == f.typ)
            .map(|(_, t)| t)
            .with_context(|| {
                format!(
                    "{}: runtime key {:?} has type {:?}, which this extractor does not map",
                    path.display(),
                    f.yaml,
                    f.typ
                )
            })?;
        let key = format!("runtime:{}", f.yaml);
        match target {
            RuntimeTarget::MapOf(block) | RuntimeTarget::Block(block) => {
                if !t.rows.contains_key(*block) {
                    bail!(
                        "{}: runtime key {} maps to {block}, which the main config lacks",
                        path.display(),
                        f.yaml
                    );
                }
                let (head_typ, prefix) = match target {
                    RuntimeTarget::MapOf(_) => ("map(block)", format!("{key}.*")),
                    _ => ("block", key.clone()),
                };
                t.add(&key, head_typ, "", "", "");
                let pre = format!("{block}.");
                for (p, e) in &main {
                    if let Some(rest) = p.strip_prefix(&pre) {
                        let mut e = e.clone();
                        let moved = e
                            .note
                            .strip_prefix("deprecated?")
                            .and_then(|r| r.strip_prefix(&pre))
                            .map(|r2| format!("deprecated?{prefix}.{r2}"));
                        if let Some(n) = moved {
                            e.note = n;
                        }
                        t.add(&format!("{prefix}.{rest}"), &e.typ, &e.default, &e.note, "");
                    }
                }
            }
            RuntimeTarget::GoStruct(file, name) => {
                let p = o.src.join(file);
                let go = parse_go(&read(&p)?);
                let ctx = GoCtx {
                    go: &go,
                    known: &[],
                };
                t.add(&key, "block", "", "", "");
                ctx.add_struct(t, &key, name, &HashMap::new())
                    .with_context(|| format!("in {}", p.display()))?;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A small Go struct reader (yaml tags only), for runtime and overrides shapes
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct GoField {
    name: String,
    typ: String,
    yaml: String,
    inline: bool,
}

#[derive(Default)]
struct GoFile {
    structs: HashMap<String, Vec<GoField>>,
    /// `type X <non-struct type>` definitions.
    aliases: HashMap<String, String>,
}

impl GoFile {
    fn merge(&mut self, other: GoFile) {
        for (k, v) in other.structs {
            self.structs.entry(k).or_insert(v);
        }
        for (k, v) in other.aliases {
            self.aliases.entry(k).or_insert(v);
        }
    }
}

static GO_TYPE_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*type\s+(\w+)\s+struct\s*\{\s*$").unwrap_or_else(|_| unreachable!())
});
static GO_ALIAS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^type\s+(\w+)\s+([^\s{=]+)\s*(//.*)?$").unwrap_or_else(|_| unreachable!())
});
static GO_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(\w+)\s+([^\s`]+)\s+`([^`]*)`").unwrap_or_else(|_| unreachable!())
});
static YAML_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"yaml:"([^"]*)""#).unwrap_or_else(|_| unreachable!()));

fn parse_go(text: &str) -> GoFile {
    let mut out = GoFile::default();
    let mut current: Option<(String, Vec<GoField>)> = None;
    let mut depth = 0usize;
    for line in text.lines() {
        if let Some((name, fields)) = current.as_mut() {
            let trimmed = line.trim();
            if depth == 0 && trimmed == "}" {
                let (n, f) = (name.clone(), std::mem::take(fields));
                out.structs.insert(n, f);
                current = None;
                continue;
            }
            // Skip anonymous nested structs (not used by the shapes read here).
            if trimmed.ends_with('{') {
                depth += 1;
                continue;
            }
            if trimmed.starts_with('}') && depth > 0 {
                depth -= 1;
                continue;
            }
            if depth > 0 {
                continue;
            }
            if let Some(c) = GO_FIELD.captures(line) {
                let tag = &c[3];
                let Some(y) = YAML_TAG.captures(tag) else {
                    continue;
                };
                let mut parts = y[1].split(',');
                let yaml = parts.next().unwrap_or_default().to_string();
                let inline = parts.any(|p| p == "inline");
                fields.push(GoField {
                    name: c[1].to_string(),
                    typ: c[2].to_string(),
                    yaml,
                    inline,
                });
            }
            continue;
        }
        if let Some(c) = GO_TYPE_START.captures(line) {
            current = Some((c[1].to_string(), Vec::new()));
            depth = 0;
        } else if let Some(c) = GO_ALIAS.captures(line) {
            out.aliases.insert(c[1].to_string(), c[2].to_string());
        }
    }
    out
}

/// How a Go type appears in YAML: the kalypso type and, for blocks, the struct to descend into.
struct GoCtx<'a> {
    go: &'a GoFile,
    /// Types decoded by custom code: (Go type as written, kalypso type).
    known: &'a [(&'a str, &'a str)],
}

enum Shape {
    Scalar(String),
    Block(String),
    ListOf(Box<Shape>),
    MapOf(Box<Shape>),
}

impl GoCtx<'_> {
    fn shape(&self, typ: &str, depth: usize) -> Shape {
        if depth > 20 {
            return Shape::Scalar("any".into());
        }
        let t = typ.trim_start_matches('*');
        if let Some((_, k)) = self.known.iter().find(|(g, _)| *g == t) {
            return Shape::Scalar((*k).to_string());
        }
        if let Some(inner) = t.strip_prefix("[]") {
            return Shape::ListOf(Box::new(self.shape(inner, depth + 1)));
        }
        if let Some(rest) = t.strip_prefix("map[") {
            if let Some(i) = rest.find(']') {
                return Shape::MapOf(Box::new(self.shape(&rest[i + 1..], depth + 1)));
            }
        }
        match t {
            "string" => return Shape::Scalar("string".into()),
            "bool" => return Shape::Scalar("bool".into()),
            "int" | "int8" | "int16" | "int32" | "int64" | "uint" | "uint8" | "uint16"
            | "uint32" | "uint64" => return Shape::Scalar("int".into()),
            "float32" | "float64" => return Shape::Scalar("float".into()),
            "time.Duration" | "model.Duration" => return Shape::Scalar("duration".into()),
            "interface{}" | "any" | "struct{}" => return Shape::Scalar("any".into()),
            _ => {}
        }
        let local = t.rsplit('.').next().unwrap_or(t);
        if self.go.structs.contains_key(local) {
            return Shape::Block(local.to_string());
        }
        if let Some(a) = self.go.aliases.get(local) {
            return self.shape(a, depth + 1);
        }
        Shape::Scalar("any".into())
    }

    fn type_name(shape: &Shape) -> String {
        match shape {
            Shape::Scalar(s) => s.clone(),
            Shape::Block(_) => "block".into(),
            Shape::ListOf(i) => match i.as_ref() {
                Shape::Scalar(s) if s == "any" => "list".into(),
                other => format!("list({})", Self::type_name(other)),
            },
            Shape::MapOf(i) => match i.as_ref() {
                Shape::Scalar(s) if s == "any" => "map".into(),
                other => format!("map({})", Self::type_name(other)),
            },
        }
    }

    /// Adds the fields of struct `name` under `prefix`; `defaults` maps paths to default values.
    fn add_struct(
        &self,
        t: &mut Table,
        prefix: &str,
        name: &str,
        defaults: &HashMap<String, String>,
    ) -> Result<()> {
        self.add_struct_depth(t, prefix, name, defaults, 0)
    }

    fn add_struct_depth(
        &self,
        t: &mut Table,
        prefix: &str,
        name: &str,
        defaults: &HashMap<String, String>,
        depth: usize,
    ) -> Result<()> {
        if depth > 20 {
            bail!("{prefix}: struct nesting too deep");
        }
        let fields = self
            .go
            .structs
            .get(name)
            .with_context(|| format!("struct {name} not found"))?
            .clone();
        for f in fields {
            if f.yaml == "-" {
                continue;
            }
            let shape = self.shape(&f.typ, 0);
            if f.inline || f.yaml.is_empty() {
                if let Shape::Block(s) = &shape {
                    self.add_struct_depth(t, prefix, s, defaults, depth + 1)?;
                }
                continue;
            }
            let path = join(prefix, &f.yaml);
            self.add_shape(t, &path, &shape, defaults, depth)?;
        }
        Ok(())
    }

    fn add_shape(
        &self,
        t: &mut Table,
        path: &str,
        shape: &Shape,
        defaults: &HashMap<String, String>,
        depth: usize,
    ) -> Result<()> {
        let d = defaults.get(path).cloned().unwrap_or_default();
        t.add(path, &Self::type_name(shape), &d, "", "");
        match shape {
            Shape::Block(s) => self.add_struct_depth(t, path, s, defaults, depth + 1)?,
            Shape::ListOf(i) => {
                if let Shape::Block(s) = i.as_ref() {
                    self.add_struct_depth(t, &format!("{path}[]"), s, defaults, depth + 1)?;
                }
            }
            Shape::MapOf(i) => {
                if let Shape::Block(s) = i.as_ref() {
                    self.add_struct_depth(t, &format!("{path}.*"), s, defaults, depth + 1)?;
                }
            }
            Shape::Scalar(_) => {}
        }
        Ok(())
    }

    /// Go field path ("Ingestion.RateStrategy") of struct `name` to its YAML path.
    fn yaml_path(&self, name: &str, go_path: &str) -> Option<String> {
        let mut st = name.to_string();
        let mut out = Vec::new();
        let parts: Vec<&str> = go_path.split('.').collect();
        for (i, p) in parts.iter().enumerate() {
            let fields = self.go.structs.get(&st)?;
            let f = fields.iter().find(|f| f.name == *p)?;
            out.push(f.yaml.clone());
            if i + 1 < parts.len() {
                match self.shape(&f.typ, 0) {
                    Shape::Block(s) => st = s,
                    _ => return None,
                }
            }
        }
        Some(out.join("."))
    }
}

// ---------------------------------------------------------------------------------------------
// Loki and Pyroscope: the generated configuration reference (Markdown with YAML-like specs)
// ---------------------------------------------------------------------------------------------

const LOKI_DOC: &str = "docs/sources/shared/configuration.md";
const LOKI_RUNTIME: &str = "pkg/loki/runtime_config.go";
const LOKI_ROOT: (&str, &str) = ("pkg/loki", "Config");
const PYROSCOPE_ROOT: (&str, &str) = ("pkg/pyroscope", "Config");
/// The shared server library, not vendored by Pyroscope.
const DSKIT: &str = "github.com/grafana/dskit";
const PYROSCOPE_DOC: &str =
    "docs/sources/configure-server/reference-configuration-parameters/index.md";

fn loki(o: &Opts) -> Result<String> {
    let path = o.src.join(LOKI_DOC);
    let doc = DocReference::parse(&read(&path)?, "### Supported contents and default values")
        .with_context(|| format!("parsing {}", path.display()))?;
    let mut t = Table::default();
    doc.expand(&mut t)
        .with_context(|| format!("expanding {}", path.display()))?;
    let go = GoSources::new(&o.src, &o.extra)?;
    let keys = go_config_keys(&go, LOKI_ROOT.0, LOKI_ROOT.1, &[], &[])?;
    add_hidden_keys(&mut t, &keys, o);
    for m in go.missing.borrow().iter() {
        eprintln!("  missing Go source: {m}");
    }
    let runtime = RuntimeSpec {
        file: LOKI_RUNTIME,
        blocks: &[
            (
                "map[string]*validation.Limits",
                RuntimeTarget::MapOf("limits_config"),
            ),
            (
                "map[string]*runtime.Config",
                RuntimeTarget::MapOf("operational_config"),
            ),
            (
                "kv.MultiRuntimeConfig",
                RuntimeTarget::GoStruct(DSKIT_MULTI, "MultiRuntimeConfig"),
            ),
        ],
    };
    add_runtime(&mut t, o, &runtime)?;
    t.resolve_replacements();
    let version = o.version(None, "v")?;
    let header = vec![
        format!("# kalypso config reference: loki {version}"),
        format!(
            "# source: grafana/loki@{}:{LOKI_DOC} (+ the doc:\"hidden\" and undocumented keys of the config struct tree from {}.{} with vendor/; {LOKI_RUNTIME}, {DSKIT_MULTI})",
            o.commit()?,
            LOKI_ROOT.0,
            LOKI_ROOT.1
        ),
        format!(
            "# regenerate: cargo run -p config-reference -- loki <checkout of grafana/loki at v{version}> > {OUT_DIR}/loki-{version}.tsv"
        ),
    ];
    Ok(t.render(&header))
}

fn pyroscope(o: &Opts) -> Result<String> {
    let path = o.src.join(PYROSCOPE_DOC);
    let doc = DocReference::parse(&read(&path)?, "## Configuration parameters")
        .with_context(|| format!("parsing {}", path.display()))?;
    let mut t = Table::default();
    doc.expand(&mut t)
        .with_context(|| format!("expanding {}", path.display()))?;
    let go = GoSources::new(&o.src, &o.extra)?;
    let dskit = go
        .required(DSKIT)
        .with_context(|| format!("{}: go.mod does not require {DSKIT}", o.src.display()))?;
    let keys = go_config_keys(&go, PYROSCOPE_ROOT.0, PYROSCOPE_ROOT.1, &[], &[])?;
    add_hidden_keys(&mut t, &keys, o);
    for m in go.missing.borrow().iter() {
        eprintln!("  missing Go source: {m}");
    }
    t.resolve_replacements();
    let version = o.version(None, "v")?;
    let header = vec![
        format!("# kalypso config reference: pyroscope {version}"),
        format!(
            "# source: grafana/pyroscope@{}:{PYROSCOPE_DOC} (+ the doc:\"hidden\" keys of the config struct tree from {}.{}, with {DSKIT}@{dskit})",
            o.commit()?,
            PYROSCOPE_ROOT.0,
            PYROSCOPE_ROOT.1
        ),
        format!(
            "# regenerate: cargo run -p config-reference -- pyroscope <checkout of grafana/pyroscope at v{version}> <Go module cache root after `go mod download` in that checkout, or {DSKIT}=<checkout of grafana/dskit at {dskit}>> > {OUT_DIR}/pyroscope-{version}.tsv"
        ),
    ];
    Ok(t.render(&header))
}

#[derive(Debug, Clone)]
enum DocKind {
    /// `[name: <type> | default = X]`
    Field {
        typ: String,
        default: Option<String>,
    },
    /// `name:` followed by indented entries.
    Nested(Vec<DocEntry>),
    /// `[<block>]`: the entries of a named block, inlined at this level.
    Inline(String),
}

#[derive(Debug, Clone)]
struct DocEntry {
    name: String,
    kind: DocKind,
    desc: String,
    flag: String,
}

struct DocReference {
    root: Vec<DocEntry>,
    blocks: HashMap<String, Vec<DocEntry>>,
}

static DOC_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[?([A-Za-z0-9_\-]*): <([^>]*)>(?: \| default = (.*?))?\]?$")
        .unwrap_or_else(|_| unreachable!())
});
static DOC_INLINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[<([A-Za-z0-9_]+)>\]$").unwrap_or_else(|_| unreachable!()));
static DOC_NESTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([A-Za-z0-9_\-]+):$").unwrap_or_else(|_| unreachable!()));
static BLOCK_HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^### ([a-z0-9_]+)$").unwrap_or_else(|_| unreachable!()));

impl DocReference {
    fn parse(text: &str, root_heading: &str) -> Result<DocReference> {
        let lines: Vec<&str> = text.lines().collect();
        let mut root = None;
        let mut blocks = HashMap::new();
        let mut heading: Option<String> = None;
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            if line.starts_with('#') && !line.starts_with("# ") {
                heading = Some(line.to_string());
                i += 1;
                continue;
            }
            if line.trim() == "```yaml" {
                let start = i + 1;
                let mut end = start;
                while end < lines.len() && lines[end].trim() != "```" {
                    end += 1;
                }
                let body = &lines[start..end];
                // A section may show a usage example before its specification: the first
                // block that parses as a specification wins.
                let mut used = false;
                if let Some(h) = &heading {
                    if let Some(c) = BLOCK_HEADING.captures(h) {
                        if !blocks.contains_key(&c[1]) {
                            if let Ok(entries) = parse_spec(body, start + 1) {
                                blocks.insert(c[1].to_string(), entries);
                                used = true;
                            }
                        }
                    } else if h.starts_with(root_heading) && root.is_none() {
                        root = Some(
                            parse_spec(body, start + 1)
                                .with_context(|| format!("the block under {h:?}"))?,
                        );
                        used = true;
                    }
                }
                if used {
                    heading = None;
                }
                i = end + 1;
                continue;
            }
            i += 1;
        }
        let root =
            root.with_context(|| format!("no YAML block under a heading {root_heading:?}"))?;
        Ok(DocReference { root, blocks })
    }

    fn expand(&self, t: &mut Table) -> Result<()> {
        let mut stack = Vec::new();
        self.expand_entries(t, "", &self.root, &mut stack)
    }

    fn expand_entries(
        &self,
        t: &mut Table,
        prefix: &str,
        entries: &[DocEntry],
        stack: &mut Vec<String>,
    ) -> Result<()> {
        for e in entries {
            let note = doc_note(&e.desc);
            match &e.kind {
                DocKind::Inline(b) => {
                    let body = self.block(b)?;
                    self.descend(t, prefix, b, body, stack)?;
                }
                DocKind::Nested(children) => {
                    let path = join(prefix, &e.name);
                    t.add(&path, "block", "", &note, "");
                    self.expand_entries(t, &path, children, stack)?;
                }
                DocKind::Field { typ, default } if e.name.is_empty() => {
                    // `name:` whose only entry is `[: <map of ...>]`: the block is a map.
                    let mut inner = Table::default();
                    let default = default.as_deref().map(doc_default).unwrap_or_default();
                    self.field(&mut inner, prefix, typ, &default, &note, &e.flag, stack)?;
                    for (p, row) in inner.rows {
                        match t.rows.get_mut(&p) {
                            Some(existing) => existing.typ = row.typ,
                            None => t.add(&p, &row.typ, &row.default, &row.note, &row.flag),
                        }
                    }
                }
                DocKind::Field { typ, default } => {
                    let path = join(prefix, &e.name);
                    let default = default.as_deref().map(doc_default).unwrap_or_default();
                    self.field(t, &path, typ, &default, &note, &e.flag, stack)?;
                }
            }
        }
        Ok(())
    }

    fn block(&self, name: &str) -> Result<&Vec<DocEntry>> {
        self.blocks
            .get(name)
            .with_context(|| format!("block {name:?} is referenced but has no section"))
    }

    fn descend(
        &self,
        t: &mut Table,
        prefix: &str,
        name: &str,
        body: &[DocEntry],
        stack: &mut Vec<String>,
    ) -> Result<()> {
        if stack.iter().any(|s| s == name) {
            bail!("block {name} includes itself (via {stack:?})");
        }
        stack.push(name.to_string());
        let r = self.expand_entries(t, prefix, body, stack);
        stack.pop();
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn field(
        &self,
        t: &mut Table,
        path: &str,
        typ: &str,
        default: &str,
        note: &str,
        flag: &str,
        stack: &mut Vec<String>,
    ) -> Result<()> {
        if let Some(b) = self.blocks.get(typ) {
            t.add(path, "block", "", note, flag);
            return self.descend(t, path, typ, b, stack);
        }
        if let Some(elem) = typ.strip_prefix("list of ") {
            let single = elem.strip_suffix('s').unwrap_or(elem);
            if let Some(b) = self.blocks.get(single) {
                t.add(path, "list(block)", default, note, flag);
                return self.descend(t, &format!("{path}[]"), single, b, stack);
            }
            let inner = doc_scalar(single)
                .map(|s| format!("list({s})"))
                .unwrap_or("list".into());
            t.add(path, &inner, default, note, flag);
            return Ok(());
        }
        if let Some(elem) = typ.strip_prefix("map of ") {
            let value = elem.split_once(" to ").map(|(_, v)| v.trim()).unwrap_or("");
            if let Some(b) = self.blocks.get(value) {
                t.add(path, "map(block)", default, note, flag);
                return self.descend(t, &format!("{path}.*"), value, b, stack);
            }
            let inner = if let Some(l) = value.strip_prefix("list of ") {
                doc_scalar(l.strip_suffix('s').unwrap_or(l)).map(|s| format!("map(list({s}))"))
            } else {
                doc_scalar(value).map(|s| format!("map({s})"))
            };
            t.add(path, &inner.unwrap_or("map".into()), default, note, flag);
            return Ok(());
        }
        let ty = doc_scalar(typ).unwrap_or_else(|| {
            if typ.ends_with("...") {
                "any".to_string()
            } else if typ == "headers" {
                "map(string)".to_string()
            } else {
                "any".to_string()
            }
        });
        t.add(path, &ty, default, note, flag);
        Ok(())
    }
}

fn doc_scalar(t: &str) -> Option<String> {
    Some(
        match t {
            "string" | "secret" | "url" | "hostname" | "filename" | "labelname" | "labelvalue"
            | "host" | "Regexp" | "prefix" => "string",
            "int" | "int64" | "uint" | "uint64" | "int32" | "uint32" => "int",
            "float" | "float64" => "float",
            "boolean" | "bool" => "bool",
            "duration" => "duration",
            "time" | "Time" | "daytime" => "time",
            _ => return None,
        }
        .to_string(),
    )
}

fn doc_default(d: &str) -> String {
    let d = d.trim();
    if d.len() >= 2 && d.starts_with('"') && d.ends_with('"') {
        // Go's strconv.Quote output.
        if let Ok(Value::String(s)) = serde_json::from_str::<Value>(d) {
            return s;
        }
        return d[1..d.len() - 1].to_string();
    }
    d.to_string()
}

/// Category markers of the Mimir-style generators ("(advanced)", "(experimental)") and the
/// description text decide the note.
fn doc_note(desc: &str) -> String {
    let mut d = desc.trim();
    let mut category = None;
    while let Some(rest) = d.strip_prefix('(') {
        let Some(end) = rest.find(')') else {
            break;
        };
        let c = &rest[..end];
        if !matches!(c, "advanced" | "experimental" | "deprecated") {
            break;
        }
        if c != "advanced" && category.is_none() {
            category = Some(c);
        }
        d = rest[end + 1..].trim_start();
    }
    // "(deprecated)" wins over "(experimental)" when both appear.
    let deprecated_text = note_from(None, d);
    if deprecated_text.starts_with("deprecated") {
        return deprecated_text;
    }
    note_from(category, d)
}

fn parse_spec(lines: &[&str], first_line: usize) -> Result<Vec<DocEntry>> {
    // (indent, entries) stack; the comment lines before an entry are its description.
    let mut stack: Vec<(usize, String, DocEntry, Vec<DocEntry>)> = Vec::new();
    let mut top: Vec<DocEntry> = Vec::new();
    let mut desc: Vec<String> = Vec::new();
    let mut flag = String::new();
    let mut in_example = false;

    fn close(
        stack: &mut Vec<(usize, String, DocEntry, Vec<DocEntry>)>,
        top: &mut Vec<DocEntry>,
        min_indent: usize,
    ) {
        while let Some((indent, _, _, _)) = stack.last() {
            if *indent < min_indent {
                break;
            }
            let Some((_, _, mut e, children)) = stack.pop() else {
                break;
            };
            e.kind = DocKind::Nested(children);
            match stack.last_mut() {
                Some((_, _, _, c)) => c.push(e),
                None => top.push(e),
            }
        }
    }

    for (n, raw) in lines.iter().enumerate() {
        let indent = raw.len() - raw.trim_start().len();
        let line = raw.trim();
        if line.is_empty() {
            desc.clear();
            flag.clear();
            in_example = false;
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            let c = c.strip_prefix(' ').unwrap_or(c);
            if let Some(f) = c.strip_prefix("CLI flag: -") {
                flag = f.trim().to_string();
            } else if c.trim() == "Example:" {
                in_example = true;
            } else if !in_example && !c.starts_with("The CLI flags prefix for this block") {
                desc.push(c.trim().to_string());
            }
            continue;
        }
        close(&mut stack, &mut top, indent);
        let d = desc.join(" ");
        let entry = if let Some(c) = DOC_INLINE.captures(line) {
            DocEntry {
                name: String::new(),
                kind: DocKind::Inline(c[1].to_string()),
                desc: d,
                flag: String::new(),
            }
        } else if let Some(c) = DOC_NESTED.captures(line) {
            let e = DocEntry {
                name: c[1].to_string(),
                kind: DocKind::Nested(Vec::new()),
                desc: d,
                flag: String::new(),
            };
            stack.push((indent, c[1].to_string(), e, Vec::new()));
            desc.clear();
            flag.clear();
            in_example = false;
            continue;
        } else if let Some(c) = DOC_FIELD.captures(line) {
            DocEntry {
                name: c[1].to_string(),
                kind: DocKind::Field {
                    typ: c[2].to_string(),
                    default: c.get(3).map(|m| m.as_str().to_string()),
                },
                desc: d,
                flag: flag.clone(),
            }
        } else {
            bail!("line {}: unrecognised spec line {line:?}", first_line + n);
        };
        match stack.last_mut() {
            Some((_, _, _, c)) => c.push(entry),
            None => top.push(entry),
        }
        desc.clear();
        flag.clear();
        in_example = false;
    }
    close(&mut stack, &mut top, 0);
    Ok(top)
}

// ---------------------------------------------------------------------------------------------
// Tempo: the generated manifest (complete default config) + the overrides shapes from Go
// ---------------------------------------------------------------------------------------------

const TEMPO_MANIFEST: &str = "docs/sources/tempo/configuration/manifest.md";
/// The root of Tempo's config struct tree: (package directory, struct).
const TEMPO_ROOT: (&str, &str) = ("cmd/tempo/app", "Config");
const TEMPO_OVERRIDES: &str = "modules/overrides/config.go";
const TEMPO_OVERRIDES_LEGACY: &str = "modules/overrides/config_legacy.go";
const TEMPO_OVERRIDES_RUNTIME: &str = "modules/overrides/runtime_config_overrides.go";
const TEMPO_GO_TYPES: &[&str] = &[
    TEMPO_OVERRIDES,
    TEMPO_OVERRIDES_LEGACY,
    TEMPO_OVERRIDES_RUNTIME,
    "modules/overrides/histograms/config.go",
    "tempodb/backend/block_meta.go",
    "pkg/sharedconfig/metrics_generator.go",
    "pkg/spanfilter/config/config.go",
];
/// Types with custom YAML decoding in Tempo's overrides.
const TEMPO_KNOWN: &[(&str, &str)] = &[
    ("listtomap.ListToMap", "list(string)"),
    ("config.Secret", "string"),
    ("flagext.Secret", "string"),
];

static DURATION_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^-?([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$").unwrap_or_else(|_| unreachable!())
});

fn tempo(o: &Opts) -> Result<String> {
    let path = o.src.join(TEMPO_MANIFEST);
    let text = read(&path)?;
    let yaml =
        fenced_yaml(&text).with_context(|| format!("{}: no ```yaml block", path.display()))?;
    let root: Value = serde_saphyr::from_str(&yaml)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("parsing the YAML of {}", path.display()))?;
    let mut t = Table::default();
    let map = root
        .as_object()
        .with_context(|| format!("{}: the manifest is not a mapping", path.display()))?;
    // The manifest is a dump of the defaults: it names no `omitempty` key whose default is
    // zero, and its values only suggest types. The keys and types come from the config struct
    // tree; the manifest gives the defaults (and any key the tree does not reach).
    let mut dump = Table::default();
    for (k, v) in map {
        if k == "overrides" {
            continue;
        }
        tempo_value(&mut dump, k, v);
    }
    let gosrc = GoSources::new(&o.src, &o.extra)?;
    let keys = go_config_keys(&gosrc, TEMPO_ROOT.0, TEMPO_ROOT.1, &["overrides"], &[])?;
    let mut types = Vec::new();
    for (p, k) in &keys {
        let d = dump.rows.get(p);
        if let Some(e) = d.filter(|e| e.typ != k.typ) {
            types.push(format!(
                "{p}: manifest {} ({:?}), Go {}",
                e.typ, e.default, k.typ
            ));
        }
        let default = d.map(|e| e.default.clone()).unwrap_or_default();
        t.add(p, &k.typ, &default, "", "");
    }
    let mut dump_only = Vec::new();
    for (p, e) in &dump.rows {
        let parent = block_of(p);
        let inside = parent.is_empty()
            || t.rows
                .get(parent)
                .is_some_and(|e| matches!(e.typ.as_str(), "block" | "list(block)" | "map(block)"));
        if !t.rows.contains_key(p) && inside {
            dump_only.push(p.clone());
            t.add(p, &e.typ, &e.default, &e.note, "");
        }
    }
    eprintln!(
        "tempo: {} keys in the Go struct tree ({} not in the manifest); {} keys only in the manifest (kept); {} types the manifest suggested differently",
        keys.len(),
        keys.keys().filter(|p| !dump.rows.contains_key(*p)).count(),
        dump_only.len(),
        types.len()
    );
    if o.verbose {
        for p in &dump_only {
            eprintln!("  only in the manifest: {p}");
        }
        for d in &types {
            eprintln!("  type: {d}");
        }
    }
    for m in gosrc.missing.borrow().iter() {
        eprintln!("  missing Go source: {m}");
    }

    // Overrides: `overrides` in the main config (new format under `defaults`, or the legacy
    // inline keys) and the per-tenant overrides file (`overrides:` prefix). Tempo 2.x reads
    // either format (it tries the new one, then the legacy one, per file).
    let mut go = GoFile::default();
    for f in TEMPO_GO_TYPES {
        let p = o.src.join(f);
        go.merge(parse_go(&read(&p)?));
    }
    let ctx = GoCtx {
        go: &go,
        known: TEMPO_KNOWN,
    };
    let manifest_overrides = map.get("overrides").cloned().unwrap_or(Value::Null);
    let mut defaults = HashMap::new();
    flatten_defaults("overrides", &manifest_overrides, &mut defaults);

    let cfg_fields = go
        .structs
        .get("Config")
        .with_context(|| format!("{TEMPO_OVERRIDES}: no Config struct"))?;
    t.add("overrides", "block", "", "", "");
    for f in cfg_fields.clone() {
        if f.yaml.is_empty() || f.yaml == "-" {
            continue;
        }
        let p = format!("overrides.{}", f.yaml);
        if f.yaml == "defaults" {
            t.add(&p, "block", "", "", "");
            ctx.add_struct(&mut t, &p, "Overrides", &defaults)?;
        } else if let Some(v) = manifest_overrides.get(&f.yaml) {
            tempo_value(&mut t, &p, v);
        } else {
            let shape = ctx.shape(&f.typ, 0);
            ctx.add_shape(&mut t, &p, &shape, &defaults, 0)?;
        }
    }
    // Legacy inline keys, each pointing at its new-format path.
    let legacy_map = legacy_mapping(o, &ctx)?;
    let mut legacy = Table::default();
    ctx.add_struct(&mut legacy, "", "LegacyOverrides", &HashMap::new())?;
    for (p, e) in &legacy.rows {
        let top = p.split(['.', '[']).next().unwrap_or(p);
        let rest = &p[top.len()..];
        let target = legacy_map.get(top).map(|n| format!("{n}{rest}"));
        let d = target
            .as_ref()
            .and_then(|n| defaults.get(&format!("overrides.defaults.{n}")).cloned())
            .unwrap_or_default();
        let note = |pre: &str| match &target {
            Some(n) => format!("deprecated:{pre}{n}"),
            None => "deprecated".to_string(),
        };
        t.add(
            &format!("overrides.{p}"),
            &e.typ,
            &d,
            &note("overrides.defaults."),
            "",
        );
        legacy_rows_file(&mut t, p, e, &d, &note("overrides:overrides.*."));
    }
    // The per-tenant overrides file, new format.
    let file_fields = go
        .structs
        .get("perTenantOverrides")
        .with_context(|| format!("{TEMPO_OVERRIDES_RUNTIME}: no perTenantOverrides struct"))?
        .clone();
    let tenant_defaults: HashMap<String, String> = defaults
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("overrides.defaults.")
                .map(|r| (format!("overrides:overrides.*.{r}"), v.clone()))
        })
        .collect();
    for f in file_fields {
        if f.yaml.is_empty() || f.yaml == "-" {
            continue;
        }
        let shape = ctx.shape(&f.typ, 0);
        ctx.add_shape(
            &mut t,
            &format!("overrides:{}", f.yaml),
            &shape,
            &tenant_defaults,
            0,
        )?;
    }

    let version = o.version(None, "v")?;
    let header = vec![
        format!("# kalypso config reference: tempo {version}"),
        format!(
            "# source: grafana/tempo@{}:{}/config.go (keys and types: the config struct tree from {}.{} with vendor/) + {TEMPO_MANIFEST} (defaults) (+ modules/overrides/*.go for the overrides shapes; new and legacy formats)",
            o.commit()?,
            TEMPO_ROOT.0,
            TEMPO_ROOT.0,
            TEMPO_ROOT.1
        ),
        format!(
            "# regenerate: cargo run -p config-reference -- tempo <checkout of grafana/tempo at v{version}> > {OUT_DIR}/tempo-{version}.tsv"
        ),
    ];
    Ok(t.render(&header))
}

fn legacy_rows_file(t: &mut Table, p: &str, e: &Entry, d: &str, note: &str) {
    t.add(&format!("overrides:overrides.*.{p}"), &e.typ, d, note, "");
}

/// Legacy key -> new-format path under `defaults`, read from `toLegacy()`.
fn legacy_mapping(o: &Opts, ctx: &GoCtx) -> Result<HashMap<String, String>> {
    let p = o.src.join(TEMPO_OVERRIDES_LEGACY);
    let text = read(&p)?;
    let start = text
        .find("func (c *Overrides) toLegacy()")
        .with_context(|| format!("{}: no toLegacy()", p.display()))?;
    let body = &text[start..];
    let end = body.find("\n}\n").unwrap_or(body.len());
    let re = Regex::new(r"(?m)^\s*(\w+):\s+c\.([\w.]+),\s*$")?;
    let legacy = ctx
        .go
        .structs
        .get("LegacyOverrides")
        .with_context(|| format!("{}: no LegacyOverrides struct", p.display()))?;
    let mut out = HashMap::new();
    for c in re.captures_iter(&body[..end]) {
        let Some(lf) = legacy.iter().find(|f| f.name == c[1]) else {
            continue;
        };
        if let Some(newp) = ctx.yaml_path("Overrides", &c[2]) {
            out.insert(lf.yaml.clone(), newp);
        }
    }
    // Fields copied as a whole struct literal keep their name and shape.
    for f in legacy {
        if out.contains_key(&f.yaml) {
            continue;
        }
        let same = ctx
            .go
            .structs
            .get("Overrides")
            .and_then(|fs| fs.iter().find(|n| n.yaml == f.yaml));
        if let Some(nf) = same {
            out.insert(f.yaml.clone(), nf.yaml.clone());
        }
    }
    Ok(out)
}

fn fenced_yaml(text: &str) -> Option<String> {
    let start = text.find("```yaml\n")? + "```yaml\n".len();
    let end = text[start..].find("\n```")? + start;
    Some(text[start..end].to_string())
}

fn flatten_defaults(path: &str, v: &Value, out: &mut HashMap<String, String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                flatten_defaults(&join(path, k), c, out);
            }
        }
        other => {
            out.insert(path.to_string(), json_compact(other));
        }
    }
}

fn infer(v: &Value) -> String {
    match v {
        Value::Null => "any".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(n) => {
            if n.is_f64() {
                "float".into()
            } else {
                "int".into()
            }
        }
        Value::String(s) => {
            if DURATION_VALUE.is_match(s) {
                "duration".into()
            } else {
                "string".into()
            }
        }
        Value::Array(a) => match a.first() {
            None => "list".into(),
            Some(Value::Object(_)) => "list(block)".into(),
            Some(x) => format!("list({})", infer(x)),
        },
        Value::Object(m) => {
            if m.is_empty() {
                "map".into()
            } else {
                "block".into()
            }
        }
    }
}

fn tempo_value(t: &mut Table, path: &str, v: &Value) {
    let typ = infer(v);
    match v {
        Value::Object(m) if !m.is_empty() => {
            t.add(path, "block", "", "", "");
            for (k, c) in m {
                tempo_value(t, &join(path, k), c);
            }
        }
        Value::Array(a) if matches!(a.first(), Some(Value::Object(_))) => {
            t.add(path, &typ, "", "", "");
            for item in a {
                if let Value::Object(m) = item {
                    for (k, c) in m {
                        tempo_value(t, &format!("{path}[].{k}"), c);
                    }
                }
            }
        }
        other => {
            let d = match other {
                Value::Object(_) => "{}".to_string(),
                _ => json_compact(other),
            };
            t.add(path, &typ, &d, "", "");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Go sources: the config struct tree as the server's YAML decoder sees it
// ---------------------------------------------------------------------------------------------
//
// The published references leave keys out: Mimir, Loki and Pyroscope generate theirs with a
// doc generator that skips `doc:"hidden"` fields, and Tempo's is a dump of the defaults that
// omits every `omitempty` zero value. The server accepts all of them, so the extractor reads
// the struct tree itself: from the root `Config` struct, every field by its `yaml` tag (or its
// lower-cased name), inline fields merged into their parent, packages resolved through the
// checkout's own module, its `vendor/` directory or a Go module cache (`go mod download`).
// Types follow what the decoder accepts; a type with its own `UnmarshalYAML` is `any` unless
// that method decodes into the struct's own fields (`type plain T`) or `GO_KNOWN` names it.

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num,
    Punct(char),
    Semi,
}

/// Go tokens with automatic semicolons; comments dropped.
fn go_tokens(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let mut out: Vec<Tok> = Vec::new();
    let semi_after = |t: Option<&Tok>| {
        matches!(
            t,
            Some(Tok::Ident(_) | Tok::Str(_) | Tok::Num | Tok::Punct(')' | ']' | '}'))
        )
    };
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        match ch {
            '\n' => {
                if semi_after(out.last()) {
                    out.push(Tok::Semi);
                }
                i += 1;
            }
            _ if ch.is_whitespace() => i += 1,
            '/' if next == Some('/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                let mut newline = false;
                i += 2;
                while i < c.len() && !(c[i] == '*' && c.get(i + 1) == Some(&'/')) {
                    newline |= c[i] == '\n';
                    i += 1;
                }
                i += 2;
                if newline && semi_after(out.last()) {
                    out.push(Tok::Semi);
                }
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                while i < c.len() && c[i] != '"' && c[i] != '\n' {
                    if c[i] == '\\' && i + 1 < c.len() {
                        match c[i + 1] {
                            '"' | '\\' => s.push(c[i + 1]),
                            other => {
                                s.push('\\');
                                s.push(other);
                            }
                        }
                        i += 2;
                        continue;
                    }
                    s.push(c[i]);
                    i += 1;
                }
                i += 1;
                out.push(Tok::Str(s));
            }
            '`' => {
                let mut s = String::new();
                i += 1;
                while i < c.len() && c[i] != '`' {
                    s.push(c[i]);
                    i += 1;
                }
                i += 1;
                out.push(Tok::Str(s));
            }
            '\'' => {
                i += 1;
                while i < c.len() && c[i] != '\'' && c[i] != '\n' {
                    i += if c[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                out.push(Tok::Num);
            }
            _ if ch.is_alphabetic() || ch == '_' => {
                let start = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Ident(c[start..i].iter().collect()));
            }
            _ if ch.is_ascii_digit() || (ch == '.' && next.is_some_and(|n| n.is_ascii_digit())) => {
                while i < c.len() {
                    let x = c[i];
                    let exp_sign = (x == '+' || x == '-')
                        && i > 0
                        && matches!(c[i - 1], 'e' | 'E' | 'p' | 'P');
                    if x.is_alphanumeric() || x == '.' || x == '_' || exp_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push(Tok::Num);
            }
            _ => {
                out.push(Tok::Punct(ch));
                i += 1;
            }
        }
    }
    out
}

/// A Go type expression, as far as the YAML shape needs it.
#[derive(Clone, Debug)]
enum GoType {
    /// `name`, `pkg.name`, with type arguments.
    Name {
        pkg: Option<String>,
        name: String,
        args: Vec<GoType>,
    },
    Ptr(Box<GoType>),
    List(Box<GoType>),
    Map(Box<GoType>),
    Struct(Vec<GoStructField>),
    /// A func: not configurable (the doc generators skip it, the decoders refuse it).
    Func,
    /// Interfaces, channels: nothing YAML fills in.
    Opaque,
}

#[derive(Clone, Debug)]
struct GoStructField {
    name: String,
    embedded: bool,
    typ: GoType,
    tag: String,
}

#[derive(Clone, Debug)]
struct GoTypeDecl {
    file: usize,
    alias: bool,
    typ: GoType,
}

#[derive(Default)]
struct GoFileAst {
    package: String,
    imports: Vec<(Option<String>, String)>,
    types: Vec<(String, GoTypeDecl)>,
    /// (receiver type, method name).
    methods: Vec<(String, String)>,
    /// Types with a twin `type x T` (at file level or in one of T's methods): the usual way a
    /// custom `UnmarshalYAML` decodes into the type's own fields.
    plain: Vec<String>,
}

struct GoParser<'a> {
    t: &'a [Tok],
    i: usize,
}

impl<'a> GoParser<'a> {
    fn peek(&self, k: usize) -> Option<&'a Tok> {
        let t: &'a [Tok] = self.t;
        t.get(self.i + k)
    }

    fn is(&self, k: usize, p: char) -> bool {
        self.peek(k) == Some(&Tok::Punct(p))
    }

    fn ident(&self, k: usize) -> Option<&'a str> {
        match self.peek(k) {
            Some(Tok::Ident(s)) => Some(s),
            _ => None,
        }
    }

    /// Skips a bracketed group starting at the current `(`, `[` or `{`.
    fn skip_group(&mut self) {
        let mut depth = 0usize;
        while let Some(t) = self.peek(0) {
            self.i += 1;
            match t {
                Tok::Punct('(' | '[' | '{') => depth += 1,
                Tok::Punct(')' | ']' | '}') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// Skips to the end of a declaration: its `;` (or closing group) at depth 0.
    fn skip_decl(&mut self) {
        while let Some(t) = self.peek(0) {
            match t {
                Tok::Semi => {
                    self.i += 1;
                    return;
                }
                Tok::Punct('(' | '[' | '{') => self.skip_group(),
                Tok::Punct(')' | ']' | '}') => return,
                _ => self.i += 1,
            }
        }
    }

    fn file(&mut self) -> GoFileAst {
        let mut f = GoFileAst::default();
        while let Some(t) = self.peek(0).cloned() {
            match t {
                Tok::Ident(k) if k == "package" => {
                    f.package = self.ident(1).unwrap_or_default().to_string();
                    self.i += 2;
                }
                Tok::Ident(k) if k == "import" => {
                    self.i += 1;
                    if self.is(0, '(') {
                        self.i += 1;
                        while self.peek(0).is_some() && !self.is(0, ')') {
                            self.import_spec(&mut f);
                        }
                        self.i += 1;
                    } else {
                        self.import_spec(&mut f);
                    }
                }
                Tok::Ident(k) if k == "type" => {
                    self.i += 1;
                    if self.is(0, '(') {
                        self.i += 1;
                        while self.peek(0).is_some() && !self.is(0, ')') {
                            if self.peek(0) == Some(&Tok::Semi) {
                                self.i += 1;
                                continue;
                            }
                            let before = self.i;
                            self.type_spec(&mut f);
                            if self.i == before {
                                self.i += 1;
                            }
                        }
                        self.i += 1;
                    } else {
                        self.type_spec(&mut f);
                    }
                }
                Tok::Ident(k) if k == "func" => self.func(&mut f),
                Tok::Ident(k) if k == "var" || k == "const" => {
                    self.i += 1;
                    if self.is(0, '(') {
                        self.skip_group();
                    } else {
                        self.skip_decl();
                    }
                }
                _ => self.i += 1,
            }
        }
        f
    }

    fn import_spec(&mut self, f: &mut GoFileAst) {
        let alias = match self.peek(0) {
            Some(Tok::Ident(a)) => {
                let a = a.clone();
                self.i += 1;
                Some(a)
            }
            Some(Tok::Punct('.')) => {
                self.i += 1;
                Some(".".to_string())
            }
            _ => None,
        };
        if let Some(Tok::Str(p)) = self.peek(0) {
            f.imports.push((alias, p.clone()));
            self.i += 1;
        }
        while self.peek(0) == Some(&Tok::Semi) {
            self.i += 1;
        }
        if !matches!(
            self.peek(0),
            Some(Tok::Str(_) | Tok::Ident(_)) | Some(Tok::Punct('.' | ')'))
        ) && self.peek(0).is_some()
        {
            self.i += 1;
        }
    }

    fn type_spec(&mut self, f: &mut GoFileAst) {
        let Some(name) = self.ident(0).map(str::to_string) else {
            self.skip_decl();
            return;
        };
        self.i += 1;
        // Type parameters: `[T any]` (an array type would be `[N]T` or `[]T`).
        if self.is(0, '[') && self.ident(1).is_some() && !self.is(2, ']') {
            self.skip_group();
        }
        let alias = self.is(0, '=');
        if alias {
            self.i += 1;
        }
        let typ = self.typ();
        if let GoType::Name {
            pkg: None, name: t, ..
        } = &typ
        {
            if !alias {
                f.plain.push(t.clone());
            }
        }
        f.types.push((
            name,
            GoTypeDecl {
                file: 0,
                alias,
                typ,
            },
        ));
        if self.peek(0) == Some(&Tok::Semi) {
            self.i += 1;
        }
    }

    fn typ(&mut self) -> GoType {
        match self.peek(0).cloned() {
            Some(Tok::Punct('*')) => {
                self.i += 1;
                GoType::Ptr(Box::new(self.typ()))
            }
            Some(Tok::Punct('[')) => {
                if self.is(1, ']') {
                    self.i += 2;
                } else {
                    self.skip_group();
                }
                GoType::List(Box::new(self.typ()))
            }
            Some(Tok::Punct('(')) => {
                self.i += 1;
                let t = self.typ();
                if self.is(0, ')') {
                    self.i += 1;
                }
                t
            }
            Some(Tok::Punct('<')) => {
                // `<-chan T`
                self.i += 2;
                self.typ();
                GoType::Opaque
            }
            Some(Tok::Ident(k)) => match k.as_str() {
                "map" => {
                    self.i += 1;
                    if self.is(0, '[') {
                        self.i += 1;
                        self.typ();
                        if self.is(0, ']') {
                            self.i += 1;
                        }
                    }
                    GoType::Map(Box::new(self.typ()))
                }
                "chan" => {
                    self.i += 1;
                    if self.is(0, '<') {
                        self.i += 2;
                    }
                    self.typ();
                    GoType::Opaque
                }
                "struct" => {
                    self.i += 1;
                    GoType::Struct(self.fields())
                }
                "interface" => {
                    self.i += 1;
                    if self.is(0, '{') {
                        self.skip_group();
                    }
                    GoType::Opaque
                }
                "func" => {
                    self.i += 1;
                    if self.is(0, '(') {
                        self.skip_group();
                    }
                    match self.peek(0) {
                        Some(Tok::Punct('(')) => self.skip_group(),
                        Some(Tok::Ident(_) | Tok::Punct('*' | '[' | '<')) => {
                            self.typ();
                        }
                        _ => {}
                    }
                    GoType::Func
                }
                _ => {
                    self.i += 1;
                    let (pkg, name) = if self.is(0, '.') && self.ident(1).is_some() {
                        let n = self.ident(1).unwrap_or_default().to_string();
                        self.i += 2;
                        (Some(k.clone()), n)
                    } else {
                        (None, k.clone())
                    };
                    let mut args = Vec::new();
                    if self.is(0, '[') {
                        self.i += 1;
                        while self.peek(0).is_some() && !self.is(0, ']') {
                            if self.is(0, ',') {
                                self.i += 1;
                                continue;
                            }
                            let before = self.i;
                            args.push(self.typ());
                            if self.i == before {
                                self.i += 1;
                            }
                        }
                        self.i += 1;
                    }
                    GoType::Name { pkg, name, args }
                }
            },
            _ => {
                self.i += 1;
                GoType::Opaque
            }
        }
    }

    /// The fields of `{ ... }` at the current position.
    fn fields(&mut self) -> Vec<GoStructField> {
        let mut out = Vec::new();
        if !self.is(0, '{') {
            return out;
        }
        self.i += 1;
        loop {
            match self.peek(0) {
                None => break,
                Some(Tok::Semi) => {
                    self.i += 1;
                    continue;
                }
                Some(Tok::Punct('}')) => {
                    self.i += 1;
                    break;
                }
                _ => {}
            }
            let (names, embedded, typ) = if self.is(0, '*') {
                let t = self.typ();
                (vec![embedded_name(&t)], true, t)
            } else if let Some(first) = self.ident(0).map(str::to_string) {
                let embedded = matches!(
                    self.peek(1),
                    Some(Tok::Punct('.') | Tok::Punct('}') | Tok::Semi | Tok::Str(_))
                );
                if embedded {
                    let t = self.typ();
                    (vec![embedded_name(&t)], true, t)
                } else {
                    let mut names = vec![first];
                    self.i += 1;
                    while self.is(0, ',') {
                        if let Some(n) = self.ident(1) {
                            names.push(n.to_string());
                        }
                        self.i += 2;
                    }
                    (names, false, self.typ())
                }
            } else {
                self.i += 1;
                continue;
            };
            let tag = match self.peek(0) {
                Some(Tok::Str(s)) => {
                    let s = s.clone();
                    self.i += 1;
                    s
                }
                _ => String::new(),
            };
            for name in names {
                out.push(GoStructField {
                    name,
                    embedded,
                    typ: typ.clone(),
                    tag: tag.clone(),
                });
            }
        }
        out
    }

    fn func(&mut self, f: &mut GoFileAst) {
        self.i += 1;
        let mut recv = None;
        if self.is(0, '(') {
            let start = self.i;
            self.skip_group();
            let inner = &self.t[start + 1..self.i.saturating_sub(1)];
            let mut depth = 0usize;
            let mut idents = Vec::new();
            for t in inner {
                match t {
                    Tok::Punct('[') => depth += 1,
                    Tok::Punct(']') => depth = depth.saturating_sub(1),
                    Tok::Ident(s) if depth == 0 => idents.push(s.clone()),
                    _ => {}
                }
            }
            recv = idents.pop();
        }
        let name = self.ident(0).map(str::to_string);
        // Signature, then the body.
        while let Some(t) = self.peek(0).cloned() {
            match t {
                Tok::Ident(k) if (k == "struct" || k == "interface") && self.is(1, '{') => {
                    self.i += 1;
                    self.skip_group();
                }
                Tok::Punct('{') => {
                    let start = self.i;
                    self.skip_group();
                    if let Some(r) = &recv {
                        let body = &self.t[start..self.i];
                        if body.windows(3).any(|w| {
                            w[0] == Tok::Ident("type".into())
                                && matches!(w[1], Tok::Ident(_))
                                && w[2] == Tok::Ident(r.clone())
                        }) {
                            f.plain.push(r.clone());
                        }
                    }
                    break;
                }
                Tok::Punct('(' | '[') => self.skip_group(),
                Tok::Semi => {
                    self.i += 1;
                    break;
                }
                _ => self.i += 1,
            }
        }
        if let (Some(r), Some(n)) = (recv, name) {
            f.methods.push((r, n));
        }
    }
}

fn embedded_name(t: &GoType) -> String {
    match t {
        GoType::Ptr(i) => embedded_name(i),
        GoType::Name { name, .. } => name.clone(),
        _ => String::new(),
    }
}

/// `reflect.StructTag.Get`.
fn tag_get(tag: &str, key: &str) -> Option<String> {
    let c: Vec<char> = tag.chars().collect();
    let mut i = 0;
    while i < c.len() {
        while i < c.len() && c[i] == ' ' {
            i += 1;
        }
        let start = i;
        while i < c.len() && c[i] > ' ' && c[i] != ':' && c[i] != '"' {
            i += 1;
        }
        if i == start || i + 1 >= c.len() || c[i] != ':' || c[i + 1] != '"' {
            return None;
        }
        let name: String = c[start..i].iter().collect();
        i += 2;
        let mut v = String::new();
        while i < c.len() && c[i] != '"' {
            if c[i] == '\\' && i + 1 < c.len() {
                i += 1;
            }
            v.push(c[i]);
            i += 1;
        }
        i += 1;
        if name == key {
            return Some(v);
        }
    }
    None
}

struct GoPackage {
    name: String,
    path: String,
    /// Per file: (local name or None, import path).
    imports: Vec<Vec<(Option<String>, String)>>,
    types: HashMap<String, GoTypeDecl>,
    /// (type, method).
    methods: HashSet<(String, String)>,
    /// See `GoFileAst::plain`.
    plain: HashSet<String>,
    /// Flags registered for struct fields: (field name, flag name, usage text).
    flags: Vec<(String, String, String)>,
}

/// Where Go packages come from: the checkout's module, its vendor directory, local
/// `replace` targets and a module cache.
struct GoSources {
    root: PathBuf,
    module: String,
    /// (module path, directory), longest first.
    modules: Vec<(String, PathBuf)>,
    /// `require` lines of go.mod: (module, version).
    require: Vec<(String, String)>,
    /// Modules whose structs are walked into: the checkout's own (with its local `replace`
    /// targets) and dskit, the shared server library. Another module's struct is `any`: its
    /// own decoding rules (Prometheus configs…) are not this extractor's to second-guess.
    owned: Vec<String>,
    cache: std::cell::RefCell<HashMap<String, Option<std::rc::Rc<GoPackage>>>>,
    missing: std::cell::RefCell<BTreeSet<String>>,
}

impl GoSources {
    /// `extra`: a Go module cache root (`go mod download` in the checkout), or `MODULE=DIR`
    /// for a checkout of a required module at the version `go.mod` names, each optional where
    /// the checkout vendors its dependencies.
    fn new(root: &Path, extra: &[String]) -> Result<GoSources> {
        let mut modcache: Option<PathBuf> = None;
        let mut checkouts: Vec<(String, PathBuf)> = Vec::new();
        for e in extra {
            match e.split_once('=') {
                Some((m, d)) => checkouts.push((m.to_string(), PathBuf::from(d))),
                None => modcache = Some(PathBuf::from(e)),
            }
        }
        let gomod = read(&root.join("go.mod"))?;
        let mut module = String::new();
        let mut require: Vec<(String, String)> = Vec::new();
        let mut replace: Vec<(String, String, Option<String>)> = Vec::new();
        let mut block = "";
        for raw in gomod.lines() {
            let line = raw.split("//").next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            if line == ")" {
                block = "";
                continue;
            }
            let (kind, rest) = if !block.is_empty() {
                (block, line)
            } else if let Some(r) = line.strip_prefix("module ") {
                module = r.trim().to_string();
                continue;
            } else if let Some(r) = line.strip_prefix("require ") {
                ("require", r.trim())
            } else if let Some(r) = line.strip_prefix("replace ") {
                ("replace", r.trim())
            } else {
                continue;
            };
            if rest == "(" {
                block = kind;
                continue;
            }
            match kind {
                "require" => {
                    let mut w = rest.split_whitespace();
                    if let (Some(m), Some(v)) = (w.next(), w.next()) {
                        require.push((m.to_string(), v.to_string()));
                    }
                }
                "replace" => {
                    if let Some((old, new)) = rest.split_once("=>") {
                        let old = old.split_whitespace().next().unwrap_or_default();
                        let mut n = new.split_whitespace();
                        let target = n.next().unwrap_or_default().to_string();
                        replace.push((old.to_string(), target, n.next().map(str::to_string)));
                    }
                }
                _ => {}
            }
        }
        if module.is_empty() {
            bail!("{}: no module line", root.join("go.mod").display());
        }
        let mut modules = vec![(module.clone(), root.to_path_buf())];
        let mut owned = vec![module.clone(), "github.com/grafana/dskit".to_string()];
        for (m, v) in &require {
            let (m2, v2, local) = match replace.iter().find(|(o, _, _)| o == m) {
                Some((_, t, _)) if t.starts_with('.') || t.starts_with('/') => {
                    owned.push(m.clone());
                    (m.clone(), String::new(), Some(root.join(t)))
                }
                Some((_, t, Some(tv))) => (t.clone(), tv.clone(), None),
                _ => (m.clone(), v.clone(), None),
            };
            let checkout = checkouts
                .iter()
                .find(|(cm, _)| cm == m)
                .map(|(_, d)| d.clone());
            let dir = match (local.or(checkout), &modcache) {
                (Some(d), _) => d,
                (None, Some(c)) => {
                    c.join(format!("{}@{}", modcache_escape(&m2), modcache_escape(&v2)))
                }
                (None, None) => continue,
            };
            modules.push((m.clone(), dir));
        }
        modules.sort_by_key(|(m, _)| std::cmp::Reverse(m.len()));
        Ok(GoSources {
            root: root.to_path_buf(),
            module,
            modules,
            require,
            owned,
            cache: Default::default(),
            missing: Default::default(),
        })
    }

    fn required(&self, module: &str) -> Option<String> {
        self.require
            .iter()
            .find(|(m, _)| m == module)
            .map(|(_, v)| v.clone())
    }

    fn owned(&self, ipath: &str) -> bool {
        self.owned
            .iter()
            .any(|m| ipath == m || ipath.starts_with(&format!("{m}/")))
    }

    fn dir_of(&self, ipath: &str) -> Option<PathBuf> {
        if ipath == self.module || ipath.starts_with(&format!("{}/", self.module)) {
            return Some(
                self.root
                    .join(ipath[self.module.len()..].trim_start_matches('/')),
            );
        }
        let vendored = self.root.join("vendor").join(ipath);
        if vendored.is_dir() {
            return Some(vendored);
        }
        self.modules
            .iter()
            .find(|(m, _)| ipath == m || ipath.starts_with(&format!("{m}/")))
            .map(|(m, d)| d.join(ipath[m.len()..].trim_start_matches('/')))
    }

    fn package(&self, ipath: &str) -> Option<std::rc::Rc<GoPackage>> {
        if let Some(p) = self.cache.borrow().get(ipath) {
            return p.clone();
        }
        let loaded = self.load(ipath).map(std::rc::Rc::new);
        if loaded.is_none() {
            self.missing.borrow_mut().insert(ipath.to_string());
        }
        self.cache
            .borrow_mut()
            .insert(ipath.to_string(), loaded.clone());
        loaded
    }

    fn load(&self, ipath: &str) -> Option<GoPackage> {
        let dir = self.dir_of(ipath)?;
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                n.ends_with(".go") && !n.ends_with("_test.go")
            })
            .collect();
        files.sort();
        let mut pkg = GoPackage {
            name: String::new(),
            path: ipath.to_string(),
            imports: Vec::new(),
            types: HashMap::new(),
            methods: HashSet::new(),
            plain: HashSet::new(),
            flags: Vec::new(),
        };
        for p in files {
            let Ok(text) = fs::read_to_string(&p) else {
                continue;
            };
            let toks = go_tokens(&text);
            let ast = GoParser { t: &toks, i: 0 }.file();
            if ast.package.ends_with("_test") || ast.package == "documentation" {
                continue;
            }
            if pkg.name.is_empty() {
                pkg.name = ast.package.clone();
            }
            let idx = pkg.imports.len();
            pkg.imports.push(ast.imports);
            for (n, mut d) in ast.types {
                d.file = idx;
                pkg.types.entry(n).or_insert(d);
            }
            pkg.methods.extend(ast.methods);
            pkg.plain.extend(ast.plain);
            for c in GO_FLAG_VAR.captures_iter(&text) {
                pkg.flags
                    .push((c[1].to_string(), c[2].to_string(), c[3].to_string()));
            }
        }
        Some(pkg)
    }

    /// The import path a file of `pkg` means by `q`.
    fn import_of(&self, pkg: &GoPackage, file: usize, q: &str) -> Option<String> {
        let imports = pkg.imports.get(file)?;
        if let Some((_, p)) = imports.iter().find(|(a, _)| a.as_deref() == Some(q)) {
            return Some(p.clone());
        }
        let unaliased: Vec<&String> = imports
            .iter()
            .filter(|(a, _)| a.is_none())
            .map(|(_, p)| p)
            .collect();
        if let Some(p) = unaliased.iter().find(|p| guess_package_name(p) == q) {
            return Some((*p).clone());
        }
        unaliased
            .into_iter()
            .filter(|p| !is_stdlib(p))
            .find(|p| self.package(p).is_some_and(|k| k.name == q))
            .cloned()
    }
}

fn is_stdlib(ipath: &str) -> bool {
    !ipath.split('/').next().unwrap_or_default().contains('.')
}

fn guess_package_name(ipath: &str) -> String {
    let mut parts: Vec<&str> = ipath.split('/').collect();
    let mut last = parts.pop().unwrap_or_default();
    if last.len() > 1 && last.starts_with('v') && last[1..].chars().all(|c| c.is_ascii_digit()) {
        last = parts.pop().unwrap_or(last);
    }
    let last = last.split(".v").next().unwrap_or(last);
    last.trim_start_matches("go-").replace('-', "")
}

/// `f.BoolVar(&cfg.Field, "flag.name", default, "usage"`: which flag a field has.
static GO_FLAG_VAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\.\w*Var\(\s*&[\w.]+\.(\w+)\s*,\s*"([^"]+)"\s*,\s*[^,]+,\s*"((?:[^"\\]|\\.)*)""#)
        .unwrap_or_else(|_| unreachable!())
});

/// Types whose YAML form their own decoding code decides: (import path.Name, kalypso type).
const GO_KNOWN: &[(&str, &str)] = &[
    ("time.Duration", "duration"),
    ("time.Time", "time"),
    ("net/url.URL", "string"),
    ("regexp.Regexp", "string"),
    ("github.com/prometheus/common/model.Duration", "duration"),
    ("github.com/prometheus/common/config.Secret", "string"),
    ("github.com/prometheus/common/config.URL", "string"),
    ("github.com/grafana/dskit/flagext.Secret", "string"),
    ("github.com/grafana/dskit/flagext.URLValue", "string"),
    ("github.com/grafana/dskit/flagext.StringSliceCSV", "string"),
    ("github.com/grafana/dskit/flagext.CIDRSliceCSV", "string"),
    (
        "github.com/grafana/dskit/flagext.StringSlice",
        "list(string)",
    ),
    (
        "github.com/grafana/dskit/flagext.StringSliceCSVMulti",
        "list(string)",
    ),
    ("github.com/grafana/dskit/flagext.Time", "time"),
    ("github.com/grafana/dskit/flagext.DayValue", "time"),
    ("github.com/grafana/dskit/flagext.ByteSize", "int"),
    ("github.com/grafana/dskit/flagext.LimitsMap", "map"),
    ("github.com/grafana/dskit/log.Level", "string"),
    ("github.com/grafana/dskit/log.Format", "string"),
];

/// How a Go type decodes from YAML.
#[derive(Clone)]
enum GoShape {
    Scalar(String),
    /// A struct: its package, the file its fields' types are written in, its fields and an
    /// identity for recursion.
    Struct(std::rc::Rc<GoPackage>, usize, Vec<GoStructField>, String),
    List(Box<GoShape>),
    Map(Box<GoShape>),
}

impl GoShape {
    fn type_name(&self) -> String {
        match self {
            GoShape::Scalar(s) => s.clone(),
            GoShape::Struct(..) => "block".into(),
            GoShape::List(i) => match i.as_ref() {
                GoShape::Scalar(s) if s == "any" => "list".into(),
                other => format!("list({})", other.type_name()),
            },
            GoShape::Map(i) => match i.as_ref() {
                GoShape::Scalar(s) if s == "any" => "map".into(),
                other => format!("map({})", other.type_name()),
            },
        }
    }
}

/// One key found in the struct tree.
#[derive(Clone, Debug)]
struct GoKey {
    typ: String,
    /// Under a `doc:"hidden"` field (or the field itself), or a field whose flag is hidden.
    hidden: bool,
    /// The usage text of the field's flag, when it has one (for deprecation notes).
    usage: String,
    /// The field's `category` tag, `deprecated` when its `doc` tag says so.
    category: String,
}

struct GoWalk<'a> {
    src: &'a GoSources,
    keys: BTreeMap<String, GoKey>,
    /// Root fields left out (read from other sources).
    skip_root: &'a [&'a str],
    /// Flags hidden from the reference by name.
    hidden_flags: &'a [String],
}

impl GoWalk<'_> {
    fn shape(
        &self,
        pkg: &std::rc::Rc<GoPackage>,
        file: usize,
        t: &GoType,
        depth: usize,
    ) -> GoShape {
        if depth > 30 {
            return GoShape::Scalar("any".into());
        }
        match t {
            GoType::Ptr(i) => self.shape(pkg, file, i, depth + 1),
            GoType::List(i) => {
                if matches!(i.as_ref(), GoType::Name { pkg: None, name, .. } if name == "byte" || name == "uint8")
                {
                    return GoShape::Scalar("any".into());
                }
                GoShape::List(Box::new(self.shape(pkg, file, i, depth + 1)))
            }
            GoType::Map(v) => GoShape::Map(Box::new(self.shape(pkg, file, v, depth + 1))),
            // An anonymous struct cannot contain itself: no identity to track.
            GoType::Struct(fields) => {
                GoShape::Struct(pkg.clone(), file, fields.clone(), String::new())
            }
            GoType::Opaque | GoType::Func => GoShape::Scalar("any".into()),
            GoType::Name {
                pkg: None,
                name,
                args,
            } => {
                let builtin = match name.as_str() {
                    "string" => Some("string"),
                    "bool" => Some("bool"),
                    "int" | "int8" | "int16" | "int32" | "int64" | "uint" | "uint8" | "uint16"
                    | "uint32" | "uint64" | "uintptr" | "byte" | "rune" => Some("int"),
                    "float32" | "float64" => Some("float"),
                    "any" | "error" | "complex64" | "complex128" => Some("any"),
                    _ => None,
                };
                match builtin {
                    Some(b) => GoShape::Scalar(b.into()),
                    None => self.named(&pkg.path, name, args, pkg, file, depth),
                }
            }
            GoType::Name {
                pkg: Some(q),
                name,
                args,
            } => match self.src.import_of(pkg, file, q) {
                Some(ip) => self.named(&ip, name, args, pkg, file, depth),
                None => {
                    self.src
                        .missing
                        .borrow_mut()
                        .insert(format!("{q} (imported by {})", pkg.path));
                    GoShape::Scalar("any".into())
                }
            },
        }
    }

    fn named(
        &self,
        ipath: &str,
        name: &str,
        args: &[GoType],
        from: &std::rc::Rc<GoPackage>,
        from_file: usize,
        depth: usize,
    ) -> GoShape {
        let full = format!("{ipath}.{name}");
        if let Some((_, k)) = GO_KNOWN.iter().find(|(n, _)| *n == full) {
            if *k == "map" {
                // A generic map whose values are its type argument (flagext.LimitsMap[T]).
                let v = args
                    .first()
                    .map(|a| self.shape(from, from_file, a, depth + 1))
                    .unwrap_or(GoShape::Scalar("any".into()));
                return GoShape::Map(Box::new(v));
            }
            return GoShape::Scalar((*k).to_string());
        }
        if is_stdlib(ipath) {
            return GoShape::Scalar("any".into());
        }
        let Some(pkg) = self.src.package(ipath) else {
            return GoShape::Scalar("any".into());
        };
        let Some(decl) = pkg.types.get(name).cloned() else {
            if name.len() > 1 {
                // (a one-letter name is a type parameter)
                self.src.missing.borrow_mut().insert(full);
            }
            return GoShape::Scalar("any".into());
        };
        if decl.alias {
            return self.shape(&pkg, decl.file, &decl.typ, depth + 1);
        }
        let has = |m: &str| pkg.methods.contains(&(name.to_string(), m.to_string()));
        let custom = has("UnmarshalYAML");
        match &decl.typ {
            GoType::Struct(fields) => {
                if custom && !pkg.plain.contains(name) {
                    return GoShape::Scalar("any".into());
                }
                if !custom && has("UnmarshalText") {
                    return GoShape::Scalar("string".into());
                }
                if !self.src.owned(ipath) {
                    return GoShape::Scalar("any".into());
                }
                GoShape::Struct(pkg.clone(), decl.file, fields.clone(), full)
            }
            other => {
                let under = self.shape(&pkg, decl.file, other, depth + 1);
                if custom || has("UnmarshalText") {
                    // An enum or a size decoded from its text: any scalar.
                    return match under {
                        GoShape::Scalar(s) if s != "any" => GoShape::Scalar("string".into()),
                        _ => GoShape::Scalar("any".into()),
                    };
                }
                under
            }
        }
    }

    fn add(&mut self, path: &str, typ: String, hidden: bool, flag: (String, String)) {
        let (usage, category) = flag;
        self.keys.entry(path.to_string()).or_insert(GoKey {
            typ,
            hidden,
            usage,
            category,
        });
    }

    fn walk(&mut self, shape: &GoShape, prefix: &str, hidden: bool, stack: &mut Vec<String>) {
        let GoShape::Struct(pkg, file, fields, id) = shape else {
            return;
        };
        if (!id.is_empty() && stack.contains(id)) || stack.len() > 30 {
            return;
        }
        stack.push(id.clone());
        for f in fields {
            let yaml = tag_get(&f.tag, "yaml").unwrap_or_else(|| {
                // yaml.v2/v3 read a tag without any `key:"value"` pair as the yaml tag.
                if f.tag.contains(':') {
                    String::new()
                } else {
                    f.tag.clone()
                }
            });
            // As yaml.v2/v3 read it: only the whole tag "-" drops a field ("-,inline" inlines).
            if yaml == "-" {
                continue;
            }
            let mut parts = yaml.split(',');
            let key = parts.next().unwrap_or_default().to_string();
            let inline = parts.any(|p| p == "inline");
            let exported = f.name.starts_with(|c: char| c.is_uppercase());
            if !exported && !f.embedded {
                continue;
            }
            if matches!(f.typ, GoType::Func) {
                continue;
            }
            let doc = tag_get(&f.tag, "doc").unwrap_or_default();
            let flag = pkg.flags.iter().find(|(n, _, _)| *n == f.name);
            let flag_hidden = flag.is_some_and(|(_, fl, _)| self.hidden_flags.contains(fl));
            let doc_flag = |name: &str| doc.split('|').any(|e| e.split('=').next() == Some(name));
            let field_hidden = hidden || flag_hidden || doc_flag("hidden");
            let usage = flag.map(|(_, _, u)| u.clone()).unwrap_or_default();
            let category = if doc_flag("deprecated") {
                "deprecated".to_string()
            } else {
                tag_get(&f.tag, "category").unwrap_or_default()
            };
            let usage = (usage, category);
            if prefix.is_empty() && self.skip_root.contains(&key.as_str()) {
                continue;
            }
            let s = self.shape(pkg, *file, &f.typ, 0);
            if inline {
                match &s {
                    GoShape::Struct(..) => self.walk(&s, prefix, field_hidden, stack),
                    GoShape::Map(v) => {
                        let p = join(prefix, "*");
                        self.emit(&p, v, field_hidden, usage, stack);
                    }
                    _ => {}
                }
                continue;
            }
            let key = if key.is_empty() {
                f.name.to_lowercase()
            } else {
                key
            };
            self.emit(&join(prefix, &key), &s, field_hidden, usage, stack);
        }
        stack.pop();
    }

    fn emit(
        &mut self,
        path: &str,
        s: &GoShape,
        hidden: bool,
        usage: (String, String),
        stack: &mut Vec<String>,
    ) {
        self.add(path, s.type_name(), hidden, usage);
        match s {
            GoShape::Struct(..) => self.walk(s, path, hidden, stack),
            GoShape::List(i) if matches!(i.as_ref(), GoShape::Struct(..)) => {
                self.walk(i, &format!("{path}[]"), hidden, stack)
            }
            GoShape::Map(i) if matches!(i.as_ref(), GoShape::Struct(..)) => {
                self.walk(i, &format!("{path}.*"), hidden, stack)
            }
            _ => {}
        }
    }
}

/// Every key of the struct `name` in package directory `pkg_dir` (relative to the checkout).
fn go_config_keys(
    src: &GoSources,
    pkg_dir: &str,
    name: &str,
    skip_root: &[&str],
    hidden_flags: &[String],
) -> Result<BTreeMap<String, GoKey>> {
    let ipath = format!("{}/{pkg_dir}", src.module);
    let pkg = src
        .package(&ipath)
        .with_context(|| format!("no Go package at {}", src.root.join(pkg_dir).display()))?;
    let decl = pkg
        .types
        .get(name)
        .with_context(|| format!("{pkg_dir}: no type {name}"))?;
    let GoType::Struct(fields) = &decl.typ else {
        bail!("{pkg_dir}: {name} is not a struct");
    };
    let root = GoShape::Struct(pkg.clone(), decl.file, fields.clone(), ipath.clone());
    let mut w = GoWalk {
        src,
        keys: BTreeMap::new(),
        skip_root,
        hidden_flags,
    };
    w.walk(&root, "", false, &mut Vec::new());
    Ok(w.keys)
}

/// The block a key pattern lives in: `a` for `a.b`, `a[].b` and `a.*.b`.
fn block_of(p: &str) -> &str {
    let q = parent_of(p);
    q.strip_suffix("[]")
        .or_else(|| q.strip_suffix(".*"))
        .unwrap_or(q)
}

/// Completes a published reference with the keys of the struct tree it leaves out, inside
/// blocks it knows: `doc:"hidden"` fields (note `hidden`, or the deprecation their flag's usage
/// states) and fields the generator skipped otherwise (note `undocumented`, such as Loki's
/// `IGNORED:` ring settings). The decoder accepts every one of them. Where the two disagree on
/// a type, the reference wins unless it would refuse what the decoder takes: a scalar the Go
/// type decodes from text (a size like `64KiB`, an enum name) becomes `string`, and a block
/// the reference lists no keys for takes the Go type. Counts go to stderr, each difference
/// with `--verbose`.
fn add_hidden_keys(t: &mut Table, keys: &BTreeMap<String, GoKey>, o: &Opts) -> usize {
    let mut added = 0;
    let mut unexplained = Vec::new();
    let mut types = Vec::new();
    let mut widened = Vec::new();
    // Reference keys the struct tree does not reach, beyond a Go node it does not descend
    // into: a sign the Go reader missed something.
    let unreached: Vec<String> = t
        .rows
        .keys()
        .filter(|p| !p.contains(':') && !keys.contains_key(*p))
        .filter(|p| {
            let b = block_of(p);
            b.is_empty()
                || keys.get(b).is_some_and(|k| {
                    matches!(k.typ.as_str(), "block" | "list(block)" | "map(block)")
                })
        })
        .cloned()
        .collect();
    for (p, k) in keys {
        let childless = {
            let under = format!("{p}.");
            let items = format!("{p}[].");
            !t.rows
                .keys()
                .any(|q| q.starts_with(&under) || q.starts_with(&items))
        };
        if let Some(e) = t.rows.get_mut(p) {
            if e.typ == "block" && childless && k.typ != "block" {
                widened.push(format!("{p}: block without keys -> {}", k.typ));
                e.typ = k.typ.clone();
            } else if e.typ != k.typ {
                // A Go string takes any scalar (a size like 64KiB, an enum name): the
                // reference's int or bool would call a valid value a type error.
                if k.typ == "string" && matches!(e.typ.as_str(), "int" | "float" | "bool") {
                    widened.push(format!("{p}: {} -> string", e.typ));
                    e.typ = k.typ.clone();
                } else {
                    types.push(format!("{p}: reference {}, Go {}", e.typ, k.typ));
                }
            }
            continue;
        }
        let parent = block_of(p);
        let inside = parent.is_empty()
            || t.rows
                .get(parent)
                .is_some_and(|e| matches!(e.typ.as_str(), "block" | "list(block)" | "map(block)"));
        if !inside {
            continue;
        }
        if k.hidden {
            let note = match note_from(Some(&k.category), &k.usage) {
                n if n.starts_with("deprecated") => n,
                _ => "hidden".to_string(),
            };
            t.add(p, &k.typ, "", &note, "");
            added += 1;
        } else {
            t.add(p, &k.typ, "", "undocumented", "");
            unexplained.push(p.clone());
        }
    }
    eprintln!(
        "{}: {} keys in the Go struct tree; {added} hidden keys added; {} undocumented keys added; {} types widened; {} other types differ (the reference's kept); {} reference keys the tree does not reach",
        o.backend,
        keys.len(),
        unexplained.len(),
        widened.len(),
        types.len(),
        unreached.len()
    );
    if o.verbose {
        for u in &unreached {
            eprintln!("  not reached: {u}");
        }
        for w in &widened {
            eprintln!("  widened: {w}");
        }
        for u in &unexplained {
            eprintln!("  undocumented: {u}");
        }
        for d in &types {
            eprintln!("  type: {d}");
        }
    }
    added
}

// ---------------------------------------------------------------------------------------------
// Collector distributions: manifest.yaml + each component's metadata.yaml
// ---------------------------------------------------------------------------------------------

const KINDS: &[(&str, &str)] = &[
    ("receivers", "receiver"),
    ("processors", "processor"),
    ("exporters", "exporter"),
    ("extensions", "extension"),
    ("connectors", "connector"),
];

static META_TYPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^type:\s*([A-Za-z0-9_./\-]+)\s*$").unwrap_or_else(|_| unreachable!())
});
static META_DEPRECATED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^deprecated_type:\s*([A-Za-z0-9_./\-]+)\s*$")
        .unwrap_or_else(|_| unreachable!())
});

enum ComponentSource {
    ModCache(PathBuf),
    Repo(String, PathBuf),
}

fn collector(o: &Opts) -> Result<String> {
    let dist = o.backend.clone();
    let rel = format!("distributions/{dist}/manifest.yaml");
    let path = o.src.join(&rel);
    let manifest: Value = serde_saphyr::from_str(&read(&path)?)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("parsing {}", path.display()))?;
    let version = match &o.version {
        Some(v) => v.clone(),
        None => manifest
            .pointer("/dist/version")
            .and_then(Value::as_str)
            .with_context(|| format!("{}: no dist.version", path.display()))?
            .to_string(),
    };
    let sources: Vec<ComponentSource> = o
        .extra
        .iter()
        .map(|s| match s.split_once('=') {
            Some((prefix, dir)) => ComponentSource::Repo(prefix.to_string(), PathBuf::from(dir)),
            None => ComponentSource::ModCache(PathBuf::from(s)),
        })
        .collect();
    if sources.is_empty() {
        bail!(
            "{dist}: give at least one component source (module cache root or MODULE-PREFIX=DIR)"
        );
    }
    let mut lines: BTreeSet<(usize, String, String)> = BTreeSet::new();
    let mut missing = Vec::new();
    for (ki, (section, kind)) in KINDS.iter().enumerate() {
        let Some(list) = manifest.get(*section).and_then(Value::as_array) else {
            continue;
        };
        for item in list {
            let gomod = item
                .get("gomod")
                .and_then(Value::as_str)
                .with_context(|| format!("{}: a {kind} without gomod", path.display()))?;
            let (module, modver) = gomod
                .split_once(' ')
                .with_context(|| format!("{}: gomod {gomod:?} has no version", path.display()))?;
            let import = item.get("import").and_then(Value::as_str).unwrap_or(module);
            let sub = import
                .strip_prefix(module)
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string();
            match find_metadata(&sources, module, modver.trim(), &sub)? {
                Some((typ, deprecated)) => {
                    lines.insert((ki, typ.clone(), String::new()));
                    if let Some(d) = deprecated {
                        lines.insert((ki, d, format!("deprecated:{typ}")));
                    }
                }
                None => missing.push(format!("{kind} {import} {}", modver.trim())),
            }
        }
    }
    if !missing.is_empty() && !o.allow_missing {
        bail!(
            "no metadata.yaml found for {} component(s): {} (--allow-missing lists them as comments)",
            missing.len(),
            missing.join(", ")
        );
    }
    let mut s = String::new();
    s.push_str(&format!(
        "# kalypso collector components: {dist} {version}\n"
    ));
    s.push_str(&format!(
        "# source: open-telemetry/opentelemetry-collector-releases@{}:{rel} (+ component metadata.yaml files)\n",
        o.commit()?
    ));
    s.push_str(&format!(
        "# regenerate: cargo run -p config-reference -- {dist} <checkout of open-telemetry/opentelemetry-collector-releases at v{version}> <component sources: Go module cache root, or MODULE-PREFIX=checkout at the matching tag>... > {OUT_DIR}/{dist}-{version}.tsv\n"
    ));
    for m in &missing {
        s.push_str(&format!(
            "# missing: {m} (no metadata.yaml in the given sources; not listed below)\n"
        ));
    }
    for (ki, typ, note) in lines {
        s.push_str(&format!("{}\t{}\t{}\n", KINDS[ki].1, typ, note));
    }
    Ok(s)
}

/// Go module cache path escaping: upper-case letters become "!" + lower case.
fn modcache_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn find_metadata(
    sources: &[ComponentSource],
    module: &str,
    version: &str,
    sub: &str,
) -> Result<Option<(String, Option<String>)>> {
    for s in sources {
        let dir = match s {
            ComponentSource::ModCache(root) => root
                .join(format!(
                    "{}@{}",
                    modcache_escape(module),
                    modcache_escape(version)
                ))
                .join(sub),
            ComponentSource::Repo(prefix, root) => {
                let Some(rest) = module.strip_prefix(prefix.as_str()) else {
                    continue;
                };
                if !(rest.is_empty() || rest.starts_with('/')) {
                    continue;
                }
                root.join(rest.trim_start_matches('/')).join(sub)
            }
        };
        let meta = dir.join("metadata.yaml");
        if !meta.is_file() {
            continue;
        }
        let text = read(&meta)?;
        let typ = META_TYPE
            .captures(&text)
            .map(|c| c[1].to_string())
            .with_context(|| format!("{}: no top-level type", meta.display()))?;
        let dep = META_DEPRECATED.captures(&text).map(|c| c[1].to_string());
        return Ok(Some((typ, dep)));
    }
    Ok(None)
}
