//! `wiring/bucket` and `wiring/credentials`: the buckets backends are configured with are
//! created by the object store, and each backend's S3 access key is an object-store user with
//! the same secret key.
//!
//! The object store is recognised by what the MinIO chart renders: a ConfigMap whose scripts
//! call `createBucket <name> …` (buckets) and, per user, `echo <accessKey> > $MINIO_ACCESSKEY…`
//! followed by `cat /config/secrets/<secret>/<key> >> …` or `echo <secretKey> >> …` and
//! `createUser <policy>` (users). When the object store's chart or a backend's chart is a
//! stand-in, the buckets in the values it would have received are compared instead
//! ([`super::stand_in_values`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::context::{decode_base64, Context};
use super::finding::{Finding, Severity};
use super::stand_in_values;
use crate::manifest::walk::{self, join};
use crate::manifest::{Object, ObjectRef};

/// Rule id for buckets.
pub(crate) const BUCKET_RULE: &str = "wiring/bucket";
/// Rule id for S3 credentials.
pub(crate) const CREDENTIALS_RULE: &str = "wiring/credentials";

/// Keys backends name their buckets with (Mimir/Pyroscope `bucket_name`, Tempo `bucket`,
/// Loki `bucketnames`, comma-separated).
pub(crate) const BUCKET_KEYS: &[&str] = &[
    "bucket_name",
    "bucket",
    "bucketnames",
    "bucketName",
    "bucketNames",
];

/// Where an object-store user's secret key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SecretSource {
    /// A key of a Secret in the object store's namespace.
    SecretKey { secret: String, key: String },
    /// Written inline in the script.
    Inline(String),
}

/// What the object store creates.
#[derive(Debug, Default, Clone)]
pub(crate) struct ObjectStore {
    /// Namespace of the object store.
    pub namespace: String,
    pub buckets: BTreeSet<String>,
    /// Access key → secret key source.
    pub users: BTreeMap<String, SecretSource>,
}

/// Parses the bucket and user scripts of every ConfigMap that has them.
pub(crate) fn object_stores(ctx: &Context) -> Vec<ObjectStore> {
    let mut stores: BTreeMap<String, ObjectStore> = BTreeMap::new();
    for cm in ctx.manifest.of_kind("ConfigMap") {
        let Some(data) = cm.body["data"].as_object() else {
            continue;
        };
        let ns = cm.namespace.clone().unwrap_or_default();
        for text in data.values().filter_map(Value::as_str) {
            if !text.contains("createBucket") && !text.contains("createUser") {
                continue;
            }
            let store = stores.entry(ns.clone()).or_insert_with(|| ObjectStore {
                namespace: ns.clone(),
                ..Default::default()
            });
            parse_script(text, store);
        }
    }
    stores.into_values().collect()
}

fn parse_script(text: &str, store: &mut ObjectStore) {
    let mut access: Option<String> = None;
    let mut secret: Option<SecretSource> = None;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["createBucket", name, ..] => {
                store.buckets.insert(unquote(name));
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
            ["createUser", ..] => {
                if let (Some(a), Some(s)) = (access.take(), secret.take()) {
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
pub(crate) fn secret_value(secret: &Object, key: &str) -> Option<String> {
    if let Some(v) = secret.body["stringData"][key].as_str() {
        return Some(v.to_string());
    }
    secret.body["data"][key].as_str().and_then(decode_base64)
}

/// Checks bucket names against the object store.
pub(crate) fn check_buckets(ctx: &Context) -> Vec<Finding> {
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
        let mut found: Vec<(String, String)> = Vec::new();
        walk::maps(&cfg.value, "", &mut |path, map| {
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
        for (path, bucket) in found {
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
pub(crate) fn check_credentials(ctx: &Context) -> Vec<Finding> {
    let stores = object_stores(ctx);
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
        parse_script(
            "createBucket mimir-blocks \"none\" false false false\ncreateBucket tempo-traces none false\necho mimir > $MINIO_ACCESSKEY_SECRETKEY_TMP\ncat /config/secrets/minio-user-mimir/secretKey >> $MINIO_ACCESSKEY_SECRETKEY_TMP\necho >> $MINIO_ACCESSKEY_SECRETKEY_TMP\ncreateUser kalypso-mimir\necho loki > $MINIO_ACCESSKEY_SECRETKEY_TMP\necho s3cr3t >> $MINIO_ACCESSKEY_SECRETKEY_TMP\ncreateUser kalypso-loki\n",
            &mut s,
        );
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
}
