//! AWS Signature Version 4 for S3 requests without a body (what the storage check sends).
//!
//! Canonical request → string to sign → HMAC chain `AWS4<secret>`/date/region/service/
//! `aws4_request` → `Authorization` header. Tested against AWS's published S3 examples.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::payload::hex;

/// SHA-256 of the empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// An access key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
}

/// A request to sign: method, path, query pairs (unsorted, unencoded) and host (with port when
/// not the default).
#[derive(Debug, Clone)]
pub struct SignRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Absolute path, already URI-encoded as sent.
    pub path: &'a str,
    /// Query parameters.
    pub query: &'a [(&'a str, &'a str)],
    /// The Host header value.
    pub host: &'a str,
    /// Extra headers to sign (lower-case names), besides host and the x-amz ones.
    pub extra_headers: &'a [(&'a str, &'a str)],
}

/// The headers to add: `x-amz-date`, `x-amz-content-sha256` and `Authorization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `x-amz-date`.
    pub amz_date: String,
    /// `x-amz-content-sha256`.
    pub content_sha256: String,
    /// `Authorization`.
    pub authorization: String,
    /// The bare signature (hex).
    pub signature: String,
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters stay, everything else is `%XX`.
pub fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical query string: encoded pairs sorted by key, then value.
pub fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so construction cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Signs `req` at `amz_date` (`YYYYMMDDTHHMMSSZ`) for `region`/`service`.
pub fn sign(
    req: &SignRequest<'_>,
    creds: &Credentials,
    amz_date: &str,
    region: &str,
    service: &str,
) -> Signed {
    let date = &amz_date[..8.min(amz_date.len())];
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), req.host.trim().to_string()),
        ("x-amz-content-sha256".into(), EMPTY_SHA256.into()),
        ("x-amz-date".into(), amz_date.into()),
    ];
    headers.extend(
        req.extra_headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string())),
    );
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        req.path,
        canonical_query(req.query),
        canonical_headers,
        signed_headers,
        EMPTY_SHA256
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{}", creds.secret_key).as_bytes(), date);
    let k_region = hmac(&k_date, region);
    let k_service = hmac(&k_region, service);
    let k_signing = hmac(&k_service, "aws4_request");
    let signature = hex(&hmac(&k_signing, &string_to_sign));
    Signed {
        amz_date: amz_date.to_string(),
        content_sha256: EMPTY_SHA256.into(),
        authorization: format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders={signed_headers},Signature={signature}",
            creds.access_key
        ),
        signature,
    }
}

/// `YYYYMMDDTHHMMSSZ` for seconds since the epoch (UTC, proleptic Gregorian).
pub fn amz_date(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws_example() -> Credentials {
        Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        }
    }

    // AWS S3 API reference, "Signature Calculations for the Authorization Header", examples.
    #[test]
    fn the_aws_get_object_example_signs_identically() {
        let req = SignRequest {
            method: "GET",
            path: "/test.txt",
            query: &[],
            host: "examplebucket.s3.amazonaws.com",
            extra_headers: &[("range", "bytes=0-9")],
        };
        let s = sign(&req, &aws_example(), "20130524T000000Z", "us-east-1", "s3");
        assert_eq!(
            s.signature,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert_eq!(
            s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn the_aws_list_objects_example_sorts_the_query() {
        let req = SignRequest {
            method: "GET",
            path: "/",
            query: &[("prefix", "J"), ("max-keys", "2")],
            host: "examplebucket.s3.amazonaws.com",
            extra_headers: &[],
        };
        let s = sign(&req, &aws_example(), "20130524T000000Z", "us-east-1", "s3");
        assert_eq!(
            s.signature,
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    #[test]
    fn the_aws_lifecycle_example_keeps_an_empty_value() {
        let req = SignRequest {
            method: "GET",
            path: "/",
            query: &[("lifecycle", "")],
            host: "examplebucket.s3.amazonaws.com",
            extra_headers: &[],
        };
        let s = sign(&req, &aws_example(), "20130524T000000Z", "us-east-1", "s3");
        assert_eq!(
            s.signature,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
    }

    #[test]
    fn dates_are_formatted_in_utc() {
        assert_eq!(amz_date(1_369_353_600), "20130524T000000Z");
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(951_782_400 + 3661), "20000229T010101Z");
    }
}
