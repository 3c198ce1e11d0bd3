//! Storage: each backend's MinIO user can list its own buckets (which proves they exist) and is
//! refused another backend's bucket, with S3 `ListObjectsV2` (`GET /<bucket>?list-type=2`,
//! path-style, SigV4-signed).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use reqwest::Url;

use super::http::{display_url, Http};
use super::probe::{excerpt, CheckResult, Failure};
use super::sigv4::{self, Credentials, SignRequest};
use super::Signal;

/// The buckets each backend owns (kalypso-minio creates them; each backend's policy allows only these).
pub const BACKEND_BUCKETS: &[(&str, &[&str])] = &[
    (
        "mimir",
        &["mimir-blocks", "mimir-ruler", "mimir-alertmanager"],
    ),
    ("tempo", &["tempo-traces"]),
    ("loki", &["loki-chunks", "loki-ruler"]),
    ("pyroscope", &["pyroscope-data"]),
];

/// The S3 region MinIO answers for by default.
pub const REGION: &str = "us-east-1";

/// Where the storage checks run, and with whose keys.
#[derive(Debug, Clone)]
pub struct StorageTarget {
    /// S3 endpoint (`http://minio.minio.svc.cluster.local:9000`).
    pub url: Url,
    /// Credentials per backend name.
    pub credentials: Vec<(String, Credentials)>,
    /// Backends to check (all four unless only some were given credentials explicitly).
    pub backends: Vec<String>,
    /// What to show as the target.
    pub shown: String,
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

/// The bucket another backend owns that `backend` must not list.
pub fn foreign_bucket(backend: &str) -> Option<&'static str> {
    let i = BACKEND_BUCKETS.iter().position(|(b, _)| *b == backend)?;
    BACKEND_BUCKETS[(i + 1) % BACKEND_BUCKETS.len()]
        .1
        .first()
        .copied()
}

/// Runs every storage check; one row per (backend, bucket).
pub async fn run(http: &Http, target: &StorageTarget) -> Vec<CheckResult> {
    let mut rows = Vec::new();
    for (backend, buckets) in BACKEND_BUCKETS
        .iter()
        .filter(|(b, _)| target.backends.iter().any(|x| x == b))
    {
        let Some((_, creds)) = target.credentials.iter().find(|(b, _)| b == backend) else {
            let f = Failure::setup(format!("no S3 credentials for backend {backend}"));
            rows.push(CheckResult::fail(
                Signal::Storage,
                format!("storage/{backend}"),
                &target.shown,
                &f,
            ));
            continue;
        };
        for bucket in *buckets {
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
        if let Some(other) = foreign_bucket(backend) {
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

/// Parses `backend=access:secret`.
pub fn parse_credentials(s: &str) -> Result<(String, Credentials), String> {
    let (backend, keys) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected backend=access:secret"))?;
    let (access, secret) = keys
        .split_once(':')
        .ok_or_else(|| format!("{s:?}: expected backend=access:secret"))?;
    if !BACKEND_BUCKETS.iter().any(|(b, _)| *b == backend) {
        let known: Vec<&str> = BACKEND_BUCKETS.iter().map(|(b, _)| *b).collect();
        return Err(format!(
            "{s:?}: unknown backend {backend:?} (known: {})",
            known.join(", ")
        ));
    }
    if access.is_empty() || secret.is_empty() {
        return Err(format!("{s:?}: access key and secret must not be empty"));
    }
    Ok((
        backend.to_string(),
        Credentials {
            access_key: access.into(),
            secret_key: secret.into(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_is_checked_against_the_next_ones_bucket() {
        assert_eq!(foreign_bucket("mimir"), Some("tempo-traces"));
        assert_eq!(foreign_bucket("pyroscope"), Some("mimir-blocks"));
        assert_eq!(foreign_bucket("nope"), None);
    }

    #[test]
    fn credentials_are_parsed_from_the_flag() {
        let (b, c) = parse_credentials("loki=loki:loki-dev-secret-change-me").expect("parse");
        assert_eq!(b, "loki");
        assert_eq!(c.secret_key, "loki-dev-secret-change-me");
        assert!(parse_credentials("loki").is_err());
        assert!(parse_credentials("cortex=a:b").is_err());
        assert!(parse_credentials("loki=a:").is_err());
    }
}
