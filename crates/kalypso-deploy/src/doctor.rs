//! `kalypso doctor`: preflight checks before an install. Each finding says how to fix it.
//!
//! - Kubernetes at least [`MIN_KUBERNETES`] (mimir-distributed 6.2 declares `^1.32.0-0`).
//! - Per node: kernel at least [`MIN_KERNEL`] and arch amd64/arm64 for the eBPF profiler
//!   (a warning per node: only profiling is affected there).
//! - A default StorageClass (every backend and MinIO claim volumes).
//! - cert-manager, Istio or the OpenTelemetry Operator already installed by something other
//!   than the kalypso release that brings them (CRDs or Deployments owned elsewhere).
//! - helm present and at least [`releases::MIN_HELM`].
//! - With `--gitops`: Argo CD present with progressive syncs on (the ApplicationSet's
//!   RollingSync waves need `applicationsetcontroller.enable.progressive.syncs: "true"`).
//! - Which engine serves the object store (kalypso-minio's `engine`): a note when it is MinIO,
//!   which upstream no longer maintains, with how to switch to SeaweedFS.

use std::fmt;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};
use serde::Serialize;

use super::releases;
use kalypso_cluster::{Cluster, ClusterError};
use kalypso_model::chart::ChartMeta;
use kalypso_model::stack::{Stack, MIN_KUBERNETES};
use kalypso_render::helm::Helm;

/// The OpenTelemetry eBPF profiler's kernel minimum.
pub const MIN_KERNEL: (u64, u64) = (5, 10);
/// Architectures the profiler image is built for.
pub const PROFILER_ARCHES: &[&str] = &["amd64", "arm64"];

pub use kalypso_model::outcome::Severity;

/// One preflight result.
#[derive(Debug, Clone, Serialize)]
pub struct Preflight {
    /// Check id: `kubernetes-version`, `node-kernel`, `node-arch`, `storage-class`,
    /// `conflict/cert-manager`, `conflict/istio`, `conflict/opentelemetry-operator`, `helm`,
    /// `gitops/argocd`, `gitops/progressive-syncs`, `object-store`.
    pub check: String,
    /// How bad.
    pub severity: Severity,
    /// What was checked and found.
    pub message: String,
    /// How to fix it (not for `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Preflight {
    fn ok(check: &str, message: impl Into<String>) -> Preflight {
        Preflight {
            check: check.into(),
            severity: Severity::Ok,
            message: message.into(),
            fix: None,
        }
    }
    fn warn(check: &str, message: impl Into<String>, fix: impl Into<String>) -> Preflight {
        Preflight {
            check: check.into(),
            severity: Severity::Warning,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
    fn info(check: &str, message: impl Into<String>, fix: impl Into<String>) -> Preflight {
        Preflight {
            check: check.into(),
            severity: Severity::Info,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
    fn error(check: &str, message: impl Into<String>, fix: impl Into<String>) -> Preflight {
        Preflight {
            check: check.into(),
            severity: Severity::Error,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

/// The findings as a table: severity, check, and what was found (with the fix below it).
pub fn table(findings: &[Preflight], color: bool) -> String {
    use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Color, ContentArrangement, Table};
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !color {
        t.force_no_tty();
    }
    t.set_header(["", "check", "found"]);
    for f in findings {
        let (mark, c) = match f.severity {
            Severity::Ok => ("ok", Color::Green),
            Severity::Info => ("info", Color::Blue),
            Severity::Warning => ("WARN", Color::Yellow),
            Severity::Error => ("ERROR", Color::Red),
        };
        let mut mark = Cell::new(mark);
        if color {
            mark = mark.fg(c);
        }
        let text = match &f.fix {
            Some(fix) => format!("{}\nfix: {fix}", f.message),
            None => f.message.clone(),
        };
        t.add_row(vec![mark, Cell::new(&f.check), Cell::new(text)]);
    }
    t.to_string()
}

impl fmt::Display for Preflight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.severity {
            Severity::Ok => "ok   ",
            Severity::Info => "info ",
            Severity::Warning => "WARN ",
            Severity::Error => "ERROR",
        };
        write!(f, "{mark} {:<28} {}", self.check, self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n      fix: {fix}")?;
        }
        Ok(())
    }
}

/// Runs every check. Cluster trouble while reading (403, unreachable) is returned as an error.
pub async fn doctor(
    cluster: &Cluster,
    helm: Option<&Helm>,
    stack: Option<&Stack>,
    gitops: bool,
) -> Result<Vec<Preflight>, ClusterError> {
    let mut out = Vec::new();
    out.push(helm_finding(helm).await);
    out.push(kubernetes_version(cluster).await?);
    out.extend(nodes(cluster).await?);
    out.push(storage_class(cluster).await?);
    out.extend(conflicts(cluster, stack).await?);
    out.extend(object_store(cluster, stack).await?);
    if gitops {
        out.extend(argocd(cluster).await?);
    }
    Ok(out)
}

async fn helm_finding(helm: Option<&Helm>) -> Preflight {
    let Some(helm) = helm else {
        return Preflight::error(
            "helm",
            "helm is not installed",
            "install helm 3.8+ or helm 4 and put it on PATH (or set KALYPSO_HELM)",
        );
    };
    match releases::ensure_supported(helm).await {
        Ok(v) => Preflight::ok("helm", format!("helm {v}")),
        Err(e) => Preflight::error(
            "helm",
            format!("{e:#}"),
            "install a current helm 3 (3.8 or newer) or helm 4",
        ),
    }
}

/// Parses the leading `major.minor` of a version like `v1.33.1+k3s1` or `5.15.0-105-generic`.
pub fn major_minor(text: &str) -> Option<(u64, u64)> {
    let t = text.trim().trim_start_matches('v');
    let mut it = t.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

async fn kubernetes_version(cluster: &Cluster) -> Result<Preflight, ClusterError> {
    let info = cluster.version().await?;
    let found = major_minor(&info.git_version).or_else(|| {
        Some((
            info.major.trim_end_matches('+').parse().ok()?,
            info.minor.trim_end_matches('+').parse().ok()?,
        ))
    });
    let min = MIN_KUBERNETES.text;
    Ok(match found {
        Some(v) if v >= MIN_KUBERNETES.pair() => Preflight::ok("kubernetes-version", format!("Kubernetes {}", info.git_version)),
        Some(_) => Preflight::error(
            "kubernetes-version",
            format!("Kubernetes {} is older than {min}, the stack's minimum (mimir-distributed 6.2 requires it)", info.git_version),
            format!("upgrade the cluster to {min} or newer (kind: `kind create cluster --image kindest/node:v1.33.1`)"),
        ),
        None => Preflight::warn(
            "kubernetes-version",
            format!("cannot tell the Kubernetes version from {:?}", info.git_version),
            format!("make sure the cluster runs Kubernetes {min} or newer"),
        ),
    })
}

async fn nodes(cluster: &Cluster) -> Result<Vec<Preflight>, ClusterError> {
    let list = Api::<Node>::all(cluster.client())
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.explain("listing nodes", e))?;
    let mut out = Vec::new();
    let (kmaj, kmin) = MIN_KERNEL;
    let disable = "the profiler is skipped there; to turn it off everywhere set `ebpfProfiler.enabled: false` in charts/kalypso-pyroscope values";
    for n in &list.items {
        let name = n.metadata.name.clone().unwrap_or_default();
        let Some(info) = n.status.as_ref().and_then(|s| s.node_info.as_ref()) else {
            continue;
        };
        if info.operating_system != "linux" {
            out.push(Preflight::warn(
                "node-os",
                format!(
                    "node {name} runs {}: the eBPF profiler runs on linux nodes only",
                    info.operating_system
                ),
                disable,
            ));
            continue;
        }
        match major_minor(&info.kernel_version) {
            Some(v) if v >= MIN_KERNEL => out.push(Preflight::ok("node-kernel", format!("node {name}: kernel {}", info.kernel_version))),
            _ => out.push(Preflight::warn(
                "node-kernel",
                format!("node {name}: kernel {} is older than {kmaj}.{kmin}, which the eBPF profiler needs", info.kernel_version),
                format!("upgrade the node's kernel to {kmaj}.{kmin}+ to profile it; {disable}"),
            )),
        }
        if PROFILER_ARCHES.contains(&info.architecture.as_str()) {
            out.push(Preflight::ok(
                "node-arch",
                format!("node {name}: {}", info.architecture),
            ));
        } else {
            out.push(Preflight::warn(
                "node-arch",
                format!("node {name}: architecture {} has no eBPF profiler image (amd64 and arm64 only)", info.architecture),
                disable,
            ));
        }
    }
    if list.items.is_empty() {
        out.push(Preflight::error(
            "nodes",
            "the cluster has no nodes",
            "add nodes to the cluster",
        ));
    }
    Ok(out)
}

const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
const DEFAULT_CLASS_BETA: &str = "storageclass.beta.kubernetes.io/is-default-class";

async fn storage_class(cluster: &Cluster) -> Result<Preflight, ClusterError> {
    let list = Api::<StorageClass>::all(cluster.client())
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.explain("listing StorageClasses", e))?;
    let defaults: Vec<String> = list
        .items
        .iter()
        .filter(|s| {
            s.metadata.annotations.as_ref().is_some_and(|a| {
                a.get(DEFAULT_CLASS)
                    .or_else(|| a.get(DEFAULT_CLASS_BETA))
                    .is_some_and(|v| v == "true")
            })
        })
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    let fix_one = |name: &str| {
        format!(
            "kubectl patch storageclass {name} -p '{{\"metadata\":{{\"annotations\":{{\"{DEFAULT_CLASS}\":\"true\"}}}}}}'"
        )
    };
    Ok(match defaults.len() {
        1 => Preflight::ok(
            "storage-class",
            format!("default StorageClass {}", defaults[0]),
        ),
        0 => {
            let names: Vec<_> = list
                .items
                .iter()
                .filter_map(|s| s.metadata.name.clone())
                .collect();
            let fix = match names.first() {
                Some(n) => format!("mark one StorageClass default: {}", fix_one(n)),
                None => "install a storage provisioner (kind ships `standard`; e.g. rancher local-path-provisioner) and mark its class default".into(),
            };
            Preflight::error(
                "storage-class",
                format!(
                    "no default StorageClass{}: MinIO, Mimir, Tempo, Loki and Pyroscope volume claims would stay Pending",
                    if names.is_empty() { String::new() } else { format!(" (classes: {})", names.join(", ")) }
                ),
                fix,
            )
        }
        _ => Preflight::warn(
            "storage-class",
            format!(
                "{} StorageClasses are marked default ({}): which one a claim gets is unspecified",
                defaults.len(),
                defaults.join(", ")
            ),
            "keep one default: remove the annotation from the others",
        ),
    })
}

/// A product the stack brings that may already be in the cluster.
struct Product {
    check: &'static str,
    title: &'static str,
    /// The upstream chart that brings it (the component whose chart depends on it installs it).
    dependency: &'static str,
    crds: &'static [&'static str],
    /// Label selectors that find its controller Deployment.
    selectors: &'static [&'static str],
    fix: &'static str,
}

const PRODUCTS: &[Product] = &[
    Product {
        check: "conflict/cert-manager",
        title: "cert-manager",
        dependency: "cert-manager",
        crds: &["certificates.cert-manager.io", "issuers.cert-manager.io"],
        selectors: &["app.kubernetes.io/name=cert-manager"],
        fix: "uninstall the existing cert-manager (its CRDs too, if no Certificates need them), or reuse it: set `cert-manager.enabled=false` for {release}",
    },
    Product {
        check: "conflict/opentelemetry-operator",
        title: "the OpenTelemetry Operator",
        dependency: "opentelemetry-operator",
        crds: &["opentelemetrycollectors.opentelemetry.io", "instrumentations.opentelemetry.io"],
        selectors: &["app.kubernetes.io/name=opentelemetry-operator"],
        fix: "uninstall the existing OpenTelemetry Operator, or reuse it: set `opentelemetry-operator.enabled=false` for {release} (it must support OpenTelemetryCollector v1beta1)",
    },
    Product {
        check: "conflict/istio",
        title: "Istio",
        dependency: "istiod",
        crds: &["virtualservices.networking.istio.io", "peerauthentications.security.istio.io"],
        selectors: &["app=istiod"],
        fix: "uninstall the existing Istio (`istioctl uninstall --purge` or its helm releases), or reuse it: disable {release}'s `base`, `istiod` and `gateway` parts",
    },
];

/// The release and namespace of the component whose chart depends on `dependency`.
fn installed_by(stack: Option<&Stack>, dependency: &str) -> Option<(String, String)> {
    let stack = stack?;
    stack.components.iter().find_map(|c| {
        let meta = ChartMeta::load(&stack.chart_dir(c)).ok()?;
        meta.dependencies
            .iter()
            .any(|d| d.name == dependency)
            .then(|| (c.name.clone(), c.namespace.clone()))
    })
}

const RELEASE_NAME: &str = "meta.helm.sh/release-name";
const RELEASE_NAMESPACE: &str = "meta.helm.sh/release-namespace";

fn owner(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> Option<(String, String)> {
    let a = annotations?;
    Some((
        a.get(RELEASE_NAME)?.clone(),
        a.get(RELEASE_NAMESPACE).cloned().unwrap_or_default(),
    ))
}

fn describe_owner(o: &Option<(String, String)>) -> String {
    match o {
        Some((name, ns)) => format!("helm release {name} in {ns}"),
        None => "no helm release (installed another way)".into(),
    }
}

async fn conflicts(
    cluster: &Cluster,
    stack: Option<&Stack>,
) -> Result<Vec<Preflight>, ClusterError> {
    let crds = Api::<CustomResourceDefinition>::all(cluster.client());
    let deploys = Api::<Deployment>::all(cluster.client());
    let mut out = Vec::new();
    for p in PRODUCTS {
        let Some((release, namespace)) = installed_by(stack, p.dependency) else {
            continue;
        };
        let (release, namespace) = (release.as_str(), namespace.as_str());
        let mut found = Vec::new();
        for name in p.crds {
            match crds.get(name).await {
                Ok(crd) => {
                    let o = owner(crd.metadata.annotations.as_ref());
                    if o.as_ref().map(|(n, ns)| (n.as_str(), ns.as_str()))
                        != Some((release, namespace))
                    {
                        found.push(format!("CRD {name} is owned by {}", describe_owner(&o)));
                    }
                }
                Err(e) => {
                    let err = cluster.explain(&format!("reading CRD {name}"), e);
                    if !err.is_not_found() {
                        return Err(err);
                    }
                }
            }
        }
        for sel in p.selectors {
            let list = deploys
                .list(&ListParams::default().labels(sel))
                .await
                .map_err(|e| cluster.explain("listing Deployments in all namespaces", e))?;
            for d in list.items {
                let o = owner(d.metadata.annotations.as_ref());
                if o.as_ref().map(|(n, _)| n.as_str()) != Some(release) {
                    found.push(format!(
                        "Deployment {}/{} is owned by {}",
                        d.metadata.namespace.unwrap_or_default(),
                        d.metadata.name.unwrap_or_default(),
                        describe_owner(&o)
                    ));
                }
            }
        }
        if found.is_empty() {
            out.push(Preflight::ok(
                p.check,
                format!("{} is not installed outside {release}", p.title),
            ));
        } else {
            out.push(Preflight::error(
                p.check,
                format!(
                    "{} is already installed outside {release} ({}): installing {release} would fail on ownership or run two controllers",
                    p.title,
                    found.join("; "),
                ),
                p.fix.replace("{release}", release),
            ));
        }
    }
    Ok(out)
}

/// How to leave MinIO, for the `object-store` note.
const SWITCH_ENGINE: &str = "switch to the maintained SeaweedFS engine: copy the buckets across (docs/object-store-migration.md), then `kalypso up --profile seaweedfs` (kalypso-minio `engine: seaweedfs`)";

/// Which server runs the object store: the MinIO or SeaweedFS Deployment in the namespace of
/// the component whose chart brings `minio`; before an install, the chart's default `engine`.
async fn object_store(
    cluster: &Cluster,
    stack: Option<&Stack>,
) -> Result<Option<Preflight>, ClusterError> {
    let Some((release, namespace)) = installed_by(stack, "minio") else {
        return Ok(None);
    };
    let check = "object-store";
    let list = Api::<Deployment>::all(cluster.client())
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.explain("listing Deployments in all namespaces", e))?;
    // Each Deployment there as (name, its images and its labels, one string to search).
    let deployments: Vec<(String, String)> = list
        .items
        .iter()
        .filter(|d| d.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .map(|d| {
            let name = d.metadata.name.clone().unwrap_or_default();
            let mut marks: Vec<String> = d
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .map(|p| {
                    p.containers
                        .iter()
                        .filter_map(|c| c.image.clone())
                        .collect()
                })
                .unwrap_or_default();
            let pod_labels = d
                .spec
                .as_ref()
                .and_then(|s| s.template.metadata.as_ref())
                .and_then(|m| m.labels.as_ref());
            for (k, v) in d.metadata.labels.iter().chain(pod_labels).flatten() {
                marks.push(format!("{k}={v}"));
            }
            (name, marks.join(" "))
        })
        .collect();
    // The image, or the labels the upstream charts give the server.
    let running = |needles: &[&str]| {
        deployments
            .iter()
            .find(|(_, marks)| needles.iter().any(|n| marks.contains(n)))
            .map(|(name, marks)| {
                let image = marks.split(' ').next().unwrap_or_default().to_string();
                (name.clone(), image)
            })
    };
    if let Some((name, image)) =
        running(&["minio/minio", "app=minio", "app.kubernetes.io/name=minio"])
    {
        return Ok(Some(Preflight::info(
            check,
            format!("MinIO serves the object store (Deployment {namespace}/{name}, {image}): upstream no longer maintains MinIO or publishes images, so it gets no security fixes"),
            SWITCH_ENGINE,
        )));
    }
    if let Some((name, image)) = running(&["seaweedfs"]) {
        return Ok(Some(Preflight::ok(
            check,
            format!("SeaweedFS serves the object store (Deployment {namespace}/{name}, {image})"),
        )));
    }
    let engine = stack
        .and_then(|s| {
            let c = s.components.iter().find(|c| c.name == release)?;
            std::fs::read_to_string(s.chart_dir(c).join("values.yaml")).ok()
        })
        .and_then(|text| kalypso_model::manifest::yaml::value(&text))
        .and_then(|v| v["engine"].as_str().map(str::to_string))
        .unwrap_or_else(|| "minio".into());
    Ok(Some(if engine == "minio" {
        Preflight::info(
            check,
            format!("{release} installs MinIO by default (engine: minio); upstream no longer maintains MinIO or publishes images"),
            SWITCH_ENGINE.replace("copy the buckets across (docs/object-store-migration.md), then ", "install with "),
        )
    } else {
        Preflight::ok(
            check,
            format!("{release} installs {engine} by default (engine: {engine})"),
        )
    }))
}

const ARGOCD_NS: &str = "argocd";
const ARGOCD_CRDS: &[&str] = &[
    "applications.argoproj.io",
    "applicationsets.argoproj.io",
    "appprojects.argoproj.io",
];
const PROGRESSIVE_KEY: &str = "applicationsetcontroller.enable.progressive.syncs";

async fn argocd(cluster: &Cluster) -> Result<Vec<Preflight>, ClusterError> {
    let mut out = Vec::new();
    let install = "install Argo CD 3.3 or newer into namespace argocd (https://argo-cd.readthedocs.io/en/stable/getting_started/)";
    match Api::<Namespace>::all(cluster.client()).get(ARGOCD_NS).await {
        Ok(_) => {}
        Err(e) => {
            let err = cluster.explain("reading namespace argocd", e);
            if !err.is_not_found() {
                return Err(err);
            }
            out.push(Preflight::error(
                "gitops/argocd",
                "namespace argocd does not exist: Argo CD is not installed",
                install,
            ));
            return Ok(out);
        }
    }
    let crds = Api::<CustomResourceDefinition>::all(cluster.client());
    let mut missing = Vec::new();
    for name in ARGOCD_CRDS {
        if let Err(e) = crds.get(name).await {
            let err = cluster.explain(&format!("reading CRD {name}"), e);
            if !err.is_not_found() {
                return Err(err);
            }
            missing.push(*name);
        }
    }
    if missing.is_empty() {
        out.push(Preflight::ok(
            "gitops/argocd",
            "Argo CD CRDs present in the cluster, namespace argocd exists",
        ));
    } else {
        out.push(Preflight::error(
            "gitops/argocd",
            format!("Argo CD CRDs missing: {}", missing.join(", ")),
            install,
        ));
    }
    let fix = format!(
        "kubectl -n argocd patch configmap argocd-cmd-params-cm --type merge -p '{{\"data\":{{\"{PROGRESSIVE_KEY}\":\"true\"}}}}' && kubectl -n argocd rollout restart deployment argocd-applicationset-controller"
    );
    let value = match Api::<ConfigMap>::namespaced(cluster.client(), ARGOCD_NS)
        .get("argocd-cmd-params-cm")
        .await
    {
        Ok(cm) => cm.data.and_then(|d| d.get(PROGRESSIVE_KEY).cloned()),
        Err(e) => {
            let err = cluster.explain("reading ConfigMap argocd/argocd-cmd-params-cm", e);
            if !err.is_not_found() {
                return Err(err);
            }
            None
        }
    };
    match value.as_deref().map(str::trim) {
        Some("true") => out.push(Preflight::ok("gitops/progressive-syncs", format!("{PROGRESSIVE_KEY} is \"true\""))),
        other => out.push(Preflight::error(
            "gitops/progressive-syncs",
            format!(
                "{PROGRESSIVE_KEY} is {} in argocd-cmd-params-cm: the ApplicationSet's RollingSync waves would not run",
                other.map(|v| format!("{v:?}")).unwrap_or_else(|| "not set".into())
            ),
            fix,
        )),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_clusters_and_kernels_parse() {
        assert_eq!(major_minor("v1.33.1+k3s1"), Some((1, 33)));
        assert_eq!(major_minor("5.15.0-105-generic"), Some((5, 15)));
        assert_eq!(major_minor("6.1.0"), Some((6, 1)));
        assert!(major_minor("4.19.112-1.el7").unwrap() < MIN_KERNEL);
        assert_eq!(major_minor("weird"), None);
    }
}
