//! `wiring/bucket` and `wiring/credentials`: the buckets backends are configured with are
//! created by the object store, each backend's S3 access key is an object-store user with the
//! same secret key, and that user may read, write and list the backend's buckets and no other
//! backend's.
//!
//! The object store is recognised by what its chart renders, for either engine of kalypso-minio:
//! - MinIO: a ConfigMap whose scripts call `createBucket <name> …` (buckets), `createPolicy
//!   <policy> <file>` with `<file>.json` (IAM policy documents) and, per user,
//!   `echo <accessKey> > $MINIO_ACCESSKEY…` followed by
//!   `cat /config/secrets/<secret>/<key> >> …` or `echo <secretKey> >> …` and
//!   `createUser <policy>` (users);
//! - SeaweedFS: a workload whose command runs `s3.bucket.create --name <name>` (the chart's
//!   bucket Job) and a Secret with key `seaweedfs_s3_config` (the identities: access key,
//!   secret key, `Read:<bucket>`-style actions), whose `${VAR}` secret keys are read from the
//!   environment of the workload that mounts it (or, when that chart is a stand-in, from the
//!   `allInOne.secretExtraEnvironmentVars` it would receive).
//!
//! When the object store's chart or a backend's chart is a stand-in, the buckets in the values it
//! would have received are compared instead ([`super::stand_in_values`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::config::BUCKET_KEYS;
use super::context::Context;
use super::finding::{Finding, Severity};
use super::stand_in_values;
use kalypso_model::manifest::decode_base64;
use kalypso_model::manifest::walk::{self, join};
use kalypso_model::manifest::{Object, ObjectRef};

/// Rule id for buckets.
pub const BUCKET_RULE: &str = "wiring/bucket";
/// Rule id for S3 credentials.
pub const CREDENTIALS_RULE: &str = "wiring/credentials";

/// The key of SeaweedFS's identities file in its Secret (the chart's `existingConfigSecret`).
pub const SEAWEEDFS_IDENTITIES_KEY: &str = "seaweedfs_s3_config";

/// Where an object-store user's secret key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A key of a Secret in the object store's namespace.
    SecretKey { secret: String, key: String },
    /// Written inline in the script or the identities file.
    Inline(String),
    /// A reference kalypso cannot follow (why).
    Unresolved(String),
}

/// What a user may do with a bucket's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Read,
    Write,
    List,
}

impl Access {
    const ALL: [Access; 3] = [Access::Read, Access::Write, Access::List];

    fn verb(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::List => "list",
        }
    }
}

/// What one object-store user may do: per bucket, and on every bucket (an unscoped grant).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    pub buckets: BTreeMap<String, BTreeSet<Access>>,
    pub everywhere: BTreeSet<Access>,
    /// Where the grants are written (`policy kalypso-mimir`, `SeaweedFS identity mimir`).
    pub source: String,
}

impl Grants {
    fn allows(&self, bucket: &str, access: Access) -> bool {
        self.everywhere.contains(&access)
            || self
                .buckets
                .get(bucket)
                .is_some_and(|a| a.contains(&access))
    }
}

/// What the object store creates.
#[derive(Debug, Default, Clone)]
pub struct ObjectStore {
    /// Namespace of the object store.
    pub namespace: String,
    pub buckets: BTreeSet<String>,
    /// Access key → secret key source.
    pub users: BTreeMap<String, SecretSource>,
    /// Access key → what the user may do, where the store says.
    pub grants: BTreeMap<String, Grants>,
}

/// Every object store of the render: MinIO's scripts and SeaweedFS's bucket Job and identities,
/// one store per namespace.
pub fn object_stores(ctx: &Context) -> Vec<ObjectStore> {
    let mut stores: BTreeMap<String, ObjectStore> = BTreeMap::new();
    fn store<'a>(stores: &'a mut BTreeMap<String, ObjectStore>, ns: &str) -> &'a mut ObjectStore {
        stores.entry(ns.to_string()).or_insert_with(|| ObjectStore {
            namespace: ns.to_string(),
            ..Default::default()
        })
    }
    for cm in ctx.manifest.of_kind("ConfigMap") {
        let Some(data) = cm.body["data"].as_object() else {
            continue;
        };
        let ns = cm.namespace.clone().unwrap_or_default();
        let mut policies = BTreeMap::new();
        let mut user_policies = BTreeMap::new();
        for text in data.values().filter_map(Value::as_str) {
            if !text.contains("createBucket")
                && !text.contains("createUser")
                && !text.contains("createPolicy")
            {
                continue;
            }
            parse_script(
                text,
                store(&mut stores, &ns),
                &mut policies,
                &mut user_policies,
            );
        }
        for (user, policy) in user_policies {
            let Some(doc) = policies
                .get(&policy)
                .and_then(|file| data.get(&format!("{file}.json")))
                .and_then(Value::as_str)
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
            else {
                continue;
            };
            let grants = minio_grants(&doc, &policy);
            store(&mut stores, &ns).grants.insert(user, grants);
        }
    }
    for obj in &ctx.manifest.objects {
        let Some(pod) = kalypso_model::manifest::workload::pod_spec(obj) else {
            continue;
        };
        for c in kalypso_model::manifest::workload::containers(&pod) {
            let script: Vec<&str> = ["command", "args"]
                .iter()
                .filter_map(|k| c.body[*k].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let buckets = seaweedfs_buckets(&script.join("\n"));
            if !buckets.is_empty() {
                store(&mut stores, obj.namespace.as_deref().unwrap_or(""))
                    .buckets
                    .extend(buckets);
            }
        }
    }
    for secret in ctx.manifest.of_kind("Secret") {
        let Some(config) = secret_value(secret, SEAWEEDFS_IDENTITIES_KEY) else {
            continue;
        };
        let Ok(doc) = serde_json::from_str::<Value>(&config) else {
            continue;
        };
        let ns = secret.namespace.clone().unwrap_or_default();
        for identity in doc["identities"].as_array().into_iter().flatten() {
            let name = identity["name"].as_str().unwrap_or_default();
            let grants = seaweedfs_grants(identity, name);
            for cred in identity["credentials"].as_array().into_iter().flatten() {
                let (Some(access), Some(secret_key)) =
                    (cred["accessKey"].as_str(), cred["secretKey"].as_str())
                else {
                    continue;
                };
                let source = match env_reference(secret_key) {
                    Some(var) => seaweedfs_env_source(ctx, secret, var),
                    None => SecretSource::Inline(secret_key.to_string()),
                };
                let s = store(&mut stores, &ns);
                s.users.insert(access.to_string(), source);
                s.grants.insert(access.to_string(), grants.clone());
            }
        }
    }
    stores.into_values().collect()
}

/// The bucket names of `s3.bucket.create` commands in a (shell) script.
fn seaweedfs_buckets(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in script.lines() {
        let words: Vec<String> = line.split_whitespace().map(unquote).collect();
        let Some(at) = words.iter().position(|w| w == "s3.bucket.create") else {
            continue;
        };
        let mut rest = words[at + 1..].iter();
        while let Some(w) = rest.next() {
            match w.trim_start_matches('-').split_once('=') {
                Some(("name", v)) => out.push(v.to_string()),
                None if w.trim_start_matches('-') == "name" && w.starts_with('-') => {
                    if let Some(v) = rest.next() {
                        out.push(v.clone());
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// `VAR` of a whole-value `${VAR}` reference.
fn env_reference(value: &str) -> Option<&str> {
    value
        .strip_prefix("${")
        .and_then(|v| v.strip_suffix('}'))
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// Where the server that reads `identities` (a Secret) finds variable `var`: the environment of
/// a workload in its namespace that mounts the Secret, else the values a stand-in SeaweedFS
/// chart there would receive.
fn seaweedfs_env_source(ctx: &Context, identities: &Object, var: &str) -> SecretSource {
    let ns = identities.namespace.as_deref().unwrap_or("");
    for obj in ctx
        .manifest
        .objects
        .iter()
        .filter(|o| o.namespace.as_deref().unwrap_or("") == ns)
    {
        let Some(pod) = kalypso_model::manifest::workload::pod_spec(obj) else {
            continue;
        };
        let mounts = pod.spec["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| v["secret"]["secretName"].as_str() == Some(identities.name.as_str()));
        if !mounts {
            continue;
        }
        for c in kalypso_model::manifest::workload::containers(&pod) {
            for env in c.body["env"].as_array().into_iter().flatten() {
                if env["name"].as_str() == Some(var) {
                    return env_source(env);
                }
            }
        }
    }
    let stand_in = ctx.chart_in_namespace(ns).and_then(|chart| {
        chart
            .stand_in_values
            .iter()
            .find_map(|s| s.values["allInOne"]["secretExtraEnvironmentVars"].get(var))
    });
    match stand_in {
        Some(value_from) => env_source(&serde_json::json!({ "valueFrom": value_from })),
        None => SecretSource::Unresolved(format!(
            "no workload in {ns} that mounts Secret {} sets ${{{var}}}",
            identities.name
        )),
    }
}

/// An env entry's value: literal, or a Secret key reference.
fn env_source(env: &Value) -> SecretSource {
    if let Some(v) = env["value"].as_str() {
        return SecretSource::Inline(v.to_string());
    }
    let r = &env["valueFrom"]["secretKeyRef"];
    match (r["name"].as_str(), r["key"].as_str()) {
        (Some(secret), Some(key)) => SecretSource::SecretKey {
            secret: secret.to_string(),
            key: key.to_string(),
        },
        _ => SecretSource::Unresolved(format!(
            "${{{}}} comes neither from a literal nor from a Secret key",
            env["name"].as_str().unwrap_or_default()
        )),
    }
}

/// A SeaweedFS identity's actions (`Read`, `Read:bucket`, `Write:bucket/prefix*`, `Admin`).
fn seaweedfs_grants(identity: &Value, name: &str) -> Grants {
    let mut g = Grants {
        source: format!("SeaweedFS identity {name}"),
        ..Default::default()
    };
    for action in identity["actions"].as_array().into_iter().flatten() {
        let Some(action) = action.as_str() else {
            continue;
        };
        let (verb, target) = match action.split_once(':') {
            Some((v, t)) => (v, Some(t)),
            None => (action, None),
        };
        let access: &[Access] = match verb {
            "Read" => &[Access::Read],
            "Write" => &[Access::Write],
            "List" => &[Access::List],
            "Admin" => &Access::ALL,
            _ => &[],
        };
        match target.map(|t| t.split('/').next().unwrap_or(t).trim_end_matches('*')) {
            Some(bucket) if !bucket.is_empty() => {
                g.buckets
                    .entry(bucket.to_string())
                    .or_default()
                    .extend(access);
            }
            _ => g.everywhere.extend(access),
        }
    }
    g
}

/// A MinIO policy document's Allow statements: `s3:GetObject` reads, `s3:PutObject` with
/// `s3:DeleteObject` writes, `s3:ListBucket` lists; `s3:*` all three; resource `*` every bucket.
fn minio_grants(doc: &Value, policy: &str) -> Grants {
    let mut g = Grants {
        source: format!("MinIO policy {policy}"),
        ..Default::default()
    };
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    };
    for st in doc["Statement"].as_array().into_iter().flatten() {
        if st["Effect"].as_str() != Some("Allow") {
            continue;
        }
        let actions = list(&st["Action"]);
        let has = |a: &str| actions.iter().any(|x| x == a || x == "s3:*" || x == "*");
        let mut access = Vec::new();
        if has("s3:GetObject") {
            access.push(Access::Read);
        }
        if has("s3:PutObject") && has("s3:DeleteObject") {
            access.push(Access::Write);
        }
        if has("s3:ListBucket") {
            access.push(Access::List);
        }
        for resource in list(&st["Resource"]) {
            let bucket = resource
                .strip_prefix("arn:aws:s3:::")
                .unwrap_or(&resource)
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            if bucket.is_empty() || bucket.contains('*') {
                g.everywhere.extend(access.iter().copied());
            } else {
                g.buckets.entry(bucket).or_default().extend(access.iter());
            }
        }
    }
    g
}

fn parse_script(
    text: &str,
    store: &mut ObjectStore,
    policies: &mut BTreeMap<String, String>,
    user_policies: &mut BTreeMap<String, String>,
) {
    let mut access: Option<String> = None;
    let mut secret: Option<SecretSource> = None;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["createBucket", name, ..] => {
                store.buckets.insert(unquote(name));
            }
            ["createPolicy", name, file] => {
                policies.insert(unquote(name), unquote(file));
            }
            ["echo", value, ">", target] if target.contains("ACCESSKEY_SECRETKEY") => {
                access = Some(unquote(value));
                secret = None;
            }
            ["echo", value, ">>", target] if target.contains("ACCESSKEY_SECRETKEY") => {
                secret = Some(SecretSource::Inline(unquote(value)));
            }
            ["cat", path, ">>", target] if target.contains("ACCESSKEY_SECRETKEY") => {
                let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
                if let [.., "secrets", s, k] = parts.as_slice() {
                    secret = Some(SecretSource::SecretKey {
                        secret: s.to_string(),
                        key: k.to_string(),
                    });
                }
            }
            ["createUser", rest @ ..] => {
                if let (Some(a), Some(s)) = (access.take(), secret.take()) {
                    if let Some(policy) = rest.first() {
                        user_policies.insert(a.clone(), unquote(policy));
                    }
                    store.users.insert(a, s);
                }
            }
            _ => {}
        }
    }
}

fn unquote(s: &str) -> String {
    s.trim_matches(|c| c == '"' || c == '\'').to_string()
}

/// The value of a Secret key (from `stringData` or base64 `data`).
pub fn secret_value(secret: &Object, key: &str) -> Option<String> {
    if let Some(v) = secret.body["stringData"][key].as_str() {
        return Some(v.to_string());
    }
    secret.body["data"][key].as_str().and_then(decode_base64)
}

/// Checks bucket names against the object store.
pub fn check_buckets(ctx: &Context) -> Vec<Finding> {
    let stores = object_stores(ctx);
    let value_stores = stand_in_values::store_buckets(ctx);
    let mut created: BTreeSet<String> = stores.iter().flat_map(|s| s.buckets.clone()).collect();
    // Entries of a stand-in store's bucket list that are templates kalypso cannot evaluate.
    let mut unresolved: Vec<String> = Vec::new();
    for b in value_stores.iter().flat_map(|(_, names)| names) {
        match &b.name {
            Ok(name) => {
                created.insert(name.clone());
            }
            Err(_) => unresolved.push(b.key.clone()),
        }
    }
    let mut store_namespaces: Vec<String> = stores.iter().map(|s| s.namespace.clone()).collect();
    store_namespaces.extend(value_stores.iter().map(|(ns, _)| ns.clone()));
    let store_known = stores.iter().any(|s| !s.buckets.is_empty()) || !value_stores.is_empty();
    // Why a bucket outside `created` cannot be called missing, if it cannot.
    let unverifiable = || -> Option<String> {
        if !store_known {
            Some(if ctx.any_partial() {
                "the object store's chart was rendered with stand-ins".to_string()
            } else {
                "no object store in the input creates buckets".to_string()
            })
        } else if !unresolved.is_empty() {
            Some(format!(
                "the object store's bucket list has templates kalypso cannot evaluate ({})",
                unresolved.join(", ")
            ))
        } else {
            None
        }
    };
    let missing = |bucket: &str| {
        let list: Vec<&str> = created.iter().map(String::as_str).collect();
        format!(
            "bucket {bucket:?} is not created by the object store (it creates: {})",
            list.join(", ")
        )
    };
    let mut out = Vec::new();
    for cfg in &ctx.configs {
        let obj = &ctx.manifest.objects[cfg.object];
        if obj.is_custom_resource()
            || store_namespaces
                .iter()
                .any(|ns| ns == obj.namespace.as_deref().unwrap_or(""))
        {
            continue;
        }
        for (path, bucket) in config_buckets(&cfg.value) {
            if created.contains(&bucket) {
                continue;
            }
            let (severity, message) = match unverifiable() {
                Some(why) => (
                    Severity::Info,
                    format!("bucket {bucket:?} not verified: {why}"),
                ),
                None => (Severity::Error, missing(&bucket)),
            };
            out.push(Finding::new(
                BUCKET_RULE,
                severity,
                obj,
                cfg.at(&path),
                message,
            ));
        }
    }
    // Backends whose upstream chart is a stand-in: the buckets in the values it would receive.
    for b in stand_in_values::backend_buckets(ctx, &store_namespaces) {
        let dependency = b.key.split('.').next().unwrap_or_default().to_string();
        let (severity, message) = match &b.name {
            Err(template) => (
                Severity::Info,
                format!(
                    "bucket not verified: {template} is evaluated by the {dependency} chart, which was rendered with a stand-in"
                ),
            ),
            Ok(name) if created.contains(name) => continue,
            Ok(name) => match unverifiable() {
                Some(why) => (
                    Severity::Info,
                    format!("bucket {name:?} (passed to the {dependency} chart, rendered with a stand-in) not verified: {why}"),
                ),
                None => (
                    Severity::Error,
                    format!(
                        "{}; read from the values passed to the {dependency} chart (a stand-in here)",
                        missing(name)
                    ),
                ),
            },
        };
        let mut f = Finding::general(
            BUCKET_RULE,
            severity,
            &b.chart,
            ObjectRef::namespaced("", "HelmValues", &b.namespace, &b.chart),
            message,
        );
        f.field = b.key.clone();
        f.file = Some(format!("charts/{}/values.yaml", b.chart));
        out.push(f);
    }
    out
}

/// The literal bucket names a backend config holds: a key of [`BUCKET_KEYS`] under an S3 block
/// (comma-separated lists split), as (path, name).
fn config_buckets(config: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    walk::maps(config, "", &mut |path, map| {
        let s3ish = path.split('.').any(|seg| {
            let seg = seg.to_ascii_lowercase();
            seg == "s3" || seg == "aws" || seg.ends_with("_s3")
        });
        if !s3ish {
            return;
        }
        for key in BUCKET_KEYS {
            if let Some(Value::String(v)) = map.get(*key) {
                for bucket in v.split(',').map(str::trim).filter(|b| !b.is_empty()) {
                    if bucket.contains("${") || bucket.contains("{{") {
                        continue;
                    }
                    found.push((join(path, key), bucket.to_string()));
                }
            }
        }
    });
    found
}

/// The buckets each backend namespace (not the object store's) is configured with: its
/// rendered configs, and the values a stand-in backend chart there would receive.
fn buckets_by_namespace(
    ctx: &Context,
    store_namespaces: &[String],
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for cfg in &ctx.configs {
        let obj = &ctx.manifest.objects[cfg.object];
        let ns = obj.namespace.clone().unwrap_or_default();
        if obj.is_custom_resource() || store_namespaces.contains(&ns) {
            continue;
        }
        for (_, bucket) in config_buckets(&cfg.value) {
            out.entry(ns.clone()).or_default().insert(bucket);
        }
    }
    for b in stand_in_values::backend_buckets(ctx, store_namespaces) {
        if let Ok(name) = b.name {
            out.entry(b.namespace).or_default().insert(name);
        }
    }
    out
}

/// Least privilege for the user a backend's credentials name: it may read, write and list every
/// bucket its namespace is configured with, and no bucket another backend is configured with.
fn check_grants(
    creds: &S3Credentials<'_>,
    grants: &Grants,
    used: &BTreeMap<String, BTreeSet<String>>,
    field: &str,
) -> Vec<Finding> {
    let ns = creds.secret.namespace.clone().unwrap_or_default();
    let user = &creds.access_key;
    let own = used.get(&ns).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for bucket in &own {
        let missing: Vec<&str> = Access::ALL
            .iter()
            .filter(|a| !grants.allows(bucket, **a))
            .map(|a| a.verb())
            .collect();
        if !missing.is_empty() {
            out.push(Finding::new(
                CREDENTIALS_RULE,
                Severity::Error,
                creds.secret,
                field.to_string(),
                format!(
                    "S3 user {user:?} may not {} bucket {bucket:?}, which {ns} is configured with ({})",
                    missing.join(", "),
                    grants.source
                ),
            ));
        }
    }
    let foreign: BTreeSet<&String> = used
        .iter()
        .filter(|(other, _)| **other != ns)
        .flat_map(|(_, b)| b)
        .filter(|b| !own.contains(*b))
        .filter(|b| Access::ALL.iter().any(|a| grants.allows(b, *a)))
        .collect();
    if !foreign.is_empty() {
        let list: Vec<&str> = foreign.iter().map(|b| b.as_str()).collect();
        out.push(Finding::new(
            CREDENTIALS_RULE,
            Severity::Error,
            creds.secret,
            field.to_string(),
            format!(
                "S3 user {user:?} may also use other backends' buckets {} ({}): each backend's user must be limited to its own",
                list.join(", "),
                grants.source
            ),
        ));
    } else if !grants.everywhere.is_empty() {
        let verbs: Vec<&str> = grants.everywhere.iter().map(|a| a.verb()).collect();
        out.push(Finding::new(
            CREDENTIALS_RULE,
            Severity::Warning,
            creds.secret,
            field.to_string(),
            format!(
                "S3 user {user:?} may {} every bucket ({}): limit it to its own buckets",
                verbs.join(", "),
                grants.source
            ),
        ));
    }
    out
}

/// A Secret holding S3 credentials: its access key and secret key, with their key names.
struct S3Credentials<'a> {
    secret: &'a Object,
    access_key_field: String,
    access_key: String,
    secret_key_field: String,
    secret_key: String,
}

fn s3_credentials(obj: &Object) -> Option<S3Credentials<'_>> {
    let keys: Vec<String> = ["data", "stringData"]
        .iter()
        .filter_map(|f| obj.body[*f].as_object())
        .flat_map(|m| m.keys().cloned())
        .collect();
    let ak = keys.iter().find(|k| {
        let u = k.to_ascii_uppercase();
        u.ends_with("ACCESS_KEY_ID") || u == "ACCESSKEY" || u == "ACCESS_KEY"
    })?;
    let sk = keys.iter().find(|k| {
        let u = k.to_ascii_uppercase();
        u.ends_with("SECRET_ACCESS_KEY") || u == "SECRETKEY" || u == "SECRET_KEY"
    })?;
    Some(S3Credentials {
        secret: obj,
        access_key: secret_value(obj, ak)?,
        access_key_field: ak.clone(),
        secret_key: secret_value(obj, sk)?,
        secret_key_field: sk.clone(),
    })
}

/// Checks backends' S3 credentials against the object store's users.
pub fn check_credentials(ctx: &Context) -> Vec<Finding> {
    let stores = object_stores(ctx);
    let store_namespaces: Vec<String> = stores.iter().map(|s| s.namespace.clone()).collect();
    let used = buckets_by_namespace(ctx, &store_namespaces);
    let mut out = Vec::new();
    for obj in ctx.manifest.of_kind("Secret") {
        let ns = obj.namespace.as_deref().unwrap_or("");
        if stores.iter().any(|s| s.namespace == ns) {
            continue;
        }
        let Some(creds) = s3_credentials(obj) else {
            continue;
        };
        if creds.access_key.contains("${") {
            continue;
        }
        let field_ak = format!("data.{}", creds.access_key_field);
        let field_sk = format!("data.{}", creds.secret_key_field);
        let user = stores
            .iter()
            .find_map(|s| s.users.get(&creds.access_key).map(|u| (s, u)));
        let Some((store, source)) = user else {
            if stores.iter().all(|s| s.users.is_empty()) {
                out.push(Finding::new(
                    CREDENTIALS_RULE,
                    Severity::Info,
                    creds.secret,
                    field_ak,
                    format!(
                        "S3 user {:?} not verified: {}",
                        creds.access_key,
                        if ctx.any_partial() {
                            "the object store's chart was rendered with stand-ins"
                        } else {
                            "no object store in the input creates users"
                        }
                    ),
                ));
            } else {
                out.push(Finding::new(
                    CREDENTIALS_RULE,
                    Severity::Error,
                    creds.secret,
                    field_ak,
                    format!(
                        "access key {:?} is not a user of the object store",
                        creds.access_key
                    ),
                ));
            }
            continue;
        };
        if let Some(grants) = store.grants.get(&creds.access_key) {
            out.extend(check_grants(&creds, grants, &used, &field_ak));
        }
        let (expected, from) = match source {
            SecretSource::Inline(v) => (
                Some(v.clone()),
                format!("{}'s user script", store.namespace),
            ),
            SecretSource::SecretKey { secret, key } => (
                ctx.manifest
                    .get("Secret", Some(&store.namespace), secret)
                    .and_then(|s| secret_value(s, key)),
                format!("Secret {}/{secret} key {key}", store.namespace),
            ),
            SecretSource::Unresolved(why) => {
                out.push(Finding::new(
                    CREDENTIALS_RULE,
                    Severity::Info,
                    creds.secret,
                    field_sk,
                    format!(
                        "secret key for S3 user {:?} not verified: {why}",
                        creds.access_key
                    ),
                ));
                continue;
            }
        };
        match expected {
            Some(v) if v == creds.secret_key => {}
            Some(_) => out.push(Finding::new(
                CREDENTIALS_RULE,
                Severity::Error,
                creds.secret,
                field_sk,
                format!(
                    "secret key for S3 user {:?} differs from the object store's ({from})",
                    creds.access_key
                ),
            )),
            None => out.push(Finding::new(
                CREDENTIALS_RULE,
                Severity::Info,
                creds.secret,
                field_sk,
                format!(
                    "secret key for S3 user {:?} not verified: {from} is not rendered",
                    creds.access_key
                ),
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_minio_bucket_and_user_scripts() {
        let mut s = ObjectStore::default();
        let (mut policies, mut users) = (BTreeMap::new(), BTreeMap::new());
        parse_script(
            "createPolicy kalypso-mimir policy_0\ncreateBucket mimir-blocks \"none\" false false false\ncreateBucket tempo-traces none false\necho mimir > $MINIO_ACCESSKEY_SECRETKEY_TMP\ncat /config/secrets/minio-user-mimir/secretKey >> $MINIO_ACCESSKEY_SECRETKEY_TMP\necho >> $MINIO_ACCESSKEY_SECRETKEY_TMP\ncreateUser kalypso-mimir\necho loki > $MINIO_ACCESSKEY_SECRETKEY_TMP\necho s3cr3t >> $MINIO_ACCESSKEY_SECRETKEY_TMP\ncreateUser kalypso-loki\n",
            &mut s,
            &mut policies,
            &mut users,
        );
        assert_eq!(policies["kalypso-mimir"], "policy_0");
        assert_eq!(users["mimir"], "kalypso-mimir");
        assert_eq!(
            s.buckets.iter().collect::<Vec<_>>(),
            ["mimir-blocks", "tempo-traces"]
        );
        assert_eq!(
            s.users["mimir"],
            SecretSource::SecretKey {
                secret: "minio-user-mimir".into(),
                key: "secretKey".into()
            }
        );
        assert_eq!(s.users["loki"], SecretSource::Inline("s3cr3t".into()));
    }

    #[test]
    fn seaweedfs_bucket_commands_are_read_in_every_flag_spelling() {
        let script = "echo \"Creating bucket 'a'...\"\n/bin/echo 's3.bucket.create --name a' | /usr/bin/weed shell\necho s3.bucket.create -name=b | weed shell\nweed shell <<< 's3.bucket.create -name c -withLock'";
        assert_eq!(seaweedfs_buckets(script), ["a", "b", "c"]);
        assert!(seaweedfs_buckets("s3.bucket.list").is_empty());
    }

    #[test]
    fn seaweedfs_actions_are_scoped_to_their_bucket() {
        let identity = serde_json::json!({"actions": ["Read:a", "Write:a", "List:a/logs/*", "Read", "Tagging:a"]});
        let g = seaweedfs_grants(&identity, "x");
        assert!(g.allows("a", Access::Write) && g.allows("a", Access::List));
        assert!(
            g.allows("b", Access::Read),
            "an unscoped Read reads every bucket"
        );
        assert!(!g.allows("b", Access::Write));
        let admin = seaweedfs_grants(&serde_json::json!({"actions": ["Admin"]}), "root");
        assert!(Access::ALL.iter().all(|a| admin.allows("any", *a)));
    }

    #[test]
    fn minio_policies_need_put_and_delete_to_write() {
        let doc = serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
             "Resource": ["arn:aws:s3:::a", "arn:aws:s3:::a/*"]},
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]});
        let g = minio_grants(&doc, "p");
        assert!(g.allows("a", Access::Read) && g.allows("a", Access::List));
        assert!(!g.allows("a", Access::Write), "no s3:DeleteObject");
        assert!(Access::ALL.iter().all(|x| g.allows("b", *x)));
        assert!(g.everywhere.is_empty(), "a Deny grants nothing");
    }

    /// A SeaweedFS store (identities Secret, the server that reads it, the bucket Job) and a
    /// Loki config with its credentials; `edit` changes the YAML before it is parsed.
    fn seaweedfs_findings(edit: &dyn Fn(String) -> String) -> Vec<Finding> {
        use base64::Engine as _;
        use kalypso_model::manifest::{Manifest, Source};
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let identities = r#"{"identities":[{"name":"loki","credentials":[{"accessKey":"loki","secretKey":"${KALYPSO_S3_SECRET_KEY_LOKI}"}],"actions":["Read:loki-chunks","Write:loki-chunks","List:loki-chunks"]},{"name":"tempo","credentials":[{"accessKey":"tempo","secretKey":"t"}],"actions":["Read:tempo-traces","Write:tempo-traces","List:tempo-traces"]}]}"#;
        let store = format!(
            r#"apiVersion: v1
kind: Secret
metadata: {{name: ids, namespace: minio}}
data: {{seaweedfs_s3_config: {ids}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: minio-user-loki, namespace: minio}}
data: {{secretKey: {loki}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: seaweedfs-all-in-one, namespace: minio}}
spec:
  template:
    spec:
      containers:
        - name: seaweedfs
          env:
            - name: KALYPSO_S3_SECRET_KEY_LOKI
              valueFrom: {{secretKeyRef: {{name: minio-user-loki, key: secretKey}}}}
      volumes: [{{name: config-s3-users, secret: {{secretName: ids}}}}]
---
apiVersion: batch/v1
kind: Job
metadata: {{name: kalypso-minio-bucket-hook, namespace: minio}}
spec:
  template:
    spec:
      containers:
        - name: post-install-job
          command: ["/bin/sh", "-ec", "echo 's3.bucket.create --name loki-chunks' | weed shell
echo 's3.bucket.create --name tempo-traces' | weed shell
"]
"#,
            ids = b64(identities),
            loki = b64("loki-secret"),
        );
        let backend = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: loki, namespace: loki}
data:
  config.yaml: |
    common:
      storage:
        s3: {bucketnames: loki-chunks, endpoint: "minio.minio.svc.cluster.local:9000", access_key_id: "${S3_ACCESS_KEY_ID}"}
---
apiVersion: v1
kind: Secret
metadata: {name: loki-s3-credentials, namespace: loki}
stringData: {S3_ACCESS_KEY_ID: loki, S3_SECRET_ACCESS_KEY: loki-secret}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: tempo, namespace: tempo}
data:
  tempo.yaml: |
    storage:
      trace:
        s3: {bucket: tempo-traces, endpoint: "minio.minio.svc.cluster.local:9000"}
"#
        .to_string();
        let sources = [
            ("kalypso-minio", "minio", store),
            ("kalypso-loki", "loki", backend),
        ]
        .map(|(component, ns, text)| Source {
            component: component.into(),
            origin: component.into(),
            default_namespace: ns.into(),
            text: edit(text),
        });
        let manifest = Manifest::from_sources(&sources).expect("fixture parses");
        let policy = crate::Policy::load(None, None).expect("policy");
        let charts = [];
        let ctx = Context::new(&manifest, &charts, &policy);
        let mut out = check_buckets(&ctx);
        out.extend(check_credentials(&ctx));
        out
    }

    fn messages(f: &[Finding]) -> Vec<String> {
        f.iter()
            .filter(|f| f.severity >= Severity::Info)
            .map(|f| format!("{} {}", f.rule, f.message))
            .collect()
    }

    #[test]
    fn a_seaweedfs_store_with_matching_buckets_identities_and_keys_is_clean() {
        assert_eq!(messages(&seaweedfs_findings(&|t| t)), Vec::<String>::new());
    }

    #[test]
    fn seaweedfs_provisioning_faults_are_each_named() {
        let cases: [(&str, &str, &str); 5] = [
            ("--name loki-chunks", "--name loki-chunkz", "bucket \"loki-chunks\" is not created by the object store"),
            ("loki-secret", "other-secret", "secret key for S3 user \"loki\" differs from the object store's (Secret minio/minio-user-loki key secretKey)"),
            ("name: KALYPSO_S3_SECRET_KEY_LOKI", "name: SOMETHING_ELSE", "not verified: no workload in minio that mounts Secret ids sets ${KALYPSO_S3_SECRET_KEY_LOKI}"),
            ("Write:loki-chunks", "Tagging:loki-chunks", "S3 user \"loki\" may not write bucket \"loki-chunks\""),
            ("\"List:loki-chunks\"", "\"List:loki-chunks\",\"Read:tempo-traces\"", "S3 user \"loki\" may also use other backends' buckets tempo-traces"),
        ];
        for (from, to, want) in cases {
            let f = seaweedfs_findings(&|t: String| {
                if t.contains(from) {
                    return t.replace(from, to);
                }
                // The identities are base64 inside the Secret.
                let ids = r#"{"identities":[{"name":"loki","credentials":[{"accessKey":"loki","secretKey":"${KALYPSO_S3_SECRET_KEY_LOKI}"}],"actions":["Read:loki-chunks","Write:loki-chunks","List:loki-chunks"]},{"name":"tempo","credentials":[{"accessKey":"tempo","secretKey":"t"}],"actions":["Read:tempo-traces","Write:tempo-traces","List:tempo-traces"]}]}"#;
                use base64::Engine as _;
                let e = base64::engine::general_purpose::STANDARD;
                t.replace(&e.encode(ids), &e.encode(ids.replace(from, to)))
            });
            let m = messages(&f);
            assert!(m.iter().any(|x| x.contains(want)), "{from} → {to}: {m:#?}");
        }
    }

    #[test]
    fn env_references_are_whole_values() {
        assert_eq!(
            env_reference("${KALYPSO_S3_SECRET_KEY_LOKI}"),
            Some("KALYPSO_S3_SECRET_KEY_LOKI")
        );
        assert_eq!(env_reference("pa${x}"), None);
        assert_eq!(env_reference("pa$$word"), None);
    }
}
