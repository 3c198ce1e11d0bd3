//! A real Kubernetes control plane for the deploy tests: etcd, kube-apiserver,
//! kube-controller-manager and kube-scheduler (v1.34, built by `.ci/controlplane.sh`), with
//! kwok simulating one node and the lifecycle of its pods.
//!
//! Network safety: the control plane only starts inside a network namespace whose only
//! interface is `lo` (`bash .ci/run` runs the tests under `unshare --net`), every component
//! binds 127.0.0.1, the node's address is 127.0.0.1, admission webhooks are off and the watch
//! cache is off (so the apiserver never dials a webhook Service), and no test port-forwards,
//! execs or verifies against a kwok pod. Outside such a namespace the tests print a SKIP line
//! (or fail, when `KALYPSO_REQUIRE_CONTROLPLANE=1`, as in CI).
//!
//! What it proves and what it does not: the API server, its validation, admission (PodSecurity
//! included), garbage collection, the scheduler and the workload controllers are real; no
//! container runs (kwok marks pods Running and Ready, and completes Job pods). Two controllers
//! that cannot run under kwok have stand-ins in [`standin_controllers`]: cert-manager's
//! cainjector and the OpenTelemetry Operator's collector reconciler.

pub mod standin_charts;
pub mod standin_controllers;

use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, PersistentVolume};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::support::repo_root;

/// The control planes of different tests run one at a time (two cores).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The token every client uses (user `kalypso-test`, group `system:masters`).
const TOKEN: &str = "kalypso-controlplane-test-token";

/// Hostpath PersistentVolumes pre-created for the no-provisioner default StorageClass.
const PERSISTENT_VOLUMES: usize = 24;

/// Where the binaries are: `$KALYPSO_CONTROLPLANE_BIN`, else `.cache/controlplane/bin`.
fn bin_dir() -> PathBuf {
    std::env::var_os("KALYPSO_CONTROLPLANE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/controlplane/bin"))
}

fn stages_file() -> PathBuf {
    std::env::var_os("KALYPSO_KWOK_STAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/controlplane/kwok-stages.yaml"))
}

/// True when this process's network namespace has no interface but `lo`.
pub fn loopback_only() -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/self/net/dev") else {
        return false;
    };
    let names: Vec<&str> = text
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    !names.is_empty() && names.iter().all(|n| *n == "lo")
}

/// Why the control plane cannot start here, if it cannot.
fn unavailable() -> Option<String> {
    if !loopback_only() {
        return Some(
            "not in a loopback-only network namespace (run `bash .ci/run controlplane`, \
             which runs these tests under `unshare --net`)"
                .into(),
        );
    }
    for b in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    ] {
        if !bin_dir().join(b).is_file() {
            return Some(format!(
                "{b} is not built under {} (`bash .ci/run` builds it)",
                bin_dir().display()
            ));
        }
    }
    if which("etcd").is_none() {
        return Some(
            "etcd is not installed (Debian etcd-server; `bash .ci/run` installs it)".into(),
        );
    }
    if !stages_file().is_file() {
        return Some(format!("no kwok stages at {}", stages_file().display()));
    }
    None
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running control plane; stopped (every process killed, its directory removed) on drop.
pub struct ControlPlane {
    _turn: MutexGuard<'static, ()>,
    dir: tempfile::TempDir,
    procs: Vec<(String, Child)>,
    /// Kubeconfig for helm and kalypso (token auth, 127.0.0.1).
    pub kubeconfig: PathBuf,
    /// A runtime for the test's own API calls and the stand-in controllers.
    pub rt: tokio::runtime::Runtime,
    /// A client of the API server.
    pub client: kube::Client,
    controllers: Option<standin_controllers::Running>,
}

impl ControlPlane {
    /// Starts a control plane, or returns `None` after a visible SKIP line when it cannot run
    /// here; with `KALYPSO_REQUIRE_CONTROLPLANE=1` that is a test failure instead.
    pub fn start(test: &str) -> Option<ControlPlane> {
        if let Some(why) = unavailable() {
            if std::env::var("KALYPSO_REQUIRE_CONTROLPLANE").as_deref() == Ok("1") {
                panic!("KALYPSO_REQUIRE_CONTROLPLANE=1 but the control plane cannot run: {why}");
            }
            let _ = writeln!(std::io::stderr(), "SKIP: control plane ({test}): {why}");
            return None;
        }
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        Some(Self::boot(turn))
    }

    fn boot(turn: MutexGuard<'static, ()>) -> ControlPlane {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = Path::new("/dev/shm");
        let dir = if base.is_dir() {
            tempfile::Builder::new()
                .prefix("kalypso-cp-")
                .tempdir_in(base)
        } else {
            tempfile::Builder::new().prefix("kalypso-cp-").tempdir()
        }
        .expect("control plane directory");
        let d = dir.path();
        let pki = certs(d);
        std::fs::write(
            d.join("tokens.csv"),
            format!("{TOKEN},kalypso-test,1,\"system:masters\"\n"),
        )
        .expect("token file");
        let api_port = free_port();
        let url = format!("https://127.0.0.1:{api_port}");
        let kubeconfig = d.join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_text(&url, &pki.ca_pem)).expect("kubeconfig");

        let mut cp = ControlPlane {
            _turn: turn,
            procs: Vec::new(),
            kubeconfig: kubeconfig.clone(),
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime"),
            client: placeholder_client(),
            controllers: None,
            dir,
        };
        let d = cp.dir.path().to_path_buf();
        let (etcd_client, etcd_peer) = (free_port(), free_port());
        cp.spawn(
            "etcd",
            which("etcd").expect("etcd"),
            &[
                "--name=kalypso-test".into(),
                format!("--data-dir={}", d.join("etcd").display()),
                format!("--listen-client-urls=http://127.0.0.1:{etcd_client}"),
                format!("--advertise-client-urls=http://127.0.0.1:{etcd_client}"),
                format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
                format!("--initial-cluster=kalypso-test=http://127.0.0.1:{etcd_peer}"),
                "--log-level=warn".into(),
            ],
            &[],
        );
        let file = |n: &str| d.join(n).display().to_string();
        cp.spawn(
            "kube-apiserver",
            bin_dir().join("kube-apiserver"),
            &[
                format!("--etcd-servers=http://127.0.0.1:{etcd_client}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--secure-port={api_port}"),
                format!("--cert-dir={}", file("apiserver-certs")),
                format!("--tls-cert-file={}", file("apiserver.crt")),
                format!("--tls-private-key-file={}", file("apiserver.key")),
                format!("--token-auth-file={}", file("tokens.csv")),
                "--authorization-mode=RBAC".into(),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                format!("--service-account-key-file={}", file("sa.pub")),
                format!("--service-account-signing-key-file={}", file("sa.key")),
                "--service-cluster-ip-range=10.96.0.0/16".into(),
                // Network safety (see the module docs): no webhook is ever called, no watch
                // cache converting custom resources through a webhook Service, no aggregator.
                "--disable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook"
                    .into(),
                "--watch-cache=false".into(),
                "--enable-aggregator-routing=false".into(),
                "--endpoint-reconciler-type=none".into(),
                // etcd 3.4 has no RequestWatchProgress, which WatchList needs.
                "--feature-gates=WatchList=false".into(),
                "--allow-privileged=true".into(),
                "--kubelet-preferred-address-types=InternalIP".into(),
                "--enable-priority-and-fairness=false".into(),
                "--profiling=false".into(),
            ],
            &[],
        );
        cp.client = cp.wait_for_apiserver();
        let common = |cp: &ControlPlane| {
            vec![
                format!("--kubeconfig={}", cp.kubeconfig.display()),
                "--bind-address=127.0.0.1".to_string(),
                "--secure-port=0".to_string(),
                "--leader-elect=false".to_string(),
            ]
        };
        let mut kcm = common(&cp);
        kcm.extend([
            format!("--service-account-private-key-file={}", file("sa.key")),
            format!("--root-ca-file={}", file("ca.crt")),
            "--use-service-account-credentials=false".into(),
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller".into(),
        ]);
        let client_env = [("KUBE_FEATURE_WatchListClient", "false")];
        cp.spawn(
            "kube-controller-manager",
            bin_dir().join("kube-controller-manager"),
            &kcm,
            &client_env,
        );
        let sched = common(&cp);
        cp.spawn(
            "kube-scheduler",
            bin_dir().join("kube-scheduler"),
            &sched,
            &client_env,
        );
        let kwok_port = free_port();
        cp.spawn(
            "kwok",
            bin_dir().join("kwok"),
            &[
                format!("--kubeconfig={}", cp.kubeconfig.display()),
                format!("--config={}", stages_file().display()),
                "--manage-all-nodes=false".into(),
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".into(),
                "--node-ip=127.0.0.1".into(),
                // Renews the node's Lease: without it the node lifecycle controller marks the
                // node NotReady after its grace period, and with it every pod unready.
                "--node-lease-duration-seconds=40".into(),
                format!("--server-address=127.0.0.1:{kwok_port}"),
                "--cidr=10.244.0.1/16".into(),
            ],
            &client_env,
        );
        cp.bootstrap();
        cp.controllers = Some(standin_controllers::start(
            &cp.rt,
            cp.client.clone(),
            &pki.ca_pem,
        ));
        cp
    }

    fn spawn(&mut self, name: &str, program: PathBuf, args: &[String], env: &[(&str, &str)]) {
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).expect("log");
        let mut cmd = Command::new(&program);
        cmd.args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        // SAFETY: prctl(PR_SET_PDEATHSIG) in the child before exec touches no memory; it makes
        // the kernel kill the component if this test process dies without running Drop.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        self.procs.push((name.to_string(), child));
    }

    /// The tail of a component's log, for failure messages.
    pub fn log_tail(&self, name: &str, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(format!("{name}.log")))
            .unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn wait_for_apiserver(&mut self) -> kube::Client {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let exited = self
                .procs
                .iter_mut()
                .find_map(|(name, child)| Some((name.clone(), child.try_wait().ok()??)));
            if let Some((name, status)) = exited {
                panic!(
                    "{name} exited ({status}) while the control plane started:\n{}",
                    self.log_tail(&name, 30)
                );
            }
            let client = self.client_from_kubeconfig();
            let ready = self.rt.block_on(async {
                let req = http::Request::get("/readyz")
                    .body(Vec::new())
                    .expect("request");
                client.request_text(req).await
            });
            if matches!(ready.as_deref(), Ok("ok")) {
                return client;
            }
            assert!(
                Instant::now() < deadline,
                "kube-apiserver not ready within 90 s ({ready:?}):\n{}",
                self.log_tail("kube-apiserver", 30)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn client_from_kubeconfig(&self) -> kube::Client {
        let kc = Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let config = self
            .rt
            .block_on(kube::Config::from_custom_kubeconfig(
                kc,
                &KubeConfigOptions::default(),
            ))
            .expect("kube config");
        let _guard = self.rt.enter();
        kube::Client::try_from(config).expect("client")
    }

    /// A fake node (kwok), the default StorageClass and hostPath PersistentVolumes.
    fn bootstrap(&self) {
        let client = self.client.clone();
        self.rt.block_on(async move {
            let node: Node = serde_json::from_value(serde_json::json!({
                "metadata": {
                    "name": "kwok-node-0",
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {
                        "kubernetes.io/hostname": "kwok-node-0", "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64", "type": "kwok"
                    }
                },
                "status": {
                    "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                    "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                    "nodeInfo": {
                        "architecture": "amd64", "operatingSystem": "linux", "kernelVersion": "6.1.0-kwok",
                        "kubeletVersion": "v1.34.2", "kubeProxyVersion": "", "osImage": "kwok",
                        "containerRuntimeVersion": "kwok", "machineID": "", "systemUUID": "", "bootID": ""
                    }
                }
            }))
            .expect("node");
            Api::<Node>::all(client.clone())
                .create(&PostParams::default(), &node)
                .await
                .expect("create node");
            let sc: StorageClass = serde_json::from_value(serde_json::json!({
                "metadata": {
                    "name": "standard",
                    "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}
                },
                "provisioner": "kubernetes.io/no-provisioner",
                "volumeBindingMode": "Immediate",
                "reclaimPolicy": "Retain"
            }))
            .expect("storage class");
            Api::<StorageClass>::all(client.clone())
                .create(&PostParams::default(), &sc)
                .await
                .expect("create storage class");
            for i in 0..PERSISTENT_VOLUMES {
                let pv: PersistentVolume = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": format!("pv-{i:02}")},
                    "spec": {
                        "capacity": {"storage": "100Gi"},
                        "accessModes": ["ReadWriteOnce"],
                        "persistentVolumeReclaimPolicy": "Retain",
                        "storageClassName": "standard",
                        "hostPath": {"path": format!("/tmp/kalypso-kwok-pv-{i:02}")}
                    }
                }))
                .expect("pv");
                Api::<PersistentVolume>::all(client.clone())
                    .create(&PostParams::default(), &pv)
                    .await
                    .expect("create pv");
            }
            // kwok marks the node Ready; the scheduler places nothing before that.
            let nodes = Api::<Node>::all(client.clone());
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let n = nodes.get("kwok-node-0").await.expect("node");
                let ready = n
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                if ready {
                    break;
                }
                assert!(Instant::now() < deadline, "kwok did not make the node Ready");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        // The default ServiceAccount must exist before pods can be admitted.
        self.wait_for(
            "the default ServiceAccount",
            Duration::from_secs(60),
            |c| async move {
                Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(c, "default")
                    .get_opt("default")
                    .await
                    .ok()
                    .flatten()
                    .is_some()
            },
        );
    }

    /// Polls `cond` until it holds, panicking with `what` after `limit`.
    pub fn wait_for<F, Fut>(&self, what: &str, limit: Duration, cond: F)
    where
        F: Fn(kube::Client) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + limit;
        loop {
            if self.rt.block_on(cond(self.client.clone())) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Pauses or resumes the stand-in cainjector (tests of gates that wait on it).
    pub fn pause_cainjector(&self, paused: bool) {
        if let Some(c) = &self.controllers {
            c.pause_cainjector(paused);
        }
    }

    /// Runs `kalypso` against this control plane from `repo`.
    pub fn kalypso(&self, repo: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kalypso"));
        c.current_dir(repo)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("NO_COLOR", "1")
            .env_remove("KALYPSO_HELM");
        c
    }

    /// Runs `helm` (the real one) against this control plane.
    pub fn helm(&self) -> Command {
        let helm = kalypso::helm::Helm::locate(&repo_root()).expect("helm");
        let mut c = Command::new(helm.binary);
        c.env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CACHE_HOME", self.dir.path().join("helm-cache"))
            .env("HELM_CONFIG_HOME", self.dir.path().join("helm-config"))
            .env("HELM_DATA_HOME", self.dir.path().join("helm-data"));
        c
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Some(c) = self.controllers.take() {
            c.stop();
        }
        // Reverse start order: kwok and the controllers before the apiserver, etcd last.
        for (_, child) in self.procs.iter_mut().rev() {
            // SAFETY: kill(2) on our own child, not reaped yet.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        for (_, child) in self.procs.iter_mut().rev() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for name in ["kube-apiserver", "kube-controller-manager", "kwok"] {
                let _ = writeln!(
                    std::io::stderr(),
                    "--- {name} log tail:\n{}",
                    self.log_tail(name, 15)
                );
            }
        }
    }
}

/// A client that is never used: replaced as soon as the apiserver answers.
fn placeholder_client() -> kube::Client {
    let config = kube::Config::new("https://127.0.0.1:1".parse().expect("uri"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    kube::Client::try_from(config).expect("client")
}

/// The PEM files the components use: a CA, the apiserver's serving certificate for
/// 127.0.0.1 and the service-account signing key.
struct Pki {
    ca_pem: String,
}

fn certs(dir: &Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kalypso-test-ca");
    let ca = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().expect("server key");
    let mut server_params = CertificateParams::new(vec![
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default.svc".to_string(),
    ])
    .expect("server params");
    server_params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().expect("ip")));
    server_params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let server = server_params
        .signed_by(&server_key, &issuer)
        .expect("server cert");
    let sa_key = KeyPair::generate().expect("sa key");
    let write = |name: &str, text: String| std::fs::write(dir.join(name), text).expect(name);
    write("ca.crt", ca.pem());
    write("apiserver.crt", server.pem());
    write("apiserver.key", server_key.serialize_pem());
    write("sa.key", sa_key.serialize_pem());
    write("sa.pub", sa_key.public_key_pem());
    Pki { ca_pem: ca.pem() }
}

fn kubeconfig_text(url: &str, ca_pem: &str) -> String {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kwok\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\nusers:\n- name: kalypso-test\n  user:\n    token: {TOKEN}\ncontexts:\n- name: kwok\n  context:\n    cluster: kwok\n    user: kalypso-test\ncurrent-context: kwok\n"
    )
}
