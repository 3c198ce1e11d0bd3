//! Each chart's values are documented where they are set, in the comment form helm-docs reads:
//! `# -- description` (continued by plain `#` lines) directly above a key, `# -- (type) text` to
//! name the type, `# @default -- text` to describe a default too long for the table. The values
//! table of every chart README (between `<!-- values-table -->` and `<!-- /values-table -->`) is
//! built from those comments and must equal what this test builds; every value is documented on
//! itself or on an enclosing key.
//!
//! `KALYPSO_BLESS=1 cargo test --test it chart_docs` rewrites the README tables instead of
//! comparing them (and adds the section to a README that has none).

use std::path::Path;

use serde_json::Value;

use crate::support::repo_root;

const BEGIN: &str = "<!-- values-table -->";
const END: &str = "<!-- /values-table -->";

/// One documented key of a values file.
#[derive(Debug, PartialEq)]
struct Documented {
    path: Vec<String>,
    kind: Option<String>,
    default: Option<String>,
    description: String,
}

/// A key of a values file (outside sequences and block scalars), with its doc comment if any.
struct Key {
    path: Vec<String>,
    doc: Option<Documented>,
}

/// The mapping keys of `text` in order, with the `# --` comment right above each.
fn keys(text: &str) -> Vec<Key> {
    let mut out = Vec::new();
    // Open mappings (indent, key) and sequences (indent): keys inside a sequence are not values.
    let mut stack: Vec<(usize, Option<String>)> = Vec::new();
    let mut comment: Vec<String> = Vec::new();
    let mut block_scalar_above: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if let Some(key_indent) = block_scalar_above {
            if trimmed.is_empty() || indent > key_indent {
                continue;
            }
            block_scalar_above = None;
        }
        if trimmed.is_empty() {
            comment.clear();
            continue;
        }
        if let Some(c) = trimmed.strip_prefix('#') {
            comment.push(c.strip_prefix(' ').unwrap_or(c).to_string());
            continue;
        }
        let doc = std::mem::take(&mut comment);
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        if trimmed.starts_with("- ") || trimmed == "-" {
            stack.push((indent, None));
            continue;
        }
        let Some((key, rest)) = split_key(trimmed) else {
            continue;
        };
        if stack.iter().any(|(_, k)| k.is_none()) {
            continue;
        }
        let mut path: Vec<String> = stack.iter().filter_map(|(_, k)| k.clone()).collect();
        path.push(key.clone());
        let rest = rest.split(" #").next().unwrap_or("").trim();
        if rest.starts_with('|') || rest.starts_with('>') {
            block_scalar_above = Some(indent);
        }
        out.push(Key {
            doc: parse_doc(&doc, &path),
            path,
        });
        stack.push((indent, Some(key)));
    }
    out
}

/// `key: rest` of a mapping line; the key unquoted.
fn split_key(line: &str) -> Option<(String, &str)> {
    let (key, rest) = if let Some(q @ ('"' | '\'')) = line.chars().next() {
        let end = line[1..].find(q)? + 1;
        (line[1..end].to_string(), line[end + 1..].strip_prefix(':')?)
    } else {
        let colon = line
            .find(": ")
            .or_else(|| line.strip_suffix(':').map(|l| l.len()))?;
        let key = &line[..colon];
        if key.contains(['{', '[', '"', '\'', ' ']) {
            return None;
        }
        (key.to_string(), &line[colon + 1..])
    };
    Some((key, rest))
}

/// The helm-docs comment in `lines` (the comment block above a key), if it has one.
fn parse_doc(lines: &[String], path: &[String]) -> Option<Documented> {
    let start = lines
        .iter()
        .position(|l| l.starts_with("-- ") || l == "--")?;
    let mut description = Vec::new();
    let mut default = None;
    let mut kind = None;
    for (n, line) in lines[start..].iter().enumerate() {
        if let Some(d) = line.strip_prefix("@default -- ") {
            default = Some(d.trim().to_string());
        } else if n == 0 {
            let mut first = line.trim_start_matches("--").trim();
            if let Some(rest) = first.strip_prefix('(') {
                if let Some((t, after)) = rest.split_once(')') {
                    kind = Some(t.to_string());
                    first = after.trim();
                }
            }
            description.push(first.to_string());
        } else {
            description.push(line.trim().to_string());
        }
    }
    Some(Documented {
        path: path.to_vec(),
        kind,
        default,
        description: description.join(" ").trim().to_string(),
    })
}

/// Compact JSON with sorted keys (what helm-docs prints as a default).
fn json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), json(&m[*k])))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(json).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "object",
        Value::Array(_) => "list",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) | Value::Null => "string",
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The README values table of a values file.
fn table(values_yaml: &str) -> String {
    let values: Value = serde_saphyr::from_str(values_yaml).expect("values.yaml parses");
    let mut rows = vec![
        "| Key | Type | Default | Description |".to_string(),
        "|-----|------|---------|-------------|".to_string(),
    ];
    for key in keys(values_yaml) {
        let Some(doc) = key.doc else { continue };
        let value = doc
            .path
            .iter()
            .try_fold(&values, |v, k| v.get(k))
            .unwrap_or_else(|| panic!("{} is documented but not found", doc.path.join(".")));
        let default = doc.default.unwrap_or_else(|| format!("`{}`", json(value)));
        rows.push(format!(
            "| {} | {} | {} | {} |",
            cell(&doc.path.join(".")),
            doc.kind.as_deref().unwrap_or(kind_of(value)),
            cell(&default),
            cell(&doc.description)
        ));
    }
    rows.join("\n") + "\n"
}

/// The keys of `values_yaml` whose value is a leaf (not a non-empty map) and that have no doc
/// comment, on themselves or on an enclosing key.
fn undocumented(values_yaml: &str) -> Vec<String> {
    let values: Value = serde_saphyr::from_str(values_yaml).expect("values.yaml parses");
    let keys = keys(values_yaml);
    let documented: Vec<&Vec<String>> = keys
        .iter()
        .filter(|k| k.doc.is_some())
        .map(|k| &k.path)
        .collect();
    keys.iter()
        .filter(|k| {
            let v = k.path.iter().try_fold(&values, |v, s| v.get(s));
            !matches!(v, Some(Value::Object(m)) if !m.is_empty())
        })
        .filter(|k| !documented.iter().any(|d| k.path.starts_with(d)))
        .map(|k| k.path.join("."))
        .collect()
}

/// The README with its values table replaced by `table` (or appended as a new section).
fn with_table(readme: &str, table: &str) -> String {
    let generated = format!("{BEGIN}\n{table}{END}");
    match (readme.find(BEGIN), readme.find(END)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{generated}{}", &readme[..b], &readme[e + END.len()..])
        }
        _ => format!(
            "{}\n## Values\n\nGenerated from the `# --` comments of values.yaml \
             (crates/kalypso/tests/it/chart_docs.rs checks it; `KALYPSO_BLESS=1` rewrites it).\n\n\
             {generated}\n",
            readme.trim_end()
        ),
    }
}

/// The charts that install something (every chart but the library chart), sorted.
pub(crate) fn charts_with_values() -> Vec<std::path::PathBuf> {
    let mut charts: Vec<_> = std::fs::read_dir(repo_root().join("charts"))
        .expect("charts/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("values.yaml").is_file())
        .collect();
    charts.sort();
    charts
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_chart_readme_values_table_is_generated_from_its_values_yaml() {
    let bless = std::env::var_os("KALYPSO_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for chart in charts_with_values() {
        let want = table(&read(&chart.join("values.yaml")));
        let readme_path = chart.join("README.md");
        let readme = read(&readme_path);
        let updated = with_table(&readme, &want);
        if updated == readme {
            continue;
        }
        if bless {
            std::fs::write(&readme_path, updated).expect("write README");
        } else {
            stale.push(readme_path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "values tables out of date with values.yaml: {stale:?}\n\
         rerun with KALYPSO_BLESS=1 to regenerate them"
    );
}

#[test]
fn every_value_of_every_chart_is_documented() {
    for chart in charts_with_values() {
        let missing = undocumented(&read(&chart.join("values.yaml")));
        assert!(
            missing.is_empty(),
            "{}/values.yaml: no `# --` comment on {missing:?} or on a key enclosing it",
            chart.display()
        );
    }
}

#[test]
fn a_table_row_per_documented_key_with_its_default_type_and_description() {
    let values = r#"
# Plain comments are not documentation.
kalypso:
  s3:
    # -- Secret key of the user.
    # Continued here.
    secretAccessKey: dev
    existingSecret: ""
upstream:
  # -- Merged config | passed through tpl.
  # @default -- see values.yaml
  config:
    a: 1
  # -- (int) The port.
  port: 80
  snippet: |
    # -- not a comment, block scalar content
    key: value
  # -- A list.
  list:
    - name: x
      # -- inside a sequence: not a value of the table
      inner: z
"#;
    assert_eq!(
        table(values),
        "| Key | Type | Default | Description |\n\
         |-----|------|---------|-------------|\n\
         | kalypso.s3.secretAccessKey | string | `\"dev\"` | Secret key of the user. Continued here. |\n\
         | upstream.config | object | see values.yaml | Merged config \\| passed through tpl. |\n\
         | upstream.port | int | `80` | The port. |\n\
         | upstream.list | list | `[{\"inner\":\"z\",\"name\":\"x\"}]` | A list. |\n"
    );
    assert_eq!(
        undocumented(values),
        vec!["kalypso.s3.existingSecret", "upstream.snippet"]
    );
}
