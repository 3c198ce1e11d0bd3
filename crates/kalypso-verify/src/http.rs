//! The HTTP client the probes share, and the one place that turns transport errors and
//! non-2xx answers into a [`Failure`].

use std::sync::Once;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Client, RequestBuilder, Url};

use super::probe::{excerpt, Failure};
use kalypso_model::error::chain;

/// Header Mimir and Loki read the tenant from.
pub const TENANT_HEADER: &str = "X-Scope-OrgID";

/// A successful (2xx) answer, read whole.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON, or a [`Failure::BadResponse`] naming the URL.
    pub fn json(&self, url: &Url) -> Result<serde_json::Value, Failure> {
        serde_json::from_slice(&self.body).map_err(|e| Failure::BadResponse {
            url: display_url(url),
            detail: format!("not JSON ({e}): {}", scrub(&excerpt(&self.body), url)),
        })
    }
}

/// An HTTP client with a per-request timeout.
#[derive(Debug, Clone)]
pub struct Http {
    client: Client,
    request_timeout: Duration,
}

static CRYPTO: Once = Once::new();

impl Http {
    /// Builds a client; `request_timeout` bounds every single request.
    pub fn new(request_timeout: Duration) -> Result<Http, Failure> {
        // reqwest is built without a default TLS provider: install ring once per process.
        CRYPTO.call_once(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let client = Client::builder()
            .timeout(request_timeout)
            .connect_timeout(request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("kalypso/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure::setup(format!("cannot build the HTTP client: {e}")))?;
        Ok(Http {
            client,
            request_timeout,
        })
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A POST of an encoded OTLP protobuf message, as every OTLP/HTTP receiver takes it.
    pub fn otlp_post(&self, url: &Url, body: Vec<u8>) -> RequestBuilder {
        self.client
            .post(url.clone())
            .header("Content-Type", "application/x-protobuf")
            .body(body)
    }

    /// Adds `X-Scope-OrgID` when `tenant` is set and not empty.
    pub fn with_tenant(&self, rb: RequestBuilder, tenant: &str) -> RequestBuilder {
        if tenant.is_empty() {
            rb
        } else {
            rb.header(TENANT_HEADER, tenant)
        }
    }

    /// Sends a request and reads the body; any non-2xx status is a [`Failure::Http`]. Each
    /// request is logged at info (`-v`): method, URL as [`display_url`] shows it, status, time.
    pub async fn send(&self, url: &Url, rb: RequestBuilder) -> Result<Answer, Failure> {
        let shown = display_url(url);
        let started = std::time::Instant::now();
        let (client, request) = rb.build_split();
        let request =
            request.map_err(|e| Failure::setup(format!("{shown}: {}", chain(&e.without_url()))))?;
        let method = request.method().clone();
        let took = |started: std::time::Instant| started.elapsed().as_millis();
        let resp = match client.execute(request).await {
            Ok(r) => r,
            Err(e) => {
                let f = self.transport_failure(&shown, e);
                tracing::info!("{method} {shown}: {f} after {} ms", took(started));
                return Err(f);
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.transport_failure(&shown, e))?
            .to_vec();
        tracing::info!("{method} {shown}: HTTP {status} in {} ms", took(started));
        if !(200..300).contains(&status) {
            return Err(Failure::Http {
                url: shown,
                status,
                body: scrub(&excerpt(&body), url),
            });
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    fn transport_failure(&self, url: &str, e: reqwest::Error) -> Failure {
        if e.is_timeout() {
            return Failure::RequestTimeout {
                url: url.to_string(),
                after: self.request_timeout,
            };
        }
        // reqwest's own text names the full URL, password and query included: drop it.
        Failure::Unreachable {
            url: url.to_string(),
            detail: chain(&e.without_url()),
        }
    }
}

/// The only way verify and the canary show a URL (report, JSON, errors, logs): the password
/// replaced by `***`, no query string (queries carry tokens, and long escaped selectors) and no
/// fragment.
pub fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    if u.password().is_some() {
        // Only fails for URLs that cannot have userinfo, which have no password either.
        let _ = u.set_password(Some("***"));
    }
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// `text` with every secret `url` carries (its password, its query values) replaced by `***`,
/// for server answers that echo the request back.
pub fn scrub(text: &str, url: &Url) -> String {
    let mut secrets: Vec<String> = Vec::new();
    if let Some(p) = url.password() {
        secrets.push(p.to_string());
        if let Ok(decoded) = percent_encoding::percent_decode_str(p).decode_utf8() {
            secrets.push(decoded.into_owned());
        }
    }
    if let Some(q) = url.query() {
        secrets.push(q.to_string());
    }
    secrets.extend(url.query_pairs().map(|(_, v)| v.into_owned()));
    secrets.retain(|s| s.len() >= 3);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in &secrets {
        out = out.replace(s.as_str(), "***");
    }
    out
}

/// Joins `path` onto a base URL, keeping the base's own path (`/prometheus` + `/api/v1/query`).
pub fn join(base: &Url, path: &str) -> Url {
    let mut u = base.clone();
    let joined = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    u.set_path(&joined);
    u.set_query(None);
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joining_keeps_the_base_path() {
        let base = Url::parse("http://mimir/prometheus/").expect("url");
        assert_eq!(
            join(&base, "/api/v1/query").as_str(),
            "http://mimir/prometheus/api/v1/query"
        );
        let base = Url::parse("http://tempo:3100").expect("url");
        assert_eq!(
            join(&base, "api/traces/ab").as_str(),
            "http://tempo:3100/api/traces/ab"
        );
    }

    #[test]
    fn shown_urls_carry_no_password_and_no_query() {
        let u = Url::parse("http://user:s%40cret@mimir:8080/api/v1/push?token=abc#x").expect("url");
        assert_eq!(display_url(&u), "http://user:***@mimir:8080/api/v1/push");
        assert_eq!(
            scrub("GET /api/v1/push?token=abc by user:s@cret", &u),
            "GET /api/v1/push?*** by user:***"
        );
    }
}
