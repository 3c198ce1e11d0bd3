//! The eight charts against the stack contract (`contract.yaml`, passed as a values file under
//! `global.kalypso`): every chart renders with it and stops without it, naming the file; every
//! `fail` of a validate template or of a `kalypso-common` helper is reached by breaking one
//! literal in a repository copy; moving a component to another namespace in the ApplicationSet
//! and the contract moves every address that points at it.
//!
//! The charts' own templates render offline: upstream subcharts become empty stand-ins (a
//! `Chart.yaml` only, as `kalypso render` does without archives) and `charts/kalypso-common` is
//! copied in. The tests that need the upstream archives (the subcharts' `tpl` of contract
//! references) print a SKIP line when `charts/<chart>/charts/*.tgz` are absent, as in CI.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use tempfile::TempDir;

use crate::support::{copy_repo, helm_or_skip, mutate, repo_root, skip};

/// One Application of the ApplicationSet's list generator.
pub(crate) struct Component {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) namespace: String,
}

fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The component list (argocd/applicationset.yaml) of the stack under `root`.
pub(crate) fn components(root: &Path) -> Vec<Component> {
    let appset = read_yaml(&root.join("argocd/applicationset.yaml"));
    let elements = appset["spec"]["generators"][0]["list"]["elements"]
        .as_array()
        .expect("list generator elements");
    elements
        .iter()
        .map(|e| Component {
            name: e["name"].as_str().expect("name").to_string(),
            path: e["path"].as_str().expect("path").to_string(),
            namespace: e["namespace"].as_str().expect("namespace").to_string(),
        })
        .collect()
}

/// A repository copy with the contract (support's copy has argocd/ and charts/).
fn stack_copy() -> TempDir {
    let tmp = copy_repo();
    let contract = tmp.path().join("contract.yaml");
    if !contract.exists() {
        std::fs::copy(repo_root().join("contract.yaml"), &contract).expect("copy contract.yaml");
    }
    tmp
}

fn copy_dir(from: &Path, to: &Path, skip_archives: bool) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        let name = e.file_name().to_string_lossy().to_string();
        if e.path().is_dir() {
            copy_dir(&e.path(), &target, skip_archives);
        } else if !(skip_archives && name.ends_with(".tgz")) {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// The dependencies of a chart: (name, version, repository).
pub(crate) fn dependencies(chart_dir: &Path) -> Vec<(String, String, String)> {
    let chart = read_yaml(&chart_dir.join("Chart.yaml"));
    chart["dependencies"]
        .as_array()
        .map(|deps| {
            deps.iter()
                .map(|d| {
                    let field = |k: &str| d[k].as_str().unwrap_or_default().to_string();
                    (field("name"), field("version"), field("repository"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether every upstream archive of `chart` is in the real repository; prints a SKIP line if not.
fn archives_present(component: &Component, test: &str) -> bool {
    let dir = repo_root().join(&component.path);
    for (name, version, repo) in dependencies(&dir) {
        if repo.starts_with("file://") {
            continue;
        }
        let archive = dir.join("charts").join(format!("{name}-{version}.tgz"));
        if !archive.is_file() {
            skip(&format!(
                "{test}: {} not present (upstream archives are not in the repository)",
                archive
                    .strip_prefix(repo_root())
                    .unwrap_or(&archive)
                    .display()
            ));
            return false;
        }
    }
    true
}

/// A renderable copy of a chart of the stack under `root`: `file://` dependencies (the library
/// chart) copied in; upstream dependencies empty stand-ins when `offline`, else their archives.
pub(crate) fn chart_copy(root: &Path, component: &Component, offline: bool) -> (TempDir, PathBuf) {
    let src = root.join(&component.path);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dest = tmp.path().join(&component.name);
    copy_dir(&src, &dest, offline);
    for (name, version, repo) in dependencies(&src) {
        let target = dest.join("charts").join(&name);
        let _ = std::fs::remove_dir_all(&target);
        if let Some(rel) = repo.strip_prefix("file://") {
            copy_dir(&src.join(rel), &target, false);
        } else if offline {
            std::fs::create_dir_all(&target).expect("mkdir stand-in");
            std::fs::write(
                target.join("Chart.yaml"),
                format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
            )
            .expect("write stand-in");
        }
    }
    (tmp, dest)
}

/// `helm template` of a component of the stack under `root`, with its release name and namespace
/// and, when `with_contract`, `-f <root>/contract.yaml`.
fn render(root: &Path, component: &Component, offline: bool, with_contract: bool) -> Output {
    let helm = helm_or_skip("chart_contract").expect("helm (the chart tests need it)");
    let (_tmp, dir) = chart_copy(root, component, offline);
    let mut args: Vec<String> = vec![
        "template".into(),
        component.name.clone(),
        dir.display().to_string(),
        "-n".into(),
        component.namespace.clone(),
        "--kube-version".into(),
        "1.32.0".into(),
    ];
    if with_contract {
        args.push("-f".into());
        args.push(root.join("contract.yaml").display().to_string());
    }
    helm.command(&args).output().expect("run helm")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn component<'a>(all: &'a [Component], name: &str) -> &'a Component {
    all.iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{name} is not in argocd/applicationset.yaml"))
}

fn have_helm() -> bool {
    helm_or_skip("chart_contract").is_some()
}

// ---- (a) the contract is required

#[test]
fn every_chart_renders_its_own_templates_with_the_contract_and_stops_without_it_naming_it() {
    if !have_helm() {
        return;
    }
    let root = repo_root();
    for c in components(&root) {
        let with = render(&root, &c, true, true);
        assert!(
            with.status.success(),
            "{} does not render offline with -f contract.yaml:\n{}",
            c.name,
            text(&with.stderr)
        );
        let without = render(&root, &c, true, false);
        let err = text(&without.stderr);
        assert!(
            !without.status.success(),
            "{} renders without the contract",
            c.name
        );
        assert!(
            err.contains("global.kalypso") && err.contains("-f contract.yaml"),
            "{} fails without the contract, but does not say to pass contract.yaml:\n{err}",
            c.name
        );
    }
}

#[test]
fn with_the_upstream_charts_every_chart_renders_with_the_contract_and_resolves_every_reference() {
    if !have_helm() {
        return;
    }
    let root = repo_root();
    for c in components(&root) {
        if !archives_present(&c, "chart_contract::with_the_upstream_charts") {
            continue;
        }
        let with = render(&root, &c, false, true);
        let out = text(&with.stdout);
        assert!(
            with.status.success(),
            "{} does not render with -f contract.yaml:\n{}",
            c.name,
            text(&with.stderr)
        );
        // A contract reference that an upstream chart did not pass through `tpl` would leak.
        let leak = out.lines().find(|l| l.contains("kalypso-common."));
        assert!(
            leak.is_none(),
            "{} renders an unresolved contract reference: {}",
            c.name,
            leak.unwrap_or_default()
        );
        let without = render(&root, &c, false, false);
        assert!(
            !without.status.success(),
            "{} renders without the contract",
            c.name
        );
        assert!(
            text(&without.stderr).contains("-f contract.yaml"),
            "{} fails without the contract, but not naming contract.yaml:\n{}",
            c.name,
            text(&without.stderr)
        );
    }
}

/// The upstream values that read the contract through `tpl` resolve to the contract's values.
#[test]
fn with_the_upstream_charts_templated_upstream_values_are_the_contracts() {
    if !have_helm() {
        return;
    }
    let root = repo_root();
    let all = components(&root);
    let expect: &[(&str, &[&str])] = &[
        (
            "kalypso-mimir",
            &[
                "bucket_name: 'mimir-blocks'",
                "bucket_name: 'mimir-ruler'",
                "bucket_name: 'mimir-alertmanager'",
                "endpoint: 'minio.minio.svc.cluster.local:9000'",
            ],
        ),
        (
            "kalypso-tempo",
            &[
                "bucket: 'tempo-traces'",
                "url: 'http://mimir-distributed-gateway.mimir.svc.cluster.local/api/v1/push'",
                "X-Scope-OrgID: 'kalypso'",
            ],
        ),
        (
            "kalypso-loki",
            &[
                "bucketnames: 'loki-chunks'",
                "bucketnames: 'loki-ruler'",
                "endpoint: 'minio.minio.svc.cluster.local:9000'",
                r#"map $http_x_scope_orgid $kalypso_tenant { "" "kalypso";"#,
            ],
        ),
        (
            "kalypso-pyroscope",
            &[
                "bucket_name: 'pyroscope-data'",
                "endpoint: 'minio.minio.svc.cluster.local:9000'",
            ],
        ),
        (
            "kalypso-minio",
            &[
                "createBucket mimir-blocks ",
                "createBucket pyroscope-data ",
                "echo loki > $MINIO_ACCESSKEY_SECRETKEY_TMP",
            ],
        ),
        (
            "kalypso-grafana",
            &["datasourceUid: 'mimir'", "name: kalypso-grafana"],
        ),
    ];
    for (name, wants) in expect {
        let c = component(&all, name);
        if !archives_present(c, "chart_contract::templated_upstream_values") {
            continue;
        }
        let out = render(&root, c, false, true);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let out = text(&out.stdout);
        for want in *wants {
            assert!(out.contains(want), "{name} renders no {want:?}");
        }
    }
}

// ---- (b) every fail path: break one literal, the render stops naming both keys

/// Breaks `file` (relative to the repository) by replacing `from` with `to`, renders `chart`
/// offline and expects a failure whose message contains every `want`.
fn assert_breaks(chart: &str, edits: &[(&str, &str, &str)], wants: &[&str]) {
    if !have_helm() {
        return;
    }
    let tmp = stack_copy();
    for (file, from, to) in edits {
        mutate(tmp.path(), file, from, to);
    }
    let all = components(tmp.path());
    let out = render(tmp.path(), component(&all, chart), true, true);
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "{chart} still renders after {edits:?}:\n{}",
        text(&out.stdout)
    );
    for want in wants {
        assert!(
            err.contains(want),
            "{chart}: the failure does not name {want:?}:\n{err}"
        );
    }
}

macro_rules! breaks {
    ($name:ident, $chart:literal, [$(($file:expr, $from:expr, $to:expr)),+ $(,)?], [$($want:expr),+ $(,)?]) => {
        #[test]
        fn $name() {
            assert_breaks($chart, &[$(($file, $from, $to)),+], &[$($want),+]);
        }
    };
}

const CONTRACT: &str = "contract.yaml";

// kalypso-common helpers

breaks!(
    a_contract_key_the_charts_read_that_is_missing_is_named,
    "kalypso-grafana",
    [(
        CONTRACT,
        "adminSecret: kalypso-grafana",
        "adminSecretName: kalypso-grafana"
    )],
    [
        "global.kalypso.components.kalypso-grafana.adminSecret is missing",
        "contract.yaml"
    ]
);
breaks!(
    a_contract_value_that_is_a_map_is_named,
    "kalypso-otel",
    [(CONTRACT, "metrics: kalypso", "metrics: {id: kalypso}")],
    [
        "global.kalypso.tenants.metrics",
        "is a map, not a single value"
    ]
);
breaks!(
    a_backend_without_its_secret_key_or_existing_secret_stops,
    "kalypso-loki",
    [(
        "charts/kalypso-loki/values.yaml",
        "secretAccessKey: loki-dev-secret-change-me",
        "secretAccessKey: \"\""
    )],
    ["kalypso.s3.secretAccessKey", "kalypso.s3.existingSecret"]
);

// kalypso-loki

breaks!(
    loki_fullname_that_does_not_make_the_contracts_gateway_service,
    "kalypso-loki",
    [(
        "charts/kalypso-loki/values.yaml",
        "fullnameOverride: loki",
        "fullnameOverride: logs"
    )],
    [
        "loki.fullnameOverride",
        "logs-gateway",
        "global.kalypso.components.kalypso-loki.gateway.service",
        "loki-gateway"
    ]
);
breaks!(
    loki_gateway_port_that_is_not_the_contracts,
    "kalypso-loki",
    [(
        "charts/kalypso-loki/values.yaml",
        "    service:\n      port: 80\n",
        "    service:\n      port: 8080\n"
    )],
    [
        "loki.gateway.service.port is 8080",
        "global.kalypso.components.kalypso-loki.gateway.port is 80"
    ]
);
breaks!(
    loki_pods_not_loading_the_contracts_s3_secret,
    "kalypso-loki",
    [(
        "charts/kalypso-loki/values.yaml",
        "name: loki-s3-credentials",
        "name: other"
    )],
    [
        "loki.singleBinary.extraEnvFrom[].secretRef.name is [other]",
        "loki-s3-credentials",
        "global.kalypso.components.kalypso-loki.storage.secret"
    ]
);
breaks!(
    loki_existing_secret_not_loaded_by_the_pods,
    "kalypso-loki",
    [(
        "charts/kalypso-loki/values.yaml",
        "existingSecret: \"\"",
        "existingSecret: my-loki-s3"
    )],
    [
        "loki.singleBinary.extraEnvFrom[].secretRef.name is [loki-s3-credentials]",
        "my-loki-s3",
        "kalypso.s3.existingSecret"
    ]
);

// kalypso-tempo

breaks!(
    tempo_fullname_that_does_not_make_the_contracts_distributor_service,
    "kalypso-tempo",
    [(
        CONTRACT,
        "service: tempo-distributed-distributor",
        "service: tempo-distributor"
    )],
    [
        "tempo-distributed.fullnameOverride + \"-distributor\" is tempo-distributed-distributor",
        "global.kalypso.components.kalypso-tempo.distributor.service is tempo-distributor"
    ]
);
breaks!(
    tempo_fullname_that_does_not_make_the_contracts_query_frontend_service,
    "kalypso-tempo",
    [(
        CONTRACT,
        "service: tempo-distributed-query-frontend",
        "service: tempo-query"
    )],
    [
        "tempo-distributed.fullnameOverride + \"-query-frontend\"",
        "global.kalypso.components.kalypso-tempo.queryFrontend.service is tempo-query"
    ]
);
breaks!(
    tempo_query_frontend_port_that_is_not_the_contracts,
    "kalypso-tempo",
    [(
        "charts/kalypso-tempo/values.yaml",
        "httpMetricsPort: 3100",
        "httpMetricsPort: 3200"
    )],
    [
        "tempo-distributed.queryFrontend.service.httpMetricsPort is 3200",
        "global.kalypso.components.kalypso-tempo.queryFrontend.port is 3100"
    ]
);
breaks!(
    tempo_pods_not_loading_the_contracts_s3_secret,
    "kalypso-tempo",
    [(
        "charts/kalypso-tempo/values.yaml",
        "name: tempo-s3-credentials",
        "name: other"
    )],
    [
        "tempo-distributed.global.extraEnvFrom[].secretRef.name is [other]",
        "global.kalypso.components.kalypso-tempo.storage.secret"
    ]
);

// kalypso-mimir

breaks!(
    mimir_fullname_that_does_not_make_the_contracts_gateway_service,
    "kalypso-mimir",
    [(
        "charts/kalypso-mimir/values.yaml",
        "fullnameOverride: mimir-distributed",
        "fullnameOverride: mimir"
    )],
    [
        "mimir-distributed.fullnameOverride + \"-gateway\" is mimir-gateway",
        "global.kalypso.components.kalypso-mimir.gateway.service is mimir-distributed-gateway"
    ]
);
breaks!(
    mimir_gateway_port_that_is_not_the_contracts,
    "kalypso-mimir",
    [(
        "charts/kalypso-mimir/values.yaml",
        "      port: 80\n",
        "      port: 8080\n"
    )],
    [
        "mimir-distributed.gateway.service.port is 8080",
        "global.kalypso.components.kalypso-mimir.gateway.port is 80"
    ]
);
breaks!(
    mimir_smoke_test_tenant_that_is_not_the_contracts,
    "kalypso-mimir",
    [(
        "charts/kalypso-mimir/values.yaml",
        "tenantId: kalypso",
        "tenantId: anonymous"
    )],
    [
        "mimir-distributed.smoke_test.tenantId is anonymous",
        "global.kalypso.tenants.metrics is kalypso"
    ]
);
breaks!(
    mimir_pods_not_loading_the_contracts_s3_secret,
    "kalypso-mimir",
    [(
        "charts/kalypso-mimir/values.yaml",
        "name: mimir-s3-credentials",
        "name: other"
    )],
    [
        "mimir-distributed.global.extraEnvFrom[].secretRef.name is [other]",
        "global.kalypso.components.kalypso-mimir.storage.secret"
    ]
);

// kalypso-pyroscope

breaks!(
    pyroscope_fullname_that_is_not_the_contracts_service,
    "kalypso-pyroscope",
    [(
        "charts/kalypso-pyroscope/values.yaml",
        "fullnameOverride: pyroscope",
        "fullnameOverride: profiles"
    )],
    [
        "pyroscope.pyroscope.fullnameOverride is profiles",
        "global.kalypso.components.kalypso-pyroscope.server.service is pyroscope"
    ]
);
breaks!(
    pyroscope_service_port_that_is_not_the_contracts,
    "kalypso-pyroscope",
    [(
        "charts/kalypso-pyroscope/values.yaml",
        "      port: 4040\n",
        "      port: 4041\n"
    )],
    [
        "pyroscope.pyroscope.service.port is 4041",
        "global.kalypso.components.kalypso-pyroscope.server.port is 4040"
    ]
);
breaks!(
    pyroscope_pods_not_loading_the_contracts_s3_secret,
    "kalypso-pyroscope",
    [(
        "charts/kalypso-pyroscope/values.yaml",
        "name: pyroscope-s3-credentials",
        "name: other"
    )],
    [
        "pyroscope.pyroscope.extraEnvFrom[].secretRef.name is [other]",
        "global.kalypso.components.kalypso-pyroscope.storage.secret"
    ]
);

// kalypso-grafana

breaks!(
    grafana_fullname_that_is_not_the_contracts_service,
    "kalypso-grafana",
    [(
        "charts/kalypso-grafana/values.yaml",
        "fullnameOverride: kalypso-grafana",
        "fullnameOverride: grafana"
    )],
    [
        "grafana.fullnameOverride is grafana",
        "global.kalypso.components.kalypso-grafana.ui.service is kalypso-grafana"
    ]
);
breaks!(
    grafana_service_port_that_is_not_the_contracts,
    "kalypso-grafana",
    [(
        "charts/kalypso-grafana/values.yaml",
        "    port: 80\n",
        "    port: 8080\n"
    )],
    [
        "grafana.service.port is 8080",
        "global.kalypso.components.kalypso-grafana.ui.port is 80"
    ]
);
breaks!(
    grafana_admin_secret_that_is_not_the_contracts,
    "kalypso-grafana",
    [(
        "charts/kalypso-grafana/values.yaml",
        r#"existingSecret: '{{ include "kalypso-common.get" (list . "components" "kalypso-grafana" "adminSecret") }}'"#,
        "existingSecret: grafana-admin"
    )],
    [
        "grafana.admin.existingSecret is grafana-admin",
        "global.kalypso.components.kalypso-grafana.adminSecret is kalypso-grafana"
    ]
);
breaks!(
    grafana_not_mounting_the_datasources,
    "kalypso-grafana",
    [(
        "charts/kalypso-grafana/values.yaml",
        r#"configMap: "{{ .Release.Name }}-datasources""#,
        "configMap: other"
    )],
    [
        "grafana.extraConfigmapMounts[].configMap is [other]",
        "kalypso-grafana-datasources",
        "templates/datasources-configmap.yaml"
    ]
);
breaks!(
    grafana_not_mounting_the_dashboards,
    "kalypso-grafana",
    [(
        "charts/kalypso-grafana/values.yaml",
        r#"kalypso: "{{ .Release.Name }}-dashboards""#,
        "kalypso: other"
    )],
    [
        "grafana.dashboardsConfigMaps.kalypso is other",
        "kalypso-grafana-dashboards",
        "templates/dashboards-configmap.yaml"
    ]
);
breaks!(
    a_dashboard_naming_a_datasource_the_contract_lacks,
    "kalypso-grafana",
    [(
        "charts/kalypso-grafana/dashboards/kalypso-canary.json",
        "contract:datasources.metrics",
        "contract:datasources.prometheus"
    )],
    [
        "dashboards/kalypso-canary.json",
        "\"contract:datasources.prometheus\"",
        "global.kalypso.components.kalypso-grafana.datasources"
    ]
);
breaks!(
    the_canary_with_two_different_tenants,
    "kalypso-grafana",
    [
        (CONTRACT, "logs: kalypso", "logs: logs-tenant"),
        (
            "charts/kalypso-grafana/values.yaml",
            "  enabled: false\n  # -- Image of the kalypso CLI",
            "  enabled: true\n  # -- Image of the kalypso CLI"
        ),
    ],
    [
        "global.kalypso.tenants.logs is logs-tenant",
        "global.kalypso.tenants.metrics",
        "is kalypso"
    ]
);
breaks!(
    grafana_admin_secret_without_a_user,
    "kalypso-grafana",
    [(
        "charts/kalypso-grafana/values.yaml",
        "user: admin",
        "user: \"\""
    )],
    ["kalypso.admin.user is required when kalypso.admin.createSecret is true"]
);
breaks!(
    grafana_admin_secret_without_a_password,
    "kalypso-grafana",
    [(
        "charts/kalypso-grafana/values.yaml",
        "password: kalypso-dev-admin-change-me",
        "password: \"\""
    )],
    ["kalypso.admin.password is required when kalypso.admin.createSecret is true"]
);

// kalypso-otel

breaks!(
    a_collector_service_the_operator_cannot_name,
    "kalypso-otel",
    [(
        CONTRACT,
        "service: kalypso-collector",
        "service: kalypso-gateway"
    )],
    [
        "global.kalypso.components.kalypso-otel.collector.service is kalypso-gateway",
        "OpenTelemetryCollector name + \"-collector\" is kalypso-gateway-collector"
    ]
);
breaks!(
    cert_manager_leases_outside_the_contracts_namespace,
    "kalypso-otel",
    [(
        "charts/kalypso-otel/values.yaml",
        "namespace: otel-system",
        "namespace: kube-system"
    )],
    [
        "cert-manager.global.leaderElection.namespace is kube-system",
        "global.kalypso.components.kalypso-otel.namespace is otel-system"
    ]
);

// kalypso-istio

breaks!(
    mesh_tracing_provider_missing_from_mesh_config,
    "kalypso-istio",
    [(
        "charts/kalypso-istio/values.yaml",
        "provider: kalypso-otel",
        "provider: otel"
    )],
    [
        "istiod.meshConfig.extensionProviders[].name is [kalypso-otel] but must include otel",
        "kalypso.tracing.provider"
    ]
);
breaks!(
    mesh_tracing_service_that_is_not_the_contracts_collector,
    "kalypso-istio",
    [("charts/kalypso-istio/values.yaml", "service: kalypso-collector.otel-system.svc.cluster.local", "service: otel.otel-system.svc.cluster.local")],
    ["istiod.meshConfig.extensionProviders[kalypso-otel].opentelemetry.service is otel.otel-system.svc.cluster.local", "global.kalypso.components.kalypso-otel.collector.service + namespace is kalypso-collector.otel-system.svc.cluster.local"]
);
breaks!(
    mesh_tracing_port_that_is_not_the_contracts_otlp_grpc_port,
    "kalypso-istio",
    [(
        "charts/kalypso-istio/values.yaml",
        "port: 4317",
        "port: 4318"
    )],
    [
        "istiod.meshConfig.extensionProviders[kalypso-otel].opentelemetry.port is 4318",
        "global.kalypso.components.kalypso-otel.collector.ports.otlpGrpc is 4317"
    ]
);

// kalypso-minio

breaks!(
    minio_without_root_credentials,
    "kalypso-minio",
    [(
        "charts/kalypso-minio/values.yaml",
        "rootPassword: minioadmin",
        "rootPassword: \"\""
    )],
    ["minio.rootUser and minio.rootPassword (or minio.existingSecret) must be set"]
);
breaks!(
    minio_fullname_that_is_not_the_contracts_s3_service,
    "kalypso-minio",
    [(
        "charts/kalypso-minio/values.yaml",
        "fullnameOverride: minio",
        "fullnameOverride: s3"
    )],
    [
        "minio.fullnameOverride is s3",
        "global.kalypso.components.kalypso-minio.s3.service is minio"
    ]
);
breaks!(
    minio_console_service_that_the_chart_does_not_make,
    "kalypso-minio",
    [(CONTRACT, "service: minio-console", "service: minio-ui")],
    [
        "minio.fullnameOverride + \"-console\" is minio-console",
        "global.kalypso.components.kalypso-minio.console.service is minio-ui"
    ]
);
breaks!(
    minio_s3_port_that_is_not_the_contracts,
    "kalypso-minio",
    [(
        "charts/kalypso-minio/values.yaml",
        "port: \"9000\"",
        "port: \"9002\""
    )],
    [
        "minio.service.port is 9002",
        "global.kalypso.components.kalypso-minio.s3.port is 9000"
    ]
);
breaks!(
    minio_console_port_that_is_not_the_contracts,
    "kalypso-minio",
    [(
        "charts/kalypso-minio/values.yaml",
        "port: \"9001\"",
        "port: \"9002\""
    )],
    [
        "minio.consoleService.port is 9002",
        "global.kalypso.components.kalypso-minio.console.port is 9001"
    ]
);
breaks!(
    minio_creating_a_bucket_the_contract_does_not_have,
    "kalypso-minio",
    [(
        "charts/kalypso-minio/values.yaml",
        r#"'{{ include "kalypso-common.get" (list . "components" "kalypso-pyroscope" "storage" "buckets" "data") }}'"#,
        "pyroscope-blocks"
    )],
    [
        "minio.buckets[].name is",
        "pyroscope-blocks",
        "global.kalypso.components.*.storage.buckets is",
        "pyroscope-data"
    ]
);
breaks!(
    a_backend_without_a_minio_secret_key,
    "kalypso-minio",
    [(
        "charts/kalypso-minio/values.yaml",
        "    kalypso-pyroscope:\n",
        "    kalypso-profiles:\n"
    )],
    [
        "kalypso.users",
        "kalypso-pyroscope",
        "global.kalypso.components.kalypso-pyroscope.storage"
    ]
);
breaks!(
    a_backend_whose_minio_user_is_not_created,
    "kalypso-minio",
    [(
        "charts/kalypso-minio/values.yaml",
        r#"accessKey: '{{ include "kalypso-common.get" (list . "components" "kalypso-pyroscope" "storage" "user") }}'"#,
        "accessKey: profiles"
    )],
    [
        "minio.users[].accessKey is [mimir, tempo, loki, profiles] but must include pyroscope",
        "global.kalypso.components.kalypso-pyroscope.storage.user"
    ]
);
breaks!(
    a_minio_user_with_another_components_policy,
    "kalypso-minio",
    [(
        "charts/kalypso-minio/values.yaml",
        "policy: kalypso-pyroscope",
        "policy: kalypso-tempo"
    )],
    [
        "minio.users[pyroscope].policy is kalypso-tempo",
        "is kalypso-pyroscope"
    ]
);
breaks!(
    a_minio_user_reading_another_secret,
    "kalypso-minio",
    [(
        "charts/kalypso-minio/values.yaml",
        "existingSecret: minio-user-pyroscope",
        "existingSecret: other"
    )],
    [
        "minio.users[pyroscope].existingSecret is other",
        "kalypso.users.kalypso-pyroscope.existingSecret",
        "is minio-user-pyroscope"
    ]
);
breaks!(
    a_minio_user_reading_another_key,
    "kalypso-minio",
    [(
        "charts/kalypso-minio/values.yaml",
        "existingSecretKey: secretKey\n      policy: kalypso-pyroscope",
        "existingSecretKey: key\n      policy: kalypso-pyroscope"
    )],
    [
        "minio.users[pyroscope].existingSecretKey is key",
        "kalypso.userSecretKeyName is secretKey"
    ]
);
breaks!(
    a_backend_without_a_minio_policy,
    "kalypso-minio",
    [(
        "charts/kalypso-minio/values.yaml",
        "- name: kalypso-pyroscope\n",
        "- name: kalypso-profiles\n"
    )],
    ["minio.policies[].name is", "must include kalypso-pyroscope"]
);
breaks!(
    a_minio_policy_missing_a_contract_bucket,
    "kalypso-minio",
    [("charts/kalypso-minio/values.yaml", "[arn:aws:s3:::pyroscope-data, arn:aws:s3:::pyroscope-data/*]", "[arn:aws:s3:::pyroscope-data]")],
    ["minio.policies[kalypso-pyroscope].statements[].resources is arn:aws:s3:::pyroscope-data but", "global.kalypso.components.kalypso-pyroscope.storage.buckets is arn:aws:s3:::pyroscope-data, arn:aws:s3:::pyroscope-data/*"]
);
breaks!(
    minio_data_claim_without_a_name,
    "kalypso-minio",
    [(
        "charts/kalypso-minio/values.yaml",
        "existingClaim: minio",
        "existingClaim: \"\""
    )],
    ["kalypso.dataClaim.create needs minio.persistence.existingClaim"]
);
breaks!(
    a_minio_user_without_its_secret_key,
    "kalypso-minio",
    [(
        "charts/kalypso-minio/values.yaml",
        "secretKey: pyroscope-dev-secret-change-me",
        "secretKey: \"\""
    )],
    [
        "kalypso.users.kalypso-pyroscope.secretKey is required",
        "global.kalypso.components.kalypso-pyroscope.storage"
    ]
);

/// The other side of `loki_existing_secret_not_loaded_by_the_pods`: with `existingSecret` set
/// and loaded by the pods, the chart renders and creates no S3 Secret of its own.
#[test]
fn a_backend_with_its_own_s3_secret_renders_without_the_charts_secret() {
    if !have_helm() {
        return;
    }
    let tmp = stack_copy();
    let values = "charts/kalypso-loki/values.yaml";
    mutate(
        tmp.path(),
        values,
        "existingSecret: \"\"",
        "existingSecret: my-loki-s3",
    );
    mutate(
        tmp.path(),
        values,
        "name: loki-s3-credentials",
        "name: my-loki-s3",
    );
    let all = components(tmp.path());
    let out = render(tmp.path(), component(&all, "kalypso-loki"), true, true);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = text(&out.stdout);
    assert!(
        !out.contains("kind: Secret"),
        "kalypso-loki still renders a Secret:\n{out}"
    );
}

// ---- (c) moving a component

/// Loki moves from namespace `loki` to `logs` by editing the ApplicationSet and the contract
/// only: Grafana's datasource, the canary and the collector's exporter follow, and no render
/// still addresses `.loki.svc`.
#[test]
fn moving_loki_to_another_namespace_is_an_edit_of_the_applicationset_and_the_contract() {
    if !have_helm() {
        return;
    }
    let tmp = stack_copy();
    mutate(
        tmp.path(),
        "argocd/applicationset.yaml",
        "namespace: loki,",
        "namespace: logs,",
    );
    mutate(
        tmp.path(),
        CONTRACT,
        "namespace: loki\n",
        "namespace: logs\n",
    );
    mutate(
        tmp.path(),
        "charts/kalypso-grafana/values.yaml",
        "  enabled: false\n  # -- Image of the kalypso CLI",
        "  enabled: true\n  # -- Image of the kalypso CLI",
    );
    let all = components(tmp.path());
    assert_eq!(component(&all, "kalypso-loki").namespace, "logs");
    let mut renders = Vec::new();
    for c in &all {
        let offline = render(tmp.path(), c, true, true);
        assert!(
            offline.status.success(),
            "{}: {}",
            c.name,
            text(&offline.stderr)
        );
        renders.push((c.name.clone(), "own templates", text(&offline.stdout)));
        if archives_present(c, "chart_contract::moving_loki (with the upstream charts)") {
            let full = render(tmp.path(), c, false, true);
            assert!(full.status.success(), "{}: {}", c.name, text(&full.stderr));
            renders.push((c.name.clone(), "with upstream", text(&full.stdout)));
        }
    }
    let own = |name: &str| -> &str {
        &renders
            .iter()
            .find(|(n, kind, _)| n == name && *kind == "own templates")
            .expect("rendered")
            .2
    };
    let grafana = own("kalypso-grafana");
    assert!(grafana.contains(r#"url: "http://loki-gateway.logs.svc.cluster.local""#));
    assert!(grafana.contains(r#"- "http://loki-gateway.logs.svc.cluster.local/loki/api/v1/push""#));
    assert!(
        own("kalypso-otel").contains("endpoint: http://loki-gateway.logs.svc.cluster.local/otlp")
    );
    for (name, kind, out) in &renders {
        if let Some(line) = out.lines().find(|l| l.contains(".loki.svc")) {
            panic!(
                "{name} ({kind}) still addresses the old namespace: {}",
                line.trim()
            );
        }
    }
}

// ---- the component list, the contract and the AppProject agree

#[test]
fn the_contracts_components_are_the_applicationsets_with_the_same_namespaces() {
    let root = repo_root();
    let contract = read_yaml(&root.join(CONTRACT));
    let listed = contract["global"]["kalypso"]["components"]
        .as_object()
        .expect("global.kalypso.components");
    let all = components(&root);
    let mut names: Vec<&str> = listed.keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    expected.sort_unstable();
    assert_eq!(
        names, expected,
        "contract.yaml components vs argocd/applicationset.yaml"
    );
    for c in &all {
        assert_eq!(
            listed[&c.name]["namespace"].as_str(),
            Some(c.namespace.as_str()),
            "namespace of {} in contract.yaml vs argocd/applicationset.yaml",
            c.name
        );
    }
}

#[test]
fn every_component_namespace_is_an_appproject_destination() {
    let root = repo_root();
    let project = read_yaml(&root.join("argocd/project.yaml"));
    let allowed: Vec<&str> = project["spec"]["destinations"]
        .as_array()
        .expect("spec.destinations")
        .iter()
        .filter_map(|d| d["namespace"].as_str())
        .collect();
    for c in components(&root) {
        assert!(
            allowed.contains(&c.namespace.as_str()),
            "argocd/project.yaml does not allow namespace {} of {}",
            c.namespace,
            c.name
        );
    }
}

#[test]
fn every_application_gets_the_contract_as_a_value_file() {
    let root = repo_root();
    let appset = read_yaml(&root.join("argocd/applicationset.yaml"));
    let helm = &appset["spec"]["template"]["spec"]["source"]["helm"];
    let files: Vec<&str> = helm["valueFiles"]
        .as_array()
        .expect("spec.template.spec.source.helm.valueFiles")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for c in components(&root) {
        let resolved = files
            .iter()
            .map(|f| root.join(&c.path).join(f))
            .find(|p| p.ends_with(CONTRACT));
        let resolved =
            resolved.unwrap_or_else(|| panic!("no contract.yaml in valueFiles {files:?}"));
        assert_eq!(
            resolved.canonicalize().expect("value file exists"),
            root.join(CONTRACT).canonicalize().expect("contract.yaml"),
            "valueFiles of {} do not resolve to the repository's contract.yaml",
            c.name
        );
    }
}
