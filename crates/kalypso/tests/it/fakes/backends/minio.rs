//! The fake MinIO.

use super::*;

/// A MinIO user: access key, secret, buckets its policy allows.
#[derive(Debug, Clone)]
pub struct S3User {
    pub access: String,
    pub secret: String,
    pub buckets: Vec<String>,
}

#[derive(Clone)]
struct S3State {
    users: Vec<S3User>,
    buckets: Vec<String>,
}

/// The kalypso dev users (access key = backend, `<backend>-dev-secret-change-me`).
pub fn kalypso_users() -> Vec<S3User> {
    let owned: &[(&str, &[&str])] = &[
        (
            "mimir",
            &["mimir-blocks", "mimir-ruler", "mimir-alertmanager"],
        ),
        ("tempo", &["tempo-traces"]),
        ("loki", &["loki-chunks", "loki-ruler"]),
        ("pyroscope", &["pyroscope-data"]),
    ];
    owned
        .iter()
        .map(|(b, bs)| S3User {
            access: b.to_string(),
            secret: format!("{b}-dev-secret-change-me"),
            buckets: bs.iter().map(|s| s.to_string()).collect(),
        })
        .collect()
}

/// Every kalypso bucket.
pub fn kalypso_buckets() -> Vec<String> {
    kalypso_users()
        .into_iter()
        .flat_map(|u| u.buckets)
        .collect()
}

/// A fake MinIO S3 API that verifies SigV4 and enforces per-user bucket policies.
pub async fn minio(users: Vec<S3User>, buckets: Vec<String>) -> SocketAddr {
    let state = Arc::new(S3State { users, buckets });
    let router = Router::new()
        .route("/{bucket}", get(s3_list))
        .with_state(state);
    serve(router).await
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, [("Content-Type", "application/xml")], body).into_response()
}

async fn s3_list(
    State(s): State<Arc<S3State>>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    use kalypso::verify::sigv4::{sign, Credentials, SignRequest};
    let auth = header(&h, "Authorization").unwrap_or("");
    let Some(access) = auth
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').next())
    else {
        return s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied.");
    };
    let Some(user) = s.users.iter().find(|u| u.access == access) else {
        return s3_error(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The Access Key Id you provided does not exist in our records.",
        );
    };
    let amz_date = header(&h, "x-amz-date").unwrap_or("");
    let host = header(&h, "host").unwrap_or("");
    let query: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let path = format!("/{bucket}");
    let req = SignRequest {
        method: "GET",
        path: &path,
        query: &query,
        host,
        extra_headers: &[],
    };
    let creds = Credentials {
        access_key: user.access.clone(),
        secret_key: user.secret.clone(),
    };
    let expected = sign(&req, &creds, amz_date, "us-east-1", "s3");
    if expected.authorization != auth {
        return s3_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    if !s.buckets.contains(&bucket) {
        return s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        );
    }
    if !user.buckets.contains(&bucket) {
        return s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied.");
    }
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{bucket}</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>"
    );
    (StatusCode::OK, [("Content-Type", "application/xml")], body).into_response()
}
