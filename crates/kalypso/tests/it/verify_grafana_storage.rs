//! Grafana and MinIO checks against fakes: login, datasource health, cross-signal links;
//! each backend lists its own buckets and is refused another's, with SigV4-signed requests.

use std::time::Duration;

use crate::fakes::backends::{
    kalypso_buckets, kalypso_users, options, row, DataFakes, GrafanaSetup,
};
use kalypso::verify::probe::Status;
use kalypso::verify::sigv4::Credentials;
use kalypso::verify::Signal;

fn url(s: String) -> Option<reqwest::Url> {
    Some(reqwest::Url::parse(&s).expect("url"))
}

async fn grafana_report(setup: GrafanaSetup) -> kalypso::verify::report::VerifyReport {
    let addr = crate::fakes::backends::grafana(setup).await;
    let f = DataFakes::start().await;
    let mut opts = options(&f, &[Signal::Grafana], Duration::from_secs(5));
    opts.endpoints.grafana = url(format!("http://{addr}"));
    opts.grafana_user = Some("admin".into());
    opts.grafana_password = Some("s3cret".into());
    kalypso::verify::run(&opts).await
}

#[tokio::test]
async fn a_provisioned_grafana_passes_login_health_and_every_link() {
    let report = grafana_report(GrafanaSetup::default()).await;
    assert!(report.passed, "{}", report.to_table(false));
    for check in [
        "grafana/health",
        "grafana/login",
        "grafana/datasources",
        "grafana/datasource mimir health",
        "grafana/datasource loki health",
        "grafana/datasource tempo health",
        "grafana/datasource pyroscope health",
        "grafana/link traces→logs",
        "grafana/link traces→metrics",
        "grafana/link traces→profiles",
        "grafana/link service map",
        "grafana/link logs→traces",
        "grafana/link exemplars→traces",
        "grafana/link node graph",
    ] {
        assert_eq!(row(&report, check).status, Status::Pass, "{check}");
    }
}

#[tokio::test]
async fn an_unhealthy_datasource_and_a_missing_link_are_named() {
    let report = grafana_report(GrafanaSetup {
        unhealthy: vec!["loki"],
        drop_profiles_link: true,
        ..Default::default()
    })
    .await;
    assert_eq!(report.exit_code(), 1);
    let loki = row(&report, "grafana/datasource loki health");
    let reason = loki.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("HTTP 400 Bad Request") && reason.contains("no such host"),
        "{reason}"
    );
    let link = row(&report, "grafana/link traces→profiles")
        .reason
        .clone()
        .unwrap_or_default();
    assert_eq!(link, "content mismatch: expected tempo jsonData linking to datasource pyroscope, got no such link");
    assert_eq!(
        row(&report, "grafana/datasource tempo health").status,
        Status::Pass
    );
}

#[tokio::test]
async fn a_missing_datasource_is_listed_against_what_exists() {
    let report = grafana_report(GrafanaSetup {
        drop_pyroscope: true,
        ..Default::default()
    })
    .await;
    let r = row(&report, "grafana/datasources")
        .reason
        .clone()
        .unwrap_or_default();
    assert!(r.starts_with("content mismatch: expected datasources pyroscope (grafana-pyroscope-datasource), got ["), "{r}");
}

fn creds(backend: &str, secret: &str) -> (String, Credentials) {
    (
        backend.to_string(),
        Credentials {
            access_key: backend.to_string(),
            secret_key: secret.to_string(),
        },
    )
}

async fn storage_report(
    users: Vec<crate::fakes::backends::S3User>,
    buckets: Vec<String>,
    given: Vec<(String, Credentials)>,
) -> kalypso::verify::report::VerifyReport {
    let addr = crate::fakes::backends::minio(users, buckets).await;
    let f = DataFakes::start().await;
    let mut opts = options(&f, &[Signal::Storage], Duration::from_secs(5));
    opts.endpoints.s3 = url(format!("http://{addr}"));
    opts.s3_credentials = given;
    kalypso::verify::run(&opts).await
}

fn dev_credentials() -> Vec<(String, Credentials)> {
    ["mimir", "tempo", "loki", "pyroscope"]
        .iter()
        .map(|b| creds(b, &format!("{b}-dev-secret-change-me")))
        .collect()
}

#[tokio::test]
async fn each_backend_lists_its_own_buckets_and_is_refused_anothers() {
    let report = storage_report(kalypso_users(), kalypso_buckets(), dev_credentials()).await;
    assert!(report.passed, "{}", report.to_table(false));
    assert_eq!(report.checks.len(), 7 + 4);
    assert_eq!(
        row(&report, "storage/mimir lists mimir-alertmanager").status,
        Status::Pass
    );
    assert_eq!(
        row(&report, "storage/loki denied mimir-alertmanager").status,
        Status::Pass
    );
}

#[tokio::test]
async fn a_missing_bucket_a_too_broad_policy_and_a_wrong_secret_are_each_reported() {
    let mut users = kalypso_users();
    // tempo's policy also allows loki's bucket.
    users[1].buckets.push("loki-chunks".into());
    let buckets: Vec<String> = kalypso_buckets()
        .into_iter()
        .filter(|b| b != "pyroscope-data")
        .collect();
    let mut given = dev_credentials();
    given[0] = creds("mimir", "not-the-secret");
    let report = storage_report(users, buckets, given).await;
    assert_eq!(report.exit_code(), 1);
    let r = |c: &str| row(&report, c).reason.clone().unwrap_or_default();
    assert!(
        r("storage/mimir lists mimir-blocks").contains("SignatureDoesNotMatch"),
        "{}",
        r("storage/mimir lists mimir-blocks")
    );
    assert_eq!(
        r("storage/tempo denied loki-chunks"),
        "content mismatch: expected AccessDenied for user tempo on loki-chunks, got a listing: the policy is too broad"
    );
    assert_eq!(
        r("storage/pyroscope lists pyroscope-data"),
        "content mismatch: expected bucket pyroscope-data to exist, got NoSuchBucket"
    );
    assert_eq!(
        row(&report, "storage/loki lists loki-ruler").status,
        Status::Pass
    );
}

#[tokio::test]
async fn with_an_explicit_s3_url_only_the_backends_given_are_checked() {
    let report = storage_report(
        kalypso_users(),
        kalypso_buckets(),
        vec![creds("loki", "loki-dev-secret-change-me")],
    )
    .await;
    assert!(report.passed, "{}", report.to_table(false));
    assert!(report
        .checks
        .iter()
        .all(|c| c.check.starts_with("storage/loki")));
}
