//! Grafana: the server is healthy, the admin can log in, the four provisioned datasources exist
//! and pass their health checks, and every cross-signal link is configured.
//!
//! API: `GET /api/health`, `GET /api/user` (basic auth), `GET /api/datasources`,
//! `GET /api/datasources/uid/<uid>` and `GET /api/datasources/uid/<uid>/health`.

use std::time::Instant;

use reqwest::Url;
use serde_json::Value;

use super::http::{display_url, join, Http};
use super::probe::{CheckResult, Failure};
use super::Signal;

/// The datasources kalypso-grafana provisions: (signal, datasource type). Their UIDs are the
/// contract's (`kalypso-grafana.datasources`).
pub const DATASOURCES: &[(&str, &str)] = &[
    ("metrics", "prometheus"),
    ("logs", "loki"),
    ("traces", "tempo"),
    ("profiles", "grafana-pyroscope-datasource"),
];

/// Where in a datasource's jsonData a link's target uid sits.
enum Where {
    /// A nested object field, e.g. `tracesToLogsV2.datasourceUid`.
    Field(&'static [&'static str]),
    /// A list of objects with `datasourceUid`, e.g. `derivedFields`.
    List(&'static str),
}

/// A cross-signal link: its name, the signal whose datasource holds it, where, and the signal
/// whose datasource it must name.
struct Link {
    name: &'static str,
    datasource: &'static str,
    at: Where,
    target: &'static str,
}

impl Where {
    fn uids(&self, json: &Value) -> Vec<String> {
        match self {
            Where::Field(path) => {
                let v = path.iter().fold(json, |v, p| &v[*p]);
                v.as_str().map(|s| vec![s.to_string()]).unwrap_or_default()
            }
            Where::List(list) => json[*list]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i["datasourceUid"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

const LINKS: &[Link] = &[
    Link {
        name: "traces→logs",
        datasource: "traces",
        at: Where::Field(&["tracesToLogsV2", "datasourceUid"]),
        target: "logs",
    },
    Link {
        name: "traces→metrics",
        datasource: "traces",
        at: Where::Field(&["tracesToMetrics", "datasourceUid"]),
        target: "metrics",
    },
    Link {
        name: "traces→profiles",
        datasource: "traces",
        at: Where::Field(&["tracesToProfiles", "datasourceUid"]),
        target: "profiles",
    },
    Link {
        name: "service map",
        datasource: "traces",
        at: Where::Field(&["serviceMap", "datasourceUid"]),
        target: "metrics",
    },
    Link {
        name: "logs→traces",
        datasource: "logs",
        at: Where::List("derivedFields"),
        target: "traces",
    },
    Link {
        name: "exemplars→traces",
        datasource: "metrics",
        at: Where::List("exemplarTraceIdDestinations"),
        target: "traces",
    },
];

/// Where Grafana is and who logs in.
#[derive(Debug, Clone)]
pub struct GrafanaTarget {
    /// Grafana base URL.
    pub url: Url,
    /// Admin user.
    pub user: String,
    /// Admin password.
    pub password: String,
    /// What to show as the target.
    pub shown: String,
    /// Datasource UID by signal (the contract's `kalypso-grafana.datasources`).
    pub uids: std::collections::BTreeMap<String, String>,
}

impl GrafanaTarget {
    /// The UID of the datasource for `signal` (the signal's name when the contract has none,
    /// which the datasource check then reports as missing).
    pub fn uid<'a>(&'a self, signal: &'a str) -> &'a str {
        self.uids.get(signal).map(String::as_str).unwrap_or(signal)
    }

    async fn get(&self, http: &Http, path: &str, auth: bool) -> Result<Value, Failure> {
        let url = join(&self.url, path);
        let mut rb = http
            .client()
            .get(url.clone())
            .header("Accept", "application/json");
        if auth {
            rb = rb.basic_auth(&self.user, Some(&self.password));
        }
        http.send(&url, rb).await?.json(&url)
    }
}

/// Runs every Grafana check, one row each.
pub async fn run(http: &Http, target: &GrafanaTarget) -> Vec<CheckResult> {
    let mut rows = Vec::new();
    let shown = target.shown.as_str();
    let row = |check: &str, started: Instant, r: Result<(), Failure>| {
        CheckResult::from_result(
            Signal::Grafana,
            format!("grafana/{check}"),
            shown,
            &r.map(|_| started.elapsed()),
        )
    };

    let t = Instant::now();
    let health =
        target
            .get(http, "api/health", false)
            .await
            .and_then(|j| match j["database"].as_str() {
                Some("ok") => Ok(()),
                other => Err(Failure::mismatch("database \"ok\"", format!("{other:?}"))),
            });
    rows.push(row("health", t, health));

    let t = Instant::now();
    let login = target
        .get(http, "api/user", true)
        .await
        .and_then(|j| match j["login"].as_str() {
            Some(l) if l == target.user => Ok(()),
            other => Err(Failure::mismatch(
                format!("login {:?}", target.user),
                format!("{other:?}"),
            )),
        });
    let logged_in = login.is_ok();
    rows.push(row("login", t, login));
    if !logged_in {
        let skipped = Failure::Skipped {
            reason: format!("cannot log in to {}", display_url(&target.url)),
        };
        rows.push(CheckResult::fail(
            Signal::Grafana,
            "grafana/datasources",
            shown,
            &skipped,
        ));
        return rows;
    }

    let t = Instant::now();
    let list = match target.get(http, "api/datasources", true).await {
        Ok(Value::Array(items)) => items,
        Ok(other) => {
            let f = Failure::BadResponse {
                url: display_url(&target.url),
                detail: format!("datasource list is not an array: {other}"),
            };
            rows.push(row("datasources", t, Err(f)));
            return rows;
        }
        Err(f) => {
            rows.push(row("datasources", t, Err(f)));
            return rows;
        }
    };
    let present: Vec<(String, String)> = list
        .iter()
        .filter_map(|d| {
            Some((
                d["uid"].as_str()?.to_string(),
                d["type"].as_str().unwrap_or("").to_string(),
            ))
        })
        .collect();
    let missing: Vec<String> = DATASOURCES
        .iter()
        .map(|(signal, ty)| (target.uid(signal), ty))
        .filter(|(uid, ty)| !present.iter().any(|(u, t)| u == uid && t == *ty))
        .map(|(uid, ty)| format!("{uid} ({ty})"))
        .collect();
    let found = if missing.is_empty() {
        Ok(())
    } else {
        let got: Vec<String> = present.iter().map(|(u, t)| format!("{u} ({t})")).collect();
        Err(Failure::mismatch(
            format!("datasources {}", missing.join(", ")),
            format!("[{}]", got.join(", ")),
        ))
    };
    rows.push(row("datasources", t, found));

    for (uid, _) in &present {
        let t = Instant::now();
        let health = target
            .get(http, &format!("api/datasources/uid/{uid}/health"), true)
            .await
            .and_then(|j| match j["status"].as_str() {
                Some("OK") => Ok(()),
                _ => Err(Failure::mismatch(
                    "status OK",
                    format!("{} {}", j["status"], j["message"]),
                )),
            });
        rows.push(row(&format!("datasource {uid} health"), t, health));
    }

    for link in LINKS {
        let t = Instant::now();
        let r = match target
            .get(
                http,
                &format!("api/datasources/uid/{}", target.uid(link.datasource)),
                true,
            )
            .await
        {
            Ok(ds) => {
                let uids = link.at.uids(&ds["jsonData"]);
                if uids.iter().any(|u| u == target.uid(link.target)) {
                    Ok(())
                } else {
                    Err(Failure::mismatch(
                        format!(
                            "{} jsonData linking to datasource {}",
                            target.uid(link.datasource),
                            target.uid(link.target)
                        ),
                        if uids.is_empty() {
                            "no such link".to_string()
                        } else {
                            format!("{uids:?}")
                        },
                    ))
                }
            }
            Err(f) => Err(f),
        };
        rows.push(row(&format!("link {}", link.name), t, r));
    }

    let t = Instant::now();
    let traces = target.uid("traces");
    let node_graph = match target
        .get(http, &format!("api/datasources/uid/{traces}"), true)
        .await
    {
        Ok(ds) if ds["jsonData"]["nodeGraph"]["enabled"] == Value::Bool(true) => Ok(()),
        Ok(ds) => Err(Failure::mismatch(
            format!("{traces} jsonData.nodeGraph.enabled true"),
            ds["jsonData"]["nodeGraph"].to_string(),
        )),
        Err(f) => Err(f),
    };
    rows.push(row("link node graph", t, node_graph));
    rows
}
