//! Test support for the deploy tests: a fake Kubernetes API ([`api`]), realistic objects
//! ([`k8s`]), the fake helm (`fake_helm.rs`, the cargo example `fake-helm`), and a
//! [`Harness`] that ties them to a throw-away repository with a component list and charts.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use kalypso::cluster::Cluster;
use kalypso::deploy::up::{RetryPolicy, UpOptions};
use kalypso::helm::Helm;
use serde_json::Value;

use super::api::FakeApi;

/// The fake helm binary: `target/<profile>/examples/fake-helm`, next to the directory of this
/// test binary (`target/<profile>/deps`); built on demand when only one test target was built.
pub fn fake_helm_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        let bin = profile_dir
            .join("examples")
            .join(format!("fake-helm{}", std::env::consts::EXE_SUFFIX));
        if !bin.is_file() {
            let status = std::process::Command::new(env!("CARGO"))
                .args(["build", "--example", "fake-helm", "--manifest-path"])
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
                .status()
                .expect("cargo build --example fake-helm");
            assert!(status.success(), "building the fake helm failed");
        }
        assert!(bin.is_file(), "no fake helm at {}", bin.display());
        bin
    })
    .clone()
}

/// One component of a throw-away repository.
pub struct Comp {
    pub name: &'static str,
    pub namespace: &'static str,
    pub wave: u32,
}

/// `Comp { name, namespace, wave }` on one line.
pub const fn comp(name: &'static str, namespace: &'static str, wave: u32) -> Comp {
    Comp {
        name,
        namespace,
        wave,
    }
}

/// A throw-away repository, a fake API and a fake helm for one test.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub repo: PathBuf,
    /// The fake helm's state directory (`scenario.json`, `calls.jsonl`, `releases/`).
    pub helm_state: PathBuf,
    pub helm: Helm,
    pub api: FakeApi,
}

impl Harness {
    /// A repository with these components (each chart `kalypso-x` 0.1.0, no dependencies).
    pub fn new(comps: &[Comp]) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join("argocd")).expect("mkdir");
        let mut elements = String::new();
        for c in comps {
            elements.push_str(&format!(
                "          - {{name: {n}, path: charts/{n}, namespace: {ns}, wave: \"{w}\"}}\n",
                n = c.name,
                ns = c.namespace,
                w = c.wave
            ));
            let chart = repo.join("charts").join(c.name);
            std::fs::create_dir_all(chart.join("templates")).expect("mkdir chart");
            std::fs::write(
                chart.join("Chart.yaml"),
                format!("apiVersion: v2\nname: {}\nversion: 0.1.0\n", c.name),
            )
            .expect("Chart.yaml");
            std::fs::write(chart.join("values.yaml"), "replicas: 1\n").expect("values.yaml");
        }
        std::fs::write(
            repo.join("argocd/applicationset.yaml"),
            format!("apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: kalypso}}\nspec:\n  generators:\n    - list:\n        elements:\n{elements}"),
        )
        .expect("applicationset");
        let helm_state = dir.path().join("helm");
        std::fs::create_dir_all(helm_state.join("bin")).expect("mkdir helm");
        let link = helm_state.join("bin").join("helm");
        std::os::unix::fs::symlink(fake_helm_binary(), &link).expect("symlink fake helm");
        let api = FakeApi::start();
        api.watch_helm(helm_state.clone());
        let h = Harness {
            helm: Helm {
                binary: link,
                kube_args: Vec::new(),
            },
            dir,
            repo,
            helm_state,
            api,
        };
        h.scenario(serde_json::json!({"version": "v3.22.0+gfake", "releases": {}}));
        h
    }

    /// Writes the fake helm's scenario.
    pub fn scenario(&self, v: Value) {
        std::fs::write(self.helm_state.join("scenario.json"), v.to_string()).expect("scenario");
    }

    /// Marks a release as installed in the fake helm's state (as if an earlier run did it).
    pub fn preinstall(&self, name: &str, ns: &str, status: &str, description: &str) {
        std::fs::create_dir_all(self.helm_state.join("releases")).expect("mkdir");
        let r = serde_json::json!({"name": name, "namespace": ns, "status": status, "description": description,
            "chart_name": name, "chart_version": "0.1.0", "revision": 1});
        std::fs::write(
            self.helm_state
                .join("releases")
                .join(format!("{name}.json")),
            r.to_string(),
        )
        .expect("release");
    }

    /// The fake helm's recorded invocations.
    pub fn calls(&self) -> Vec<Value> {
        std::fs::read_to_string(self.helm_state.join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// (start ms, end ms) of the successful `upgrade` of `release`.
    pub fn install_window(&self, release: &str) -> (u64, u64) {
        let calls = self.calls();
        let pick = |event: &str| {
            calls
                .iter()
                .filter(|c| c["cmd"] == "upgrade" && c["release"] == release && c["event"] == event)
                .filter_map(|c| c["ms"].as_u64())
                .next_back()
                .unwrap_or_else(|| panic!("no upgrade {event} for {release}"))
        };
        (pick("start"), pick("end"))
    }

    /// Releases `helm upgrade` was started for, in order.
    pub fn upgrades(&self) -> Vec<String> {
        self.calls()
            .iter()
            .filter(|c| c["cmd"] == "upgrade" && c["event"] == "start")
            .map(|c| c["release"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// A kube-rs client for the fake API.
    pub fn cluster(&self) -> Cluster {
        let uri: axum::http::Uri = self.api.url.parse().expect("url");
        let client = kube::Client::try_from(kube::Config::new(uri)).expect("client");
        Cluster::from_client(client, self.api.url.clone())
    }

    /// A kubeconfig file pointing at the fake API (for CLI tests).
    pub fn kubeconfig(&self) -> PathBuf {
        let p = self.dir.path().join("kubeconfig");
        std::fs::write(
            &p,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: dev\ncurrent-context: fake\nusers:\n- name: dev\n  user:\n    token: not-a-secret\n",
                self.api.url
            ),
        )
        .expect("kubeconfig");
        p
    }

    /// The kalypso binary with KUBECONFIG and KALYPSO_HELM pointing at the fakes.
    pub fn kalypso(&self) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::cargo_bin("kalypso").expect("kalypso binary");
        c.env("KUBECONFIG", self.kubeconfig())
            .env("KALYPSO_HELM", &self.helm.binary)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .current_dir(&self.repo);
        c
    }
}

/// Fast options for tests: poll every 50 ms, retry after 50/100/… ms.
pub fn fast_options(wave_timeout: Duration) -> UpOptions {
    UpOptions {
        wave_timeout,
        poll_interval: Duration::from_millis(50),
        retry: RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(50),
            max: Duration::from_millis(200),
        },
        term_grace: Duration::from_millis(500),
    }
}

/// Records progress events for assertions.
#[derive(Default)]
pub struct Recorder {
    pub events: std::sync::Mutex<Vec<(String, kalypso::deploy::progress::Stage)>>,
}

impl kalypso::deploy::progress::Progress for Recorder {
    fn wave(&self, _number: u32, _releases: &[String]) {}
    fn update(&self, release: &str, stage: &kalypso::deploy::progress::Stage, _elapsed: Duration) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((release.to_string(), stage.clone()));
    }
}

impl Recorder {
    /// Stages seen for `release`.
    pub fn stages(&self, release: &str) -> Vec<kalypso::deploy::progress::Stage> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(r, _)| r == release)
            .map(|(_, s)| s.clone())
            .collect()
    }
}
