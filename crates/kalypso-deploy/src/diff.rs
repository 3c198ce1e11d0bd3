//! `kalypso diff`: what `kalypso up` would change, release by release, as the API server
//! computes it. Each release is rendered as `up` would install it (`helm upgrade --install
//! --dry-run=server`, so `lookup` and the cluster's capabilities are the real ones); each object
//! of an installed release is then sent to the API server as a server-side apply dry run (as
//! Argo CD's server-side diff does), which returns the object as it would be stored, defaults,
//! admission and validation included. The diff is between the live object and that answer,
//! without managed fields, status and other bookkeeping; fields the release's previous manifest
//! set and the new render leaves out are removed from the answer, as helm's three-way merge
//! removes them.
//!
//! A change the API server refuses because a field cannot change after creation (a
//! StatefulSet's `volumeClaimTemplates`, `selector` or `serviceName`; a Service's `clusterIP`; a
//! Job's `template`; a bound claim's spec) is an error naming the object and the field: `helm
//! upgrade` would fail half-way through the release. `up` runs the same check first and
//! refuses such a change unless `--recreate KIND/NAMESPACE/NAME` names the object, which it then
//! deletes before the upgrade recreates it (a StatefulSet's claims are kept).
//!
//! Secret values never appear in a diff: each is replaced by a short digest, so a change shows.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt;

use anyhow::{anyhow, Result};

use super::plan::Plan;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::plan::PlannedRelease;
use super::releases::{self, QUERY_TIMEOUT};
use kalypso_cluster::Cluster;
use kalypso_model::manifest::{Manifest, Object, ObjectRef, Source};
use kalypso_render::chart_dir::HelmChart;
use kalypso_render::helm::Helm;

/// The field manager of the dry-run applies (never stored: every apply is a dry run).
const FIELD_MANAGER: &str = "kalypso-diff";

/// Fields an object cannot change after creation, by kind, as JSON pointers. The API server is
/// the authority (it refuses the dry run); this list names the field in the report.
const IMMUTABLE: &[(&str, &[&str])] = &[
    (
        "StatefulSet",
        &[
            "/spec/volumeClaimTemplates",
            "/spec/selector",
            "/spec/serviceName",
            "/spec/podManagementPolicy",
        ],
    ),
    ("Deployment", &["/spec/selector"]),
    ("DaemonSet", &["/spec/selector"]),
    ("ReplicaSet", &["/spec/selector"]),
    (
        "Service",
        &["/spec/clusterIP", "/spec/clusterIPs", "/spec/ipFamilies"],
    ),
    (
        "Job",
        &["/spec/template", "/spec/selector", "/spec/completionMode"],
    ),
    (
        "PersistentVolumeClaim",
        &[
            "/spec/accessModes",
            "/spec/storageClassName",
            "/spec/volumeName",
            "/spec/volumeMode",
            "/spec/selector",
            "/spec/dataSource",
            "/spec/resources/requests/storage",
        ],
    ),
];

/// What `up` would do to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Created: not in the cluster yet.
    Create,
    /// Changed in place.
    Update,
    /// Deleted: in the release's manifest, no longer rendered.
    Delete,
}

/// A field the API server will not let change, with what it said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImmutableChange {
    /// JSON path of the field (`spec.volumeClaimTemplates`), or `""` when the server's message
    /// names none that kalypso knows.
    pub field: String,
    /// The API server's message.
    pub message: String,
}

/// One object's change.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectDiff {
    /// The object.
    pub object: ObjectRef,
    /// Create, update or delete.
    pub change: Change,
    /// Unified diff of the object (live → after `up`), noise removed; empty for a create or a
    /// delete.
    pub diff: String,
    /// Fields that cannot change in place: `up` refuses these without `--recreate`.
    pub immutable: Vec<ImmutableChange>,
}

/// One release's changes.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseDiff {
    /// Release name.
    pub release: String,
    /// Its namespace.
    pub namespace: String,
    /// Whether helm has the release already.
    pub installed: bool,
    /// The objects that would change (nothing listed when nothing changes).
    pub objects: Vec<ObjectDiff>,
}

impl ReleaseDiff {
    /// Whether anything changes.
    pub fn changes(&self) -> bool {
        !self.objects.is_empty()
    }

    /// The immutable-field changes, with their objects.
    pub fn immutable(&self) -> impl Iterator<Item = (&ObjectDiff, &ImmutableChange)> {
        self.objects
            .iter()
            .flat_map(|o| o.immutable.iter().map(move |i| (o, i)))
    }
}

/// `KIND/NAMESPACE/NAME` (`KIND/NAME` for a cluster-scoped object), as `--recreate` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    /// Parses `--recreate`'s argument.
    pub fn parse(s: &str) -> Result<ObjectKey, String> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [kind, ns, name] if !kind.is_empty() && !ns.is_empty() && !name.is_empty() => {
                Ok(ObjectKey {
                    kind: kind.to_string(),
                    namespace: Some(ns.to_string()),
                    name: name.to_string(),
                })
            }
            [kind, name] if !kind.is_empty() && !name.is_empty() => Ok(ObjectKey {
                kind: kind.to_string(),
                namespace: None,
                name: name.to_string(),
            }),
            _ => Err(format!(
                "{s:?}: expected KIND/NAMESPACE/NAME (e.g. StatefulSet/loki/loki) or KIND/NAME"
            )),
        }
    }

    /// Whether this key names `o`.
    pub fn names(&self, o: &ObjectRef) -> bool {
        self.kind.eq_ignore_ascii_case(&o.kind)
            && self.namespace == o.namespace
            && self.name == o.name
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{ns}/{}", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// Renders `r` as `up` would install it and asks the API server what would change.
pub async fn diff_release(
    cluster: &Cluster,
    helm: &Helm,
    r: &PlannedRelease,
) -> Result<ReleaseDiff> {
    let state = releases::release_state(helm, &r.name, &r.namespace).await?;
    let rendered = render(helm, r).await?;
    let new = parse(&rendered, &r.namespace, "helm upgrade --dry-run=server")?;
    let mut out = ReleaseDiff {
        release: r.name.clone(),
        namespace: r.namespace.clone(),
        installed: state.is_some(),
        objects: Vec::new(),
    };
    let old = if state.is_some() {
        let text = releases::manifest(helm, &r.name, &r.namespace).await?;
        parse(&text, &r.namespace, "helm get manifest")?
    } else {
        Manifest::default()
    };
    let old_by_ref: HashMap<ObjectRef, &Object> =
        old.objects.iter().map(|o| (o.reference(), o)).collect();
    let mut kinds = KindCache::default();
    for obj in &new.objects {
        let reference = obj.reference();
        let d = diff_object(
            cluster,
            &mut kinds,
            obj,
            old_by_ref.get(&reference).copied(),
        )
        .await
        .map_err(|e| anyhow!("{reference}: {e:#}"))?;
        out.objects.extend(d);
    }
    let rendered_refs: Vec<ObjectRef> = new.objects.iter().map(Object::reference).collect();
    for o in &old.objects {
        let reference = o.reference();
        if !rendered_refs.contains(&reference) {
            out.objects.push(ObjectDiff {
                object: reference,
                change: Change::Delete,
                diff: String::new(),
                immutable: Vec::new(),
            });
        }
    }
    Ok(out)
}

/// The release's manifest as `helm upgrade --install --dry-run=server` renders it, hooks left
/// out (helm re-creates them on every upgrade).
async fn render(helm: &Helm, r: &PlannedRelease) -> Result<String> {
    let chart = HelmChart::for_install(&r.spec)?;
    let mut args: Vec<OsString> = vec![
        "upgrade".into(),
        "--install".into(),
        r.name.clone().into(),
        chart.path().into(),
        "--namespace".into(),
        r.namespace.clone().into(),
        "--reset-values".into(),
    ];
    args.extend(r.spec.values_args().into_iter().map(OsString::from));
    args.extend(["-o", "json"].map(OsString::from));
    let dry_run = |mode: &'static str| {
        let mut a = args.clone();
        a.push(format!("--dry-run={mode}").into());
        releases::run(
            helm,
            a,
            Some(tokio::time::Instant::now() + QUERY_TIMEOUT),
            std::time::Duration::from_secs(2),
        )
    };
    let mut run = dry_run("server").await?;
    // Custom resources whose CRDs come with this release (a first install, or one that stopped
    // between its install steps): the server cannot map them yet, so render without it; those
    // objects are creates.
    if !run.success()
        && (run.stderr.contains("resource mapping not found")
            || run.stderr.contains("no matches for kind"))
    {
        run = dry_run("client").await?;
    }
    if !run.success() {
        return Err(anyhow!(
            "helm upgrade --dry-run=server {} failed: {}",
            r.name,
            run.stderr_tail(10)
        ));
    }
    let release: Value = serde_json::from_str(&run.stdout)
        .map_err(|e| anyhow!("helm's dry-run output of {} is not JSON: {e}", r.name))?;
    Ok(release["manifest"].as_str().unwrap_or_default().to_string())
}

fn parse(text: &str, namespace: &str, origin: &str) -> Result<Manifest> {
    Manifest::from_sources(&[Source {
        component: "release".into(),
        origin: origin.into(),
        default_namespace: namespace.into(),
        text: text.into(),
    }])
    .map_err(|e| anyhow!("{origin}: {e}"))
}

/// Discovery answers per group/version/kind (`None`: the kind is not served yet, its CRD comes
/// with the release).
#[derive(Default)]
struct KindCache(HashMap<(String, String), Option<(ApiResource, ApiCapabilities)>>);

impl KindCache {
    async fn get(
        &mut self,
        cluster: &Cluster,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<(ApiResource, ApiCapabilities)>> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(v) = self.0.get(&key) {
            return Ok(v.clone());
        }
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let found = match kube::discovery::pinned_kind(&cluster.client(), &gvk).await {
            Ok(v) => Some(v),
            Err(kube::Error::Api(s)) if s.code == 404 => None,
            Err(kube::Error::Discovery(_)) => None,
            Err(e) => {
                return Err(cluster
                    .explain(&format!("discovering {api_version} {kind}"), e)
                    .into())
            }
        };
        self.0.insert(key, found.clone());
        Ok(found)
    }
}

async fn diff_object(
    cluster: &Cluster,
    kinds: &mut KindCache,
    obj: &Object,
    previous: Option<&Object>,
) -> Result<Option<ObjectDiff>> {
    let reference = obj.reference();
    let create = || ObjectDiff {
        object: reference.clone(),
        change: Change::Create,
        diff: String::new(),
        immutable: Vec::new(),
    };
    let Some((resource, caps)) = kinds.get(cluster, &obj.api_version, &obj.kind).await? else {
        return Ok(Some(create()));
    };
    let api: Api<DynamicObject> = match (&caps.scope, &obj.namespace) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(cluster.client(), ns, &resource),
        _ => Api::all_with(cluster.client(), &resource),
    };
    let live = api
        .get_opt(&obj.name)
        .await
        .map_err(|e| cluster.explain(&format!("reading {reference}"), e))?;
    let Some(live) = live else {
        return Ok(Some(create()));
    };
    let live = serde_json::to_value(&live)?;
    let params = PatchParams::apply(FIELD_MANAGER).force().dry_run();
    let answer = match api
        .patch(&obj.name, &params, &Patch::Apply(&obj.body))
        .await
    {
        Ok(a) => serde_json::to_value(&a)?,
        Err(kube::Error::Api(status)) if status.code == 422 => {
            return Ok(Some(ObjectDiff {
                object: reference,
                change: Change::Update,
                diff: String::new(),
                immutable: immutable_fields(&obj.kind, &obj.body, &live, &status.message),
            }));
        }
        Err(e) => {
            return Err(cluster
                .explain(&format!("dry-run apply of {reference}"), e)
                .into())
        }
    };
    let mut after = normalize(answer);
    if let Some(prev) = previous {
        for path in removed_paths(&prev.body, &obj.body) {
            remove_path(&mut after, &path);
        }
    }
    let before = normalize(live);
    if before == after {
        return Ok(None);
    }
    Ok(Some(ObjectDiff {
        object: reference.clone(),
        change: Change::Update,
        diff: unified(&before, &after, &reference.to_string()),
        immutable: Vec::new(),
    }))
}

/// The immutable fields the render changes, named from [`IMMUTABLE`]; the server's message
/// alone when none of those differs (another field it refuses).
fn immutable_fields(
    kind: &str,
    rendered: &Value,
    live: &Value,
    message: &str,
) -> Vec<ImmutableChange> {
    let mut out = Vec::new();
    let paths = IMMUTABLE
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, p)| *p)
        .unwrap_or(&[]);
    for p in paths {
        let (Some(want), Some(have)) = (rendered.pointer(p), live.pointer(p)) else {
            continue;
        };
        if !is_subset(want, have) {
            out.push(ImmutableChange {
                field: p.trim_start_matches('/').replace('/', "."),
                message: message.to_string(),
            });
        }
    }
    if out.is_empty() {
        out.push(ImmutableChange {
            field: String::new(),
            message: message.to_string(),
        });
    }
    out
}

/// Whether every field of `want` is in `have` with the same value (the server adds defaults to
/// what it stores, so equality would see changes where there are none).
fn is_subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w
            .iter()
            .all(|(k, v)| v.is_null() || h.get(k).is_some_and(|hv| is_subset(v, hv))),
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| is_subset(a, b))
        }
        // Quantities: `1Gi` written, `1Gi` stored; numbers and strings compared as text.
        (Value::Number(a), Value::String(b)) | (Value::String(b), Value::Number(a)) => {
            a.to_string() == *b
        }
        (a, b) => a == b,
    }
}

/// Drops what the server keeps for itself (managed fields, versions, status) and hides Secret
/// values behind a digest.
fn normalize(mut v: Value) -> Value {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "managedFields",
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
            "selfLink",
        ] {
            meta.remove(k);
        }
    }
    if let Some(obj) = v.as_object_mut() {
        obj.remove("status");
    }
    if v["kind"] == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(map) = v.get_mut(field).and_then(Value::as_object_mut) {
                for (_, value) in map.iter_mut() {
                    let text = value.as_str().unwrap_or_default();
                    let digest = Sha256::digest(text.as_bytes());
                    let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
                    *value = Value::String(format!("(secret value, sha256 {short}…)"));
                }
            }
        }
    }
    v
}

/// Paths (as key lists) of map entries the previous manifest set and the new render leaves
/// out: helm's three-way merge deletes them.
fn removed_paths(old: &Value, new: &Value) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    walk_removed(old, new, &mut Vec::new(), &mut out);
    out
}

fn walk_removed(old: &Value, new: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let (Value::Object(o), Value::Object(n)) = (old, new) else {
        return;
    };
    for (k, ov) in o {
        at.push(k.clone());
        match n.get(k) {
            None => out.push(at.clone()),
            Some(nv) => walk_removed(ov, nv, at, out),
        }
        at.pop();
    }
}

fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for p in parents {
        match cur.get_mut(p.as_str()) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(map) = cur.as_object_mut() {
        map.remove(last);
    }
}

/// A unified diff of two objects' YAML.
fn unified(before: &Value, after: &Value, name: &str) -> String {
    let a = yaml(before);
    let b = yaml(after);
    similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{name} (live)"), &format!("{name} (after up)"))
        .to_string()
}

fn yaml(v: &Value) -> String {
    // Sorted keys, so the diff shows changes and not the server's field order.
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect::<BTreeMap<_, _>>()
                    .into_iter()
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_saphyr::to_string(&sorted(v)).unwrap_or_else(|_| v.to_string())
}

/// `up`'s check before it applies anything: the immutable-field changes of every installed
/// release whose inputs changed (a release `up` leaves alone changes nothing). Changes that
/// `recreate` names are returned, to be deleted before the upgrade recreates them; any other is
/// an error listing each object and field with the `--recreate` that would allow it.
pub async fn preflight(
    cluster: &Cluster,
    helm: &Helm,
    plan: &Plan,
    recreate: &[ObjectKey],
) -> Result<Vec<ObjectRef>> {
    let mut allowed = Vec::new();
    let mut refused = Vec::new();
    for r in plan.releases() {
        let Some(state) = releases::release_state(helm, &r.name, &r.namespace).await? else {
            continue;
        };
        let description = PlannedRelease::description(&r.digest()?);
        // Unchanged, or in the middle of its install steps (up finishes those first): nothing
        // of it changes in place.
        if state.status == "deployed" && state.description.trim() == description
            || super::up::completed_step(&state.description).is_some()
        {
            continue;
        }
        let d = diff_release(cluster, helm, r).await?;
        for (o, i) in d.immutable() {
            if recreate.iter().any(|k| k.names(&o.object)) {
                if !allowed.contains(&o.object) {
                    allowed.push(o.object.clone());
                }
            } else {
                let field = if i.field.is_empty() {
                    String::new()
                } else {
                    format!(" field {}", i.field)
                };
                refused.push(format!(
                    "  {} (release {}):{field} cannot change in place ({})
    to replace it: kalypso up --recreate {}",
                    o.object,
                    r.name,
                    i.message,
                    recreate_key(&o.object)
                ));
            }
        }
    }
    for k in recreate {
        if !allowed.iter().any(|o| k.names(o)) {
            refused.push(format!(
                "  --recreate {k}: no immutable change of that object is pending (see `kalypso diff`)"
            ));
        }
    }
    if !refused.is_empty() {
        return Err(anyhow!(
            "kalypso up refuses changes the API server cannot apply in place; nothing was changed:\n{}",
            refused.join("\n")
        ));
    }
    Ok(allowed)
}

/// Deletes `o` so that the upgrade recreates it. A StatefulSet whose claims would be deleted
/// with it (`persistentVolumeClaimRetentionPolicy.whenDeleted: Delete`) is refused: `up` keeps
/// data.
pub async fn delete_for_recreate(cluster: &Cluster, o: &ObjectRef) -> Result<()> {
    let mut kinds = KindCache::default();
    let Some((resource, caps)) = kinds.get(cluster, &o.api_version, &o.kind).await? else {
        return Ok(());
    };
    let api: Api<DynamicObject> = match (&caps.scope, &o.namespace) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(cluster.client(), ns, &resource),
        _ => Api::all_with(cluster.client(), &resource),
    };
    if let Some(live) = api
        .get_opt(&o.name)
        .await
        .map_err(|e| cluster.explain(&format!("reading {o}"), e))?
    {
        let policy = &live.data["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"];
        if policy == "Delete" {
            return Err(anyhow!(
                "--recreate {}: its persistentVolumeClaimRetentionPolicy deletes the claims with it; \
                 kalypso up keeps data, so delete it yourself if that is meant",
                recreate_key(o)
            ));
        }
        api.delete(&o.name, &kube::api::DeleteParams::background())
            .await
            .map_err(|e| cluster.explain(&format!("deleting {o} to recreate it"), e))?;
        // The upgrade must not find it terminating.
        for _ in 0..120 {
            let gone = api
                .get_opt(&o.name)
                .await
                .map_err(|e| cluster.explain(&format!("reading {o}"), e))?
                .is_none();
            if gone {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        return Err(anyhow!("{o} was still terminating 60 s after its deletion"));
    }
    Ok(())
}

/// The report as a table for people: per release, each object with `+` (create), `~`
/// (update) or `-` (delete), its unified diff, and immutable changes as errors.
pub fn table(diffs: &[ReleaseDiff]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for d in diffs {
        if !d.changes() {
            let _ = writeln!(out, "{} ({}): no change", d.release, d.namespace);
            continue;
        }
        let (c, u, x) = counts(d);
        let _ = writeln!(
            out,
            "{} ({}){}: {c} to create, {u} to change, {x} to delete",
            d.release,
            d.namespace,
            if d.installed { "" } else { ", not installed" }
        );
        for o in &d.objects {
            let mark = match o.change {
                Change::Create => '+',
                Change::Update => '~',
                Change::Delete => '-',
            };
            let _ = writeln!(out, "  {mark} {}", o.object);
            for i in &o.immutable {
                let field = if i.field.is_empty() {
                    String::new()
                } else {
                    format!(" field {}", i.field)
                };
                let _ = writeln!(
                    out,
                    "    error: immutable{field}: {}\n    `kalypso up` refuses this change; `kalypso up --recreate {}` deletes and recreates the object (claims are kept)",
                    i.message,
                    recreate_key(&o.object)
                );
            }
            for line in o.diff.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    out
}

fn counts(d: &ReleaseDiff) -> (usize, usize, usize) {
    let n = |c: Change| d.objects.iter().filter(|o| o.change == c).count();
    (n(Change::Create), n(Change::Update), n(Change::Delete))
}

/// The `--recreate` argument that names `o`.
pub fn recreate_key(o: &ObjectRef) -> String {
    match &o.namespace {
        Some(ns) => format!("{}/{ns}/{}", o.kind, o.name),
        None => format!("{}/{}", o.kind, o.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recreate_keys_parse_with_and_without_a_namespace() {
        let k = ObjectKey::parse("StatefulSet/loki/loki").unwrap();
        assert!(k.names(&ObjectRef::namespaced(
            "apps/v1",
            "StatefulSet",
            "loki",
            "loki"
        )));
        assert!(!k.names(&ObjectRef::namespaced(
            "apps/v1",
            "StatefulSet",
            "mimir",
            "loki"
        )));
        assert_eq!(ObjectKey::parse("ClusterRole/x").unwrap().namespace, None);
        assert!(ObjectKey::parse("loki").is_err());
        assert!(ObjectKey::parse("a//b").is_err());
    }

    #[test]
    fn a_changed_claim_template_is_named_and_server_defaults_are_not_changes() {
        let rendered = json!({"spec": {"serviceName": "loki-headless", "volumeClaimTemplates": [
            {"metadata": {"name": "storage"}, "spec": {"accessModes": ["ReadWriteOnce"],
             "resources": {"requests": {"storage": "4Gi"}}}}]}});
        let live = json!({"spec": {"serviceName": "loki-headless", "volumeClaimTemplates": [
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": "storage"}, "spec": {"accessModes": ["ReadWriteOnce"],
             "volumeMode": "Filesystem", "resources": {"requests": {"storage": "2Gi"}}},
             "status": {"phase": "Pending"}}]}});
        let found = immutable_fields(
            "StatefulSet",
            &rendered,
            &live,
            "Forbidden: updates to statefulset spec",
        );
        assert_eq!(
            found.iter().map(|i| i.field.as_str()).collect::<Vec<_>>(),
            ["spec.volumeClaimTemplates"]
        );
        let same = json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "storage"},
            "spec": {"resources": {"requests": {"storage": "2Gi"}}}}]}});
        assert!(is_subset(&same["spec"], &live["spec"]));
    }

    #[test]
    fn secrets_are_hidden_and_bookkeeping_is_dropped() {
        let v = normalize(
            json!({"kind": "Secret", "metadata": {"name": "s", "resourceVersion": "7",
            "managedFields": []}, "data": {"k": "c2VjcmV0"}, "status": {}}),
        );
        let text = v.to_string();
        assert!(!text.contains("c2VjcmV0") && text.contains("secret value, sha256"));
        assert!(!text.contains("resourceVersion") && !text.contains("managedFields"));
    }

    #[test]
    fn keys_the_new_render_drops_are_removed_as_helm_removes_them() {
        let old = json!({"spec": {"a": 1, "b": {"c": 2, "d": 3}}});
        let new = json!({"spec": {"a": 1, "b": {"c": 2}}});
        let mut answer = json!({"spec": {"a": 1, "b": {"c": 2, "d": 3}, "server": true}});
        for p in removed_paths(&old, &new) {
            remove_path(&mut answer, &p);
        }
        assert_eq!(
            answer,
            json!({"spec": {"a": 1, "b": {"c": 2}, "server": true}})
        );
    }
}
