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
            url: url.to_string(),
            detail: format!("not JSON ({e}): {}", excerpt(&self.body)),
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

    /// Sends a request and reads the body; any non-2xx status is a [`Failure::Http`].
    pub async fn send(&self, url: &Url, rb: RequestBuilder) -> Result<Answer, Failure> {
        let shown = display_url(url);
        let resp = rb
            .send()
            .await
            .map_err(|e| self.transport_failure(&shown, e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.transport_failure(&shown, e))?
            .to_vec();
        if !(200..300).contains(&status) {
            return Err(Failure::Http {
                url: shown,
                status,
                body: excerpt(&body),
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
        Failure::Unreachable {
            url: url.to_string(),
            detail: chain(&e),
        }
    }
}

/// The URL without its query string (queries carry long, escaped selectors).
pub fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
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
}
