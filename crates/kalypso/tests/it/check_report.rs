//! Snapshots of the human and JSON reports for a small stack with one finding per severity.

use crate::support::Fixture;
use kalypso::render::ChartStatus;
use kalypso::report::{self, ChartReport, Report};

fn report() -> Report {
    let grafana = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: datasources}
data:
  datasources.yaml: |
    datasources:
      - {name: Tempo, url: "http://tempo-query.tempo.svc.cluster.local:3200"}
      - {name: Loki, url: "http://loki-gateway.loki.svc.cluster.local"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: grafana}
spec:
  template:
    spec:
      containers:
        - name: grafana
          image: grafana/grafana:13.2.0
          resources: {requests: {cpu: 10m, memory: 64Mi}, limits: {memory: 128Mi}}
"#;
    let tempo = "apiVersion: v1\nkind: Service\nmetadata: {name: tempo-query}\nspec: {ports: [{name: http, port: 3100}]}\n";
    let fixture = Fixture::new()
        .chart("kalypso-tempo", "tempo", 4, tempo)
        .partial("kalypso-loki", "loki", 4, &["loki"], "")
        .chart("kalypso-grafana", "grafana", 6, grafana);
    let charts = fixture
        .charts
        .iter()
        .map(|c| ChartReport::new(&c.name, &c.status))
        .collect();
    Report {
        findings: fixture.findings(),
        charts,
    }
}

#[test]
fn human_report_groups_by_severity_and_component() {
    insta::assert_snapshot!(report::human::render(&report(), false));
}

#[test]
fn json_report_lists_findings_and_chart_status() {
    let json: serde_json::Value = serde_json::from_str(&report::json::render(&report())).unwrap();
    insta::assert_json_snapshot!(json);
}

#[test]
fn chart_status_describes_stand_ins() {
    let s = ChartStatus::Partial {
        stand_ins: vec!["a".into(), "b".into()],
    };
    assert_eq!(s.describe(), "partial (stand-ins: a, b)");
    assert_eq!(ChartStatus::Full.describe(), "full");
}
