//! Parsed Kubernetes objects, indexed by kind/namespace/name, each remembering the component
//! and template (or file) it came from.

pub mod parse;
pub mod scope;
pub mod selector;
pub mod typed;
pub mod walk;
pub mod workload;
pub mod yaml;

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use parse::{DocumentError, RawDocument};
pub use scope::Scopes;
pub use typed::DecodeError;

/// Names one object: what findings point at, and what `up` and `status` read from the
/// cluster (there the API version picks the endpoint).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectRef {
    /// `apps/v1`, `v1`, … (empty where it does not matter, e.g. a finding about a file).
    #[serde(skip)]
    pub api_version: String,
    pub kind: String,
    /// `None` for cluster-scoped objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// A namespaced object.
    pub fn namespaced(api_version: &str, kind: &str, namespace: &str, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    /// A cluster-scoped object.
    pub fn cluster(api_version: &str, kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: None,
            name: name.into(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Where an object came from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The component (release) that rendered it, or the input file's name.
    pub component: String,
    /// The template helm names (`# Source:`), else the input file.
    pub file: String,
    /// 1-based line of the document in its stream.
    pub line: usize,
}

/// One Kubernetes object.
#[derive(Debug, Clone)]
pub struct Object {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// Effective namespace (the release namespace when the template left it out); `None` for
    /// cluster-scoped kinds.
    pub namespace: Option<String>,
    /// The whole object as parsed.
    pub body: Value,
    pub origin: Origin,
    /// The document text as rendered (what the determinism rule compares).
    pub text: String,
    /// The body decoded into its k8s-openapi type, on first use (one kind has one type).
    typed: OnceLock<typed::Decoded>,
}

impl Object {
    /// The object's reference (kind/namespace/name).
    pub fn reference(&self) -> ObjectRef {
        ObjectRef {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// The API group (`apps`, `` for core).
    pub fn group(&self) -> &str {
        scope::group_of(&self.api_version)
    }

    /// Whether the object is a custom resource (its group is not served by Kubernetes itself).
    pub fn is_custom_resource(&self) -> bool {
        !scope::is_builtin_group(self.group())
    }

    /// The object as its k8s-openapi type `T`, decoded once: `None` when its apiVersion or
    /// kind is not `T`'s, or when it does not decode ([`Object::decode_error`] says why).
    pub fn typed<T>(&self) -> Option<&T>
    where
        T: k8s_openapi::Resource + DeserializeOwned + Send + Sync + 'static,
    {
        // The apiVersion must match too: another version of a kind has another schema (an
        // `extensions/v1beta1` Ingress names `serviceName`), which `T` would silently drop.
        if self.api_version != T::API_VERSION || self.kind != T::KIND {
            return None;
        }
        debug_assert!(
            typed::typed_kind(T::API_VERSION, T::KIND).is_some(),
            "{} {} is read typed but missing from TYPED_KINDS, so its decode errors go unreported",
            T::API_VERSION,
            T::KIND
        );
        self.typed
            .get_or_init(|| typed::decode::<T>(&self.body))
            .as_ref()
            .ok()?
            .downcast_ref::<T>()
    }

    /// Why an object of a built-in kind does not decode into its k8s-openapi type (`None` when
    /// it does, or for a kind without a type).
    pub fn decode_error(&self) -> Option<&DecodeError> {
        let kind = typed::typed_kind(&self.api_version, &self.kind)?;
        self.typed
            .get_or_init(|| (kind.decode)(&self.body))
            .as_ref()
            .err()
    }

    /// The apiVersion Kubernetes serves for this object's kind, when it is a typed built-in kind
    /// written at another version (`batch/v1beta1` CronJob → `batch/v1`): the typed view has
    /// none, so the rules reading the kind typed skip it.
    pub fn unserved_version(&self) -> Option<&'static str> {
        if self.is_custom_resource() && self.group() != "extensions" {
            return None;
        }
        let served = typed::TYPED_KINDS.iter().find(|k| k.kind == self.kind)?;
        (served.api_version != self.api_version).then_some(served.api_version)
    }

    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.body["metadata"]["annotations"][key].as_str()
    }
}

/// A stream of YAML to turn into objects.
#[derive(Debug, Clone)]
pub struct Source {
    /// Component (release) name, or the file's name for `-f` input.
    pub component: String,
    /// Name used in error messages (`helm template kalypso-x`, or a path).
    pub origin: String,
    /// Namespace for namespaced objects that do not name one.
    pub default_namespace: String,
    /// The YAML text.
    pub text: String,
}

/// A parsed document waiting for its namespace (which needs every CRD's scope first).
struct Pending {
    body: Value,
    source_idx: usize,
    doc: RawDocument,
}

/// One source's parsed documents, or its first broken one.
type Parsed = Result<Vec<Pending>, DocumentError>;

/// Parses every document of one source.
fn parse_source(i: usize, src: &Source) -> Parsed {
    let mut pending = Vec::new();
    for doc in parse::split_documents(&src.text) {
        let Some(body) = parse::parse_document(&src.origin, &doc)? else {
            continue;
        };
        // A `kind: List` carries its objects in `items`.
        if body["kind"] == "List" {
            if let Some(items) = body["items"].as_array() {
                for item in items {
                    pending.push(Pending {
                        body: item.clone(),
                        source_idx: i,
                        doc: doc.clone(),
                    });
                }
            }
            continue;
        }
        pending.push(Pending {
            body,
            source_idx: i,
            doc,
        });
    }
    Ok(pending)
}

/// All objects of the input, with indexes.
#[derive(Debug, Default, Clone)]
pub struct Manifest {
    pub objects: Vec<Object>,
    pub scopes: Scopes,
    by_ref: HashMap<(String, Option<String>, String), usize>,
}

impl Manifest {
    /// Parses every source; the first broken document is an error naming its stream and line.
    pub fn from_sources(sources: &[Source]) -> Result<Manifest, DocumentError> {
        // Parsing is the costly part: one thread per core, each taking whole sources.
        let per_source: Vec<Parsed> = {
            let workers = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .clamp(1, sources.len().max(1));
            let next = std::sync::atomic::AtomicUsize::new(0);
            let slots: Vec<std::sync::Mutex<Option<Parsed>>> = sources
                .iter()
                .map(|_| std::sync::Mutex::new(None))
                .collect();
            std::thread::scope(|s| {
                for _ in 0..workers {
                    s.spawn(|| loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(src) = sources.get(i) else { break };
                        let parsed = parse_source(i, src);
                        if let Ok(mut slot) = slots[i].lock() {
                            *slot = Some(parsed);
                        }
                    });
                }
            });
            slots
                .into_iter()
                .map(|m| {
                    m.into_inner()
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| Ok(Vec::new()))
                })
                .collect()
        };
        let mut pending = Vec::new();
        for r in per_source {
            pending.extend(r?);
        }
        let mut scopes = Scopes::default();
        for p in &pending {
            if p.body["kind"] == "CustomResourceDefinition" {
                scopes.learn_crd(&p.body);
            }
        }
        let mut manifest = Manifest {
            scopes,
            ..Default::default()
        };
        for p in pending {
            let src = &sources[p.source_idx];
            let err = |message: String| DocumentError {
                origin: src.origin.clone(),
                line: p.doc.line,
                message,
            };
            let api_version = p.body["apiVersion"]
                .as_str()
                .ok_or_else(|| err("object has no apiVersion".into()))?
                .to_string();
            let kind = p.body["kind"]
                .as_str()
                .ok_or_else(|| err("object has no kind".into()))?
                .to_string();
            let meta = &p.body["metadata"];
            let name = match (meta["name"].as_str(), meta["generateName"].as_str()) {
                (Some(n), _) => n.to_string(),
                (None, Some(g)) => format!("{g}*"),
                _ => return Err(err(format!("{kind} has no metadata.name"))),
            };
            let cluster = manifest
                .scopes
                .is_cluster_scoped(scope::group_of(&api_version), &kind);
            let namespace = if cluster {
                None
            } else {
                Some(
                    meta["namespace"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .unwrap_or(&src.default_namespace)
                        .to_string(),
                )
            };
            let origin = Origin {
                component: src.component.clone(),
                file: p.doc.source.clone().unwrap_or_else(|| src.origin.clone()),
                line: p.doc.line,
            };
            manifest.push(Object {
                api_version,
                kind,
                name,
                namespace,
                body: p.body,
                origin,
                text: p.doc.text,
                typed: OnceLock::new(),
            });
        }
        Ok(manifest)
    }

    fn push(&mut self, obj: Object) {
        let key = (obj.kind.clone(), obj.namespace.clone(), obj.name.clone());
        self.by_ref.insert(key, self.objects.len());
        self.objects.push(obj);
    }

    /// The object of `kind` called `name` in `namespace` (`None` for cluster-scoped).
    pub fn get(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<&Object> {
        let key = (
            kind.to_string(),
            namespace.map(str::to_string),
            name.to_string(),
        );
        self.by_ref.get(&key).map(|&i| &self.objects[i])
    }

    /// All objects of a kind.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Object> + 'a {
        self.objects.iter().filter(move |o| o.kind == kind)
    }

    /// Every namespace an object lives in.
    pub fn namespaces(&self) -> BTreeSet<String> {
        self.objects
            .iter()
            .filter_map(|o| o.namespace.clone())
            .collect()
    }
}

/// Decodes a Secret's base64 value into text, when it is UTF-8.
pub fn decode_base64(s: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        Source {
            component: "c".into(),
            origin: "helm template c".into(),
            default_namespace: "ns".into(),
            text: text.into(),
        }
    }

    #[test]
    fn namespaced_objects_get_the_release_namespace_and_cluster_scoped_ones_none() {
        let m = Manifest::from_sources(&[src(
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n---\napiVersion: example.io/v1\nkind: Thing\nmetadata: {name: t}\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: things.example.io}\nspec: {group: example.io, scope: Cluster, names: {kind: Thing}}\n",
        )])
        .unwrap();
        assert!(m.get("Service", Some("ns"), "s").is_some());
        assert!(m.get("ClusterRole", None, "r").is_some());
        assert!(m.get("Thing", None, "t").is_some(), "CRD scope applies");
    }

    #[test]
    fn an_object_without_a_name_is_an_error_naming_the_line() {
        let err = Manifest::from_sources(&[src("apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\napiVersion: v1\nkind: B\nmetadata: {}\n")])
            .unwrap_err();
        assert_eq!(err.line, 5);
        assert!(err.message.contains("B has no metadata.name"), "{err}");
    }

    #[test]
    fn a_built_in_kind_reads_typed_and_one_that_does_not_decode_says_where() {
        use k8s_openapi::api::apps::v1::Deployment;
        use k8s_openapi::api::core::v1::Service;
        let m = Manifest::from_sources(&[src(
            "apiVersion: v1\nkind: Service\nmetadata: {name: ok}\nspec: {ports: [{port: 80, targetPort: http}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {ports: [{port: http}]}\n---\napiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: kn}\n",
        )])
        .unwrap();
        let ok = m.get("Service", Some("ns"), "ok").unwrap();
        let ports = ok
            .typed::<Service>()
            .and_then(|s| s.spec.as_ref()?.ports.clone());
        assert_eq!(ports.map(|p| p[0].port), Some(80));
        assert!(ok.typed::<Deployment>().is_none(), "another kind");
        assert_eq!(ok.decode_error(), None);
        let bad = m.get("Service", Some("ns"), "bad").unwrap();
        assert!(bad.typed::<Service>().is_none());
        assert_eq!(
            bad.decode_error().map(|e| e.path.as_str()),
            Some("spec.ports[0].port")
        );
        let kn = m.get("Service", Some("ns"), "kn").unwrap();
        assert!(kn.typed::<Service>().is_none(), "another group's Service");
        assert_eq!(kn.decode_error(), None);
        assert_eq!(kn.unserved_version(), None, "a custom resource");
        assert_eq!(ok.unserved_version(), None);
    }
}
