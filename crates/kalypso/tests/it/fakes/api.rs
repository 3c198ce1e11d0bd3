//! A fake Kubernetes API server at the HTTP level (axum on 127.0.0.1:0, its own thread), so
//! kube-rs talks to it exactly as to a real one: `GET /version`, get/list/delete of core and
//! group resources (namespaced and cluster-wide lists, `labelSelector`, `fieldSelector`),
//! `pods/{name}/log`, 404 and 403 `Status` bodies.
//!
//! Objects can flip from a pending to a ready body once the fake helm has finished installing
//! their release (read from its `calls.jsonl`), plus a delay: that is how tests observe that
//! `kalypso up` gates on readiness and not on helm.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

/// One stored object.
#[derive(Clone, Debug)]
pub struct Obj {
    /// `/api/v1` or `/apis/<group>/<version>`.
    pub prefix: String,
    /// Plural resource, e.g. `deployments`.
    pub resource: String,
    /// Namespace, `None` for cluster-scoped.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
    /// The body served before the release is ready (or always).
    pub value: Value,
    /// The body served once `release` has been installed and `delay` has passed.
    pub ready: Option<Value>,
    /// The release whose install makes this object ready.
    pub release: Option<String>,
    /// Time from the end of the install to ready.
    pub delay: Duration,
}

impl Obj {
    /// An object that always looks the same.
    pub fn fixed(value: Value) -> Obj {
        let (prefix, resource, namespace, name) = locate(&value);
        Obj {
            prefix,
            resource,
            namespace,
            name,
            value,
            ready: None,
            release: None,
            delay: Duration::ZERO,
        }
    }

    /// An object that turns from `pending` to `ready` `delay` after `release` was installed.
    pub fn flipping(pending: Value, ready: Value, release: &str, delay: Duration) -> Obj {
        let mut o = Obj::fixed(pending);
        o.ready = Some(ready);
        o.release = Some(release.to_string());
        o.delay = delay;
        o
    }
}

/// apiVersion + kind → (prefix, plural), for every kind the tests serve.
fn locate(v: &Value) -> (String, String, Option<String>, String) {
    let api_version = v["apiVersion"].as_str().unwrap_or("v1");
    let kind = v["kind"].as_str().unwrap_or("");
    let prefix = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    let plural = match kind {
        "EndpointSlice" => "endpointslices".to_string(),
        "StorageClass" => "storageclasses".to_string(),
        "CustomResourceDefinition" => "customresourcedefinitions".to_string(),
        "PersistentVolumeClaim" => "persistentvolumeclaims".to_string(),
        k => format!("{}s", k.to_ascii_lowercase()),
    };
    let namespace = v["metadata"]["namespace"].as_str().map(str::to_string);
    let name = v["metadata"]["name"].as_str().unwrap_or("").to_string();
    (prefix, plural, namespace, name)
}

#[derive(Default)]
struct ApiState {
    objects: Vec<Obj>,
    logs: HashMap<(String, String, String, bool), String>,
    forbidden: Vec<String>,
    version: Value,
    helm_dir: Option<PathBuf>,
    requests: Vec<String>,
}

/// The running fake API server.
pub struct FakeApi {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<Mutex<ApiState>>,
}

impl FakeApi {
    /// Starts the server on a free loopback port in its own thread.
    pub fn start() -> FakeApi {
        let state = Arc::new(Mutex::new(ApiState {
            version: json!({
                "major": "1", "minor": "33", "gitVersion": "v1.33.1", "gitCommit": "8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828",
                "gitTreeState": "clean", "buildDate": "2025-05-15T08:19:08Z", "goVersion": "go1.24.2",
                "compiler": "gc", "platform": "linux/amd64"
            }),
            ..ApiState::default()
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let s = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                let app = Router::new().fallback(handle).with_state(s);
                axum::serve(listener, app).await.expect("serve");
            });
        });
        let addr = rx.recv().expect("fake API address");
        FakeApi {
            url: format!("http://{addr}"),
            state,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ApiState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds objects.
    pub fn add(&self, objs: impl IntoIterator<Item = Obj>) {
        self.lock().objects.extend(objs);
    }

    /// Serves `text` as the log of a container (`previous` for the last terminated instance).
    pub fn log(&self, ns: &str, pod: &str, container: &str, previous: bool, text: &str) {
        self.lock().logs.insert(
            (ns.into(), pod.into(), container.into(), previous),
            text.into(),
        );
    }

    /// Answers 403 to every request whose path starts with `prefix`.
    pub fn forbid(&self, prefix: &str) {
        self.lock().forbidden.push(prefix.into());
    }

    /// Sets what `/version` answers.
    pub fn set_version(&self, git_version: &str, minor: &str) {
        let mut s = self.lock();
        s.version["gitVersion"] = json!(git_version);
        s.version["minor"] = json!(minor);
    }

    /// Where the fake helm keeps `calls.jsonl` (to flip objects after an install).
    pub fn watch_helm(&self, dir: PathBuf) {
        self.lock().helm_dir = Some(dir);
    }

    /// Requests served so far, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    /// True if an object is still stored.
    pub fn has(&self, resource: &str, namespace: Option<&str>, name: &str) -> bool {
        self.lock().objects.iter().any(|o| {
            o.resource == resource && o.namespace.as_deref() == namespace && o.name == name
        })
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// When each release's last successful `helm upgrade` ended (ms since the epoch).
fn installed_at(helm_dir: &Option<PathBuf>) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    let Some(dir) = helm_dir else { return out };
    for line in std::fs::read_to_string(dir.join("calls.jsonl"))
        .unwrap_or_default()
        .lines()
    {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["event"] == "end" && v["cmd"] == "upgrade" && v["exit"] == 0 {
            out.entry(v["release"].as_str().unwrap_or("").to_string())
                .or_insert(v["ms"].as_u64().unwrap_or(0));
        }
    }
    out
}

fn current(o: &Obj, installed: &HashMap<String, u64>) -> Value {
    match (&o.ready, &o.release) {
        (Some(ready), Some(rel)) => match installed.get(rel) {
            Some(t) if now_ms() >= t + o.delay.as_millis() as u64 => ready.clone(),
            _ => o.value.clone(),
        },
        _ => o.value.clone(),
    }
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .expect("response")
}

fn status(code: u16, reason: &str, message: String) -> Response {
    json_response(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code}),
    )
}

fn query_param(q: &str, key: &str) -> Option<String> {
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=b,c=d` selectors against a JSON object (`labels` for labelSelector, the object itself
/// with dotted paths for fieldSelector).
fn matches(selector: &str, lookup: impl Fn(&str) -> Option<String>) -> bool {
    selector
        .split(',')
        .filter(|s| !s.is_empty())
        .all(|term| match term.split_once('=') {
            Some((k, v)) => lookup(k.trim_end_matches('=')).as_deref() == Some(v),
            None => lookup(term).is_some(),
        })
}

fn dotted(v: &Value, path: &str) -> Option<String> {
    let mut cur = v;
    for p in path.split('.') {
        cur = cur.get(p)?;
    }
    cur.as_str().map(str::to_string)
}

async fn handle(State(state): State<Arc<Mutex<ApiState>>>, method: Method, uri: Uri) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    st.requests.push(format!(
        "{method} {path}{}",
        if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        }
    ));
    if let Some(f) = st.forbidden.iter().find(|f| path.starts_with(f.as_str())) {
        return status(
            403,
            "Forbidden",
            format!(
                "{f} is forbidden: User \"developer\" cannot {} resource at {path}",
                method.as_str().to_lowercase()
            ),
        );
    }
    if path == "/version" {
        return json_response(StatusCode::OK, &st.version);
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => (format!("/api/{v}"), rest.to_vec()),
        ["apis", g, v, rest @ ..] => (format!("/apis/{g}/{v}"), rest.to_vec()),
        _ => {
            return status(
                404,
                "NotFound",
                format!("the server could not find the requested resource ({path})"),
            )
        }
    };
    // (namespace, resource, name, subresource)
    let (ns, resource, name, sub): (Option<&str>, &str, Option<&str>, Option<&str>) =
        match rest.as_slice() {
            ["namespaces"] => (None, "namespaces", None, None),
            ["namespaces", n] => (None, "namespaces", Some(n), None),
            ["namespaces", n, r] => (Some(n), r, None, None),
            ["namespaces", n, r, name] => (Some(n), r, Some(name), None),
            ["namespaces", n, r, name, sub] => (Some(n), r, Some(name), Some(sub)),
            [r] => (None, r, None, None),
            [r, name] => (None, r, Some(name), None),
            _ => return status(404, "NotFound", format!("no route {path}")),
        };
    let installed = installed_at(&st.helm_dir);
    if sub == Some("log") {
        let container = query_param(&query, "container").unwrap_or_default();
        let previous = query_param(&query, "previous").as_deref() == Some("true");
        let key = (
            ns.unwrap_or("").to_string(),
            name.unwrap_or("").to_string(),
            container,
            previous,
        );
        return match st.logs.get(&key) {
            Some(text) => Response::builder()
                .status(200)
                .header("content-type", "text/plain")
                .body(Body::from(text.clone()))
                .expect("log"),
            None => status(
                400,
                "BadRequest",
                format!(
                    "previous terminated container {:?} in pod {:?} not found",
                    key.2, key.1
                ),
            ),
        };
    }
    let same_collection = |o: &Obj| o.prefix == prefix && o.resource == resource;
    match (method, name) {
        (Method::GET, Some(name)) => {
            match st
                .objects
                .iter()
                .find(|o| same_collection(o) && o.namespace.as_deref() == ns && o.name == name)
            {
                Some(o) => json_response(StatusCode::OK, &current(o, &installed)),
                None => status(404, "NotFound", format!("{resource} \"{name}\" not found")),
            }
        }
        (Method::GET, None) => {
            let labels = query_param(&query, "labelSelector").unwrap_or_default();
            let fields = query_param(&query, "fieldSelector").unwrap_or_default();
            let items: Vec<Value> = st
                .objects
                .iter()
                .filter(|o| same_collection(o) && (ns.is_none() || o.namespace.as_deref() == ns))
                .map(|o| current(o, &installed))
                .filter(|v| {
                    matches(&labels, |k| {
                        v["metadata"]["labels"][k].as_str().map(str::to_string)
                    })
                })
                .filter(|v| matches(&fields, |k| dotted(v, k)))
                .collect();
            json_response(
                StatusCode::OK,
                &json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}),
            )
        }
        (Method::DELETE, Some(name)) => {
            let pos = st
                .objects
                .iter()
                .position(|o| same_collection(o) && o.namespace.as_deref() == ns && o.name == name);
            match pos {
                Some(i) => {
                    let o = st.objects.remove(i);
                    json_response(StatusCode::OK, &current(&o, &installed))
                }
                None => status(404, "NotFound", format!("{resource} \"{name}\" not found")),
            }
        }
        (m, _) => status(
            405,
            "MethodNotAllowed",
            format!("{m} is not supported by the fake API"),
        ),
    }
}
