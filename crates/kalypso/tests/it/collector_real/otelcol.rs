//! The real OpenTelemetry Collector builds of `.ci/collector.sh`, and the collectors the charts
//! render: where the binaries are, which build runs which rendered collector, the config,
//! command-line flags and environment each pod would have, and `otelcol validate`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::controlplane::loopback_only;
use crate::support::{helm_or_skip, repo_root, skip};

/// The two builds of `.ci/collector.sh` and the images they stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Build {
    /// otelcol-k8s (`opentelemetry-collector-k8s` images): kalypso-otel's collectors.
    K8s,
    /// otelcol-ebpf-profiler (`…-collector-ebpf-profiler` images): kalypso-pyroscope's profiler.
    EbpfProfiler,
}

impl Build {
    pub const ALL: [Build; 2] = [Build::K8s, Build::EbpfProfiler];

    /// The binary's name (and its ocb manifest's, `.ci/<name>.yaml`).
    pub fn name(self) -> &'static str {
        match self {
            Build::K8s => "otelcol-k8s",
            Build::EbpfProfiler => "otelcol-ebpf-profiler",
        }
    }

    /// The build that runs `image`, by the distribution its name says.
    fn for_image(image: &str) -> Build {
        let repository = image.rsplit_once(':').map_or(image, |(r, _)| r);
        if repository.ends_with("opentelemetry-collector-k8s") {
            Build::K8s
        } else if repository.ends_with("opentelemetry-collector-ebpf-profiler") {
            Build::EbpfProfiler
        } else {
            panic!(
                "no collector build for image {image}: add its distribution to .ci/collector.sh \
                 and to Build in this file"
            )
        }
    }
}

/// Where `.ci/collector.sh` puts the binaries: `$KALYPSO_OTELCOL_BIN`, else `.cache/otelcol/bin`.
fn bin_dir() -> PathBuf {
    std::env::var_os("KALYPSO_OTELCOL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/otelcol/bin"))
}

/// The built collectors, or `None` after a visible SKIP line: when a binary is absent (`bash
/// .ci/run` builds them; with `KALYPSO_OTELCOL_BIN` set, as there, that is a failure) or when
/// this process is not in a loopback-only network namespace (a collector exports to whatever
/// its config names: it runs nowhere else).
pub fn binaries_or_skip(test: &str) -> Option<Binaries> {
    if !loopback_only() {
        skip(&format!(
            "collector ({test}): not in a loopback-only network namespace (`bash .ci/run` runs \
             the tests under `unshare --net`)"
        ));
        return None;
    }
    let dir = bin_dir();
    let missing: Vec<_> = Build::ALL
        .iter()
        .filter(|b| !dir.join(b.name()).is_file())
        .map(|b| b.name())
        .collect();
    if !missing.is_empty() {
        let why = format!(
            "{} not built under {} (`bash .ci/run` builds them with .ci/collector.sh)",
            missing.join(", "),
            dir.display()
        );
        if std::env::var_os("KALYPSO_OTELCOL_BIN").is_some() {
            panic!("KALYPSO_OTELCOL_BIN is set but {why}");
        }
        skip(&format!("collector ({test}): {why}"));
        return None;
    }
    Some(Binaries { dir })
}

/// The collector binaries.
#[derive(Clone)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    pub fn path(&self, build: Build) -> PathBuf {
        self.dir.join(build.name())
    }

    /// `<binary> --version`'s version (`otelcol-k8s version 0.158.0` → `0.158.0`).
    pub fn version(&self, build: Build) -> String {
        let out = Command::new(self.path(build))
            .arg("--version")
            .output()
            .expect("collector --version runs");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_string()
    }

    /// `<binary> components`: kind (`receivers`, …, `providers`) → module → the names it
    /// registers (component types, or provider schemes).
    pub fn components(&self, build: Build) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
        let out = Command::new(self.path(build))
            .arg("components")
            .output()
            .expect("collector components runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout))
            .expect("`components` prints YAML");
        let mut kinds = BTreeMap::new();
        for kind in COMPONENT_KINDS.iter().chain(&["providers"]) {
            let mut modules: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for c in doc[*kind].as_array().into_iter().flatten() {
                let name = c["name"].as_str().or(c["scheme"].as_str()).unwrap_or("?");
                let module = c["module"].as_str().unwrap_or("?");
                modules
                    .entry(module.to_string())
                    .or_default()
                    .push(name.to_string());
            }
            kinds.insert(kind.to_string(), modules);
        }
        kinds
    }
}

/// The sections of a collector config that define components.
pub const COMPONENT_KINDS: [&str; 5] = [
    "receivers",
    "processors",
    "exporters",
    "extensions",
    "connectors",
];

/// A collector as a chart renders it: its config and what its pod would run it with.
#[derive(Debug, Clone)]
pub struct RenderedCollector {
    /// How the test names it: `<variant>: <Kind> <namespace>/<name>`.
    pub label: String,
    /// Its image.
    pub image: String,
    /// The collector config, as the rendered object holds it.
    pub config: Value,
    /// Where the pod reads it (`--config=`).
    pub config_path: String,
    /// Command-line flags besides `--config` (feature gates).
    pub flags: Vec<String>,
    /// The container's environment, as the kubelet would set it for the test's pod.
    pub env: Vec<(String, String)>,
    /// The container's volume mounts (the service account token's included).
    pub mounts: Vec<Mount>,
}

/// A volume mounted into the collector's container.
#[derive(Debug, Clone)]
pub struct Mount {
    pub path: String,
    pub read_only: bool,
    pub source: Source,
}

/// What a mounted volume holds.
#[derive(Debug, Clone)]
pub enum Source {
    /// A directory of the node (here: of this machine; empty when it has none).
    HostPath(String),
    /// An empty directory.
    EmptyDir,
    /// Files: a ConfigMap's keys, or the service account token's `token`, `ca.crt`, `namespace`.
    Files(BTreeMap<String, String>),
}

impl RenderedCollector {
    pub fn build(&self) -> Build {
        Build::for_image(&self.image)
    }

    /// The image tag (the distribution's version).
    pub fn image_tag(&self) -> &str {
        self.image.rsplit_once(':').map_or("", |(_, t)| t)
    }

    /// Component types per kind (`otlp_grpc/tempo` → `otlp_grpc`).
    pub fn component_types(&self) -> BTreeMap<&'static str, BTreeSet<String>> {
        COMPONENT_KINDS
            .iter()
            .map(|kind| {
                let types = self.config[*kind]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.keys())
                    .map(|k| k.split('/').next().unwrap_or(k).to_string())
                    .collect();
                (*kind, types)
            })
            .collect()
    }

    /// The confmap provider schemes it needs: `file` for `--config`, `env` for `${env:…}`.
    pub fn provider_schemes(&self) -> BTreeSet<String> {
        let mut schemes = BTreeSet::from(["file".to_string()]);
        if self.config.to_string().contains("${env:") {
            schemes.insert("env".into());
        }
        schemes
    }

    /// Every `${env:NAME}` the config reads.
    pub fn env_references(&self) -> BTreeSet<String> {
        let text = self.config.to_string();
        text.split("${env:")
            .skip(1)
            .filter_map(|rest| rest.split(['}', ':']).next())
            .map(String::from)
            .collect()
    }
}

/// What `otelcol validate` said about a config.
pub struct Validation {
    pub ok: bool,
    pub output: String,
}

/// Runs `<build> validate` on `config` as the pod would run the collector: in its filesystem,
/// with its flags and environment only.
pub fn validate(bins: &Binaries, c: &RenderedCollector, config: &Value) -> Validation {
    let pod = PodRoot::new(bins, c, config, None);
    let out = pod
        .command(c, "validate")
        .output()
        .expect("collector validate runs");
    Validation {
        ok: out.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The collector's container filesystem, built when its command runs: in a private mount
/// namespace, a tmpfs root holding the binary at `/otelcol`, the config at the pod's path, the
/// pod's volumes, `/etc/hosts`, and the host's `/proc`, `/sys` and `/dev` (as a container
/// runtime provides them); the collector runs chrooted there. Nothing outside the namespace
/// sees any of it.
pub struct PodRoot {
    dir: tempfile::TempDir,
    script: String,
}

impl PodRoot {
    /// Prepares the root for `c` running `config`; `/etc/hosts` is `hosts` (default: localhost).
    pub fn new(
        bins: &Binaries,
        c: &RenderedCollector,
        config: &Value,
        hosts: Option<&str>,
    ) -> PodRoot {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir(d.join("root")).expect("mkdir");
        std::fs::write(d.join("hosts"), hosts.unwrap_or("127.0.0.1 localhost\n")).expect("hosts");
        write_config(d, config);
        let q = |p: &Path| quote(&p.display().to_string());
        let mut script = format!(
            "set -e\nr={}\nmount -t tmpfs kalypso-pod \"$r\"\n\
             for d in proc sys dev; do mkdir \"$r/$d\"; mount --rbind \"/$d\" \"$r/$d\"; done\n\
             mkdir -p \"$r/etc\" && touch \"$r/etc/hosts\" \"$r/otelcol\"\n\
             mount --bind {} \"$r/etc/hosts\"\nmount --bind {} \"$r/otelcol\"\n",
            q(&d.join("root")),
            q(&d.join("hosts")),
            q(&bins.path(c.build())),
        );
        for (i, m) in c.mounts.iter().enumerate() {
            let at = format!("\"$r\"{}", quote(&m.path));
            match &m.source {
                Source::HostPath(host) => {
                    if Path::new(host).exists() {
                        script.push_str(&format!(
                            "mkdir -p {at}\nmount --bind {} {at}\n",
                            quote(host)
                        ));
                        if m.read_only {
                            script.push_str(&format!("mount -o remount,bind,ro {at}\n"));
                        }
                    } else {
                        script.push_str(&format!("mkdir -p {at}\n"));
                    }
                }
                Source::EmptyDir => script.push_str(&format!("mkdir -p {at}\n")),
                Source::Files(files) => {
                    let src = d.join(format!("volume-{i}"));
                    std::fs::create_dir(&src).expect("mkdir");
                    for (name, text) in files {
                        std::fs::write(src.join(name), text).expect("volume file");
                    }
                    script.push_str(&format!("mkdir -p {at}\nmount --bind {} {at}\n", q(&src)));
                }
            }
        }
        // The config last: over its ConfigMap's copy when it comes from one.
        let (conf_dir, _) = c
            .config_path
            .rsplit_once('/')
            .expect("an absolute config path");
        script.push_str(&format!(
            "mkdir -p \"$r\"{dir} && touch \"$r\"{file}\nmount --bind {} \"$r\"{file}\n\
             chroot=$(command -v chroot)\nunset PATH\nexec \"$chroot\" \"$r\" /otelcol \"$@\"\n",
            q(&d.join("config.yaml")),
            dir = quote(conf_dir),
            file = quote(&c.config_path),
        ));
        PodRoot { dir, script }
    }

    /// `/otelcol <subcommand> --config=<pod path> <flags>` in the pod's filesystem (the
    /// subcommand empty: the collector itself), with the pod's environment only.
    pub fn command(&self, c: &RenderedCollector, subcommand: &str) -> Command {
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &self.script,
            "sh",
        ]);
        if !subcommand.is_empty() {
            cmd.arg(subcommand);
        }
        cmd.arg(format!("--config={}", c.config_path))
            .args(&c.flags)
            .env_clear()
            // The script's own tools; it unsets PATH before the collector starts.
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(c.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path());
        cmd
    }
}

/// A single-quoted shell word.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A rendering of the collector charts.
pub struct Variant {
    /// `default`, `production`, …
    pub label: &'static str,
    /// `kalypso render` arguments besides `--out`.
    pub args: &'static [&'static str],
}

/// The renderings the tests use: both profiles, and the gateway with its optional profiles
/// pipeline (off by default; `collectors.gateway.profiles.enabled`).
pub const VARIANTS: [Variant; 3] = [
    Variant {
        label: "default",
        args: &["--only", "otel,pyroscope"],
    },
    Variant {
        label: "production",
        args: &["--only", "otel,pyroscope", "--profile", "production"],
    },
    Variant {
        label: "gateway profiles on",
        args: &[
            "--only",
            "otel",
            "--set",
            "collectors.gateway.profiles.enabled=true",
        ],
    },
];

/// Every collector of every variant, rendered once per test run (`None` without helm).
pub fn rendered() -> Option<&'static [RenderedCollector]> {
    static RENDERED: OnceLock<Option<Vec<RenderedCollector>>> = OnceLock::new();
    RENDERED
        .get_or_init(|| {
            let helm = helm_or_skip("collector configs")?;
            Some(
                VARIANTS
                    .iter()
                    .flat_map(|v| render(&helm, v))
                    .collect::<Vec<_>>(),
            )
        })
        .as_deref()
}

/// The gateway collector(s) of every variant: collectors that receive OTLP.
pub fn gateways(all: &[RenderedCollector]) -> Vec<&RenderedCollector> {
    all.iter()
        .filter(|c| c.config["receivers"].get("otlp").is_some())
        .collect()
}

fn render(helm: &kalypso::helm::Helm, v: &Variant) -> Vec<RenderedCollector> {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = assert_cmd::Command::cargo_bin("kalypso")
        .expect("binary")
        .env("KALYPSO_HELM", &helm.binary)
        .arg("--repo")
        .arg(repo_root())
        .arg("render")
        .args(v.args)
        .arg("--out")
        .arg(out_dir.path())
        .output()
        .expect("kalypso render runs");
    assert!(
        out.status.success(),
        "kalypso render {:?}: {}",
        v.args,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut found = Vec::new();
    for entry in std::fs::read_dir(out_dir.path())
        .expect("render dir")
        .flatten()
    {
        if entry.path().extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(entry.path()).expect("read render");
            let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
            found.extend(collectors_in(v.label, &docs));
        }
    }
    assert!(!found.is_empty(), "{}: no collector rendered", v.label);
    found.sort_by(|a, b| a.label.cmp(&b.label));
    found
}

/// The collectors of a release: OpenTelemetryCollector resources (the operator runs them with
/// `--config=/conf/collector.yaml` and `spec.args` as flags), and Deployment/DaemonSet
/// containers started with `--config=<file>` from a mounted ConfigMap.
fn collectors_in(variant: &str, docs: &[Value]) -> Vec<RenderedCollector> {
    let named = |kind: &str, ns: &str, name: &str| {
        docs.iter().find(|d| {
            d["kind"] == kind && d["metadata"]["namespace"] == ns && d["metadata"]["name"] == name
        })
    };
    let mut found = Vec::new();
    for d in docs {
        let kind = d["kind"].as_str().unwrap_or("");
        let ns = d["metadata"]["namespace"].as_str().unwrap_or("");
        let name = d["metadata"]["name"].as_str().unwrap_or("");
        let label = format!("{variant}: {kind} {ns}/{name}");
        // The pod's token: its own setting, else its ServiceAccount's, else mounted.
        let token = |pod_setting: &Value, account: &Value| {
            pod_setting
                .as_bool()
                .or_else(|| {
                    let sa = named("ServiceAccount", ns, account.as_str().unwrap_or("default"))?;
                    sa["automountServiceAccountToken"].as_bool()
                })
                .unwrap_or(true)
        };
        if kind == "OpenTelemetryCollector" {
            let spec = &d["spec"];
            let flags = spec["args"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("--{k}={}", v.as_str().unwrap_or("")))
                .collect();
            found.push(RenderedCollector {
                image: spec["image"].as_str().unwrap_or("").to_string(),
                config: spec["config"].clone(),
                config_path: "/conf/collector.yaml".into(),
                flags,
                env: pod_env(&label, &spec["env"]),
                mounts: mounts(
                    &label,
                    ns,
                    &spec["volumes"],
                    &spec["volumeMounts"],
                    token(&Value::Null, &spec["serviceAccount"]),
                    &named,
                ),
                label,
            });
        } else if matches!(kind, "DaemonSet" | "Deployment" | "StatefulSet") {
            let pod = &d["spec"]["template"]["spec"];
            for container in pod["containers"].as_array().into_iter().flatten() {
                let args: Vec<&str> = container["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let Some(path) = args.iter().find_map(|a| a.strip_prefix("--config=")) else {
                    continue;
                };
                let label = format!(
                    "{label} container {}",
                    container["name"].as_str().unwrap_or("")
                );
                let mounts = mounts(
                    &label,
                    ns,
                    &pod["volumes"],
                    &container["volumeMounts"],
                    token(
                        &pod["automountServiceAccountToken"],
                        &pod["serviceAccountName"],
                    ),
                    &named,
                );
                let (dir, file) = path.rsplit_once('/').expect("an absolute --config path");
                let text = mounts
                    .iter()
                    .find(|m| m.path.trim_end_matches('/') == dir)
                    .and_then(|m| match &m.source {
                        Source::Files(files) => files.get(file),
                        _ => None,
                    })
                    .unwrap_or_else(|| {
                        panic!("{label}: --config={path} is not a key of a mounted ConfigMap")
                    });
                found.push(RenderedCollector {
                    image: container["image"].as_str().unwrap_or("").to_string(),
                    config: serde_saphyr::from_str(text)
                        .unwrap_or_else(|e| panic!("{label}: config is not YAML: {e}")),
                    config_path: path.to_string(),
                    flags: args
                        .iter()
                        .filter(|a| !a.starts_with("--config="))
                        .map(|a| a.to_string())
                        .collect(),
                    env: pod_env(&label, &container["env"]),
                    mounts,
                    label,
                });
            }
        }
    }
    found
}

/// The container's mounts: its `volumeMounts` of hostPath, emptyDir and ConfigMap volumes, and
/// the service account token when the pod gets one.
fn mounts<'a>(
    label: &str,
    ns: &str,
    volumes: &Value,
    volume_mounts: &Value,
    token: bool,
    named: &dyn Fn(&str, &str, &str) -> Option<&'a Value>,
) -> Vec<Mount> {
    let mut out: Vec<Mount> = volume_mounts
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let volume = volumes
                .as_array()
                .into_iter()
                .flatten()
                .find(|v| v["name"] == m["name"])
                .unwrap_or_else(|| panic!("{label}: no volume {}", m["name"]));
            let source = if let Some(path) = volume["hostPath"]["path"].as_str() {
                Source::HostPath(path.to_string())
            } else if volume.get("emptyDir").is_some() {
                Source::EmptyDir
            } else if let Some(cm) = volume["configMap"]["name"].as_str() {
                let data = named("ConfigMap", ns, cm)
                    .unwrap_or_else(|| panic!("{label}: ConfigMap {cm} is not rendered"));
                Source::Files(
                    data["data"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect(),
                )
            } else {
                panic!("{label}: volume {volume} is of a kind this test does not provide")
            };
            Mount {
                path: m["mountPath"].as_str().unwrap_or("").to_string(),
                read_only: m["readOnly"].as_bool().unwrap_or(false),
                source,
            }
        })
        .collect();
    if token {
        out.push(Mount {
            path: "/var/run/secrets/kubernetes.io/serviceaccount".into(),
            read_only: true,
            source: Source::Files(BTreeMap::from([
                ("token".to_string(), "kalypso-test-token".to_string()),
                ("namespace".to_string(), ns.to_string()),
                ("ca.crt".to_string(), test_ca()),
            ])),
        });
    }
    out
}

/// A CA certificate for the token volume (the collectors read it; nothing is called here).
fn test_ca() -> String {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(vec!["kubernetes".to_string()]).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).expect("self-signed").pem()
    })
    .clone()
}

/// The test pod's node name and addresses (the collectors only read them from the downward API).
pub const NODE_NAME: &str = "kalypso-test-node";
pub const POD_IP: &str = "127.0.0.1";

/// A container's `env` as the kubelet sets it for the test's pod: the API server's Service
/// (here on loopback), literal values, and the downward-API fields the collectors use.
fn pod_env(label: &str, env: &Value) -> Vec<(String, String)> {
    let api = [
        ("KUBERNETES_SERVICE_HOST", POD_IP),
        ("KUBERNETES_SERVICE_PORT", "443"),
    ];
    let api = api.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    api.chain(env.as_array().into_iter().flatten().map(|e| {
        let name = e["name"].as_str().unwrap_or("").to_string();
        if let Some(v) = e["value"].as_str() {
            return (name, v.to_string());
        }
        let field = e["valueFrom"]["fieldRef"]["fieldPath"].as_str();
        let value = match field {
            Some("spec.nodeName") => NODE_NAME,
            Some("status.hostIP" | "status.podIP") => POD_IP,
            _ => panic!("{label}: env {name} comes from {e}, which this test does not provide"),
        };
        (name, value.to_string())
    }))
    .collect()
}

/// A copy of `config` with `change` applied to the value at `path` (object keys); panics when
/// a key is absent, so a mutation never passes vacuously.
pub fn mutated(config: &Value, path: &[&str], change: impl FnOnce(&mut Value)) -> Value {
    let mut copy = config.clone();
    let mut at = &mut copy;
    for key in path {
        at = at.get_mut(*key).unwrap_or_else(|| {
            panic!("the config has no {key:?} of {path:?}: the test is out of date")
        });
    }
    change(at);
    copy
}

/// Writes `config` as `<dir>/config.yaml` (JSON is YAML: the object as the manifest holds it).
pub fn write_config(dir: &Path, config: &Value) -> PathBuf {
    let file = dir.join("config.yaml");
    std::fs::write(&file, serde_json::to_string_pretty(config).expect("json")).expect("write");
    file
}
