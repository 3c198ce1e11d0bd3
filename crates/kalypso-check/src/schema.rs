//! `schema`: every object validates in strict mode against the Kubernetes JSON schemas that the
//! PyPI package `kubernetes-validate` ships (draft 2020-12, one file per kind plus a shared
//! `_definitions.json` that the files `$ref` as `/api/_definitions.json#/$defs/…`), and custom
//! resources against the `openAPIV3Schema` of the CRDs the input renders (made strict: no
//! unknown fields unless the schema preserves them). Validators are compiled once per kind.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::finding::{Finding, Severity};
use kalypso_model::manifest::{Manifest, Object, ObjectRef};

/// Rule id.
pub const RULE: &str = "schema";
/// Rule id: objects of built-in kinds decode into their Kubernetes API types.
pub const TYPES_RULE: &str = "schema/types";

/// Base URI the schema files are mounted at, so `/api/_definitions.json` resolves.
const BASE: &str = "https://schemas.kalypso.invalid/api/";

/// Where the schemas are and which Kubernetes version to use.
#[derive(Debug, Clone, Default)]
pub struct SchemaOptions {
    /// `X.Y` (a patch part is ignored).
    pub kube_version: String,
    /// `--schema-dir`: a `kubernetes-json-schema` directory, or one version directory.
    pub schema_dir: Option<PathBuf>,
    /// Repository root, to look for a cached install under `.cache/`.
    pub repo: Option<PathBuf>,
}

/// `schema/types`: every object of a built-in kind decodes into its k8s-openapi type. The rules
/// read those kinds typed and skip an object that does not decode, so it is reported here once,
/// naming the field (needs no schema files, unlike [`check`]).
pub fn check_types(manifest: &Manifest) -> Vec<Finding> {
    manifest
        .objects
        .iter()
        .filter_map(|obj| {
            if let Some(served) = obj.unserved_version() {
                return Some(Finding::new(
                    TYPES_RULE,
                    Severity::Error,
                    obj,
                    "apiVersion",
                    format!(
                        "Kubernetes does not serve {} {} (use {served}): the rules that read \
                         this kind typed skipped this object",
                        obj.api_version, obj.kind
                    ),
                ));
            }
            let e = obj.decode_error()?;
            let field = if e.path == "." { "" } else { e.path.as_str() };
            Some(Finding::new(
                TYPES_RULE,
                Severity::Error,
                obj,
                field,
                format!(
                    "does not decode as {} {} ({}): the API server refuses it, and the other \
                     rules skipped this object",
                    obj.api_version, obj.kind, e.message
                ),
            ))
        })
        .collect()
}

fn major_minor(v: &str) -> Option<(u32, u32)> {
    let v = v.trim_start_matches('v');
    let mut it = v.split(['.', '-']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Candidate roots holding `vX.Y.Z-local-strict` directories.
fn candidate_roots(opts: &SchemaOptions) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(d) = &opts.schema_dir {
        roots.push(d.clone());
        return roots;
    }
    if let Some(d) = std::env::var_os("KALYPSO_SCHEMA_DIR") {
        roots.push(PathBuf::from(d));
    }
    // Where python found the schemas last time (asking python costs a few hundred ms).
    let remembered = opts
        .repo
        .as_ref()
        .map(|r| r.join(".cache/kalypso/schema-root"));
    if let Some(root) = remembered
        .as_ref()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .map(|s| PathBuf::from(s.trim()))
        .filter(|p| p.is_dir())
    {
        roots.push(root);
        return roots;
    }
    let mut pythons: Vec<PathBuf> = Vec::new();
    if let Some(repo) = &opts.repo {
        let cache = repo.join(".cache");
        // A pip install under .cache (a venv or --target dir).
        for pattern in ["", "venv/lib", "venv/lib64", "python/lib", "pip", "pip/lib"] {
            let base = cache.join(pattern);
            roots.push(base.join("kubernetes_validate/kubernetes-json-schema"));
            if let Ok(entries) = std::fs::read_dir(&base) {
                for e in entries.flatten() {
                    roots.push(
                        e.path()
                            .join("site-packages/kubernetes_validate/kubernetes-json-schema"),
                    );
                }
            }
        }
        pythons.push(cache.join("venv/bin/python3"));
    }
    pythons.push(PathBuf::from("python3"));
    for py in pythons {
        let out = std::process::Command::new(&py)
            .args([
                "-c",
                // find_spec locates the package without importing it (and its dependencies).
                "import importlib.util,os;print(os.path.dirname(importlib.util.find_spec('kubernetes_validate').origin))",
            ])
            .stderr(std::process::Stdio::null())
            .output();
        if let Ok(out) = out {
            if out.status.success() {
                let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
                let root = Path::new(&dir).join("kubernetes-json-schema");
                if let Some(f) = &remembered {
                    if root.is_dir() {
                        let _ = std::fs::create_dir_all(f.parent().unwrap_or(Path::new(".")));
                        let _ = std::fs::write(f, root.to_string_lossy().as_bytes());
                    }
                }
                roots.push(root);
                break;
            }
        }
    }
    roots
}

/// The schema directory for the version asked for: the newest `vX.Y.*-local-strict` that is not
/// newer than it. `Err` says why schemas are unavailable.
pub fn locate(opts: &SchemaOptions) -> Result<(PathBuf, String), String> {
    let want = major_minor(&opts.kube_version)
        .ok_or_else(|| format!("--kube-version {:?} is not X.Y", opts.kube_version))?;
    let mut available: Vec<((u32, u32), PathBuf, String)> = Vec::new();
    for root in candidate_roots(opts) {
        if root.join("_definitions.json").is_file() {
            let name = root
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            return Ok((root, name));
        }
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !name.ends_with("-local-strict") {
                continue;
            }
            if let Some(mm) = major_minor(&name) {
                available.push((mm, e.path(), name));
            }
        }
        if !available.is_empty() {
            break;
        }
    }
    if available.is_empty() {
        return Err(
            "no Kubernetes JSON schemas found (pip install kubernetes-validate, or pass --schema-dir)".into(),
        );
    }
    available.sort();
    let pick = available
        .iter()
        .rev()
        .find(|(mm, _, _)| *mm <= want)
        .or_else(|| available.first());
    match pick {
        Some((mm, path, name)) if *mm <= want || mm.0 == want.0 && mm.1 == want.1 => {
            Ok((path.clone(), name.clone()))
        }
        _ => Err(format!(
            "no schemas for Kubernetes {}.{} (the installed kubernetes-validate has {} to {})",
            want.0,
            want.1,
            available.first().map(|a| a.2.as_str()).unwrap_or("?"),
            available.last().map(|a| a.2.as_str()).unwrap_or("?")
        )),
    }
}

/// `apps/v1` → `apps-v1`; `rbac.authorization.k8s.io/v1` → `rbac-v1`; `v1` → `v1`.
fn file_stem(api_version: &str, kind: &str) -> String {
    let av = match api_version.split_once('/') {
        Some((group, version)) => format!("{}-{version}", group.split('.').next().unwrap_or(group)),
        None => api_version.to_string(),
    };
    format!("{}-{av}", kind.to_ascii_lowercase())
}

/// Turns a CRD's OpenAPI v3 schema into a strict JSON schema: objects with `properties`
/// reject unknown fields unless `x-kubernetes-preserve-unknown-fields`, `nullable` admits null.
pub fn strict_crd_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, item) in m {
                let item = match k.as_str() {
                    // Maps of schemas.
                    "properties" | "patternProperties" | "definitions" | "$defs" => match item {
                        Value::Object(props) => Value::Object(
                            props
                                .iter()
                                .map(|(pk, pv)| (pk.clone(), strict_crd_schema(pv)))
                                .collect(),
                        ),
                        other => other.clone(),
                    },
                    "items" | "additionalProperties" | "not" => strict_crd_schema(item),
                    "allOf" | "anyOf" | "oneOf" => match item {
                        Value::Array(list) => {
                            Value::Array(list.iter().map(strict_crd_schema).collect())
                        }
                        other => other.clone(),
                    },
                    _ => item.clone(),
                };
                out.insert(k.clone(), item);
            }
            let preserve =
                m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if m.contains_key("properties") && !m.contains_key("additionalProperties") && !preserve
            {
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            if m.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(t)) = m.get("type") {
                    out.insert(
                        "type".into(),
                        Value::Array(vec![Value::String(t.clone()), "null".into()]),
                    );
                }
            }
            if m.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
                && !m.contains_key("anyOf")
            {
                out.insert("type".into(), serde_json::json!(["integer", "string"]));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// `/spec/containers/0/image` → `spec.containers[0].image`.
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').filter(|s| !s.is_empty()) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// What findings about the schema check itself point at.
fn schema_object(opts: &SchemaOptions) -> ObjectRef {
    ObjectRef {
        api_version: String::new(),
        kind: "Schema".into(),
        namespace: None,
        name: format!("kubernetes-{}", opts.kube_version),
    }
}

/// Validates every object.
pub fn check(manifest: &Manifest, opts: &SchemaOptions) -> Vec<Finding> {
    let t0 = std::time::Instant::now();
    // Not validating is worth a warning: without schemas, `replicas: "two"` would pass.
    let skipped = |why: String| {
        vec![Finding::general(
            RULE,
            Severity::Warning,
            "",
            schema_object(opts),
            format!("schema check skipped: {why}"),
        )]
    };
    let (dir, used) = match locate(opts) {
        Ok(d) => d,
        Err(why) => return skipped(why),
    };
    tracing::info!("schema locate {:.2}s", t0.elapsed().as_secs_f64());
    let mut notes = Vec::new();
    if major_minor(&used) != major_minor(&opts.kube_version) {
        notes.push(Finding::general(
            RULE,
            Severity::Warning,
            "",
            schema_object(opts),
            format!(
                "no schemas for Kubernetes {}: validated against {used}, the nearest kalypso found",
                opts.kube_version
            ),
        ));
    }
    let defs_text = match std::fs::read_to_string(dir.join("_definitions.json")) {
        Ok(t) => t,
        Err(e) => {
            return skipped(format!(
                "cannot read {}: {e}",
                dir.join("_definitions.json").display()
            ))
        }
    };
    let defs: Value = match serde_json::from_str(&defs_text) {
        Ok(v) => v,
        Err(e) => {
            return skipped(format!(
                "{} is not JSON: {e}",
                dir.join("_definitions.json").display()
            ))
        }
    };
    let registry = match jsonschema::Registry::new()
        .add(format!("{BASE}_definitions.json"), defs)
        .and_then(|b| b.prepare())
    {
        Ok(r) => r,
        Err(e) => return skipped(format!("cannot load the schema definitions: {e}")),
    };
    // CRD schemas by (apiVersion, kind).
    let mut crd_schemas: HashMap<(String, String), Value> = HashMap::new();
    for crd in manifest.of_kind("CustomResourceDefinition") {
        let spec = &crd.body["spec"];
        let (Some(group), Some(kind)) = (spec["group"].as_str(), spec["names"]["kind"].as_str())
        else {
            continue;
        };
        for v in spec["versions"].as_array().into_iter().flatten() {
            let (Some(name), Some(schema)) = (
                v["name"].as_str(),
                v["schema"]["openAPIV3Schema"].as_object(),
            ) else {
                continue;
            };
            let mut strict = strict_crd_schema(&Value::Object(schema.clone()));
            // The API server always accepts these at the root, whatever the CRD lists.
            if let Some(props) = strict.get_mut("properties").and_then(Value::as_object_mut) {
                for (k, t) in [
                    ("apiVersion", "string"),
                    ("kind", "string"),
                    ("metadata", "object"),
                ] {
                    props
                        .entry(k)
                        .or_insert_with(|| serde_json::json!({"type": t}));
                }
            }
            crd_schemas.insert((format!("{group}/{name}"), kind.to_string()), strict);
        }
    }
    tracing::info!("schema setup {:.2}s", t0.elapsed().as_secs_f64());
    let mut compile_time = std::time::Duration::ZERO;
    let mut cache: HashMap<(String, String), Result<jsonschema::Validator, String>> =
        HashMap::new();
    let mut no_schema: BTreeMap<(String, String), (usize, &Object)> = BTreeMap::new();
    let mut out = Vec::new();
    for obj in &manifest.objects {
        let key = (obj.api_version.clone(), obj.kind.clone());
        let tc = std::time::Instant::now();
        let entry = cache.entry(key.clone()).or_insert_with(|| {
            if obj.is_custom_resource() {
                let Some(schema) = crd_schemas.get(&key) else {
                    return Err(String::new());
                };
                jsonschema::draft202012::options()
                    .build(schema)
                    .map_err(|e| {
                        format!(
                            "the CRD schema for {} {} does not compile: {e}",
                            key.0, key.1
                        )
                    })
            } else {
                let file = dir.join(format!("{}.json", file_stem(&key.0, &key.1)));
                let Ok(text) = std::fs::read_to_string(&file) else {
                    return Err(String::new());
                };
                let schema: Value =
                    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
                jsonschema::draft202012::options()
                    .with_registry(&registry)
                    .with_base_uri(format!("{BASE}{}.json", file_stem(&key.0, &key.1)))
                    .build(&schema)
                    .map_err(|e| format!("{}: does not compile: {e}", file.display()))
            }
        });
        compile_time += tc.elapsed();
        match entry {
            Err(why) if why.is_empty() => {
                if obj.is_custom_resource() {
                    no_schema.entry(key).or_insert((0, obj)).0 += 1;
                } else {
                    out.push(Finding::new(
                        RULE,
                        Severity::Error,
                        obj,
                        "apiVersion",
                        format!(
                            "Kubernetes {} does not serve {} {} (no schema for it)",
                            opts.kube_version, obj.api_version, obj.kind
                        ),
                    ));
                }
            }
            Err(why) => out.push(Finding::new(RULE, Severity::Warning, obj, "", why.clone())),
            Ok(validator) => {
                for (n, e) in validator.iter_errors(&obj.body).enumerate() {
                    if n == 5 {
                        out.push(Finding::new(
                            RULE,
                            Severity::Error,
                            obj,
                            "",
                            "more schema errors not shown",
                        ));
                        break;
                    }
                    let msg = if obj.kind == "Secret" {
                        e.masked().to_string()
                    } else {
                        e.to_string()
                    };
                    out.push(Finding::new(
                        RULE,
                        Severity::Error,
                        obj,
                        dotted(e.instance_path().as_str()),
                        truncate(&msg, 300),
                    ));
                }
            }
        }
    }
    tracing::info!(
        "schema compile {:.2}s, total {:.2}s ({} kinds)",
        compile_time.as_secs_f64(),
        t0.elapsed().as_secs_f64(),
        cache.len()
    );
    out.extend(notes);
    for ((api, kind), (count, obj)) in no_schema {
        out.push(Finding::new(
            RULE,
            Severity::Info,
            obj,
            "",
            format!(
                "no schema for {api} {kind} ({count} object{}): its CRD is not in the input, so it was not validated",
                if count == 1 { "" } else { "s" }
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_file_names_follow_kubernetes_validate() {
        assert_eq!(file_stem("apps/v1", "Deployment"), "deployment-apps-v1");
        assert_eq!(
            file_stem("rbac.authorization.k8s.io/v1", "ClusterRole"),
            "clusterrole-rbac-v1"
        );
        assert_eq!(file_stem("v1", "Service"), "service-v1");
    }

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(
            dotted("/spec/containers/0/image"),
            "spec.containers[0].image"
        );
        assert_eq!(
            dotted("/metadata/annotations/a~1b"),
            "metadata.annotations.a/b"
        );
    }

    #[test]
    fn crd_schemas_reject_unknown_fields_unless_preserved() {
        let s = strict_crd_schema(&serde_json::json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string", "nullable": true}}},
                           "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {}}}
        }));
        let v = jsonschema::draft202012::new(&s).unwrap();
        assert!(v.is_valid(&serde_json::json!({"spec": {"a": null}, "config": {"x": 1}})));
        assert!(!v.is_valid(&serde_json::json!({"spec": {"b": 1}})));
    }
}
