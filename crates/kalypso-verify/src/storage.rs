//! Storage: each backend's MinIO user can list its own buckets (which proves they exist) and is
//! refused another backend's bucket, with S3 `ListObjectsV2` (`GET /<bucket>?list-type=2`,
//! path-style, SigV4-signed).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use reqwest::Url;

use super::http::{display_url, Http};
use super::probe::{excerpt, CheckResult, Failure};
use super::sigv4::{self, Credentials, SignRequest};
use super::Signal;
use kalypso_model::contract::Contract;

/// The S3 region MinIO answers for by default.
pub const REGION: &str = "us-east-1";

/// A backend with object storage, from the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Its short name, as `--s3-credentials` and the report use it (`mimir` for kalypso-mimir).
    pub name: String,
    /// Its namespace (where its credentials Secret is).
    pub namespace: String,
    /// Its credentials Secret.
    pub secret: String,
    /// Its buckets.
    pub buckets: Vec<String>,
}

/// Where the storage checks run, and with whose keys.
#[derive(Debug, Clone)]
pub struct StorageTarget {
    /// S3 endpoint (`http://minio.minio.svc.cluster.local:9000`).
    pub url: Url,
    /// Credentials per backend name.
    pub credentials: Vec<(String, Credentials)>,
    /// Backends to check (every one of the contract unless only some were given credentials).
    pub backends: Vec<Backend>,
    /// What to show as the target.
    pub shown: String,
}

impl StorageTarget {
    /// Every backend with object storage in the contract, in name order.
    pub fn backends(contract: &Contract) -> Vec<Backend> {
        contract
            .storage()
            .map(|(component, namespace, s)| Backend {
                name: short_name(component).to_string(),
                namespace: namespace.to_string(),
                secret: s.secret.clone(),
                buckets: s.buckets.values().cloned().collect(),
            })
            .collect()
    }
}

/// `mimir` for `kalypso-mimir`: how `--only` and `--s3-credentials` name a component.
pub fn short_name(component: &str) -> &str {
    component.strip_prefix("kalypso-").unwrap_or(component)
}

/// How one ListObjectsV2 went.
#[derive(Debug, PartialEq)]
pub enum Listing {
    /// 200 and a `ListBucketResult`.
    Allowed,
    /// 403 `AccessDenied`.
    Denied,
    /// 404 `NoSuchBucket`.
    NoSuchBucket,
}

/// A bucket another backend owns, which `backend` must not list.
pub fn foreign_bucket<'a>(backends: &'a [Backend], backend: &str) -> Option<&'a str> {
    let i = backends.iter().position(|b| b.name == backend)?;
    backends
        .iter()
        .cycle()
        .skip(i + 1)
        .take(backends.len() - 1)
        .find_map(|b| b.buckets.first().map(String::as_str))
}

/// Runs every storage check; one row per (backend, bucket).
pub async fn run(http: &Http, target: &StorageTarget) -> Vec<CheckResult> {
    let mut rows = Vec::new();
    for b in &target.backends {
        let backend = &b.name;
        let Some((_, creds)) = target.credentials.iter().find(|(name, _)| name == backend) else {
            let f = Failure::setup(format!("no S3 credentials for backend {backend}"));
            rows.push(CheckResult::fail(
                Signal::Storage,
                format!("storage/{backend}"),
                &target.shown,
                &f,
            ));
            continue;
        };
        for bucket in &b.buckets {
            let started = Instant::now();
            let check = format!("storage/{backend} lists {bucket}");
            let row = match list(http, target, creds, bucket).await {
                Ok(Listing::Allowed) => {
                    CheckResult::pass(Signal::Storage, check, &target.shown, started.elapsed())
                }
                Ok(Listing::NoSuchBucket) => {
                    let f = Failure::mismatch(format!("bucket {bucket} to exist"), "NoSuchBucket");
                    CheckResult::fail(Signal::Storage, check, &target.shown, &f)
                }
                Ok(Listing::Denied) => {
                    let f = Failure::mismatch(
                        format!("user {} to list its own bucket {bucket}", creds.access_key),
                        "AccessDenied (check the kalypso-minio policy and the user's secret key)",
                    );
                    CheckResult::fail(Signal::Storage, check, &target.shown, &f)
                }
                Err(f) => CheckResult::fail(Signal::Storage, check, &target.shown, &f),
            };
            rows.push(row);
        }
        if let Some(other) = foreign_bucket(&target.backends, backend) {
            let started = Instant::now();
            let check = format!("storage/{backend} denied {other}");
            let row = match list(http, target, creds, other).await {
                Ok(Listing::Denied) => {
                    CheckResult::pass(Signal::Storage, check, &target.shown, started.elapsed())
                }
                Ok(Listing::Allowed) => {
                    let f = Failure::mismatch(
                        format!("AccessDenied for user {} on {other}", creds.access_key),
                        "a listing: the policy is too broad",
                    );
                    CheckResult::fail(Signal::Storage, check, &target.shown, &f)
                }
                Ok(Listing::NoSuchBucket) => {
                    let f = Failure::mismatch(
                        format!("AccessDenied on {other}"),
                        "NoSuchBucket (the bucket is missing)",
                    );
                    CheckResult::fail(Signal::Storage, check, &target.shown, &f)
                }
                Err(f) => CheckResult::fail(Signal::Storage, check, &target.shown, &f),
            };
            rows.push(row);
        }
    }
    rows
}

/// One signed `ListObjectsV2` of at most one key.
pub async fn list(
    http: &Http,
    target: &StorageTarget,
    creds: &Credentials,
    bucket: &str,
) -> Result<Listing, Failure> {
    let mut url = target.url.clone();
    url.set_path(&format!("/{bucket}"));
    url.set_query(Some("list-type=2&max-keys=1"));
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return Err(Failure::setup(format!("S3 URL {} has no host", target.url))),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let path = format!("/{bucket}");
    let req = SignRequest {
        method: "GET",
        path: &path,
        query: &[("list-type", "2"), ("max-keys", "1")],
        host: &host,
        extra_headers: &[],
    };
    let signed = sigv4::sign(&req, creds, &sigv4::amz_date(now), REGION, "s3");
    let rb = http
        .client()
        .get(url.clone())
        .header("x-amz-date", &signed.amz_date)
        .header("x-amz-content-sha256", &signed.content_sha256)
        .header("Authorization", &signed.authorization);
    match http.send(&url, rb).await {
        Ok(answer) => {
            let body = String::from_utf8_lossy(&answer.body);
            if body.contains("<ListBucketResult") {
                Ok(Listing::Allowed)
            } else {
                Err(Failure::BadResponse {
                    url: display_url(&url),
                    detail: format!("no ListBucketResult: {}", excerpt(&answer.body)),
                })
            }
        }
        Err(Failure::Http {
            status: 403, body, ..
        }) if body.contains("AccessDenied") => Ok(Listing::Denied),
        Err(Failure::Http {
            status: 404, body, ..
        }) if body.contains("NoSuchBucket") => Ok(Listing::NoSuchBucket),
        Err(f) => Err(f),
    }
}

/// Parses `backend=access:secret` (the backend as named in the report: `mimir`, `loki`, …;
/// whether it exists is checked against the contract when the run starts).
pub fn parse_credentials(s: &str) -> Result<(String, Credentials), String> {
    let (backend, keys) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected backend=access:secret"))?;
    let (access, secret) = keys
        .split_once(':')
        .ok_or_else(|| format!("{s:?}: expected backend=access:secret"))?;
    if backend.is_empty() || access.is_empty() || secret.is_empty() {
        return Err(format!(
            "{s:?}: backend, access key and secret must not be empty"
        ));
    }
    Ok((
        short_name(backend).to_string(),
        Credentials {
            access_key: access.into(),
            secret_key: secret.into(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(name: &str, bucket: &str) -> Backend {
        Backend {
            name: name.into(),
            namespace: name.into(),
            secret: format!("{name}-s3"),
            buckets: vec![bucket.into()],
        }
    }

    #[test]
    fn each_backend_is_checked_against_the_next_ones_bucket() {
        let all = [
            backend("a", "a-1"),
            backend("b", "b-1"),
            backend("c", "c-1"),
        ];
        assert_eq!(foreign_bucket(&all, "a"), Some("b-1"));
        assert_eq!(foreign_bucket(&all, "c"), Some("a-1"));
        assert_eq!(foreign_bucket(&all, "nope"), None);
        assert_eq!(foreign_bucket(&all[..1], "a"), None, "no other backend");
    }

    #[test]
    fn the_contracts_backends_are_the_ones_with_storage() {
        let c = Contract::load_or_embedded(None).unwrap();
        let names: Vec<String> = StorageTarget::backends(&c)
            .into_iter()
            .map(|b| b.name)
            .collect();
        assert!(
            names.len() >= 4 && names.iter().all(|n| !n.starts_with("kalypso-")),
            "{names:?}"
        );
    }

    #[test]
    fn credentials_are_parsed_from_the_flag() {
        let (b, c) = parse_credentials("loki=loki:loki-dev-secret-change-me").expect("parse");
        assert_eq!(b, "loki");
        assert_eq!(c.secret_key, "loki-dev-secret-change-me");
        assert!(parse_credentials("loki").is_err());
        assert_eq!(parse_credentials("kalypso-loki=a:b").unwrap().0, "loki");
        assert!(parse_credentials("loki=a:").is_err());
    }
}
