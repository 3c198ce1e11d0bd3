//! kalypso's integration tests, one binary (one link) as ripgrep keeps them.
//!
//! `controlplane` starts a real Kubernetes control plane (see its docs); `fakes` are for what a
//! real server cannot do on demand; `support` has the repository helpers and check fixtures.

mod controlplane;
mod fakes;
#[allow(dead_code)] // shared with benches/up.rs, which uses a part
mod support;

mod alloy_real;
mod canary_metrics;
mod chart_contract;
mod chart_docs;
mod chart_meta;
mod chart_security;
mod check_cli;
mod check_hygiene;
mod check_netpol;
mod check_ordering;
mod check_precision;
mod check_production;
mod check_references;
mod check_repo;
mod check_report;
mod check_wiring;
mod cli_grammar;
mod collector_real;
mod config_formats;
mod contract_move;
mod deploy_cli;
mod deploy_doctor;
mod deploy_down;
mod deploy_up;
mod diff_controlplane;
mod generated_docs;
mod lint_cli;
mod module_cycles;
mod netpol_real;
mod nginx_real;
mod ops_retention;
mod readme_contract;
mod relabel_prometheus;
mod render_cli;
mod s3_real;
mod selfmon_check;
mod selfmon_promtool;
mod selfmon_relabel;
mod selfmon_status;
mod up_controlplane;
mod verify_cli;
mod verify_failures;
mod verify_grafana_storage;
mod verify_pipeline;
mod verify_portforward;
mod verify_prometheus;
