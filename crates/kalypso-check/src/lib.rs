//! The rules of `kalypso check`, one module per rule family. Each rule is a function over the
//! [`Context`] (parsed objects, components, policy) returning [`Finding`]s.
//!
//! | rule | module | severity |
//! |---|---|---|
//! | `wiring/dns` | [`dns`] | error; info for namespaces outside the input or charts rendered with stand-ins |
//! | `wiring/service` | [`dns::objects`] | error; warning for a StatefulSet's missing governing Service; info for namespaces outside the input, stand-ins, and names an operator probably makes |
//! | `wiring/secret`, `wiring/configmap` | [`refs`] | error (info when the namespace's chart used stand-ins) |
//! | `wiring/bucket`, `wiring/credentials` | [`storage`], [`stand_in_values`] | error; info when no object store is rendered |
//! | `wiring/netpol` | [`netpol`] | error |
//! | `security/pod-security` | [`podsecurity`] | error; warning for a namespace without a level |
//! | `config/*` | [`config`] | error; warning for `null` and deprecated keys |
//! | `production/*`, `policy/waivers` | [`production`] | error (production profile; waivers always) |
//! | `wiring/tenant` | [`tenant`] | error |
//! | `ordering/crd`, `ordering/waves` | [`ordering`] | error / warning / info (runtime-only dependencies) |
//! | `hygiene/*` | [`hygiene`] | error; `hygiene/probes` warning |
//! | `determinism` | [`determinism`] | error |
//! | `schema` | [`schema`] | error; info for kinds without a schema and when schemas are missing |
//! | `selfmon/selectors` | [`selfmon`] | warning; error for a rule that does not parse; info for metrics the stack does not collect |
//!
//! What the stack does not render but the cluster has (Secrets created by hand, …) and which
//! workloads may use host access are declared in the [`policy`] (built-in defaults plus
//! `kalypso-policy.yaml` at the repository root). Offline, charts whose upstream archives
//! are missing render with empty stand-ins; a reference into what a stand-in would have
//! rendered is reported as `info` ("not verified"), never as an error, and the report lists
//! which charts were checked in full.

pub mod config;
pub mod context;
pub mod determinism;
pub mod dns;
pub mod hygiene;
pub mod netpol;
pub mod ordering;
pub mod podsecurity;
pub mod policy;
pub mod production;
pub mod refs;
pub mod relabel;
pub mod schema;
pub mod selfmon;
pub mod services;
mod stand_in_values;
pub mod storage;
pub mod tenant;

pub use context::{ChartInfo, Context};
/// The nginx reader `wiring/dns` uses (public for the differential test against nginx).
pub use dns::nginx;
pub use kalypso_model::finding::{self, Finding, Severity};

pub mod report;
pub use policy::Policy;
pub use schema::SchemaOptions;
/// The environment variable naming the local copy of monitoring files loaded by URL.
pub use selfmon::MONITORING_DIR_ENV;

use kalypso_render::ChartRender;

/// Rule id of the contract-against-component-list check (`commands::check` runs it, since it
/// compares two files rather than rendered objects).
pub const CONTRACT_RULE: &str = "wiring/contract";

/// Every rule id with a one-line description (for `--output sarif`; README's rules table has
/// a row for each, which a test enforces).
pub const RULES: &[(&str, &str)] = &[
    (
        CONTRACT_RULE,
        "contract.yaml names the ApplicationSet's components in the same namespaces",
    ),
    (
        netpol::RULE,
        "Every wire is allowed by the NetworkPolicies of both ends",
    ),
    (
        podsecurity::RULE,
        "Every pod passes the Pod Security Standards level its namespace enforces",
    ),
    (
        production::CREDENTIALS,
        "No development default credential in a production render",
    ),
    (
        production::EXISTING_SECRET,
        "Production credentials come from Secrets the operator manages (existingSecret)",
    ),
    (
        production::REPLICAS,
        "Stateful backends run at least two replicas in production",
    ),
    (
        production::WAIVERS,
        "Every checkov waiver has a reason and names a rendered object",
    ),
    (
        config::UNKNOWN_KEY,
        "Backend and collector configs use only settings of the version that runs",
    ),
    (
        config::TYPE,
        "Backend config values have the type the version that runs decodes",
    ),
    (
        config::VALUE,
        "Backend config values are in the domain the version that runs accepts (closed sets, durations, byte sizes)",
    ),
    (
        config::NULL,
        "No null scalar that the backend silently replaces by its default",
    ),
    (
        config::DEPRECATED,
        "No deprecated setting (the replacement is named)",
    ),
    (
        config::COMPONENT,
        "Collector components exist in the distribution that runs",
    ),
    (
        config::REFERENCE,
        "Reference data exists for every backend version the stack runs",
    ),
    (
        dns::RULE,
        "In-cluster DNS names resolve to a rendered Service exposing the port used",
    ),
    (
        dns::objects::RULE,
        "Ingress, Gateway API and Istio routes, StatefulSets, APIServices and webhooks name a rendered Service and one of its ports",
    ),
    (
        refs::SECRET_RULE,
        "Secrets that workloads mount or reference exist in their namespace",
    ),
    (
        refs::CONFIGMAP_RULE,
        "ConfigMaps that workloads mount or reference exist in their namespace",
    ),
    (
        storage::BUCKET_RULE,
        "Buckets that backends use are created by the object store",
    ),
    (
        storage::CREDENTIALS_RULE,
        "A backend's S3 access key is an object-store user with the same secret",
    ),
    (
        tenant::RULE,
        "Writers and readers of a backend use the same tenant (X-Scope-OrgID)",
    ),
    (
        ordering::CRD_RULE,
        "Custom resources come after the chart that installs their CRD",
    ),
    (
        ordering::WAVES_RULE,
        "Startup dependencies sit in earlier waves, and the GitOps manifests enforce the waves",
    ),
    (
        hygiene::IMAGE_RULE,
        "Images are pinned (no latest, no missing tag)",
    ),
    (
        hygiene::REQUESTS_RULE,
        "Every container requests CPU and memory",
    ),
    (hygiene::LIMITS_RULE, "Every container has a memory limit"),
    (
        hygiene::PROBES_RULE,
        "Long-running containers have a readiness or liveness probe",
    ),
    (
        hygiene::PRIVILEGED_RULE,
        "Privileged mode and host access only where the allow-list grants them",
    ),
    (determinism::RULE, "Two renders are identical"),
    (
        schema::RULE,
        "Objects validate against the Kubernetes (or CRD) schema in strict mode",
    ),
    (
        selfmon::RULE,
        "Every self-monitoring dashboard panel and loaded rule selects series the scrapes produce",
    ),
];

/// What `run` needs besides the context.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub schema: SchemaOptions,
    /// Skip the schema rule entirely (tests).
    pub skip_schema: bool,
    /// The Pod Security Standards level each namespace enforces, from the component list;
    /// `None` when the input is not a stack (manifests, fixtures): levels then come from
    /// rendered Namespaces only, and a namespace without one is not reported.
    pub pod_security: Option<std::collections::BTreeMap<String, String>>,
    /// The render is the production profile's: the `production/*` rules apply.
    pub production: bool,
    /// The `--profile` rendered (`None`: the default values).
    pub profile: Option<String>,
    /// The checkov waivers (`kalypso-waivers.yaml`), checked by `policy/waivers`.
    pub waivers: Vec<production::Waiver>,
}

/// Runs every rule. `renders` carries the render passes for the determinism rule (empty for
/// `-f` input). Findings come sorted: severity (worst first), component, rule, object, field.
pub fn run(ctx: &Context, renders: &[ChartRender], opts: &CheckOptions) -> Vec<Finding> {
    let mut findings = std::thread::scope(|s| {
        let schema = spawn_schema(s, ctx.manifest, opts);
        let mut f = rules(ctx, renders);
        f.extend(option_rules(ctx, opts));
        f.extend(join_schema(schema));
        f
    });
    apply_accepted(ctx.policy, &mut findings);
    ctx.policy.apply_severity(&mut findings);
    sort(&mut findings);
    findings
}

/// Like [`run`], but builds the [`Context`] itself while the schema rule already runs.
pub fn run_on(
    manifest: &kalypso_model::manifest::Manifest,
    charts: &[ChartInfo],
    policy: &Policy,
    renders: &[ChartRender],
    opts: &CheckOptions,
) -> Vec<Finding> {
    let mut findings = std::thread::scope(|s| {
        let schema = spawn_schema(s, manifest, opts);
        let ctx = Context::new(manifest, charts, policy);
        let mut f = rules(&ctx, renders);
        f.extend(option_rules(&ctx, opts));
        f.extend(join_schema(schema));
        f
    });
    apply_accepted(policy, &mut findings);
    policy.apply_severity(&mut findings);
    sort(&mut findings);
    findings
}

/// The rules that depend on how `check` was asked to run.
fn option_rules(ctx: &Context, opts: &CheckOptions) -> Vec<Finding> {
    let mut f = podsecurity::check(ctx, opts.pod_security.as_ref());
    f.extend(production::check_waivers(
        ctx,
        &opts.waivers,
        opts.profile.as_deref(),
    ));
    if opts.production {
        f.extend(production::check(ctx));
    }
    f
}

/// Downgrades findings the policy accepts to `info`, naming the reason.
pub fn apply_accepted(policy: &Policy, findings: &mut [Finding]) {
    for f in findings.iter_mut() {
        let ns = f.object.namespace.as_deref().unwrap_or("");
        if let Some(a) = policy.accepted(&f.rule, &f.object.kind, ns, &f.object.name, &f.field) {
            f.severity = Severity::Info;
            f.message = format!("{} (accepted: {})", f.message, a.reason);
        }
    }
}

type SchemaHandle<'s> = Option<std::thread::ScopedJoinHandle<'s, Vec<Finding>>>;

/// Schema validation is the heaviest rule: it runs on its own thread.
fn spawn_schema<'s, 'e: 's>(
    s: &'s std::thread::Scope<'s, 'e>,
    manifest: &'e kalypso_model::manifest::Manifest,
    opts: &'e CheckOptions,
) -> SchemaHandle<'s> {
    (!opts.skip_schema).then(|| {
        s.spawn(move || {
            let t = std::time::Instant::now();
            let found = schema::check(manifest, &opts.schema);
            tracing::info!("schema rule {:.2}s", t.elapsed().as_secs_f64());
            found
        })
    })
}

fn join_schema(handle: SchemaHandle<'_>) -> Vec<Finding> {
    match handle.map(|h| h.join()) {
        None => Vec::new(),
        Some(Ok(found)) => found,
        Some(Err(_)) => vec![Finding::general(
            schema::RULE,
            Severity::Error,
            "",
            kalypso_model::manifest::ObjectRef {
                api_version: String::new(),
                kind: "Schema".into(),
                namespace: None,
                name: "validation".into(),
            },
            "schema validation crashed; please report this",
        )],
    }
}

/// Every rule but the schema rule.
fn rules(ctx: &Context, renders: &[ChartRender]) -> Vec<Finding> {
    let mut f = Vec::new();
    f.extend(dns::check(ctx));
    f.extend(dns::objects::check(ctx));
    f.extend(config::check(ctx));
    f.extend(netpol::check(ctx));
    f.extend(refs::check(ctx));
    f.extend(storage::check_buckets(ctx));
    f.extend(storage::check_credentials(ctx));
    f.extend(tenant::check(ctx));
    f.extend(ordering::check_crds(ctx));
    f.extend(ordering::check_dependencies(ctx));
    f.extend(ordering::check_gitops(ctx));
    f.extend(hygiene::check(ctx));
    f.extend(determinism::check(renders));
    f.extend(selfmon::check(ctx));
    f
}

/// Sorts findings (worst first, then component, rule, object, field) and drops duplicates.
pub fn sort(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.component.cmp(&b.component))
            .then_with(|| a.rule.cmp(&b.rule))
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.field.cmp(&b.field))
            .then_with(|| a.message.cmp(&b.message))
    });
    findings.dedup();
}
