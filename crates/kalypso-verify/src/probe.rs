//! What a check found: [`Failure`] (why it failed, precisely), [`CheckResult`] (one table row),
//! and [`poll_until`], which retries a read until it succeeds or the deadline passes.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Signal;

/// Longest body excerpt a failure quotes.
pub const EXCERPT_CHARS: usize = 200;

/// Why one check failed. The text names what was expected and what came back.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Nothing listens there (connection refused, DNS, TLS, reset).
    Unreachable { url: String, detail: String },
    /// A single request got no answer in time.
    RequestTimeout { url: String, after: Duration },
    /// The server answered with a non-2xx status.
    Http {
        url: String,
        status: u16,
        body: String,
    },
    /// The server answered, but the content is not what was written.
    Mismatch { expected: String, got: String },
    /// The server answered, but what was written is not there (yet).
    Missing { detail: String },
    /// The answer could not be parsed.
    BadResponse { url: String, detail: String },
    /// The read deadline passed; `last` is the last answer seen.
    Deadline { after: Duration, last: Box<Failure> },
    /// An answer that is the API's normal "not there yet" (Tempo's 404 for a trace it has not
    /// ingested): shown as the answer itself, and retried.
    NotYet(Box<Failure>),
    /// The check could not start (no endpoint, no credentials, port-forward failed).
    Setup { detail: String },
    /// Not attempted because an earlier step failed.
    Skipped { reason: String },
}

impl Failure {
    /// Whether a later read might succeed: data not there yet, overload, a flaky gateway.
    /// Auth errors, bad requests, unreachable endpoints and a 404 (a wrong URL or path: the
    /// query APIs answer "no data yet" with 200, and a signal whose API answers 404 for "not
    /// yet" says so with [`Failure::NotYet`]) do not heal by waiting.
    pub fn retryable(&self) -> bool {
        match self {
            Failure::Http { status, .. } => matches!(status, 408 | 425 | 429 | 500..=599),
            Failure::Missing { .. }
            | Failure::Mismatch { .. }
            | Failure::RequestTimeout { .. }
            | Failure::NotYet(_) => true,
            Failure::BadResponse { .. } => true,
            _ => false,
        }
    }

    /// Shorthand for [`Failure::Setup`].
    pub fn setup(detail: impl Into<String>) -> Failure {
        Failure::Setup {
            detail: detail.into(),
        }
    }

    /// Shorthand for [`Failure::Missing`].
    pub fn missing(detail: impl Into<String>) -> Failure {
        Failure::Missing {
            detail: detail.into(),
        }
    }

    /// Shorthand for [`Failure::Mismatch`].
    pub fn mismatch(expected: impl Into<String>, got: impl Into<String>) -> Failure {
        Failure::Mismatch {
            expected: expected.into(),
            got: got.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Unreachable { url, detail } => write!(f, "unreachable: {url}: {detail}"),
            Failure::RequestTimeout { url, after } => {
                write!(f, "timeout: no answer from {url} within {}", secs(*after))
            }
            Failure::Http { url, status, body } => {
                let reason = http_reason(*status);
                if body.is_empty() {
                    write!(f, "HTTP {status}{reason} from {url}")
                } else {
                    write!(f, "HTTP {status}{reason} from {url}: {body}")
                }
            }
            Failure::Mismatch { expected, got } => {
                write!(f, "content mismatch: expected {expected}, got {got}")
            }
            Failure::Missing { detail } => write!(f, "not found: {detail}"),
            Failure::BadResponse { url, detail } => {
                write!(f, "unexpected answer from {url}: {detail}")
            }
            Failure::Deadline { after, last } => match last.as_ref() {
                Failure::Mismatch { .. } => write!(f, "{last} (still after {})", secs(*after)),
                _ => write!(
                    f,
                    "timeout: not readable within {}; last answer: {last}",
                    secs(*after)
                ),
            },
            Failure::NotYet(answer) => write!(f, "{answer}"),
            Failure::Setup { detail } => f.write_str(detail),
            Failure::Skipped { reason } => write!(f, "skipped: {reason}"),
        }
    }
}

fn http_reason(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(r) => format!(" {r}"),
        None => String::new(),
    }
}

fn secs(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
}

/// Cuts a response body to one line of at most [`EXCERPT_CHARS`] characters.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= EXCERPT_CHARS {
        flat
    } else {
        let cut: String = flat.chars().take(EXCERPT_CHARS - 1).collect();
        format!("{cut}…")
    }
}

/// Whether a check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It worked and the content matched.
    Pass,
    /// It did not; see the reason.
    Fail,
    /// Not attempted because an earlier step failed (that step's row fails the run).
    Skip,
}

impl Status {
    /// As a [`Severity`](kalypso_model::outcome::Severity): a pass is ok, a skip (not attempted
    /// because an earlier step failed, which is reported itself) is info, a failure an error.
    pub fn severity(self) -> kalypso_model::outcome::Severity {
        match self {
            Status::Pass => kalypso_model::outcome::Severity::Ok,
            Status::Skip => kalypso_model::outcome::Severity::Info,
            Status::Fail => kalypso_model::outcome::Severity::Error,
        }
    }
}

/// One row of the verify report.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Stable check id, e.g. `metrics/read`.
    pub check: String,
    /// The signal it belongs to.
    pub signal: Signal,
    /// What was talked to (URL, or Service when port-forwarded).
    pub target: String,
    /// Pass, fail or skip.
    pub status: Status,
    /// Write-to-readable latency for reads, request latency otherwise.
    #[serde(rename = "latency_ms", serialize_with = "ser_latency")]
    pub latency: Option<Duration>,
    /// Why it failed.
    pub reason: Option<String>,
}

fn ser_latency<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_millis() as u64)),
        None => s.serialize_none(),
    }
}

impl CheckResult {
    /// A passed check.
    pub fn pass(
        signal: Signal,
        check: impl Into<String>,
        target: impl Into<String>,
        latency: Duration,
    ) -> Self {
        CheckResult {
            check: check.into(),
            signal,
            target: target.into(),
            status: Status::Pass,
            latency: Some(latency),
            reason: None,
        }
    }

    /// A failed (or skipped) check.
    pub fn fail(
        signal: Signal,
        check: impl Into<String>,
        target: impl Into<String>,
        failure: &Failure,
    ) -> Self {
        let status = if matches!(failure, Failure::Skipped { .. }) {
            Status::Skip
        } else {
            Status::Fail
        };
        CheckResult {
            check: check.into(),
            signal,
            target: target.into(),
            status,
            latency: None,
            reason: Some(failure.to_string()),
        }
    }

    /// A check from a result and the time it took.
    pub fn from_result(
        signal: Signal,
        check: impl Into<String>,
        target: impl Into<String>,
        result: &Result<Duration, Failure>,
    ) -> Self {
        match result {
            Ok(latency) => CheckResult::pass(signal, check, target, *latency),
            Err(f) => CheckResult::fail(signal, check, target, f),
        }
    }

    /// True when the check passed.
    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }
}

/// Retries `attempt` until it returns Ok, a non-retryable failure, or `deadline` passes; the
/// last attempt happens at the deadline. Each attempt is bounded by the HTTP client's request
/// timeout. The wait between attempts grows from 250 ms to 2 s.
pub async fn poll_until<T, F, Fut>(
    started: Instant,
    deadline: Instant,
    mut attempt: F,
) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut wait = Duration::from_millis(250);
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(f) if !f.retryable() => return Err(f),
            Err(f) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(Failure::Deadline {
                        after: deadline - started,
                        last: Box::new(f),
                    });
                }
                tokio::time::sleep(wait.min(deadline - now)).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_one_line_of_at_most_200_chars() {
        assert_eq!(excerpt(b"  no org id\n"), "no org id");
        let long = "x".repeat(500);
        let e = excerpt(long.as_bytes());
        assert_eq!(e.chars().count(), EXCERPT_CHARS);
        assert!(e.ends_with('…'));
    }

    #[test]
    fn failures_say_what_happened() {
        let f = Failure::Http {
            url: "http://m/api/v1/push".into(),
            status: 401,
            body: "no org id".into(),
        };
        assert_eq!(
            f.to_string(),
            "HTTP 401 Unauthorized from http://m/api/v1/push: no org id"
        );
        assert!(!f.retryable());
        let d = Failure::Deadline {
            after: Duration::from_secs(60),
            last: Box::new(Failure::mismatch("value 1.5", "2")),
        };
        assert_eq!(
            d.to_string(),
            "content mismatch: expected value 1.5, got 2 (still after 1m)"
        );
        let d = Failure::Deadline {
            after: Duration::from_secs(5),
            last: Box::new(Failure::missing("no series")),
        };
        assert_eq!(
            d.to_string(),
            "timeout: not readable within 5s; last answer: not found: no series"
        );
    }

    #[tokio::test]
    async fn polling_stops_on_a_failure_that_waiting_cannot_fix() {
        let start = Instant::now();
        let mut calls = 0;
        let r: Result<(), Failure> = poll_until(start, start + Duration::from_secs(30), || {
            calls += 1;
            async {
                Err(Failure::Http {
                    url: "u".into(),
                    status: 403,
                    body: String::new(),
                })
            }
        })
        .await;
        assert!(matches!(r, Err(Failure::Http { status: 403, .. })));
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn polling_retries_until_the_data_shows_up() {
        let start = Instant::now();
        let mut calls = 0;
        let r = poll_until(start, start + Duration::from_secs(10), || {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err(Failure::missing("not yet"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r, Ok(3));
    }
}
